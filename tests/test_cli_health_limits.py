"""`profile build --max-missing / --max-saturated` (and build_profile's keywords): the health limits a user sets.

Without them every limit is the training maximum, 0 on clean data, so one missing sample in the field latches the
monitor. The oracle for the counts is numpy over the very frames scored; the monitor is the device's C core."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.cli.app import main
from tinydrift.core.errors import InputError
from tinydrift.core.recording import write_csv

ROOT = Path(__file__).resolve().parents[1]
DATA_CSV = ROOT / "data" / "basicmotions.csv"
DATA_NPZ = ROOT / "data" / "basicmotions.npz"
pytestmark = pytest.mark.filterwarnings("ignore::tinydrift.CalibrationWarning")
NAMES = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
SENTINEL = -32768
WINDOW = 10


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc: int, err: str) -> str:
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinydrift: error: "), err
    return lines[0].removeprefix("tinydrift: error: ")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clean Gaussian data, 3 named channels, 60 windows of 64: every training maximum is 0."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("health") / "train.csv"
    write_csv(path, rng.normal(0, 200, (64 * 60, 3)).astype(np.int16), ["ax", "ay", "az"])
    return path


def test_max_missing_two_tolerates_two_and_alarms_on_three(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    ref = tmp_path / "ref.tdp"
    rc, _, err = run(capsys, "profile", "build", DATA_CSV, "-o", ref, "--window", WINDOW, "--rate", "1e-4",
                     "--sentinel", SENTINEL, "--max-missing", 2)
    assert rc == 0, err
    assert "health limits (samples a window may hold before the health check fires): missing 2; saturated 0" in err
    rc, out, _ = run(capsys, "profile", "show", ref, "--json")
    channels = json.loads(out)["channels"]
    assert [c["max_missing"] for c in channels] == [2] * 6
    assert [c["max_saturated"] for c in channels] == [0] * 6  # not given: the training maximum, clean data

    frames = np.load(DATA_NPZ)["frames"].copy()
    frames[[100 * WINDOW + 3, 100 * WINDOW + 7], 0] = SENTINEL            # window 100: 2 missing on acc_x
    frames[[200 * WINDOW + 1, 200 * WINDOW + 4, 200 * WINDOW + 8], 0] = SENTINEL  # window 200: 3
    field = tmp_path / "field.csv"
    write_csv(field, frames, NAMES)
    rc, out, _ = run(capsys, "score", "--profile", ref, field, "--json")
    assert rc == 0
    rows = json.loads(out)
    expected = (frames[: len(rows) * WINDOW].reshape(len(rows), WINDOW, 6) == SENTINEL).sum(axis=1)
    assert [r["n_missing"] for r in rows] == expected.tolist()
    assert expected[100, 0] == 2 and expected[200, 0] == 3
    assert "health" not in rows[100]["triggers"] and rows[100]["missing_channels"] == []
    assert not any(r["alarm"] for r in rows[:200])  # 2 missing samples raise nothing: the monitor stays quiet
    assert "health" in rows[200]["triggers"] and rows[200]["missing_channels"] == ["acc_x"] and rows[200]["alarm"]


def test_per_channel_limits_through_cli_and_api(capsys: pytest.CaptureFixture[str], synthetic: Path,
                                                tmp_path: Path) -> None:
    ref = tmp_path / "ref.tdp"
    rc, _, err = run(capsys, "profile", "build", synthetic, "-o", ref, "--sentinel", SENTINEL,
                     "--max-missing", "ay=3,az=64", "--max-saturated", 5)
    assert rc == 0, err
    assert "missing ax 0, ay 3, az 64; saturated 5 (as given, else the training maximum)" in err
    rc, out, _ = run(capsys, "profile", "show", ref, "--json")
    channels = json.loads(out)["channels"]
    assert [(c["max_missing"], c["max_saturated"]) for c in channels] == [(0, 5), (3, 5), (64, 5)]

    train = np.loadtxt(synthetic, delimiter=",", skiprows=1, dtype=np.int16)
    for given in ({"ay": 3, "az": 64}, [None, 3, 64]):
        prof = tinydrift.build_profile(train, false_alarm_rate=1e-2, sentinel=SENTINEL, max_missing=given, max_saturated=5,
                                       channel_names=["ax", "ay", "az"])
        assert [(c.max_missing, c.max_saturated) for c in prof.channels] == [(0, 5), (3, 5), (64, 5)]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--max-missing", "65", "max_missing must be a count of samples from 0 to the window (64), got 65"),
    ("--max-saturated", "-1", "max_saturated must be a count of samples from 0 to the window (64), got -1"),
    ("--max-missing", "ay=65", "max_missing of channel ay must be a count of samples from 0 to the window (64), "
                               "got 65"),
    ("--max-saturated", "gyro=1", "max_saturated names channel 'gyro', which is not one of ax, ay, az"),
])
def test_bad_limits_are_one_line(capsys: pytest.CaptureFixture[str], synthetic: Path, tmp_path: Path,
                                 option: str, value: str, message: str) -> None:
    out_path = tmp_path / "ref.tdp"
    rc, _, err = run(capsys, "profile", "build", synthetic, "-o", out_path, "-q", option, value)
    assert one_line_error(rc, err) == message
    assert not out_path.exists()


def test_bad_limit_syntax_is_a_usage_error(capsys: pytest.CaptureFixture[str], synthetic: Path,
                                           tmp_path: Path) -> None:
    rc, _, err = run(capsys, "profile", "build", synthetic, "-o", tmp_path / "r.tdp", "--max-missing", "ay:3")
    assert rc == 2
    assert err.strip().splitlines()[-1] == ("tinydrift profile build: error: argument --max-missing: expected a count "
                                            "N or per channel NAME=N,NAME=N, got 'ay:3'")


def test_api_rejects_wrong_lengths_and_types() -> None:
    train = np.zeros((64 * 20, 2), np.int16) + np.arange(64 * 20, dtype=np.int16)[:, None] % 7
    with pytest.raises(InputError, match="max_missing gives 3 limits for 2 channels"):
        tinydrift.build_profile(train, max_missing=[1, 2, 3])
    with pytest.raises(InputError, match="max_saturated must be a count"):
        tinydrift.build_profile(train, max_saturated=2.5)  # type: ignore[arg-type]
