"""`tinydrift selftest` against both simulated boards (host process and QEMU Cortex-M4).

  * PASS: 120 windows identical; afterwards the board runs the profile it ran before (--restore,
    checked by id) and its ring holds the test's 120 records, which equal tinydrift.score's rows
    (checked here again with link.compare_records, a second comparison);
  * a record altered between the device and the comparison -> exit 1 and one line naming the
    first differing window and field, with both values; the previous profile is still restored;
  * a board whose profile cannot be restored (no --restore, a --restore file of another profile)
    is left untouched with a one-line error; records the test would push out of the ring are
    saved to --db first, or the test refuses.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.build import selftest_data
from tinydrift.cli.app import main
from tinydrift.device import selftest
from tinydrift.device.client import Device
from tinydrift.device.records import TELEMETRY_COLUMNS, TelemetryRecord, compare_records
from e2e_boards import TIMEOUT, connect, dev, sim  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def user_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[tinydrift.Profile, Path]:
    """A profile the board 'belongs to' (not the self-test's), saved as the user's .tdp."""
    frames = np.load(ROOT / "data" / "basicmotions.npz")["frames"]
    prof = tinydrift.build_profile(frames[:4000], window=20, n_centroids=4, seed=3)
    path = tmp_path_factory.mktemp("user") / "ref.tdp"
    prof.save(path)
    return prof, path


@pytest.fixture(scope="module")
def expected() -> dict:
    prof = selftest_data.selftest_profile()
    stream = selftest_data.selftest_stream()
    return {"profile": prof, "stream": stream, "rows": tinydrift.score(prof, stream)}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["selftest", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_stream_and_profile(expected: dict) -> None:
    """The known recording: 120 windows of 10 frames, quiet at first, triggers once acc_z sticks (window 80)."""
    rows = expected["rows"]
    assert len(rows) == 120 and expected["profile"].window == 10
    assert not rows["trigger"][:40].any() and rows["trigger"][80:].all()
    assert expected["profile"].profile_id == selftest_data._build(selftest_data.bundled_recording()).profile_id


def test_pass_and_restore(sim, user_profile, expected, capsys) -> None:  # noqa: ANN001, F811
    prof, path = user_profile
    with connect(sim) as d:
        d.upload_profile(prof)
        before = d.info()
    code, out, err = _run(capsys, "--port", sim.url, "--restore", str(path), "--timeout", str(TIMEOUT[sim.board]),
                          "--discard-ring")
    assert code == 0, err
    assert len(out) == 1 and out[0].startswith("selftest: PASS — 120 windows identical to tinydrift.score")
    assert any(f"profile {prof.profile_id:#010x} restored from {path}" in ln for ln in err)
    with connect(sim) as d:
        after = d.info()
        assert after.profile_id == prof.profile_id and after.boot_id == before.boot_id
        assert after.next_seq - before.next_seq == 120
        records = d.fetch(before.next_seq, max_records=120)
    assert {r.profile_id for r in records} == {expected["profile"].profile_id}
    assert compare_records(records, expected["rows"]) == []


def test_altered_record_fails_naming_window_and_field(sim, user_profile, expected, capsys,  # noqa: ANN001, F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    prof, path = user_profile
    with connect(sim) as d:
        d.upload_profile(prof)
    real_inject = Device.inject

    def altered(self: Device, frames: object, **kwargs: object) -> list[TelemetryRecord]:
        records = real_inject(self, frames, **kwargs)  # type: ignore[arg-type]
        rec = records[17]
        records[17] = dataclasses.replace(rec, score=rec.score + 0.25)
        return records

    monkeypatch.setattr(Device, "inject", altered)
    code, out, err = _run(capsys, "--port", sim.url, "--restore", str(path), "--timeout", str(TIMEOUT[sim.board]),
                          "--discard-ring")
    host = float(expected["rows"]["score"][17])
    assert code == 1
    assert out == [f"selftest: FAIL — window 17 field score: device {host + 0.25!r} host {host!r}"
                   if not (host + 0.25).is_integer() else
                   f"selftest: FAIL — window 17 field score: device {int(host + 0.25)} host {host!r}"]
    with connect(sim) as d:
        assert d.info().profile_id == prof.profile_id  # restored although the test failed


def test_refuses_a_profile_it_cannot_restore(sim, user_profile, tmp_path, capsys) -> None:  # noqa: ANN001, F811
    prof, _ = user_profile
    with connect(sim) as d:
        d.upload_profile(prof)
        before = d.info()
    code, out, err = _run(capsys, "--port", sim.url, "--timeout", str(TIMEOUT[sim.board]))
    assert code == 1 and out == [] and len(err) == 1
    assert f"active profile {prof.profile_id:#010x} cannot be read back" in err[0] and "--restore" in err[0]
    other = tinydrift.build_profile(np.load(ROOT / "data" / "basicmotions.npz")["frames"][:2000], window=10, seed=5)
    other.save(tmp_path / "other.tdp")
    code, out, err = _run(capsys, "--port", sim.url, "--restore", str(tmp_path / "other.tdp"))
    assert code == 1 and out == [] and len(err) == 1 and "pass the .tdp the board's profile was uploaded from" in err[0]
    with connect(sim) as d:
        after = d.info()
    assert (after.profile_id, after.next_seq, after.active_slot) == (before.profile_id, before.next_seq,
                                                                     before.active_slot)


def test_ring_records_are_saved_or_the_test_refuses(sim, user_profile, tmp_path, capsys) -> None:  # noqa: ANN001, F811
    prof, path = user_profile
    frames = np.load(ROOT / "data" / "basicmotions.npz")["frames"]
    with connect(sim) as d:
        d.upload_profile(prof)
        start = d.info().next_seq
        mine = d.inject(frames[4000:4000 + 20 * 30])  # 30 windows of the user's profile, never collected
        assert len(mine) == 30
    code, out, err = _run(capsys, "--port", sim.url, "--restore", str(path), "--timeout", str(TIMEOUT[sim.board]))
    assert code == 1 and out == [] and len(err) == 1 and "would push" in err[0] and "--db" in err[0]
    db = tmp_path / "telemetry.db"
    code, out, err = _run(capsys, "--port", sim.url, "--restore", str(path), "--db", str(db),
                          "--timeout", str(TIMEOUT[sim.board]))
    assert code == 0 and out[0].startswith("selftest: PASS")
    with sqlite3.connect(db) as con:
        seqs = sorted(s for (s,) in con.execute("SELECT seq FROM records WHERE profile_id = ?", (prof.profile_id,)))
    assert set(range(start, start + 30)) <= set(seqs)


def test_first_difference_names_channel_fields(expected: dict) -> None:
    rows = expected["rows"]
    records = [TelemetryRecord.from_row(r, seq=i) for i, r in enumerate(rows)]
    assert selftest.first_difference(records, rows) is None
    rec = records[5]
    mean = list(rec.mean)
    mean[3] += 1 / 256
    records[5] = dataclasses.replace(rec, mean=tuple(mean))
    records[9] = dataclasses.replace(records[9], cusum=records[9].cusum + 1)
    window, field, got, want = selftest.first_difference(records, rows)
    assert (window, field) == (5, "mean[3]") and got == want + 1 / 256
    assert "mean" in TELEMETRY_COLUMNS


def test_sensor_sampling_is_paused_and_resumed(user_profile, tmp_path, capsys) -> None:  # noqa: ANN001
    """Host simulator playing a recording as its sensor at 50 Hz: its frames must not mix with the injected ones."""
    from tinydrift.device.sim import Simulator

    prof, path = user_profile
    frames = np.load(ROOT / "data" / "basicmotions.npz")["frames"]
    sensor = tmp_path / "sensor.bin"
    sensor.write_bytes(np.ascontiguousarray(frames, dtype="<i2").tobytes())
    with Simulator("host", state_dir=tmp_path / "state", extra_args=("--sensor-file", str(sensor))) as s:
        with Device(s.url, timeout=TIMEOUT["host"]) as d:
            d.upload_profile(prof)
            assert d.sensor(50) == 50
        code, out, err = _run(capsys, "--port", s.url, "--restore", str(path), "--discard-ring")
        assert code == 0 and out[0].startswith("selftest: PASS — 120 windows identical"), (out, err)
        assert any("paused sensor sampling (50 Hz)" in ln for ln in err)
        assert any("sensor sampling at 50 Hz resumed" in ln for ln in err)
        with Device(s.url, timeout=TIMEOUT["host"]) as d:
            info = d.info()
        assert (info.sensor_rate_hz, info.profile_id) == (50, prof.profile_id)
