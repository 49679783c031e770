"""tinydrift.fleet: payloads, the gateway's spool, the PostgreSQL writer, and the whole path under faults.

The PostgreSQL and end-to-end tests start their own mosquitto and PostgreSQL (Debian packages,
installed by `make test`) on loopback ports in a temporary directory. Oracles: the simulator's
own key set (MD5 over sorted (device, boot, seq)), TelemetryRecord fields, trigger bits decoded
here bit by bit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from tinydrift.device.records import TelemetryRecord
from tinydrift.fleet import payload, pgschema
from tinydrift.fleet.payload import PayloadError
from tinydrift.fleet.spool import Spool

ROOT = Path(__file__).resolve().parents[1]


def _record(seq: int = 7, trigger: int = 0, alarm: bool = False) -> TelemetryRecord:
    return TelemetryRecord(seq=seq, boot_id=0xDEADBEEF, profile_id=0x12345678, window=seq, uptime_ms=1000 + seq,
                           score=12.5, dist=12.0, recon=0.5, cusum=3.25, trigger=trigger, alarm=alarm, nearest=2,
                           top_channel=1, stuck_mask=0, saturated_mask=4, missing_mask=0, n_embeddings=0,
                           mean=(1.5, -2.0, 3.0), std=(0.5, 0.25, 1.0), z_mean=(0.1, -4.5, 0.0),
                           z_std=(0.0, 1.0, -1.0), n_missing=(0, 1, 0), n_saturated=(0, 0, 3))


def test_record_payload_round_trip_keeps_every_field():
    rec = _record()
    raw = payload.encode_record("dev1", "gw1", 1700000000.25, rec)
    msg = payload.decode("tinydrift/v1/dev1/record", raw, "tinydrift")
    assert (msg.kind, msg.device, msg.gateway, msg.time) == ("record", "dev1", "gw1", 1700000000.25)
    want = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(rec).items()}
    assert msg.body == want
    assert TelemetryRecord(**{k: tuple(v) if isinstance(v, list) else v for k, v in msg.body.items()}) == rec


@pytest.mark.parametrize("topic, raw, why", [
    ("tinydrift/v1/dev1/record", b"\xff\xfe not json", "not JSON"),
    ("tinydrift/v1/dev1/record", b"[1, 2]", "not a JSON object"),
    ("tinydrift/v1/dev1/record", b'{"schema": 2}', "schema 2"),
    ("tinydrift/v1/dev1/record", b'{"schema": 1, "kind": "record", "device": "dev2", "gateway": "g", "time": 1}',
     "disagree"),
    ("tinydrift/v1/dev1/telemetry", b"{}", "is not tinydrift/v1"),
    ("other/v1/dev1/record", b"{}", "is not tinydrift/v1"),
    ("tinydrift/v1/dev1/record", b'{"schema": 1, "kind": "record", "device": "dev1", "gateway": "g", "time": 1}',
     "'record' is not an object"),
])
def test_bad_messages_are_one_line_errors(topic, raw, why):
    with pytest.raises(PayloadError) as err:
        payload.decode(topic, raw, "tinydrift")
    assert why in str(err.value) and "\n" not in str(err.value)


def test_record_payload_fields_are_type_checked():
    good = json.loads(payload.encode_record("d", "g", 1.0, _record()))
    for field, bad in [("seq", -1), ("seq", 1.5), ("score", "x"), ("alarm", 1), ("z_std", [1.0]),
                       ("n_missing", [0, -1, 0]), ("score", float("nan"))]:
        obj = json.loads(json.dumps(good))
        obj["record"][field] = bad
        with pytest.raises(PayloadError, match=field):
            payload.decode("p/v1/d/record", json.dumps(obj).encode(), "p")


def test_spool_keeps_order_and_never_reuses_ids(tmp_path):
    spool = Spool(tmp_path / "s.spool")
    first = spool.add([("t/a", b"1"), ("t/b", b"2")], marks={"dev": 2})
    spool.remove(first)
    assert len(spool) == 0
    # Emptied, then refilled: the new ids must come after every id handed out before, or a
    # publisher reading "after the last id sent" would skip them (it did, with plain rowids).
    second = spool.add([("t/c", b"3")])
    assert second[0] > max(first)
    assert [p for _, _, p in spool.after(max(first), 10)] == [b"3"]
    spool.close()
    again = Spool(tmp_path / "s.spool")
    assert again.marks() == {"dev": 2} and [t for _, t, _ in again.after(0, 10)] == ["t/c"]


# ----------------------------------------------------------------------------------- PostgreSQL


def _private_dir(prefix: str) -> Path:
    # Not under pytest's basetemp: other pytest runs (as root) reset it to mode 0700, which would lock
    # out the unprivileged user PostgreSQL runs as.
    return Path(tempfile.mkdtemp(prefix=prefix))


def _msg(device: str, rec: TelemetryRecord, t: float) -> payload.Message:
    return payload.decode(f"p/v1/{device}/record", payload.encode_record(device, "gw", t, rec), "p")


def test_migrations_apply_once_and_refuse_a_newer_schema(pg):
    from tinydrift.fleet.pgstore import FleetDbError, connect

    with connect(pg.url) as conn:
        assert pgschema.current_version(conn) == pgschema.SCHEMA_VERSION
        assert pgschema.migrate(conn) == 0
        parts = {r[0] for r in conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                                            "ON c.oid = i.inhrelid WHERE i.inhparent = 'records'::regclass")}
        assert pgschema.month_partition(dt.datetime.now(dt.timezone.utc))[0] in parts
        conn.execute("INSERT INTO td_schema (version, description) VALUES (%s, 'future')",
                     (pgschema.SCHEMA_VERSION + 1,))
        try:
            with pytest.raises(FleetDbError, match="newer than"):
                connect(pg.url, migrate=False).close()
        finally:
            conn.execute("DELETE FROM td_schema WHERE version = %s", (pgschema.SCHEMA_VERSION + 1,))


def test_writer_stores_each_record_once_whatever_its_gateway_time(pg):
    from tinydrift.fleet.pgstore import FleetWriter, connect

    with connect(pg.url) as conn:
        conn.execute("TRUNCATE records, record_keys, alarms")
        w = FleetWriter(conn)
        recs = [_record(seq=s, trigger=(0b100011 if s == 3 else 0), alarm=s == 3) for s in range(5)]
        t = 1.8e9
        first = w.write([_msg("devA", r, t + r.seq) for r in recs])
        assert (first.records_new, first.records_duplicate) == (5, 0)
        # Redelivered (same time) and fetched again from the ring after a gateway crash (new time, next month).
        again = w.write([_msg("devA", r, t + r.seq) for r in recs] + [_msg("devA", recs[1], t + 40 * 86400)])
        assert (again.records_new, again.records_duplicate) == (0, 6)
        assert conn.execute("SELECT count(*), count(DISTINCT seq) FROM records").fetchone() == (5, 5)
        row = conn.execute("SELECT score, mean, n_saturated, alarm FROM records WHERE seq = 3").fetchone()
        assert row == (12.5, [1.5, -2.0, 3.0], [0, 0, 3], True)
        kinds = [k for (k,) in conn.execute("SELECT kind FROM alarms WHERE seq = 3 ORDER BY kind")]
        bits = {1: "instant", 2: "cusum", 4: "health", 8: "concept", 16: "occupancy", 32: "feature"}
        assert kinds == sorted(name for bit, name in bits.items() if 0b100011 & bit)


def test_writer_keeps_each_undecodable_message_once_beside_the_good_ones(pg, capsys):
    from tinydrift.fleet.pgstore import QUARANTINE_MAX_BYTES, FleetWriter, Quarantined, connect, quarantined

    with connect(pg.url) as conn:
        conn.execute("TRUNCATE records, record_keys, alarms, quarantine")
        w = FleetWriter(conn)
        big = bytes(range(256)) * 40  # 10,240 bytes: kept up to the limit, its size whole
        bad = [Quarantined("p/v1/d/record", b"{not json", "not JSON"), Quarantined("p/v1/d/record", big, "big"),
               Quarantined("p/v1/d/gap", b"{not json", "same bytes, another topic: another row")]
        res = w.write([_msg("devQ", _record(seq=s), 1.8e9) for s in range(3)], bad, "worker-1")
        assert (res.records_new, res.quarantined_new) == (3, 3)
        again = w.write([_msg("devQ", _record(seq=3), 1.8e9)], bad, "worker-2")  # redelivered: not kept again
        assert (again.records_new, again.quarantined_new) == (1, 0)
        rows = quarantined(conn)
        assert sorted((r.topic, r.payload, r.payload_size, r.worker) for r in rows) == sorted(
            [("p/v1/d/record", b"{not json", 9, "worker-1"), ("p/v1/d/record", big[:QUARANTINE_MAX_BYTES], len(big),
                                                               "worker-1"),
             ("p/v1/d/gap", b"{not json", 9, "worker-1")])
        assert len(quarantined(conn, limit=2)) == 2
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (4,)
    # --delete: the listed rows go (with --limit only those), after the listing; the rest and the records stay.
    from tinydrift.cli.app import main

    with connect(pg.url) as conn:
        newest = quarantined(conn, limit=1)[0]
    capsys.readouterr()
    assert main(["db", "quarantine", "--db", pg.url, "--limit", "1", "--json", "--delete"]) == 0
    out, err = capsys.readouterr()
    assert [q["topic"] for q in json.loads(out)] == [newest.topic] and "deleted the 1 listed" in err
    with connect(pg.url) as conn:
        left = quarantined(conn)
        assert len(left) == 2 and newest.digest not in {r.digest for r in left}
        assert all(r.digest == hashlib.sha256(r.topic.encode() + b"\x00" + r.payload).digest() for r in left
                   if r.payload_size == len(r.payload))
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (4,)
    assert main(["db", "quarantine", "--db", pg.url, "--delete"]) == 0
    assert "deleted the 2 listed" in capsys.readouterr().err
    with connect(pg.url) as conn:
        assert quarantined(conn) == []
    # A database still at schema 1 (no quarantine yet): one line, no traceback; the fleet page counts 0.
    from tinydrift.fleet.report import quarantine_count

    pg.create_database("schema1")
    url1 = pg.url.rsplit("/", 1)[0] + "/schema1"
    with connect(url1) as conn:
        conn.execute("DROP TABLE quarantine")
        conn.execute("DELETE FROM td_schema WHERE version = 2")
        assert quarantine_count(conn) == 0
    capsys.readouterr()
    assert main(["db", "quarantine", "--db", url1]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinydrift: error: ") and "schema version 1" in err[0]


# ----------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("tinydrift_bench_fleet", ROOT / "tools" / "bench_fleet.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tinydrift_bench_fleet"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def fleet(bench):
    work = _private_dir("tinydrift-test-fleet-")
    f = bench.Fleet(work)
    f.start()
    yield f
    f.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["load", "broker-restart", "ingest-kill", "gateway-restart", "postgres-restart",
                                      "malformed"])
def test_every_record_arrives_exactly_once(bench, fleet, scenario):
    res = bench.run(fleet, scenario, devices=6, records=120, gateways=2, workers=2,
                    rate=30.0, timeout=120.0)
    assert res.expected == 720
    assert (res.lost, res.duplicated, res.checksum_ok) == (0, 0, True), res
    if scenario == "malformed":
        assert len(res.skipped_lines) == 4
        assert all("skipped a message on bench/malformed/" in ln for ln in res.skipped_lines)
        assert res.quarantined == 4
    else:
        assert res.skipped_lines == [] and res.quarantined == 0
    if scenario == "load":
        assert 0 < res.latency_median_ms <= res.latency_p99_ms


def test_fleet_page_and_export_read_postgres(pg, tmp_path, capsys):
    from tinydrift.cli.app import main
    from tinydrift.fleet.pgstore import FleetWriter, Quarantined, connect

    with connect(pg.url) as conn:
        conn.execute("TRUNCATE records, record_keys, alarms, gaps, alarm_onsets, devices, quarantine")
        w = FleetWriter(conn)
        t = 1.8e9
        assert main(["report", "--db", pg.url, "-o", str(tmp_path / "empty.html")]) == 0
        assert "quarantine" not in (tmp_path / "empty.html").read_text()
        w.write([], [Quarantined("p/v1/devA/record", b"\xff", "not JSON")], "w")
        # devA: seqs 0..9 but 4..5 never arrive, 7..8 reported lost; alarm from seq 6 on. devB: 3 quiet records.
        a = [_record(seq=s, trigger=2 if s >= 6 else 0, alarm=s >= 6) for s in range(10) if s not in (4, 5, 7, 8)]
        b = [_record(seq=s) for s in range(3)]
        gap = payload.decode("p/v1/devA/gap", payload.encode_gap("devA", "gw", t, 0xDEADBEEF, 7, 8, "ring"), "p")
        onset = payload.decode("p/v1/devA/alarm", payload.encode_alarm("devA", "gw", t + 6, {"boot_id": 0xDEADBEEF,
                                                                                             "seq": 6}), "p")
        res = w.write([_msg("devA", r, t + r.seq) for r in a] + [_msg("devB", r, t + r.seq) for r in b]
                      + [gap, onset, onset])
        assert (res.records_new, res.gaps_new, len(res.onsets_new)) == (9, 1, 1)
    out = tmp_path / "fleet.html"
    capsys.readouterr()
    assert main(["report", "--db", pg.url, "-o", str(out)]) == 0
    assert capsys.readouterr().err == (f"tinydrift: wrote {out} (2 devices; 1 message in quarantine, "
                                       "listed by tinydrift db quarantine)\n")
    page = out.read_text()
    assert page.index("devA") < page.index("devB")  # alarmed devices first
    assert "1 undecodable message in quarantine" in page
    from tinydrift.fleet.report import fleet_summary

    with connect(pg.url, migrate=False) as conn:
        rows = {r.device: r for r in fleet_summary(conn)}
    assert (rows["devA"].records, rows["devA"].alarm_windows, rows["devA"].alarm_onsets) == (len(a), sum(r.alarm for r in a), 1)
    assert (rows["devA"].lost, rows["devA"].not_received, rows["devA"].alarm_now) == (2, 2, True)
    assert rows["devA"].first_alarm == "boot 0xdeadbeef seq 6 (cusum)"
    assert (rows["devB"].records, rows["devB"].lost, rows["devB"].alarm_now) == (3, 0, False)
    csv_path = tmp_path / "records.csv"
    assert main(["db", "export", "--db", pg.url, "--csv", "-o", str(csv_path)]) == 0
    import csv

    got = list(csv.DictReader(csv_path.open()))
    assert [(r["device"], int(r["seq"])) for r in got] == [("devA", r.seq) for r in a] + [("devB", r.seq) for r in b]
    assert float(got[0]["ch1_z_mean"]) == -4.5 and got[0]["ch2_n_saturated"] == "3"


def test_ingest_refuses_an_unreachable_database_in_one_line(capsys):
    from tinydrift.cli.app import main
    from tinydrift.fleet.localservers import free_port

    code = main(["ingest", "--mqtt", f"mqtt://127.0.0.1:{free_port()}/t", "--db",
                 f"postgresql://x@127.0.0.1:{free_port()}/none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("tinydrift: error: cannot connect to postgresql://")
    assert err[0].endswith("/none: Connection refused")  # psycopg's "connection failed: ... failed:" prefixes dropped


def test_import_tinydrift_and_the_cli_need_no_fleet_clients():
    import subprocess

    code = ("import sys, tinydrift, tinydrift.cli.app as a; a.build_parser(); import tinydrift.fleet.payload; "
            "assert not {'paho', 'psycopg'} & {m.split('.')[0] for m in sys.modules}, 'imported a fleet client'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_monitor_mqtt_publishes_what_the_board_computes(bench, fleet, tmp_path):
    """A host-simulator board -> `tinydrift monitor --mqtt` -> broker -> ingest -> PostgreSQL equals tinydrift.score."""
    import subprocess

    import tinydrift
    from tinydrift.device.sim import firmware_path, free_port
    from tinydrift.fleet.simulate import _stream
    from tinydrift.telemetry.store import TelemetryStore

    profile = tinydrift.load_profile(fleet.profile_path)
    stream = _stream(3, 150, drift=True)  # a drifting device: alarms and an onset
    rows = tinydrift.score(profile, stream)
    sensor = tmp_path / "sensor.i16"
    sensor.write_bytes(stream.astype("<i2").tobytes())
    port = free_port()
    uid = "00c0ffee00d1ce01"  # the board's device id: the fleet identity, not --device-name
    board = subprocess.Popen([str(firmware_path("host")), "--tcp", str(port), "--storage", str(tmp_path / "st.bin"),
                              "--sensor-file", str(sensor), "--device-id", uid], stdout=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    try:
        assert f"127.0.0.1:{port}" in board.stdout.readline()
        url = f"socket://127.0.0.1:{port}"
        with tinydrift.Device(url) as dev:
            dev.upload_profile(profile)
            boot = dev.info().boot_id
        fleet.pg.create_database("gw")
        worker = fleet.ingest("gw", 0)
        db = tmp_path / "t.db"
        mon = subprocess.run([sys.executable, "-m", "tinydrift", "monitor", "--port", url, "--db", str(db), "--mqtt",
                              fleet.mqtt_url("gw"), "--device-name", "board-1", "--plain", "--sensor-rate", "1000",
                              "--idle-exit", "3"], capture_output=True, text=True, timeout=120)
        assert mon.returncode == 0, mon.stderr
        assert "reports no device id" not in mon.stderr
        local = TelemetryStore(db, readonly=True).telemetry_records(boot_id=boot)
        assert [r.seq for r in local] == list(range(len(rows)))
        end = time.monotonic() + 30
        while fleet.stored("gw") < len(rows) and time.monotonic() < end:
            time.sleep(0.1)
        got = fleet.query("gw", "SELECT device_uid, boot_id, seq, window_index, score, cusum, alarm, z_mean "
                                "FROM records ORDER BY seq")
        assert [(d, b, s) for d, b, s, *_ in got] == [(uid, boot, i) for i in range(len(rows))]
        for (_, _, _, window, score, cusum, alarm, z_mean), row in zip(got, rows):
            assert (window, score, cusum, alarm) == (row["window"], row["score"], row["cusum"], bool(row["alarm"]))
            assert z_mean == row["z_mean"].tolist()
        first_alarm = next(i for i, r in enumerate(rows) if r["alarm"])
        assert fleet.query("gw", "SELECT seq FROM alarm_onsets") == [(first_alarm,)]
        assert fleet.query("gw", "SELECT uid, board, boot_id FROM devices") == [(uid, "host simulator", boot)]
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    finally:
        board.terminate()
        board.wait()


def _bad_payloads(prefix: str) -> list[tuple[str, bytes]]:
    """Malformed and foreign messages on the ingest topic, each a different way to be wrong."""
    good = payload.encode_record("devB", "gw", 1.8e9, _record(seq=99))
    obj = json.loads(good)
    wrong_type = json.loads(good)
    wrong_type["record"]["seq"] = "99"
    neg = json.loads(good)
    neg["record"]["n_missing"] = [0, -1, 0]
    rng = np.random.default_rng(22)
    return [
        (f"{prefix}/v1/devB/record", good[: len(good) // 2]),                               # truncated JSON
        (f"{prefix}/v1/devB/record", json.dumps({**obj, "schema": 2}).encode()),            # a newer schema
        (f"{prefix}/v1/devB/record", json.dumps(wrong_type).encode()),                      # a string for an int
        (f"{prefix}/v1/devB/record", json.dumps(neg).encode()),                             # out of range
        (f"{prefix}/v1/devB/record", rng.integers(0, 256, 300, dtype=np.uint8).tobytes()),  # binary garbage
        (f"{prefix}/v1/devB/record", rng.integers(0, 256, 9000, dtype=np.uint8).tobytes()),  # more than is kept
        (f"{prefix}/v1/devB/record", b""),                                                  # empty
        (f"{prefix}/v1/devB/record", b"[1, 2, 3]"),                                         # not an object
        (f"{prefix}/v1/devB/gap", good),                  # a valid record on a gap topic
        (f"{prefix}/v1/devC/record", good),               # a valid record of devB on devC's topic
        (f"{prefix}/v1/devB/telemetry", good),            # a valid record on a topic kind there is not
        (f"{prefix}/v1/devB/record", b'{"temperature": 21.5}'),  # someone else's JSON
    ]


@pytest.mark.slow
def test_poison_messages_land_in_quarantine_once_and_nothing_else_is_lost(fleet, capsys):
    import base64
    import threading

    import paho.mqtt.client as mqtt

    from tinydrift.cli.app import main
    from tinydrift.fleet.ingest import IngestWorker
    from tinydrift.fleet.pgstore import QUARANTINE_MAX_BYTES
    from tinydrift.fleet.urls import parse_mqtt_url

    fleet.pg.create_database("poison")
    prefix = "bench/poison"
    worker = IngestWorker(parse_mqtt_url(fleet.mqtt_url("poison")), fleet.db_url("poison"), client_id="poison-w")
    thread = threading.Thread(target=worker.run, kwargs={"idle_exit": 3.0}, daemon=True)
    thread.start()
    assert worker.wait_subscribed(30)
    bad = _bad_payloads(prefix)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="poison-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", fleet.mq.port)
    pub.loop_start()
    seq = 0
    for topic, raw in bad + bad[:2]:  # the first two twice, as a broker redelivers
        good = payload.encode_record("devG", "gw", 1.8e9 + seq, _record(seq=seq))
        pub.publish(f"{prefix}/v1/devG/record", good, qos=1).wait_for_publish(10)
        pub.publish(topic, raw, qos=1).wait_for_publish(10)
        seq += 1
    pub.publish(f"{prefix}/v1/devG/record", payload.encode_record("devG", "gw", 1.8e9 + seq, _record(seq=seq)),
                qos=1).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    thread.join(60)
    assert not thread.is_alive()
    assert worker.stats.malformed == len(bad) + 2 and worker.stats.quarantined_new == len(bad)
    assert fleet.query("poison", "SELECT seq FROM records WHERE device_uid = 'devG' ORDER BY seq") == [
        (s,) for s in range(seq + 1)]
    assert fleet.query("poison", "SELECT count(*) FROM records WHERE device_uid <> 'devG'") == [(0,)]
    got = fleet.query("poison", "SELECT topic, payload, payload_size, error FROM quarantine")
    assert sorted((t, bytes(p), n) for t, p, n, _ in got) == sorted(
        (t, raw[:QUARANTINE_MAX_BYTES], len(raw)) for t, raw in bad)
    assert all(err and "\n" not in err for *_, err in got)
    # The operator's view: one line per message, and the whole kept bytes in --json.
    capsys.readouterr()
    assert main(["db", "quarantine", "--db", fleet.db_url("poison")]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == len(bad) and f"{len(bad)} quarantined messages" in err
    assert main(["db", "quarantine", "--db", fleet.db_url("poison"), "--json", "--limit", "3"]) == 0
    listed = json.loads(capsys.readouterr().out)
    kept = {(t, raw[:QUARANTINE_MAX_BYTES]) for t, raw in bad}
    assert len(listed) == 3 and all((q["topic"], base64.b64decode(q["payload_base64"])) in kept for q in listed)


@pytest.mark.slow
def test_ingest_runs_the_alert_command_once_per_onset(fleet, tmp_path):
    import threading

    import paho.mqtt.client as mqtt

    from tinydrift.fleet.ingest import IngestWorker
    from tinydrift.fleet.urls import parse_mqtt_url

    fleet.pg.create_database("alerts")
    alerts = tmp_path / "alerts.jsonl"
    cmd = f"{sys.executable} -c \"import sys; open({str(alerts)!r}, 'a').write(sys.stdin.read())\""
    worker = IngestWorker(parse_mqtt_url(fleet.mqtt_url("alerts")), fleet.db_url("alerts"), alert_cmd=cmd,
                          client_id="alerts-worker")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.wait_subscribed(30)
    event = {"boot_id": 5, "seq": 42, "trigger_kinds": ["cusum"]}
    raw = payload.encode_alarm("devZ", "gw", 1.8e9, event)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alerts-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", fleet.mq.port)
    pub.loop_start()
    for _ in range(2):  # the same onset twice, as after a gateway resend
        pub.publish("bench/alerts/v1/devZ/alarm", raw, qos=1).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    # Stop once both deliveries were handled (not after an idle time, which a loaded machine can exceed between
    # the two deliveries).
    deadline = time.monotonic() + 60
    while worker.stats.messages < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    thread.join(60)
    assert not thread.is_alive()
    fired = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert fired == [{"device": "devZ", **event}]
    assert worker.stats.alarms_new == 1 and worker.stats.messages == 2
