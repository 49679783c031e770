#!/usr/bin/env python3
"""Convert the UEA "BasicMotions" .ts files into tinydrift's bundled IMU recording.

Input: the directory holding ``BasicMotions_TRAIN.ts`` and ``BasicMotions_TEST.ts``
as shipped inside the sktime wheel (``sktime/datasets/data/BasicMotions/``),
e.g.::

    pip download --no-deps -d /tmp/bm sktime==1.2.0
    unzip -q /tmp/bm/sktime-1.2.0-py3-none-any.whl \
        'sktime/datasets/data/BasicMotions/*' -d /tmp/bm/whl
    python3 tools/convert_basicmotions.py /tmp/bm/whl/sktime/datasets/data/BasicMotions

Output (default ``data/`` next to this ``tools/`` folder, see ``--out-dir``):

``basicmotions.npz`` (compressed, byte-for-byte deterministic) with

=================  =========  ==================================================
key                dtype      meaning
=================  =========  ==================================================
``frames``         int16      (n_frames, 6) quantized samples, one row per 0.1 s
``labels``         int8       (n_frames,) class index into ``class_names``
``class_names``    <U (str)   class names, in the order of the ``@classLabel``
                              header of the .ts files
``case``           int16      (n_frames,) case index: train cases 0..39 then
                              test cases 40..79, in file order
``split``          int8       (n_frames,) 0 = train, 1 = test
``scale``          float64    (6,) physical units per LSB for each channel
``channel_names``  <U (str)   ``acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z``
``sample_rate_hz`` float64    scalar, 10.0
=================  =========  ==================================================

Frame order: all TRAIN cases in file order, then all TEST cases in file order;
inside a case the 100 time steps in order.  Every case is 100 frames long, so
case ``k`` occupies rows ``100*k .. 100*k+99``.

``basicmotions.csv``: header ``acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z`` then the
int16 frames, one row per frame, in the same order.  It is written only if it is
at most ``--csv-max-bytes`` bytes (default 300 KiB); otherwise any old copy is
removed.

Quantization, like a fixed-full-scale IMU driver: ``counts = clip(round(value /
scale), -32768, 32767)`` with round-half-to-even and one fixed scale for the
three accelerometer channels and another for the three gyroscope channels.
The scales are powers of two chosen from the value range of the files (largest
absolute accelerometer value 29.394, gyroscope 34.866, in the package's units):

* accelerometer: 1/1024 unit per LSB -> full scale +-32 units, peak |count| 30100
* gyroscope:     1/512  unit per LSB -> full scale +-64 units, peak |count| 17851

so nothing clips (the script counts and reports clipped samples) and the
quantization step is 0.001 / 0.002 units, well below the signal's noise.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

#: Order of the six dimensions in the .ts files (UEA BasicMotions: 3D
#: accelerometer followed by 3D gyroscope).
CHANNEL_NAMES: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
#: Counts per physical unit (the inverse of the LSB size) for each channel group.
ACC_COUNTS_PER_UNIT: float = 1024.0
GYR_COUNTS_PER_UNIT: float = 512.0
#: Sampling rate stated by the dataset's header comment ("sampled once every
#: tenth of a second, for a ten second period").
SAMPLE_RATE_HZ: float = 10.0
#: The splits, in output order, with their ``split`` code.
SPLITS: tuple[tuple[str, int], ...] = (("TRAIN", 0), ("TEST", 1))
PROBLEM_NAME = "BasicMotions"
DEFAULT_CSV_MAX_BYTES = 300 * 1024
INT16_MIN, INT16_MAX = -32768, 32767
#: Fixed timestamp for the zip members so the .npz is byte-for-byte reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class TsFile:
    """The content of one equal-length, labelled .ts file."""

    problem_name: str
    class_names: tuple[str, ...]
    #: float64, shape (n_cases, n_dimensions, series_length)
    values: npt.NDArray[np.float64]
    #: class label string of each case
    labels: tuple[str, ...]


def parse_ts(path: Path) -> TsFile:
    """Parse a sktime/UEA ``.ts`` file with equal-length series and class labels.

    The format is text: ``#`` comment lines, ``@tag value`` header lines closed by
    ``@data``, then one line per case where the dimensions are separated by
    ``:``, the values inside a dimension by ``,``, and the last ``:`` field is
    the class label.  Timestamped series and missing values (``?``) are not
    needed for BasicMotions and are rejected.
    """
    header: dict[str, str] = {}
    rows: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    with path.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{where}: expected an @-header line before @data")
                tag, _, value = line[1:].partition(" ")
                tag = tag.lower()
                if tag == "data":
                    in_data = True
                else:
                    header[tag] = value.strip()
                continue
            fields = line.split(":")
            labels.append(fields[-1].strip())
            case: list[list[float]] = []
            for dim in fields[:-1]:
                if "?" in dim or "(" in dim:
                    raise ValueError(f"{where}: missing values / timestamps unsupported")
                case.append([float(v) for v in dim.split(",")])
            rows.append(case)

    if not in_data:
        raise ValueError(f"{path}: no @data section")
    for flag, want in (("timestamps", "false"), ("missing", "false"),
                       ("equallength", "true")):
        if header.get(flag, want).lower() != want:
            raise ValueError(f"{path}: @{flag} {header[flag]} is not supported")
    class_tokens = header.get("classlabel", "").split()
    if not class_tokens or class_tokens[0].lower() != "true":
        raise ValueError(f"{path}: expected '@classLabel true <names...>'")
    class_names = tuple(class_tokens[1:])

    n_dims = int(header["dimensions"]) if "dimensions" in header else len(rows[0])
    length = int(header["serieslength"]) if "serieslength" in header else len(rows[0][0])
    for i, (case, label) in enumerate(zip(rows, labels)):
        if len(case) != n_dims or any(len(d) != length for d in case):
            raise ValueError(f"{path}: case {i} is not {n_dims} x {length}")
        if label not in class_names:
            raise ValueError(f"{path}: case {i} has unknown label {label!r}")
    return TsFile(
        problem_name=header.get("problemname", ""),
        class_names=class_names,
        values=np.asarray(rows, dtype=np.float64),
        labels=tuple(labels),
    )


def channel_scales() -> npt.NDArray[np.float64]:
    """Physical units per LSB for each of the six channels."""
    return np.array([1.0 / ACC_COUNTS_PER_UNIT] * 3 + [1.0 / GYR_COUNTS_PER_UNIT] * 3,
                    dtype=np.float64)


def quantize(values: npt.NDArray[np.float64],
             scale: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int16], int]:
    """Quantize (n, channels) physical values to int16 counts; also return #clipped."""
    counts = np.rint(values / scale)
    clipped = int(np.count_nonzero((counts < INT16_MIN) | (counts > INT16_MAX)))
    return np.clip(counts, INT16_MIN, INT16_MAX).astype(np.int16, order="C"), clipped


def build_arrays(ts_dir: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Read both splits from ``ts_dir`` and build the arrays stored in the .npz."""
    parsed = [(parse_ts(ts_dir / f"{PROBLEM_NAME}_{name}.ts"), code) for name, code in SPLITS]
    class_names = parsed[0][0].class_names
    for ts, _ in parsed:
        if ts.class_names != class_names:
            raise ValueError("TRAIN and TEST declare different class lists")
        if ts.values.shape[1] != len(CHANNEL_NAMES):
            raise ValueError(f"expected {len(CHANNEL_NAMES)} dimensions, got {ts.values.shape[1]}")

    phys: list[npt.NDArray[np.float64]] = []
    labels: list[int] = []
    cases: list[int] = []
    splits: list[int] = []
    case_index = 0
    for ts, code in parsed:
        length = ts.values.shape[2]
        for case_values, label in zip(ts.values, ts.labels):
            phys.append(case_values.T)  # (length, channels)
            labels += [class_names.index(label)] * length
            cases += [case_index] * length
            splits += [code] * length
            case_index += 1

    scale = channel_scales()
    # C order so the .npy member is row-major (frame after frame) for any reader.
    frames, clipped = quantize(np.ascontiguousarray(np.concatenate(phys, axis=0)), scale)
    if clipped:
        print(f"warning: {clipped} samples clipped to the int16 range", file=sys.stderr)
    return {
        "frames": frames,
        "labels": np.asarray(labels, dtype=np.int8),
        "class_names": np.asarray(class_names, dtype=np.str_),
        "case": np.asarray(cases, dtype=np.int16),
        "split": np.asarray(splits, dtype=np.int8),
        "scale": scale,
        "channel_names": np.asarray(CHANNEL_NAMES, dtype=np.str_),
        "sample_rate_hz": np.asarray(SAMPLE_RATE_HZ, dtype=np.float64),
    }


def write_npz(path: Path, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
    """Write a compressed .npz readable by ``np.load`` with fixed zip metadata.

    ``np.savez_compressed`` stamps the current time into the zip; this writes
    the same layout (one ``<key>.npy`` member per array) with a fixed date so
    that re-running the conversion gives identical bytes.
    """
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def csv_text(frames: npt.NDArray[np.int16]) -> str:
    """The frames as CSV with a ``acc_x,...,gyr_z`` header and ``\\n`` line ends."""
    lines = [",".join(CHANNEL_NAMES)]
    lines += [",".join(str(int(v)) for v in row) for row in frames]
    return "\n".join(lines) + "\n"


def stats_table(frames: npt.NDArray[np.int16]) -> str:
    """Markdown table of per-channel min/max/mean/std of the int16 frames."""
    scale = channel_scales()
    out = ["| channel | min | max | mean | std | scale (units/LSB) |",
           "| --- | ---: | ---: | ---: | ---: | --- |"]
    f = frames.astype(np.float64)
    for i, name in enumerate(CHANNEL_NAMES):
        col = f[:, i]
        out.append(f"| {name} | {int(col.min())} | {int(col.max())} | {col.mean():.2f} "
                   f"| {col.std():.2f} | 1/{round(1 / scale[i])} |")
    return "\n".join(out)


def class_table(arrays: dict[str, npt.NDArray[np.generic]]) -> str:
    """Markdown table of cases and frames per class and split."""
    labels, case, split = arrays["labels"], arrays["case"], arrays["split"]
    out = ["| index | class | train cases | test cases | frames |",
           "| ---: | --- | ---: | ---: | ---: |"]
    for k, name in enumerate(arrays["class_names"]):
        sel = labels == k
        n_tr = len(np.unique(case[sel & (split == 0)]))
        n_te = len(np.unique(case[sel & (split == 1)]))
        out.append(f"| {k} | {name} | {n_tr} | {n_te} | {int(sel.sum())} |")
    return "\n".join(out)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ts_dir", type=Path,
                    help="directory with BasicMotions_TRAIN.ts and BasicMotions_TEST.ts")
    ap.add_argument("--out-dir", type=Path,
                    default=Path(__file__).resolve().parent.parent / "data",
                    help="output directory (default: the repository's data/)")
    ap.add_argument("--csv-max-bytes", type=int, default=DEFAULT_CSV_MAX_BYTES,
                    help="write basicmotions.csv only if at most this size (default %(default)s)")
    args = ap.parse_args(argv)

    arrays = build_arrays(args.ts_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    npz_path = args.out_dir / "basicmotions.npz"
    csv_path = args.out_dir / "basicmotions.csv"
    write_npz(npz_path, arrays)
    frames = arrays["frames"]
    assert frames.dtype == np.int16
    text = csv_text(frames)  # type: ignore[arg-type]
    csv_written = len(text.encode("ascii")) <= args.csv_max_bytes
    if csv_written:
        csv_path.write_text(text, encoding="ascii", newline="")
    elif csv_path.exists():
        csv_path.unlink()

    for name, _ in SPLITS:
        src = args.ts_dir / f"{PROBLEM_NAME}_{name}.ts"
        print(f"input  {src.name}: sha256 {sha256(src)}")
    print(f"frames shape {frames.shape} dtype {frames.dtype}, "
          f"{int(arrays['case'].max()) + 1} cases, {SAMPLE_RATE_HZ:g} Hz")
    print(f"scale (units/LSB): {arrays['scale'].tolist()}")
    peak = np.abs(frames.astype(np.int32)).max(axis=0)
    print(f"peak |count| per channel: {peak.tolist()} (int16 limit 32767)")
    print()
    print(stats_table(frames))  # type: ignore[arg-type]
    print()
    print(class_table(arrays))
    print()
    print(f"wrote {npz_path} ({npz_path.stat().st_size} bytes, sha256 {sha256(npz_path)})")
    if csv_written:
        print(f"wrote {csv_path} ({csv_path.stat().st_size} bytes, sha256 {sha256(csv_path)})")
    else:
        print(f"skipped {csv_path.name}: {len(text)} bytes > {args.csv_max_bytes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
