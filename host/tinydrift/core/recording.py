"""Read and write sensor recordings: CSV with a header of channel names, .npy and .npz arrays.

``read_recording`` turns a file into int16 frames (n x channels) and channel names, or
raises InputError with one line saying where and why the file is unusable (for CSV:
``file:line:column`` of the first bad cell). It never lets a parser traceback through.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydrift.core.errors import InputError

SUPPORTED_EXTENSIONS = (".csv", ".npy", ".npz")
INT16_MIN, INT16_MAX = -32768, 32767
_INTEGER = re.compile(r"^[ \t]*[+-]?[0-9]+[ \t]*$")
# What to do about a cell that is not an integer: appended to the error line.
HINT_FLOAT = "recordings hold integer sensor counts: scale and round float data to int16 first"
HINT_MISSING = "write a missing reading as the sentinel value given to `profile build --sentinel`"


@dataclass
class Recording:
    """int16 frames (n x channels, C-contiguous), one name per channel, and the file they came from."""

    frames: np.ndarray
    channel_names: list[str]
    source: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.frames.shape[1])


def default_names(n_channels: int) -> list[str]:
    return [f"ch{c}" for c in range(n_channels)]


def read_recording(path: str | Path) -> Recording:
    """Read a .csv (header row of channel names, then integer rows), .npy or .npz recording."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        what = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise InputError(f"{path}: unsupported file type ({what}); supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    _check_readable(path)
    if ext == ".csv":
        frames, names = _read_csv(path)
    elif ext == ".npy":
        frames, names = _read_npy(path)
    else:
        frames, names = _read_npz(path)
    return Recording(np.ascontiguousarray(frames, dtype=np.int16), names, str(path))


def write_csv(path: str | Path, frames: object, channel_names: Sequence[str] | None = None) -> None:
    """Write frames (n x channels integers in int16 range) as CSV with a header row of channel names."""
    arr = np.asarray(frames)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"frames must be a 2-D array (frames x channels), got shape {arr.shape}")
    arr = _to_int16(arr, str(path))
    names = list(channel_names) if channel_names is not None else default_names(arr.shape[1])
    _check_names(names, arr.shape[1], str(path))
    for name in names:
        if any(ch in name for ch in ',"\r\n'):
            raise InputError(f"channel name {name!r} cannot be written to CSV (contains a comma, quote or newline)")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(names) + "\n")
        np.savetxt(fh, arr, fmt="%d", delimiter=",")


# ---------------------------------------------------------------------------------------------- helpers


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _cell_hint(cell: str) -> str:
    """The hint for a CSV cell that is not an integer: a missing reading, a float, or neither."""
    text = cell.strip()
    if text == "" or text.lower() in ("nan", "na", "n/a", "null", "none"):
        return HINT_MISSING
    try:
        float(text)
    except ValueError:
        return "CSV cells must be integers in int16 range"
    return HINT_FLOAT


def _check_readable(path: Path) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None


def _check_names(names: list[str], n_channels: int, where: str) -> None:
    if len(names) != n_channels:
        raise InputError(f"{where}: {len(names)} channel names for {n_channels} channels")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not name:
            raise InputError(f"{where}: channel {i + 1} has a blank name")
        if name in seen:
            raise InputError(f"{where}: duplicate channel name {name!r}")
        seen.add(name)


def _to_int16(arr: np.ndarray, where: str) -> np.ndarray:
    """arr (2-D) as int16, or InputError naming the first value that is not an int16 integer."""
    kind = arr.dtype.kind
    if kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise InputError(f"{where}: frame {r}, channel {c}: value {arr[r, c].item()} is not finite; "
                             f"{HINT_MISSING}")
        bad = arr != np.round(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise InputError(f"{where}: frame {r}, channel {c}: non-integer value {arr[r, c].item()!r}; "
                             f"{HINT_FLOAT}")
    elif kind not in "iu":
        raise InputError(f"{where}: frames must be integers, got dtype {arr.dtype}")
    if arr.size:
        bad = (arr < INT16_MIN) | (arr > INT16_MAX)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            value = arr[r, c].item()
            raise InputError(
                f"{where}: frame {r}, channel {c}: value {value:g} out of int16 range [{INT16_MIN}, {INT16_MAX}]"
            )
    return np.ascontiguousarray(arr, dtype=np.int16)


# ---------------------------------------------------------------------------------------------- CSV


def _read_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
            rest_empty = first.strip() == "" and fh.read().strip() == ""
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None
    if rest_empty:
        raise InputError(f"{path}: no frames (empty file)")
    if first.strip() == "":
        raise InputError(f"{path}:1:1: blank header row (expected channel names, e.g. acc_x,acc_y,acc_z)")
    fields = next(csv.reader([first.rstrip("\r\n")]))
    names = [f.strip() for f in fields]
    for i, name in enumerate(names):
        if not name:
            raise InputError(f"{path}:1:{_column(fields, i)}: channel {i + 1} has a blank name in the header row")
    if all(_INTEGER.match(n) for n in names):
        raise InputError(
            f"{path}:1:1: first line looks like data; a CSV recording starts with a header row of channel names"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InputError(
                f"{path}:1:{_column(fields, i)}: duplicate channel name {name!r} (also column {seen[name] + 1})"
            )
        seen[name] = i
    return names


def _column(fields: list[str], index: int) -> int:
    """1-based character column where field index starts (exact for unquoted CSV)."""
    return sum(len(f) + 1 for f in fields[:index]) + 1


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    names = _read_header(path)
    arr = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(path, dtype=np.int64, delimiter=",", skiprows=1, ndmin=2, comments=None,
                             encoding="utf-8")
    except (ValueError, OSError):
        arr = None
    if (arr is not None and arr.shape[0] > 0 and arr.shape[1] == len(names)
            and arr.min() >= INT16_MIN and arr.max() <= INT16_MAX):
        return arr.astype(np.int16), names
    return _scan_csv(path, names), names


def _scan_csv(path: Path, names: list[str]) -> np.ndarray:
    """Slow path: parse cell by cell and raise at the first bad one."""
    n = len(names)
    rows: list[list[int]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for fields in reader:
                line = reader.line_num
                if not fields or (len(fields) == 1 and fields[0].strip() == ""):
                    continue  # blank line
                if len(fields) != n:
                    col = _column(fields, min(len(fields), n)) if len(fields) > n else len(",".join(fields)) + 1
                    raise InputError(
                        f"{path}:{line}:{col}: wrong number of fields on line {line}: "
                        f"got {len(fields)}, expected {n} ({','.join(names)})"
                    )
                row = []
                for i, cell in enumerate(fields):
                    where = f"{path}:{line}:{_column(fields, i)}"
                    if not _INTEGER.match(cell):
                        shown = repr(cell.strip()) if cell.strip() else "'' (empty)"
                        raise InputError(f"{where}: non-integer value {shown} in column {names[i]!r}; "
                                         f"{_cell_hint(cell)}")
                    value = int(cell)
                    if not INT16_MIN <= value <= INT16_MAX:
                        raise InputError(
                            f"{where}: value {value} in column {names[i]!r} out of int16 range "
                            f"[{INT16_MIN}, {INT16_MAX}]"
                        )
                    row.append(value)
                rows.append(row)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None
    if not rows:
        raise InputError(f"{path}: no frames (header only)")
    return np.array(rows, dtype=np.int16).reshape(-1, n)


# ---------------------------------------------------------------------------------------------- numpy


def _frames_from_array(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"{where}: expected a 2-D array (frames x channels), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{where}: no frames (empty array)")
    return _to_int16(arr, where)


def _magic(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None


def _read_npy(path: Path) -> tuple[np.ndarray, list[str]]:
    if _magic(path, 6) != b"\x93NUMPY":
        raise InputError(f"{path}: not a .npy array file (no NUMPY signature)")
    try:
        arr = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None
    except Exception as exc:  # numpy's header parser: ValueError, EOFError, SyntaxError, tokenize.TokenError, ...
        raise InputError(f"{path}: not a valid .npy array file ({exc})".replace("\n", " ")) from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: not a .npy array file")
    frames = _frames_from_array(arr, str(path))
    return frames, default_names(frames.shape[1])


def _read_npz(path: Path) -> tuple[np.ndarray, list[str]]:
    if _magic(path, 4) not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise InputError(f"{path}: not a .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise InputError(f"{path}: not a .npz archive")
            keys = list(npz.files)
            if "frames" in keys:
                key = "frames"
            elif len(keys) == 1:
                key = keys[0]
            elif not keys:
                raise InputError(f"{path}: the archive holds no arrays")
            else:
                raise InputError(f"{path}: no 'frames' array and several to choose from ({', '.join(keys)})")
            arr = npz[key]
            raw_names = npz["channel_names"] if "channel_names" in keys and key != "channel_names" else None
            # a member that is not a .npy file comes back as raw bytes, not as an array
            if not isinstance(arr, np.ndarray):
                raise InputError(f"{path}: member '{key}' of the archive is not a .npy array")
            if raw_names is not None and not isinstance(raw_names, np.ndarray):
                raise InputError(f"{path}: member 'channel_names' of the archive is not a .npy array")
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None
    except Exception as exc:  # zipfile, zlib and numpy's header parser raise many types on a corrupt archive
        raise InputError(f"{path}: not a valid .npz archive ({exc})".replace("\n", " ")) from None
    where = f"{path}[{key}]"
    frames = _frames_from_array(arr, where)
    if raw_names is None:
        return frames, default_names(frames.shape[1])
    if raw_names.ndim != 1 or raw_names.dtype.kind not in "US":
        raise InputError(f"{path}: 'channel_names' must be a 1-D array of strings, got {raw_names.dtype} "
                         f"of shape {raw_names.shape}")
    names = [(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)).strip() for n in raw_names.tolist()]
    _check_names(names, frames.shape[1], f"{path}: channel_names")
    return frames, names
