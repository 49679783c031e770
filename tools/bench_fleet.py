#!/usr/bin/env python3
"""Fleet load and fault test: simulated devices -> gateways -> mosquitto -> ingest workers -> PostgreSQL.

Starts a throwaway mosquitto and PostgreSQL on loopback ports, runs the gateways and the ingest
workers as separate `tinydrift` processes (so they can be killed), and compares what PostgreSQL
holds with what the devices produced: count, distinct (device, boot, seq), and an MD5 over the
sorted keys against the same MD5 computed here from the simulator's definition.

    tools/bench_fleet.py                       # full size: 100 devices x 1,000 records + the four faults
    tools/bench_fleet.py --devices 10 --records 200 --markdown -   # what `make test` runs (tests/test_fleet_e2e.py)

Scenarios: load (paced, for latency), drain (ingest throughput from a backlog), broker-restart,
ingest-kill, gateway-restart, postgres-restart, malformed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import tinydrift
from tinydrift.fleet.localservers import Mosquitto, Postgres
from tinydrift.fleet.simulate import boot_id, build_sim_profile, device_uid

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("load", "drain", "broker-restart", "ingest-kill", "gateway-restart", "postgres-restart", "malformed")


@dataclass
class Result:
    """One scenario's outcome."""

    name: str
    devices: int
    records_per_device: int
    expected: int = 0
    stored: int = 0
    distinct: int = 0
    checksum_ok: bool = False
    seconds: float = 0.0
    throughput: float = 0.0
    latency_median_ms: float | None = None
    latency_p99_ms: float | None = None
    note: str = ""
    skipped_lines: list[str] = field(default_factory=list)
    quarantined: int | None = None  # rows of the quarantine table after the run

    @property
    def lost(self) -> int:
        return self.expected - self.distinct

    @property
    def duplicated(self) -> int:
        return self.stored - self.distinct


def expected_md5(devices: int, records: int) -> str:
    keys = sorted((device_uid(i), boot_id(i), s) for i in range(devices) for s in range(records))
    return hashlib.md5(",".join(f"{d}:{b}:{s}" for d, b, s in keys).encode()).hexdigest()


class Fleet:
    """The servers and the processes of one bench run."""

    def __init__(self, work: Path, quiet: bool = True) -> None:
        self.work = work
        self.mq = Mosquitto(work / "mosquitto")
        self.pg = Postgres(work / "postgres")
        self.profile_path = work / "sim.tdp"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.mq.start()
        self.pg.init()
        self.pg.start()
        build_sim_profile().save(self.profile_path)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.mq.stop()
        try:
            self.pg.stop()
        except Exception as exc:  # noqa: BLE001 - best effort at the end
            print(f"bench_fleet: stopping postgres: {exc}", file=sys.stderr)

    def db_url(self, name: str) -> str:
        return self.pg.url.rsplit("/", 1)[0] + "/" + name.replace("-", "_")

    def mqtt_url(self, name: str) -> str:
        return f"mqtt://127.0.0.1:{self.mq.port}/bench/{name}"

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        fh = open(log, "ab")
        p = subprocess.Popen([sys.executable, "-m", "tinydrift", *argv], stdout=fh, stderr=subprocess.STDOUT,
                             cwd=self.work)
        self.procs.append(p)
        return p

    def ingest(self, name: str, k: int, share: bool = True) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}-ingest{k}.log"
        mark = log.stat().st_size if log.exists() else 0
        p = self._spawn(["ingest", "--mqtt", self.mqtt_url(name), "--db", self.db_url(name), "--client-id",
                         f"{name}-ingest{k}", *(["--group", name] if share else ["--no-share"])], log)
        end = time.monotonic() + 60
        while time.monotonic() < end:  # the session must exist before gateways publish
            if log.exists() and b"subscribed to" in log.read_bytes()[mark:]:
                return p
            if p.poll() is not None:
                raise RuntimeError(f"ingest worker exited: {log.read_text()[-400:]}")
            time.sleep(0.05)
        raise RuntimeError("ingest worker did not subscribe within 60 s")

    def gateway(self, name: str, g: int, first: int, n: int, records: int, rate: float) -> subprocess.Popen[bytes]:
        return self._spawn(["fleet", "simulate", "--mqtt", self.mqtt_url(name), "--spool",
                            str(self.work / f"{name}-gw{g}.spool"), "--gateway", f"{name}-gw{g}", "--devices",
                            str(n), "--first-device", str(first), "--records", str(records), "--rate", str(rate),
                            "--profile", str(self.profile_path)], self.work / f"{name}-gw{g}.log")

    def query(self, name: str, sql: str) -> list[tuple]:
        import psycopg

        for attempt in range(100):
            try:
                with psycopg.connect(self.db_url(name), autocommit=True) as c:
                    return c.execute(sql).fetchall()
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("database unreachable")

    def stored(self, name: str) -> int:
        try:
            return int(self.query(name, "SELECT count(*) FROM records")[0][0])
        except Exception:  # noqa: BLE001 - the table may not exist yet
            return 0


def spool_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])


def run(fleet: Fleet, name: str, devices: int, records: int, gateways: int = 2, workers: int = 2,
        rate: float = 0.0, timeout: float = 600.0) -> Result:
    """One scenario; ``name`` is also its fault."""
    res = Result(name, devices, records, expected=devices * records)
    fleet.pg.create_database(name.replace("-", "_"))
    total = devices * records
    # mosquitto 2.0 drops the shared subscriptions of offline sessions on restart: plain ones there.
    share = name != "broker-restart"
    ws = {k: fleet.ingest(name, k, share) for k in range(workers)}
    if name == "drain":
        for w in ws.values():
            w.send_signal(signal.SIGTERM)
            w.wait()
    per = -(-devices // gateways)
    gws = {g: fleet.gateway(name, g, g * per, min(per, devices - g * per), records, rate)
           for g in range(gateways) if g * per < devices}
    t0 = time.monotonic()

    def wait_stored(frac: float) -> None:
        end = time.monotonic() + timeout
        while fleet.stored(name) < frac * total and time.monotonic() < end:
            time.sleep(0.1)

    if name == "drain":
        for g in gws.values():
            g.wait(timeout)
        t0 = time.monotonic()
        ws = {k: fleet.ingest(name, k) for k in range(workers)}
    elif name == "broker-restart":
        wait_stored(0.3)
        fleet.mq.restart()
        res.note = ("mosquitto stopped (SIGTERM) and started again at 30 % stored; the workers subscribe plainly "
                    "(--no-share), each gets every message and the idempotent writes keep one")
    elif name == "ingest-kill":
        wait_stored(0.3)
        ws[0].kill()
        ws[0].wait()
        time.sleep(1.0)
        ws[0] = fleet.ingest(name, 0)
        res.note = "ingest worker 0 killed (SIGKILL) at 30 % stored, restarted with its client id 1 s later"
    elif name == "gateway-restart":
        wait_stored(0.2)
        assert fleet.mq.proc is not None
        fleet.mq.proc.send_signal(signal.SIGSTOP)  # the broker stops answering: the spool fills
        time.sleep(1.5)
        gws[0].kill()
        gws[0].wait()
        spooled = spool_count(fleet.work / f"{name}-gw0.spool")
        fleet.mq.proc.send_signal(signal.SIGCONT)
        gws[0] = fleet.gateway(name, 0, 0, min(per, devices), records, rate)
        res.note = (f"broker paused (SIGSTOP) at 20 % stored, gateway 0 killed (SIGKILL) with {spooled} messages in "
                    "its spool, broker resumed, gateway restarted on the same spool")
    elif name == "postgres-restart":
        wait_stored(0.3)
        fleet.pg.restart()
        res.note = "PostgreSQL restarted (pg_ctl restart -m fast) at 30 % stored"
    elif name == "malformed":
        wait_stored(0.3)
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-intruder", protocol=mqtt.MQTTv5)
        c.connect("127.0.0.1", fleet.mq.port)
        c.loop_start()
        prefix = f"bench/{name}/v1"
        d0, d1 = device_uid(0), device_uid(1)
        bad = [(f"{prefix}/{d0}/record", b"\xff not json"),
               (f"{prefix}/{d0}/record", b'{"schema": 1, "kind": "record", "device": "%s"}' % d0.encode()),
               (f"{prefix}/other/telemetry", b'{"temperature": 21.5}'),
               (f"{prefix}/{d1}/record", b'{"schema": 99}')]
        for t, p in bad:
            c.publish(t, p, qos=1).wait_for_publish(10)
        c.disconnect()
        c.loop_stop()
        res.note = f"{len(bad)} malformed or foreign messages published on the topic at 30 % stored"

    end = time.monotonic() + timeout
    for g in gws.values():
        g.wait(max(1.0, end - time.monotonic()))
    while fleet.stored(name) < total and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(1.0)  # let redeliveries (duplicates, if any) arrive
    res.seconds = time.monotonic() - t0
    for w in ws.values():
        w.send_signal(signal.SIGTERM)
    for w in ws.values():
        w.wait(30)
    keys = ",".join(["device_uid", "boot_id", "seq"])
    (stored, distinct, md5, first, last), = fleet.query(
        name, f"SELECT count(*), count(DISTINCT ({keys})), md5(string_agg(device_uid || ':' || boot_id || ':' || seq, "
              f"',' ORDER BY {keys})), extract(epoch from min(ingested_at)), extract(epoch from max(ingested_at)) "
              "FROM records")
    res.stored, res.distinct = int(stored), int(distinct)
    res.checksum_ok = md5 == expected_md5(devices, records)
    span = float(last - first) if stored else 0.0
    res.throughput = stored / span if span > 0 else 0.0
    if name in ("load", "drain", "demo"):
        lat = [float(r[0]) * 1000 for r in fleet.query(
            name, "SELECT extract(epoch from ingested_at - time) FROM records ORDER BY 1")]
        if name in ("load", "demo") and lat:
            res.latency_median_ms = statistics.median(lat)
            res.latency_p99_ms = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    res.quarantined = int(fleet.query(name, "SELECT count(*) FROM quarantine")[0][0])
    for k in range(workers):
        log = fleet.work / f"{name}-ingest{k}.log"
        res.skipped_lines += [ln for ln in log.read_text().splitlines() if "skipped a message" in ln]
    return res


def markdown(results: list[Result], args: argparse.Namespace, elapsed: float) -> str:
    out = ["# Fleet benchmarks", "",
           "Written by `tools/bench_fleet.py` (`make bench-fleet`); every figure below was measured by that run",
           f"on this machine ({os.cpu_count()} cores, shared), mosquitto and PostgreSQL from the Debian packages on",
           "loopback ports, gateways and ingest workers as separate `tinydrift` processes.",
           "",
           f"Run: {args.devices} simulated devices x {args.records} records, {args.gateways} gateways, "
           f"{args.workers} ingest workers; the load scenario paced at {args.rate:g} records/s per device, the "
           f"fault scenarios at {max(args.rate, 20.0):g} (more than the workers take: they end draining a backlog); "
           f"whole run {elapsed:.0f} s.",
           "",
           "Stored is `count(*)` of `records`; lost = expected − distinct (device, boot, seq); duplicated = stored − "
           "distinct; checksum: MD5 of the sorted keys in PostgreSQL equals the MD5 of the keys the simulator "
           "produced.",
           "",
           "| scenario | expected | stored | lost | duplicated | checksum | time s | ingest records/s | "
           "latency median ms | latency p99 ms |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lat = (f"{r.latency_median_ms:.0f} | {r.latency_p99_ms:.0f}" if r.latency_median_ms is not None
               else "- | -")
        out.append(f"| {r.name} | {r.expected:,} | {r.stored:,} | {r.lost} | {r.duplicated} | "
                   f"{'equal' if r.checksum_ok else 'DIFFERENT'} | {r.seconds:.1f} | {r.throughput:,.0f} | {lat} |")
    out += ["", "Scenarios:", "",
            "- load: gateways paced; latency = `ingested_at` (PostgreSQL clock_timestamp() at insert) − `time` "
            "(gateway clock when the record was taken), same host clock; ingest records/s over the run.",
            "- drain: workers stopped while the gateways publish everything into their persistent sessions, then "
            "started: records/s is the ingest rate from a backlog (first to last insert)."]
    for r in results:
        if r.note:
            out.append(f"- {r.name}: {r.note}.")
    mal = next((r for r in results if r.name == "malformed"), None)
    if mal:
        out += ["", "The ingest workers' log lines for the malformed messages (one each):", ""]
        out += [f"    {ln}" for ln in mal.skipped_lines]
        out += ["", f"Rows in the `quarantine` table after the malformed scenario: {mal.quarantined} "
                    f"(`tinydrift db quarantine` lists them); after the other scenarios: "
                    f"{sum(r.quarantined or 0 for r in results if r.name != 'malformed')}."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--gateways", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=5.0, help="records/s per device in the load scenario")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--markdown", metavar="FILE", help="write the table (- for stdout)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tinydrift-fleet-"))
    fleet = Fleet(work)
    started = time.monotonic()
    results = []
    try:
        fleet.start()
        for name in args.scenarios.split(","):
            r = run(fleet, name, args.devices, args.records, args.gateways, args.workers,
                    rate=args.rate if name == "load" else max(args.rate, 20.0) if name != "drain" else 0.0)
            print(f"{r.name}: expected {r.expected} stored {r.stored} lost {r.lost} duplicated {r.duplicated} "
                  f"checksum {'equal' if r.checksum_ok else 'DIFFERENT'} {r.seconds:.1f} s "
                  f"{r.throughput:.0f} records/s"
                  + (f" latency median {r.latency_median_ms:.0f} ms p99 {r.latency_p99_ms:.0f} ms"
                     if r.latency_median_ms is not None else ""), flush=True)
            results.append(r)
    finally:
        fleet.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)
        else:
            print(f"kept {work}", file=sys.stderr)
    text = markdown(results, args, time.monotonic() - started)
    if args.markdown == "-":
        print(text)
    elif args.markdown:
        Path(args.markdown).write_text(text)
    bad = [r for r in results if r.lost or r.duplicated or not r.checksum_ok]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
