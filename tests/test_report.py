"""The HTML/PNG telemetry report, on a store filled from BasicMotions with injected drift."""

from __future__ import annotations

import argparse
import base64
import re
import sqlite3
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

import tinydrift
from tinydrift.cli import app as cli, store as cli_store
from tinydrift.device.records import TelemetryRecord
from tinydrift.telemetry.report import build_report
from tinydrift.telemetry.store import StoreError, TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
DEVICE = "tcp://127.0.0.1:5555"
SECOND = "/dev/ttyACM0"
BOOT, BOOT2 = 0x1234ABCD, 0x00C0FFEE
LOST = (60, 69)  # recorded as lost (ring overflow)
NOT_RECEIVED = (250, 252)  # never arrived, not recorded


@pytest.fixture(scope="module")
def telemetry_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tinydrift.Profile]:
    """BasicMotions test split as one stream: gyr_y x4 from window 150, gyr_x stuck from window 300 (window 10).

    Device 1 sends every window except LOST (recorded as a gap) and NOT_RECEIVED; device 2 (another
    boot, another board) sends the first 100 windows of the clean stream.
    """
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    profile = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=1e-3, channel_names=names)
    clean = frames[split == 1]
    drifted = clean.astype(np.int32)
    drifted[150 * WINDOW:, names.index("gyr_y")] *= 4
    drifted[300 * WINDOW:, names.index("gyr_x")] = drifted[300 * WINDOW - 1, names.index("gyr_x")]
    rows = tinydrift.score(profile, np.clip(drifted, -32768, 32767).astype(np.int16))
    clean_rows = tinydrift.score(profile, clean)[:100]

    path = tmp_path_factory.mktemp("report") / "telemetry.db"
    with TelemetryStore(path) as db:
        db.add_device(DEVICE, board="host simulator", board_id=1, firmware="0.1.0")
        db.add_device(SECOND, board="Nano 33 BLE", board_id=3, firmware="0.1.0")
        db.add_profile(profile)
        skip = set(range(LOST[0], LOST[1] + 1)) | set(range(NOT_RECEIVED[0], NOT_RECEIVED[1] + 1))
        recs = [TelemetryRecord.from_row(r, seq=i, boot_id=BOOT, profile_id=profile.profile_id,
                                         uptime_ms=(i + 1) * 1000) for i, r in enumerate(rows) if i not in skip]
        for start in range(0, len(recs), 64):  # batches, as a live link would deliver them
            db.insert_records(DEVICE, recs[start:start + 64], received_at=1_780_000_000.0 + start)
        db.record_gap(DEVICE, BOOT, *LOST, reason="ring overflow")
        db.insert_records(SECOND, [TelemetryRecord.from_row(r, seq=i, boot_id=BOOT2, profile_id=profile.profile_id,
                                                            uptime_ms=(i + 1) * 1000)
                                   for i, r in enumerate(clean_rows)])
    return path, profile


@pytest.fixture(scope="module")
def report(telemetry_db, tmp_path_factory: pytest.TempPathFactory):
    path, _ = telemetry_db
    out = tmp_path_factory.mktemp("out") / "report.html"
    return build_report(path, out)


def segment(report, device: str):
    (seg,) = [s for s in report.segments if s.device == device]
    return seg


def test_pngs_exist_and_are_non_trivial(report) -> None:
    assert len(report.pngs) == 6  # timeline, channels, health for each of two runs
    for png in report.pngs:
        assert png.parent == report.html.parent  # beside the HTML by default
        assert png.name.startswith("report-") and png.suffix == ".png"
        assert png.stat().st_size > 20_000, png
        img = mpimg.imread(png)
        h, w = img.shape[:2]
        assert w >= 1200 and h >= 350, (png.name, img.shape)
        rgb = img[..., :3]
        assert rgb.std() > 0.05, png.name  # not a blank canvas
        assert len(np.unique(rgb.reshape(-1, 3)[::7], axis=0)) > 50, png.name
    kinds = sorted(p.name.rsplit("-", 1)[1] for p in report.pngs)
    assert kinds == ["channels.png"] * 2 + ["health.png"] * 2 + ["timeline.png"] * 2


def test_html_is_self_contained(report) -> None:
    text = report.html.read_text(encoding="utf-8")
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(embedded) == len(report.pngs)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in report.pngs)
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert f"profile {report.segments[0].profile_id:#010x}" in text
    for s in report.segments:
        assert s.title in text


def test_summary_first_alarm_matches_database(report, telemetry_db) -> None:
    path, profile = telemetry_db
    con = sqlite3.connect(path)
    (win, seq, trigger, top, stuck), = con.execute(
        "SELECT r.window_index, r.seq, r.trigger, r.top_channel, r.stuck_mask FROM records r "
        "JOIN devices d ON d.id = r.device_id WHERE d.name = ? AND r.alarm = 1 ORDER BY r.seq LIMIT 1",
        (DEVICE,)).fetchall()
    con.close()
    seg = segment(report, DEVICE)
    assert seg.first_alarm_window == win and seg.first_alarm_seq == seq
    assert 150 <= win < 300  # the gain drift, after it began
    assert seg.first_alarm_triggers == [k for b, k in ((1, "instant"), (2, "cusum"), (4, "health"), (0x20, "feature"))
                                        if trigger & b]
    assert seg.channels_implicated[0].startswith(profile.names()[top])
    assert profile.names()[top] == "gyr_y"
    assert seg.first_alarm_uptime_s == (seq + 1)
    assert seg.health_events["gyr_x"]["stuck"] >= 90  # stuck from window 300 to the end
    assert seg.records_lost == LOST[1] - LOST[0] + 1
    assert seg.records_not_received == NOT_RECEIVED[1] - NOT_RECEIVED[0] + 1
    assert seg.records_received == 400 - seg.records_lost - seg.records_not_received
    assert seg.instant == profile.instant_q8 / 256 and seg.cusum_h == profile.cusum_h_q8 / 256

    clean = segment(report, SECOND)
    assert clean.first_alarm_window is None and clean.records_received == 100 and clean.records_lost == 0

    text = report.html.read_text(encoding="utf-8")
    summary = text[text.index("<table class='summary'>"):]
    summary = summary[:summary.index("</table>")]
    assert f"<td class='alarm num'>{win}<br><small>seq {seq}</small></td>" in summary
    assert "no alarm" in summary
    assert "gyr_x: stuck ×" in summary


def test_report_cli(telemetry_db, tmp_path: Path, capsys, monkeypatch) -> None:
    path, _ = telemetry_db
    original = cli.build_parser

    def build_parser() -> argparse.ArgumentParser:  # the store commands, if cli.py does not add them yet
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "report" not in sub.choices:
            cli_store.add_commands(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    out = tmp_path / "r.html"
    capsys.readouterr()
    rc = cli.main(["report", "--db", str(path), "-o", str(out), "--png-dir", str(tmp_path / "png")])
    stdout, stderr = capsys.readouterr()
    assert rc == 0, stderr
    assert out.exists() and len(list((tmp_path / "png").glob("r-*.png"))) == 6
    lines = stdout.splitlines()
    assert len(lines) == 2
    assert "first alarm at window" in lines[0] and "10 lost in gaps" in lines[0] and "3 not received" in lines[0]
    assert "no alarm" in lines[1]


def test_report_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        build_report(tmp_path / "none.db", tmp_path / "r.html")
    TelemetryStore(tmp_path / "empty.db").close()
    with pytest.raises(StoreError, match="no telemetry records in"):
        build_report(tmp_path / "empty.db", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_report_model_outputs_figure(tmp_path: Path) -> None:
    """Runs with classifier inferences get a "Model outputs" figure and a first-concept-drift cell; runs
    without them do not."""
    from test_outputs_e2e import DATA_NPZ as NPZ, WINDOW as W, calibrated_classifier, make_events

    import tinydrift
    from tinydrift.device.records import TelemetryRecord
    from tinydrift.outputs import attach_outputs, calibrate_outputs
    from tinydrift.telemetry.report import build_report, summary_json
    from tinydrift.telemetry.store import TelemetryStore

    frames = np.load(NPZ)["frames"]
    rng = np.random.default_rng(42)
    ref_probs, ref_labels = calibrated_classifier(rng, 2000)
    pca = tinydrift.build_profile(frames[:4000], window=W, seed=0)
    prof = attach_outputs(pca, calibrate_outputs(ref_probs, ref_labels, n_bins=8))
    probs, labels = calibrated_classifier(rng, 750)
    events, _ = make_events(np.random.default_rng(2025), frames[4000:5500], probs, labels)
    rows = tinydrift.score_events(prof, events)
    concept = rows["window"][(rows["trigger"] & 0x08) != 0]
    assert len(concept)
    plain = tinydrift.score(pca, frames[4000:4500])
    with TelemetryStore(tmp_path / "t.db") as db:
        db.add_profile(prof)
        db.add_profile(pca)
        db.insert_records("dev", [TelemetryRecord.from_row(r, seq=i, boot_id=1, profile_id=prof.profile_id,
                                                           uptime_ms=100 * i) for i, r in enumerate(rows)])
        db.insert_records("dev", [TelemetryRecord.from_row(r, seq=i, boot_id=2, profile_id=pca.profile_id,
                                                           uptime_ms=100 * i) for i, r in enumerate(plain)])
        assert [a["kind"] for a in db.alarms() if a["kind"] == "concept"] == ["concept"] * len(concept)
    report = build_report(tmp_path / "t.db", tmp_path / "r.html")
    with_outputs, without = report.segments
    assert with_outputs.has_outputs and with_outputs.first_concept_window == int(concept[0])
    assert with_outputs.trigger_counts["concept"] == len(concept)
    assert "outputs" in with_outputs.pngs and with_outputs.pngs["outputs"].stat().st_size > 10_000
    assert not without.has_outputs and "outputs" not in without.pngs and without.first_concept_window is None
    html_text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "first concept drift" in html_text and "model outputs of" in html_text
    assert '"first_concept_window": ' in summary_json(report)
