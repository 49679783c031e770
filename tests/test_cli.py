"""The tinydrift command line and recording reader, on the bundled BasicMotions recording."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.cli.app import main
from tinydrift.core.recording import read_recording, write_csv

ROOT = Path(__file__).resolve().parents[1]
DATA_CSV = ROOT / "data" / "basicmotions.csv"
DATA_NPZ = ROOT / "data" / "basicmotions.npz"
WINDOW = 10
NAMES = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, out: str, err: str, *expected: str) -> str:
    assert rc != 0
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinydrift: error:"), err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.load(DATA_NPZ)["frames"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def ref(work: Path) -> Path:
    """A profile built once through the CLI (in-process) from the bundled CSV."""
    path = work / "ref.tdp"
    # 1e-4: the scored stream below is 800 windows of the reference itself, and it must read "no drift".
    assert main(["profile", "build", str(DATA_CSV), "-o", str(path), "--window", str(WINDOW), "--rate", "1e-4",
                 "-q"]) == 0
    return path


@pytest.fixture(scope="module")
def drifted(work: Path, frames: np.ndarray) -> Path:
    """The recording with a +3000 count offset on gyr_x from frame 4000 on (window 400)."""
    f = frames.astype(np.int32)
    f[4000:, 3] += 3000
    path = work / "drifted.csv"
    write_csv(path, np.clip(f, -32768, 32767), NAMES)
    return path


# ------------------------------------------------------------------------------------------ profile build


def test_build_prints_summary_and_progress(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_path = tmp_path / "p.tdp"
    rc, out, err = run(capsys, "profile", "build", DATA_CSV, "-o", out_path, "--window", WINDOW,
                       "--centroids", 4, "--dims", 3, "--rate", 0.01, "--seed", 3)
    assert rc == 0
    prof = tinydrift.load_profile(out_path)
    assert (prof.window, prof.n_channels, prof.n_centroids, prof.n_dims) == (WINDOW, 6, 4, 3)
    assert prof.false_alarm_rate == pytest.approx(0.01)
    assert len(out.strip().splitlines()) == 1  # one paragraph
    for text in (f"{prof.profile_id:#010x}", "6 channels", "acc_x", "gyr_z", f"window {WINDOW}", "3 PCA dims",
                 "4 centroids", f"{prof.instant_q8 / 256:.4f}", f"{prof.cusum_h_q8 / 256:.4f}", "0.01 false alarms",
                 str(out_path)):
        assert text in out, text
    assert err.count("tinydrift: ") >= 3 and "calibrating" in err  # progress lines go to stderr
    # Same data and options as the library call: same profile content.
    recording = read_recording(DATA_CSV)  # the CLI stores the CSV header's names in the profile
    lib = tinydrift.build_profile(recording.frames, window=WINDOW, false_alarm_rate=0.01,
                                  n_centroids=4, n_dims=3, seed=3, channel_names=recording.channel_names)
    assert lib.replace(created_unix=0).to_bytes() == prof.replace(created_unix=0).to_bytes()


def test_build_quiet_multiple_recordings_and_rails(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   frames: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", frames[:4000])
    np.savez(tmp_path / "b.npz", frames=frames[4000:], channel_names=np.array(NAMES))
    rc, out, err = run(capsys, "profile", "build", tmp_path / "a.npy", tmp_path / "b.npz", "-o", tmp_path / "p.tdp",
                       "--window", WINDOW, "--rails", "-30000:30000", "--sentinel", "-32768",
                       "--stuck-tolerance", 2, "-q")
    assert (rc, err) == (0, "")
    assert "2 recordings" in out
    prof = tinydrift.load_profile(tmp_path / "p.tdp")
    assert all((c.rail_lo, c.rail_hi, c.sentinel, c.stuck_tolerance) == (-30000, 30000, -32768, 2)
               for c in prof.channels)
    assert not prof.feature_chart or prof.chart_h_q8 < 0xFFFF  # calibrated, or left out (then said so)
    rc, out, err = run(capsys, "profile", "build", tmp_path / "a.npy", "-o", tmp_path / "plain.tdp",
                       "--window", WINDOW, "--no-feature-chart", "-q")
    assert (rc, err) == (0, "")
    assert not tinydrift.load_profile(tmp_path / "plain.tdp").feature_chart
    rc, out, err = run(capsys, "profile", "show", tmp_path / "plain.tdp")
    assert rc == 0 and re.search(r"feature chart\s+off", out)
    rc, out, err = run(capsys, "profile", "show", tmp_path / "p.tdp")
    assert rc == 0 and re.search(rf"feature chart\s+k {prof.chart_k_q8 / 256:.4f}, h {prof.chart_h_q8 / 256:.4f}", out)


# ------------------------------------------------------------------------------------------ profile show / header


def test_show_table_and_json(capsys: pytest.CaptureFixture[str], ref: Path) -> None:
    prof = tinydrift.load_profile(ref)
    rc, out, err = run(capsys, "profile", "show", ref)
    assert (rc, err) == (0, "")
    for text in ("Thresholds", "instant", "cusum k", "cusum h", str(prof.instant_q8), f"{prof.instant_q8 / 256:.4f}",
                 f"{prof.cusum_k_q8 / 256:.4f}", "Channels", "max_missing", "ref_mean", "Centroids",
                 f"{prof.profile_id:#010x}", f"{prof.channels[3].ref_mean:.3f}"):
        assert text in out, text
    rc, out, err = run(capsys, "profile", "show", ref, "--json")
    assert (rc, err) == (0, "")
    d = json.loads(out)
    assert d["window"] == WINDOW and d["n_channels"] == 6 and d["n_dims"] == prof.n_dims
    assert d["thresholds"]["instant_q8"] == prof.instant_q8
    assert d["thresholds"]["instant"] == prof.instant_q8 / 256
    assert d["centroids_q8"] == prof.centroids_q8.tolist()
    assert d["projection"] == prof.projection.tolist()
    assert [c["ref_std_q8"] for c in d["channels"]] == [c.ref_std_q8 for c in prof.channels]
    assert [c["max_saturated"] for c in d["channels"]] == [c.max_saturated for c in prof.channels]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_header_compiles_and_c_parser_accepts_it(capsys: pytest.CaptureFixture[str], ref: Path,
                                                 tmp_path: Path) -> None:
    rc, out, err = run(capsys, "profile", "header", ref, "-o", tmp_path / "imu_profile.h", "--symbol", "imu_profile")
    assert rc == 0 and out == ""
    rc, stdout_header, _ = run(capsys, "profile", "header", ref, "-o", "-")
    assert rc == 0 and "static const uint8_t tinydrift_profile[" in stdout_header
    blob = ref.read_bytes()
    (tmp_path / "main.c").write_text(
        '#include <string.h>\n'
        '#include "tinydrift/td_profile.h"\n'
        '#include "tinydrift/td_status.h"\n'
        '#include "imu_profile.h"\n'
        "int main(void) {\n"
        "    td_profile_t prof;\n"
        "    if (sizeof imu_profile != IMU_PROFILE_SIZE) return 2;\n"
        f"    if (IMU_PROFILE_SIZE != {len(blob)}u) return 3;\n"
        "    if (td_profile_parse(&prof, imu_profile, IMU_PROFILE_SIZE) != TD_OK) return 1;\n"
        "    return 0;\n"
        "}\n"
    )
    inc = ["-I", str(ROOT / "csrc" / "include"), "-I", str(ROOT / "csrc" / "src"), "-I", str(tmp_path)]
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *inc, "-c", str(tmp_path / "main.c"),
                    "-o", str(tmp_path / "main.o")], check=True, capture_output=True, text=True)
    sources = [str(p) for p in sorted((ROOT / "csrc" / "src").glob("*.c")) if p.name != "td_frame.c"]
    exe = tmp_path / "parse_embedded"
    subprocess.run(["gcc", "-std=c99", "-O1", *inc, str(tmp_path / "main.o"), *sources, "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    assert subprocess.run([str(exe)]).returncode == 0
    # The embedded bytes are the profile file's bytes.
    body = (tmp_path / "imu_profile.h").read_text().split("= {", 1)[1].split("};", 1)[0]
    assert bytes(int(x, 16) for x in body.replace(",", " ").split()) == blob


# ------------------------------------------------------------------------------------------ score


def test_score_csv_matches_library(capsys: pytest.CaptureFixture[str], ref: Path, drifted: Path,
                                   tmp_path: Path) -> None:
    rows = tinydrift.score(tinydrift.load_profile(ref), read_recording(drifted).frames)
    assert len(rows) == 800 and rows["alarm"].any()
    rc, out, err = run(capsys, "score", "--profile", ref, drifted, "--csv", "-o", tmp_path / "w.csv")
    assert (rc, out, err) == (0, "", "")
    table = list(csv.DictReader(io.StringIO((tmp_path / "w.csv").read_text())))
    assert len(table) == len(rows)
    for col in ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
                "stuck_mask", "saturated_mask", "missing_mask"):
        got = np.array([float(r[col]) for r in table])
        assert np.array_equal(got, rows[col].astype(np.float64)), col
    for c, name in enumerate(NAMES):
        for col in ("z_mean", "z_std", "mean", "std", "n_missing", "n_saturated"):
            got = np.array([float(r[f"{col}_{name}"]) for r in table])
            assert np.array_equal(got, rows[col][:, c].astype(np.float64)), (col, name)


def test_score_json_matches_library(capsys: pytest.CaptureFixture[str], ref: Path, drifted: Path) -> None:
    rows = tinydrift.score(ref, read_recording(drifted).frames)
    rc, out, err = run(capsys, "score", "--profile", ref, drifted, "--json")
    assert (rc, err) == (0, "")
    records = json.loads(out)
    assert len(records) == len(rows)
    for col in ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
                "stuck_mask", "saturated_mask", "missing_mask", "z_mean", "z_std", "mean", "std", "n_missing",
                "n_saturated"):
        assert [r[col] for r in records] == rows[col].tolist(), col
    # the bit fields spelled out by name, decoded here from the documented bit values (docs/protocol.md)
    bits = {"instant": 1, "cusum": 2, "health": 4, "concept": 8, "occupancy": 16, "feature": 32}
    assert any(r["triggers"] for r in records)
    for r in records:
        assert r["channels"] == NAMES
        assert r["top_channel_name"] == NAMES[r["top_channel"]]
        assert sorted(r["triggers"]) == sorted(n for n, b in bits.items() if r["trigger"] & b)
        for what in ("stuck", "saturated", "missing"):
            assert r[f"{what}_channels"] == [n for c, n in enumerate(NAMES) if r[f"{what}_mask"] >> c & 1]


def test_score_summary(capsys: pytest.CaptureFixture[str], ref: Path, drifted: Path) -> None:
    rc, out, err = run(capsys, "score", "--profile", ref, DATA_NPZ)
    assert (rc, err) == (0, "")
    assert "windows: 800" in out and "no drift" in out and "max score" in out
    rc, out, err = run(capsys, "score", "--profile", ref, drifted)
    assert (rc, err) == (0, "")  # drift found, still success without --fail-on-alarm
    rows = tinydrift.score(ref, read_recording(drifted).frames)
    first = int(np.argmax(rows["alarm"]))
    assert f"DRIFT: alarm at window {first}" in out
    assert "top channel at the alarm: gyr_x" in out
    assert "cusum" in out.split("triggered by", 1)[1].splitlines()[0]
    rc, _, _ = run(capsys, "score", "--profile", ref, drifted, "--fail-on-alarm")
    assert rc == 3
    rc, _, _ = run(capsys, "score", "--profile", ref, DATA_CSV, "--fail-on-alarm")
    assert rc == 0


def test_subprocess_entry_point(ref: Path, drifted: Path) -> None:
    cmd = [sys.executable, "-m", "tinydrift"]
    done = subprocess.run([*cmd, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"tinydrift {tinydrift.__version__}"
    done = subprocess.run([*cmd, "score", "--profile", str(ref), str(drifted), "--fail-on-alarm"],
                          capture_output=True, text=True)
    assert done.returncode == 3 and "DRIFT" in done.stdout and done.stderr == ""
    done = subprocess.run([*cmd, "score", "--profile", str(ref), str(ref.with_suffix(".missing.csv"))],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert_one_line_error(done.returncode, done.stdout, done.stderr, "No such file or directory")


def test_subprocess_broken_pipe_is_quiet(ref: Path, drifted: Path) -> None:
    # Like `tinydrift score ... --csv | true`: the reader is gone before the first write.
    proc = subprocess.Popen([sys.executable, "-m", "tinydrift", "score", "--profile", str(ref), str(drifted),
                             "--csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


# ------------------------------------------------------------------------------------------ bad input


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


ROW = "1,2,3,4,5,6\n"
HEADER = ",".join(NAMES) + "\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (HEADER + ROW + "1,2,abc,4,5,6\n", ["s.csv:3:5:", "non-integer value 'abc'", "acc_z"]),
        (HEADER + ROW + ROW + "1,2,3,4,1.5,6\n", ["s.csv:4:9:", "non-integer value '1.5'"]),
        (HEADER + "1,70000,3,4,5,6\n", ["s.csv:2:3:", "70000", "int16"]),
        (HEADER + ROW + "1,2,3,4,5\n", ["s.csv:3:", "wrong number of fields on line 3", "expected 6"]),
        (HEADER + "1,2,3,4,5,6,7\n", ["s.csv:2:", "wrong number of fields on line 2", "expected 6"]),
        (HEADER + "1,2,,4,5,6\n", ["s.csv:2:5:", "non-integer value"]),
        ("", ["no frames"]),
        (HEADER, ["no frames"]),
        ("acc_x,acc_x\n1,2\n", ["s.csv:1:", "duplicate channel name 'acc_x'"]),
        ("acc_x, ,z\n1,2,3\n", ["s.csv:1:", "blank name"]),
    ],
    ids=["abc", "fraction", "out-of-range", "short-row", "long-row", "empty-cell", "empty-file", "header-only",
         "duplicate-name", "blank-name"],
)
def test_bad_stream_csv(capsys: pytest.CaptureFixture[str], ref: Path, tmp_path: Path, content: str,
                        expected: list[str]) -> None:
    path = _csv(tmp_path, "s.csv", content)
    assert_one_line_error(*run(capsys, "score", "--profile", ref, path), *expected)
    assert_one_line_error(*run(capsys, "profile", "build", path, "-o", tmp_path / "p.tdp"), *expected)
    assert not (tmp_path / "p.tdp").exists()


def test_wrong_channel_count(capsys: pytest.CaptureFixture[str], ref: Path, tmp_path: Path,
                             frames: np.ndarray) -> None:
    path = tmp_path / "three.csv"
    write_csv(path, frames[:, :3], NAMES[:3])
    assert_one_line_error(*run(capsys, "score", "--profile", ref, path), "3 channels", "expects 6")
    np.save(tmp_path / "three.npy", frames[:, :3])
    assert_one_line_error(*run(capsys, "profile", "build", DATA_CSV, tmp_path / "three.npy", "-o",
                               tmp_path / "p.tdp"), "3 channels", "6")


def test_training_data_too_short(capsys: pytest.CaptureFixture[str], tmp_path: Path, frames: np.ndarray) -> None:
    path = tmp_path / "short.csv"
    write_csv(path, frames[:100], NAMES)
    assert_one_line_error(*run(capsys, "profile", "build", path, "-o", tmp_path / "p.tdp", "--window", WINDOW),
                          "training data too short")
    assert not (tmp_path / "p.tdp").exists()


def test_bad_profiles(capsys: pytest.CaptureFixture[str], ref: Path, tmp_path: Path) -> None:
    blob = ref.read_bytes()
    truncated = tmp_path / "truncated.tdp"
    truncated.write_bytes(blob[: len(blob) // 2])
    corrupted = tmp_path / "corrupted.tdp"
    corrupted.write_bytes(blob[:100] + bytes([blob[100] ^ 0x01]) + blob[101:])
    for prof in (truncated, corrupted):
        assert_one_line_error(*run(capsys, "score", "--profile", prof, DATA_CSV), str(prof), "invalid profile")
        assert_one_line_error(*run(capsys, "profile", "show", prof), str(prof), "invalid profile")
        assert_one_line_error(*run(capsys, "profile", "header", prof, "-o", tmp_path / "h.h"), "invalid profile")
    assert not (tmp_path / "h.h").exists()
    assert_one_line_error(*run(capsys, "profile", "show", tmp_path / "none.tdp"), "No such file or directory")


def test_missing_and_unknown_files(capsys: pytest.CaptureFixture[str], ref: Path, tmp_path: Path) -> None:
    assert_one_line_error(*run(capsys, "score", "--profile", ref, tmp_path / "nope.csv"),
                          "nope.csv", "No such file or directory")
    assert_one_line_error(*run(capsys, "profile", "build", tmp_path / "nope.npz", "-o", tmp_path / "p.tdp"),
                          "No such file or directory")
    txt = _csv(tmp_path, "stream.txt", HEADER + ROW)
    assert_one_line_error(*run(capsys, "score", "--profile", ref, txt), "unsupported", ".csv", ".npy", ".npz")
    (tmp_path / "dir.csv").mkdir()
    assert_one_line_error(*run(capsys, "score", "--profile", ref, tmp_path / "dir.csv"), "Is a directory")
    assert_one_line_error(*run(capsys, "profile", "build", DATA_CSV, "-o", tmp_path / "no" / "p.tdp", "-q",
                               "--window", WINDOW), "cannot write")
    assert_one_line_error(*run(capsys, "score", "--profile", ref, DATA_CSV, "-o", tmp_path / "no" / "o.csv"),
                          "cannot write")


def test_bad_numpy_files(capsys: pytest.CaptureFixture[str], ref: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "frac.npy", np.full((50, 6), 0.5))
    np.save(tmp_path / "obj.npy", np.array([[1, 2]], dtype=object), allow_pickle=True)
    np.save(tmp_path / "big.npy", np.full((50, 6), 40000, dtype=np.int32))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "two.npz", a=np.zeros((5, 6)), b=np.zeros(5))
    for name, text in [("frac.npy", "non-integer"), ("obj.npy", "not a valid .npy"), ("big.npy", "int16"),
                       ("junk.npz", "not a .npz"), ("two.npz", "no 'frames' array")]:
        assert_one_line_error(*run(capsys, "score", "--profile", ref, tmp_path / name), name, text)


def test_bad_build_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "p.tdp"
    assert_one_line_error(*run(capsys, "profile", "build", DATA_CSV, "-o", out, "--rails", "-5:5",
                               "--sentinel", 0), "sentinel")
    # argparse usage errors: exit 2, usage on stderr
    for argv in (["profile", "build", DATA_CSV], ["profile", "build", DATA_CSV, "-o", out, "--rate", "2"],
                 ["profile", "build", DATA_CSV, "-o", out, "--rails", "5"], ["profile", "header", "x.tdp", "-o",
                 "-", "--symbol", "int"], ["score", DATA_CSV], ["frobnicate"], []):
        rc, _, err = run(capsys, *argv)
        assert rc == 2 and "usage:" in err and "Traceback" not in err
    # Ranges of the core (td_config.h, td_profile_parse) are checked by the parser: exit 2 naming the limit.
    for option, value, limit in (("--window", 1, "between 2 and 1024"), ("--window", 5000, "between 2 and 1024"),
                                 ("--centroids", 17, "between 1 and 16"), ("--dims", 0, "between 1 and 16")):
        rc, _, err = run(capsys, "profile", "build", DATA_CSV, "-o", out, option, value)
        assert rc == 2 and f"argument {option}: must be {limit}, got {value}" in err.splitlines()[-1], err
    assert not out.exists()


@pytest.mark.parametrize("command", [[], ["profile"], ["profile", "build"], ["profile", "show"],
                                     ["profile", "header"], ["score"]])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    rc, out, _ = run(capsys, *command, "--help")
    assert rc == 0 and "Examples" in out and "usage: tinydrift" in out


# ------------------------------------------------------------------------------------------ recording reader


def test_read_recording_formats(tmp_path: Path, frames: np.ndarray) -> None:
    rec = read_recording(DATA_CSV)
    assert rec.channel_names == NAMES and rec.frames.dtype == np.int16 and rec.frames.flags.c_contiguous
    assert np.array_equal(rec.frames, frames)
    npz = read_recording(DATA_NPZ)
    assert npz.channel_names == NAMES and np.array_equal(npz.frames, frames)
    crlf = _csv(tmp_path, "crlf.csv", " a , b \r\n 1, -2 \r\n3,+4\r\n\r\n")
    rec = read_recording(crlf)
    assert rec.channel_names == ["a", "b"] and rec.frames.tolist() == [[1, -2], [3, 4]]
    np.save(tmp_path / "one.npy", np.arange(5, dtype=np.int64))
    rec = read_recording(tmp_path / "one.npy")
    assert rec.channel_names == ["ch0"] and rec.frames.shape == (5, 1)
    np.save(tmp_path / "f.npy", np.array([[1.0, -2.0]]))
    assert read_recording(tmp_path / "f.npy").frames.tolist() == [[1, -2]]
    np.savez(tmp_path / "only.npz", data=np.ones((3, 2), np.uint8))
    assert read_recording(tmp_path / "only.npz").frames.tolist() == [[1, 1]] * 3
    write_csv(tmp_path / "rt.csv", frames[:20], NAMES)
    assert np.array_equal(read_recording(tmp_path / "rt.csv").frames, frames[:20])


def test_interrupt_and_os_errors_are_one_line(capsys: pytest.CaptureFixture[str], ref: Path,
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tinydrift.cli.score as cli

    def interrupted(path: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "read_recording", interrupted)
    rc, out, err = run(capsys, "score", "--profile", ref, DATA_CSV)
    assert rc == 130 and err.strip() == "tinydrift: interrupted" and "Traceback" not in out + err

    def denied(path: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cli, "read_recording", denied)
    assert_one_line_error(*run(capsys, "score", "--profile", ref, DATA_CSV), "Permission denied", str(DATA_CSV))
    monkeypatch.undo()
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + b"1,2,3,4,5,\xe96\n")
    assert_one_line_error(*run(capsys, "score", "--profile", ref, latin), "UTF-8")
    headerless = _csv(tmp_path, "nohead.csv", ROW * 3)
    assert_one_line_error(*run(capsys, "score", "--profile", ref, headerless), "header row")
