"""The SQLite telemetry store: idempotent inserts, gaps, boots, rollback, documented schema, exports."""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.cli import app as cli, store as cli_store
from tinydrift.device.records import TelemetryRecord
from tinydrift.telemetry.store import SCHEMA_VERSION, TABLES, StoreError, TelemetryStore, subtract_ranges

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "telemetry-store.md"
DEVICE = "tcp://127.0.0.1:5555"
BOOT_A, BOOT_B = 0x1234ABCD, 0x0BADF00D
CHANNEL_FIELDS = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")
SCALARS = ("window", "uptime_ms", "score", "dist", "recon", "cusum", "trigger", "nearest", "top_channel",
           "stuck_mask", "saturated_mask", "missing_mask", "n_embeddings")


@pytest.fixture(scope="module")
def scored() -> tuple[tinydrift.Profile, np.ndarray]:
    """A BasicMotions profile and the 400 rows of its test split with gyr_y x4 from window 150 and gyr_x stuck
    from window 300 (so every trigger kind occurs)."""
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    profile = tinydrift.build_profile(train, window=10, false_alarm_rate=1e-3, channel_names=names)
    test = frames[split == 1].astype(np.int32)
    g, x = names.index("gyr_y"), names.index("gyr_x")
    test[1500:, g] *= 4
    test[3000:, x] = test[2999, x]
    rows = tinydrift.score(profile, np.clip(test, -32768, 32767).astype(np.int16))
    assert all((rows["trigger"] & bit).any() for bit in (1, 2, 4))
    return profile, rows


def make_records(profile: tinydrift.Profile, rows: np.ndarray, boot_id: int = BOOT_A,
                 seqs: list[int] | None = None) -> list[TelemetryRecord]:
    seqs = list(range(len(rows))) if seqs is None else seqs
    return [TelemetryRecord.from_row(rows[s], seq=s, boot_id=boot_id, profile_id=profile.profile_id,
                                     uptime_ms=1000 * (s + 1), replayed=s % 7 == 3) for s in seqs]


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (and the schema version), for before/after comparisons."""
    con = sqlite3.connect(path)
    try:
        out = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}
        out["user_version"] = con.execute("PRAGMA user_version").fetchall()
        return out
    finally:
        con.close()


@pytest.fixture()
def db(tmp_path: Path):
    with TelemetryStore(tmp_path / "t.db") as store:
        yield store


# ------------------------------------------------------------------------------------------ basics


def test_new_store_has_schema_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with TelemetryStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert store.count_records() == 0
    with TelemetryStore(path) as again:  # reopening an existing store works and keeps the version
        assert again.schema_version == SCHEMA_VERSION


def test_insert_is_idempotent(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    recs = make_records(profile, rows)
    db.add_device(DEVICE, board="host simulator", board_id=1, firmware="0.1.0", seen_at=1000.0)
    db.add_profile(profile, added_at=1000.0)
    assert db.insert_records(DEVICE, recs, received_at=2000.0) == len(recs)
    before = dump(db.path)
    assert len(before["records"]) == len(recs)
    assert len(before["channel_values"]) == len(recs) * profile.n_channels

    # the same records again, as one batch, one by one, and as replays later: nothing changes
    assert db.insert_records(DEVICE, recs, received_at=3000.0) == 0
    assert not any(db.insert_record(DEVICE, r, received_at=3001.0) for r in recs[::17])
    replays = [TelemetryRecord(**{**r.__dict__, "replayed": True}) for r in recs[5:40]]
    assert db.insert_records(DEVICE, replays, received_at=3002.0) == 0
    db.add_profile(profile, added_at=5000.0)
    assert dump(db.path) == before

    # stored values are exactly the records inserted
    assert db.telemetry_records() == recs


def test_insert_accepts_mappings_and_window_index(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    rec = make_records(profile, rows[:1])[0]
    d = rec.to_dict()
    d["window_index"] = d.pop("window")
    assert db.insert_record("dev", d) is True
    assert db.insert_record("dev", d) is False
    assert db.telemetry_records("dev") == [rec]


def test_alarm_rows_follow_trigger_bits(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    recs = make_records(profile, rows)
    db.add_profile(profile)
    db.insert_records(DEVICE, recs)
    alarms = db.alarms()
    want = [(r.seq, kind) for r in recs
            for bit, kind in ((1, "instant"), (2, "cusum"), (4, "health"), (0x10, "occupancy"), (0x20, "feature"))
            if r.trigger & bit]
    assert sorted((a["seq"], a["kind"]) for a in alarms) == sorted(want)
    names = profile.names()
    for a in alarms:
        rec = recs[a["seq"]]
        if a["kind"] == "health":
            assert a["channel_mask"] == rec.stuck_mask | rec.saturated_mask | rec.missing_mask
        elif a["kind"] == "occupancy":  # on by default from 300 training windows; it names no channel
            assert a["channel_mask"] == 0
        else:
            assert a["channel_mask"] == 1 << rec.top_channel
            assert a["channels"] == [names[rec.top_channel]]


# ------------------------------------------------------------------------------------------ gaps, boots


def test_missing_ranges_against_hand_made_holes(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    stored = [0, 1, 2, 5, 6, 10, 11, 12, 20]
    db.insert_records(DEVICE, make_records(profile, rows, seqs=stored))
    assert db.missing_ranges(DEVICE, BOOT_A, 21) == [(3, 4), (7, 9), (13, 19)]
    assert db.missing_ranges(DEVICE, BOOT_A, 25) == [(3, 4), (7, 9), (13, 19), (21, 24)]
    assert db.missing_ranges(DEVICE, BOOT_A, 13) == [(3, 4), (7, 9)]
    assert db.missing_ranges(DEVICE, BOOT_A, 21, start=6) == [(7, 9), (13, 19)]
    assert db.missing_ranges(DEVICE, BOOT_A, 3) == []
    assert db.missing_ranges(DEVICE, BOOT_A, 0) == []
    # a boot or device with nothing stored is missing everything
    assert db.missing_ranges(DEVICE, BOOT_B, 5) == [(0, 4)]
    assert db.missing_ranges("never-seen", 1, 5) == [(0, 4)]
    # compare with a brute-force oracle on a random pattern
    rng = np.random.default_rng(3)
    seqs = sorted(rng.choice(np.arange(100, 300), size=120, replace=False).tolist())
    db.insert_records("other", make_records(profile, rows, seqs=seqs))
    have = set(seqs)
    missing = [s for s in range(350) if s not in have]
    want = []
    for s in missing:
        if want and want[-1][1] == s - 1:
            want[-1] = (want[-1][0], s)
        else:
            want.append((s, s))
    assert db.missing_ranges("other", BOOT_A, 350) == want


def test_recorded_gaps(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    db.insert_records(DEVICE, make_records(profile, rows, seqs=[0, 1, 2, 10, 11]))
    assert db.missing_ranges(DEVICE, BOOT_A, 15) == [(3, 9), (12, 14)]
    assert db.record_gap(DEVICE, BOOT_A, 3, 7, reason="ring overflow", detected_at=123.0) == 5
    assert db.record_gap(DEVICE, BOOT_A, 3, 7, reason="ring overflow", detected_at=456.0) == 0
    assert db.missing_ranges(DEVICE, BOOT_A, 15) == [(8, 9), (12, 14)]
    assert db.missing_ranges(DEVICE, BOOT_A, 15, include_lost=True) == [(3, 9), (12, 14)]
    assert db.gaps() == [{"device": DEVICE, "boot_id": BOOT_A, "first_missing_seq": 3, "last_missing_seq": 7,
                          "n_lost": 5, "detected_at": 123.0, "reason": "ring overflow"}]
    # a gap of a boot the store has no record of yet creates the boot
    assert db.record_gap(DEVICE, BOOT_B, 0, 49, reason="ring overflow")
    assert {b["boot_id"] for b in db.boots(DEVICE)} == {BOOT_A, BOOT_B}
    assert db.missing_ranges(DEVICE, BOOT_B, 60) == [(50, 59)]
    for bad in ((5, 4), (-1, 3), (0, 2**32)):
        with pytest.raises(StoreError, match="bad gap"):
            db.record_gap(DEVICE, BOOT_A, *bad)
    assert subtract_ranges([(0, 10)], [(2, 3), (5, 5), (9, 20)]) == [(0, 1), (4, 4), (6, 8)]


def test_two_boots_of_one_device_kept_apart(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    a = make_records(profile, rows[:30], boot_id=BOOT_A)
    b = make_records(profile, rows[30:50], boot_id=BOOT_B)  # seq 0.. again, other values
    assert db.insert_records(DEVICE, a) == 30
    assert db.insert_records(DEVICE, b) == 20
    assert db.count_records() == 50
    assert db.telemetry_records(DEVICE, BOOT_A) == a
    assert db.telemetry_records(DEVICE, BOOT_B) == b
    boots = {r["boot_id"]: r for r in db.boots(DEVICE)}
    assert (boots[BOOT_A]["first_seq"], boots[BOOT_A]["last_seq"], boots[BOOT_A]["records"]) == (0, 29, 30)
    assert (boots[BOOT_B]["first_seq"], boots[BOOT_B]["last_seq"], boots[BOOT_B]["records"]) == (0, 19, 20)
    assert db.missing_ranges(DEVICE, BOOT_A, 30) == []
    assert db.missing_ranges(DEVICE, BOOT_B, 30) == [(20, 29)]
    assert len(db.devices()) == 1
    assert len(db.segments()) == 2


# ------------------------------------------------------------------------------------------ transactions


def test_exception_mid_batch_rolls_back(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    recs = make_records(profile, rows)
    db.insert_records(DEVICE, recs[:10])
    before = dump(db.path)

    def interrupted():
        yield from recs[10:20]
        raise KeyboardInterrupt  # Ctrl-C while the batch is being written

    with pytest.raises(KeyboardInterrupt):
        db.insert_records(DEVICE, interrupted())
    assert dump(db.path) == before

    bad = TelemetryRecord(**{**recs[25].__dict__, "z_std": recs[25].z_std[:-1]})
    with pytest.raises(StoreError, match="per-channel fields differ"):
        db.insert_records("another device", recs[20:25] + [bad] + recs[26:30])
    with pytest.raises(StoreError, match="lacks field 'seq'"):
        db.insert_records(DEVICE, [rows[0]])  # a bare score row has no seq/boot/profile
    assert dump(db.path) == before  # not even the new device row

    # the store is still usable and a second process sees only committed data
    assert db.insert_records(DEVICE, recs[10:20]) == 10
    with TelemetryStore(db.path, readonly=True) as reader:
        assert reader.count_records() == 20


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        TelemetryStore(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not sqlite, just some text " * 20)
    for ro in (False, True):
        with pytest.raises(StoreError, match=r"not a tinydrift telemetry database \(not an SQLite file\)"):
            TelemetryStore(junk, readonly=ro)
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a tinydrift telemetry database"):
        TelemetryStore(foreign)
    newer = tmp_path / "newer.db"
    TelemetryStore(newer).close()
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    for ro in (False, True):
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
            TelemetryStore(newer, readonly=ro)
    TelemetryStore(tmp_path / "ro.db").close()
    with TelemetryStore(tmp_path / "ro.db", readonly=True) as reader:
        with pytest.raises(StoreError, match="read-only"):
            reader.add_device("x")


# ------------------------------------------------------------------------------------------ documented schema


def parse_doc_schema(text: str) -> dict[str, dict[str, str]]:
    """{table: {column: type}} from the '### `table`' sections of docs/telemetry-store.md."""
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^### `(\w+)`\s*$", line)
        if m:
            current = m.group(1)
            tables[current] = {}
            continue
        if line.startswith("## "):
            current = None
        m = re.match(r"^\| `(\w+)` \| (\w+) \|", line)
        if current and m:
            tables[current][m.group(1)] = m.group(2)
    return tables


def test_schema_doc_matches_tables(db: TelemetryStore) -> None:
    documented = parse_doc_schema(DOC.read_text(encoding="utf-8"))
    con = sqlite3.connect(db.path)
    actual_tables = {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    assert set(documented) == actual_tables == set(TABLES)
    for table, columns in documented.items():
        actual = {r[1]: r[2] for r in con.execute(f"PRAGMA table_info({table})")}
        assert columns == actual, table
    con.close()
    assert f"currently **{SCHEMA_VERSION}**" in DOC.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ exports


@pytest.fixture()
def filled(db: TelemetryStore, scored) -> tuple[TelemetryStore, tinydrift.Profile, list[TelemetryRecord]]:
    profile, rows = scored
    recs = make_records(profile, rows, seqs=[s for s in range(len(rows)) if not 20 <= s < 25])
    db.add_device(DEVICE, board="host simulator", board_id=1, firmware="0.1.0")
    db.add_profile(profile)
    db.insert_records(DEVICE, recs, received_at=1_700_000_000.25)
    db.insert_records(DEVICE, make_records(profile, rows[:5], boot_id=BOOT_B), received_at=1_700_000_100.5)
    db.record_gap(DEVICE, BOOT_A, 20, 24, reason="ring overflow")
    return db, profile, recs + make_records(profile, rows[:5], boot_id=BOOT_B)


def test_export_csv_round_trips(filled) -> None:
    db, profile, recs = filled
    buf = io.StringIO()
    assert db.export_csv(buf) == len(recs)
    table = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert len(table) == len(recs)
    names = profile.names()
    by_key = {(r.boot_id, r.seq): r for r in recs}
    for row in table:
        rec = by_key[(int(row["boot_id"]), int(row["seq"]))]
        assert row["device"] == DEVICE and row["board"] == "host simulator"
        assert int(row["profile_id"]) == rec.profile_id
        for name in SCALARS:
            assert float(row[name]) == getattr(rec, name), name
        assert int(row["alarm"]) == int(rec.alarm) and int(row["replayed"]) == int(rec.replayed)
        assert int(row["n_channels"]) == profile.n_channels
        for c, n in enumerate(names):
            for f in CHANNEL_FIELDS:
                assert float(row[f"{f}_{n}"]) == getattr(rec, f)[c], (f, n)
        assert float(row["received_at"]) in (1_700_000_000.25, 1_700_000_100.5)
    # same column order as `tinydrift score --csv` for the per-channel block
    header = buf.getvalue().splitlines()[0].split(",")
    assert header[14:23] == ["trigger", "nearest", "top_channel", "stuck_mask", "saturated_mask", "missing_mask",
                             "n_embeddings", "n_channels", "n_inferences"]
    assert header[31:37] == [f"{f}_{names[0]}" for f in ("z_mean", "z_std", "mean", "std", "n_missing",
                                                         "n_saturated")]


def test_export_json_round_trips(filled) -> None:
    db, profile, recs = filled
    buf = io.StringIO()
    assert db.export_json(buf) == len(recs)
    doc = json.loads(buf.getvalue())
    assert doc["format"] == "tinydrift-telemetry" and doc["schema_version"] == SCHEMA_VERSION
    assert [d["name"] for d in doc["devices"]] == [DEVICE]
    assert {b["boot_id"] for b in doc["boots"]} == {BOOT_A, BOOT_B}
    (prof,) = doc["profiles"]
    assert prof["profile_id"] == profile.profile_id and prof["channel_names"] == profile.names()
    assert prof["instant"] == profile.instant_q8 / 256 and prof["cusum_h"] == profile.cusum_h_q8 / 256
    assert tinydrift.Profile.from_bytes(base64.b64decode(prof["blob"])).profile_id == profile.profile_id
    by_key = {(r.boot_id, r.seq): r for r in recs}
    assert len(doc["records"]) == len(recs)
    for row in doc["records"]:
        rec = by_key[(row["boot_id"], row["seq"])]
        for name in SCALARS + ("alarm", "replayed", "profile_id"):
            assert row[name] == getattr(rec, name), name
        for f in CHANNEL_FIELDS:
            assert row[f] == list(getattr(rec, f)), f
    assert doc["gaps"] == [dict(g) for g in db.gaps()]
    assert doc["gaps"][0]["first_missing_seq"] == 20 and doc["gaps"][0]["n_lost"] == 5
    n_bits = sum(bin(r.trigger).count("1") for r in recs)
    assert len(doc["alarms"]) == n_bits > 0


def test_export_uses_generic_names_for_mixed_profiles(db: TelemetryStore, scored) -> None:
    profile, rows = scored
    recs = make_records(profile, rows[:3])  # profile not in the store: names unknown
    db.insert_records(DEVICE, recs)
    buf = io.StringIO()
    db.export_csv(buf)
    header = buf.getvalue().splitlines()[0]
    assert "z_mean_ch0" in header and "n_saturated_ch5" in header


# ------------------------------------------------------------------------------------------ CLI


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: object):
    """tinydrift.cli.app.main with the store commands added (a no-op once cli.py registers them itself)."""
    original = cli.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "report" not in sub.choices:
            cli_store.add_commands(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_db_export(filled, tmp_path: Path, capsys, monkeypatch) -> None:
    db, profile, recs = filled
    rc, out, err = run_cli(capsys, monkeypatch, "db", "export", "--db", db.path, "--csv")
    assert rc == 0, err
    assert len(out.splitlines()) == len(recs) + 1
    target = tmp_path / "all.json"
    rc, out, err = run_cli(capsys, monkeypatch, "db", "export", "--db", db.path, "--json", "-o", target)
    assert rc == 0, err
    assert f"wrote {len(recs)} records" in err
    assert len(json.loads(target.read_text())["records"]) == len(recs)
    rc, out, err = run_cli(capsys, monkeypatch, "db", "export", "--db", db.path)
    assert rc == 2 and "--csv" in err


def _no_dac_override() -> None:
    """In the child, before exec: as root, drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set,
    so file modes apply to it as to any user (PR_CAPBSET_DROP; the files stay root's own)."""
    if os.geteuid() == 0:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_as_user(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run argv with file modes enforced (see _no_dac_override)."""
    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=_no_dac_override, timeout=120, **kwargs)


def _modes_enforced(tmp: Path) -> bool:
    probe = tmp / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        return _run_as_user([sys.executable, "-c", f"open({str(probe / 'x')!r}, 'w')"]).returncode != 0
    finally:
        probe.chmod(0o755)


@pytest.mark.parametrize("directory_writable", [False, True])
def test_report_and_export_read_a_read_only_store(filled, directory_writable: bool, tmp_path: Path) -> None:
    """A store with mode 444 (in a directory with mode 555, or a writable one): `db export` writes the same CSV as
    from the writable file, `report` writes its page, and nothing is written beside the database."""
    if not _modes_enforced(tmp_path):
        pytest.skip("cannot make file modes apply here (root without CAP_SETPCAP)")
    db, profile, recs = filled
    buf = io.StringIO()
    db.export_csv(buf)
    db.close()
    ro_dir, out_dir = tmp_path / "ro", tmp_path / "out"
    ro_dir.mkdir()
    out_dir.mkdir()
    try:
        shutil.copy(db.path, ro_dir / "t.db")
        assert not Path(str(db.path) + "-wal").exists()  # closed: the WAL was checkpointed and removed
        os.chmod(ro_dir / "t.db", 0o444)
        os.chmod(ro_dir, 0o755 if directory_writable else 0o555)
        env = dict(os.environ, MPLCONFIGDIR=str(out_dir))
        runs = {
            "export": ["db", "export", "--db", ro_dir / "t.db", "--csv", "-o", out_dir / "all.csv"],
            "report": ["report", "--db", ro_dir / "t.db", "-o", out_dir / "report.html"],
        }
        for name, argv in runs.items():
            proc = _run_as_user([sys.executable, "-m", "tinydrift", *map(str, argv)], env=env)
            assert proc.returncode == 0, (name, proc.stderr)
        assert (out_dir / "all.csv").read_text() == buf.getvalue()
        assert "<html" in (out_dir / "report.html").read_text()
        if not directory_writable:
            assert sorted(p.name for p in ro_dir.iterdir()) == ["t.db"]
    finally:
        os.chmod(ro_dir, 0o755)


def test_read_only_open_refuses_a_wal_it_cannot_read(filled, tmp_path: Path) -> None:
    """With a non-empty -wal and no -shm beside it in a read-only directory, immutable=1 would miss the -wal's
    changes: a clear one-line error instead."""
    if not _modes_enforced(tmp_path):
        pytest.skip("cannot make file modes apply here (root without CAP_SETPCAP)")
    db, profile, recs = filled
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    try:
        writer = sqlite3.connect(ro_dir / "t.db")
        writer.execute("PRAGMA journal_mode = WAL")
        src = sqlite3.connect(db.path)
        src.backup(writer)
        src.close()
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("UPDATE devices SET board = 'changed'")
        writer.commit()
        wal, shm = ro_dir / "t.db-wal", ro_dir / "t.db-shm"
        assert wal.stat().st_size > 0
        data = {p: p.read_bytes() for p in (ro_dir / "t.db", wal)}
        writer.close()  # checkpoints and removes the -wal and -shm: put the old main file and the -wal back
        for p, blob in data.items():
            p.write_bytes(blob)
            os.chmod(p, 0o444)
        assert not shm.exists()
        os.chmod(ro_dir, 0o555)
        code = ("import sys\nfrom tinydrift.telemetry.store import TelemetryStore, StoreError\n"
                "try:\n    TelemetryStore(sys.argv[1], readonly=True)\nexcept StoreError as e:\n    print(e)\n")
        proc = _run_as_user([sys.executable, "-c", code, str(ro_dir / "t.db")])
        assert proc.returncode == 0, proc.stderr
        assert "its -wal file holds changes" in proc.stdout
    finally:
        os.chmod(ro_dir, 0o755)


@pytest.mark.parametrize("case, message", [
    ("missing", "telemetry database {path} does not exist"),
    ("empty", "no telemetry records in {path}"),
    ("fresh", "no telemetry records in {path}"),
    ("junk", "{path} is not a tinydrift telemetry database (not an SQLite file)"),
])
def test_cli_db_export_errors(case: str, message: str, tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / f"{case}.db"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "fresh":
        TelemetryStore(path).close()
    elif case == "junk":
        path.write_text("id,score\n1,2\n" * 50)
    for argv in (("db", "export", "--db", path, "--json"), ("report", "--db", path, "-o", tmp_path / "r.html")):
        rc, out, err = run_cli(capsys, monkeypatch, *argv)
        assert rc == 1
        assert err.strip() == f"tinydrift: error: {message.format(path=path)}"
        assert "Traceback" not in out + err
    assert case != "missing" or not path.exists()
    assert not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------------------------------ schema version 2


def v1_schema() -> str:
    """The version-1 schema: today's without the model-output columns and the 'concept' alarm kind."""
    from tinydrift.telemetry import schema

    lines = [line for line in schema.SCHEMA_SQL.splitlines()
             if not any(line.strip().startswith(name + " ") for name in schema.OUTPUT_FIELDS)]
    text = "\n".join(lines).replace(", 'concept', 'occupancy', 'feature'", "")
    assert "n_inferences" not in text and "concept" not in text
    return text


def test_migration_from_version_2(tmp_path: Path, scored) -> None:
    """A version-2 store (whose alarms could not hold 'occupancy' or 'feature') migrates to 3 with its alarms kept;
    then occupancy and feature-chart alarms are stored."""
    from tinydrift.telemetry import schema

    profile, rows = scored
    recs = make_records(profile, rows[:10])
    path = tmp_path / "v2.db"
    with TelemetryStore(path) as db:
        db.insert_records(DEVICE, [TelemetryRecord(**{**recs[0].__dict__, "trigger": 0x02})])
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE alarms RENAME TO alarms_new")
    con.execute(schema.SCHEMA_SQL.split("CREATE TABLE alarms (")[1].split(");")[0].join(
        ["CREATE TABLE alarms (", ")"]).replace(", 'occupancy', 'feature'", ""))
    con.execute("INSERT INTO alarms SELECT * FROM alarms_new")
    con.execute("DROP TABLE alarms_new")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO alarms (record_id, kind, channel_mask) VALUES (1, 'feature', 1)")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()
    with TelemetryStore(path) as db:
        assert db.schema_version == 3
        assert [(a["seq"], a["kind"]) for a in db.alarms()] == [(recs[0].seq, "cusum")]
        db.insert_records(DEVICE, [TelemetryRecord(**{**recs[1].__dict__, "trigger": 0x10}),
                                   TelemetryRecord(**{**recs[2].__dict__, "trigger": 0x20, "top_channel": 3})])
        kinds = [(a["seq"], a["kind"], a["channel_mask"]) for a in db.alarms()]
    assert kinds == [(recs[0].seq, "cusum", 1 << recs[0].top_channel), (recs[1].seq, "occupancy", 0),
                     (recs[2].seq, "feature", 1 << 3)]


def test_migration_from_version_1(tmp_path: Path, scored) -> None:
    """A version-1 file (schema written by hand) opens read-only as is, and read-write migrates in place:
    model-output columns with defaults, 'concept' alarms allowed, every earlier row intact."""
    profile, rows = scored
    recs = make_records(profile, rows[:40])
    # Build the v1 file with today's code, then rewrite it into the v1 schema by hand.
    path = tmp_path / "v1.db"
    con = sqlite3.connect(path)
    con.executescript(v1_schema())
    con.execute("INSERT INTO devices (id, name, board, first_seen, last_seen) VALUES (1, ?, 'host simulator', 1, 1)",
                (DEVICE,))
    con.execute("INSERT INTO boots (device_id, boot_id, first_seq, last_seq, first_seen, last_seen) "
                "VALUES (1, ?, 0, 39, 1, 1)", (BOOT_A,))
    for i, r in enumerate(recs):
        con.execute(
            "INSERT INTO records (id, device_id, boot_id, seq, profile_id, window_index, uptime_ms, score, dist, recon, "
            "cusum, trigger, alarm, nearest, top_channel, stuck_mask, saturated_mask, missing_mask, n_embeddings, "
            "n_channels, received_at, replayed) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "1700000000.25, ?)",
            (i + 1, r.boot_id, r.seq, r.profile_id, r.window, r.uptime_ms, r.score, r.dist, r.recon, r.cusum,
             r.trigger, int(r.alarm), r.nearest, r.top_channel, r.stuck_mask, r.saturated_mask, r.missing_mask,
             r.n_embeddings, r.n_channels, int(r.replayed)))
        for c in range(r.n_channels):
            con.execute("INSERT INTO channel_values VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (i + 1, c, r.mean[c], r.std[c], r.z_mean[c], r.z_std[c], r.n_missing[c], r.n_saturated[c]))
    con.execute("INSERT INTO alarms (id, record_id, kind, channel_mask) VALUES (7, 3, 'cusum', 4)")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO alarms (record_id, kind, channel_mask) VALUES (4, 'concept', 0)")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    before = dump(path)

    # Read-only: not migrated, read with the model-output fields 0.
    with TelemetryStore(path, readonly=True) as reader:
        assert reader.schema_version == 1
        got = reader.telemetry_records()
        arrays = reader.segment_arrays(1, BOOT_A, profile.profile_id)
    assert dump(path) == before
    assert [g.seq for g in got] == [r.seq for r in recs]
    assert all(g.n_inferences == 0 and g.accuracy == 0.0 for g in got)
    assert (arrays["n_inferences"] == 0).all() and (arrays["estimated_accuracy"] == 0).all()

    # Read-write: migrated in place.
    with TelemetryStore(path) as db:
        assert db.schema_version == SCHEMA_VERSION == 3
        got = db.telemetry_records()
        assert [(g.seq, g.window, g.score, g.trigger, g.mean, g.n_saturated) for g in got] == \
            [(r.seq, r.window, r.score, r.trigger, r.mean, r.n_saturated) for r in recs]
        assert all(g.n_inferences == 0 and g.n_labels == 0 and g.accuracy == 0.0 for g in got)
        assert [(a["seq"], a["kind"]) for a in db.alarms()] == [(recs[2].seq, "cusum")]
        # New records carry the model-output fields; DDM drift is a 'concept' alarm.
        new = TelemetryRecord(**{**recs[0].__dict__, "seq": 100, "trigger": 0x08, "n_inferences": 7, "top_class": 2,
                                 "ddm_state": 2, "mean_confidence": 0.75, "estimated_accuracy": 0.5,
                                 "prior_shift": 0.125, "n_labels": 5, "n_correct": 1, "accuracy": 0.625})
        assert db.insert_record(DEVICE, new)
        stored = db.telemetry_records()[-1]
        assert stored == TelemetryRecord(**{**new.__dict__, "replayed": stored.replayed})
        assert [(a["seq"], a["kind"], a["channel_mask"]) for a in db.alarms() if a["seq"] == 100] == \
            [(100, "concept", 0)]
    after = dump(path)
    assert after["user_version"] == [(3,)]
    for table in ("channel_values", "gaps"):
        assert after[table][: len(before[table])] == before[table], table
    for table in ("devices", "boots"):  # last_seen / last_seq moved with the new record
        assert [row[:4] for row in after[table]] == [row[:4] for row in before[table]], table
    assert [row[:22] for row in after["records"][:40]] == before["records"]
    assert after["alarms"][:1] == before["alarms"]
    # Opening again does nothing more.
    TelemetryStore(path).close()
    assert dump(path) == after
