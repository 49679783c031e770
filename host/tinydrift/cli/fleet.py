"""``tinydrift ingest`` and ``tinydrift fleet simulate``: the broker-to-PostgreSQL side of a fleet (docs/fleet.md).

    tinydrift ingest --mqtt mqtt://HOST:1883/tinydrift --db postgresql://USER@HOST/DB [--alert-cmd CMD]
    tinydrift fleet simulate --mqtt mqtt://HOST:1883/tinydrift --spool gw1.spool --devices 10 --records 200
    tinydrift db quarantine --db postgresql://USER@HOST/DB [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tinydrift.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, float_in, positive_int
from tinydrift.core.errors import InputError
from tinydrift.core.wording import count, plural

_INGEST_EPILOG = """\
Examples:
  tinydrift ingest --mqtt mqtt://localhost:1883/tinydrift --db postgresql://tinydrift@localhost/tinydrift
  tinydrift ingest --mqtt mqtt://broker:1883/tinydrift --db postgresql:///tinydrift --client-id ingest-1
  tinydrift ingest --mqtt mqtt://localhost/tinydrift --db postgresql:///tinydrift --alert-cmd 'notify-send drift'

Start several workers with different --client-id values to split the load (one shared
subscription). Restart a worker with the same --client-id: the broker keeps its session and
sends it what arrived meanwhile. The broker also keeps dealing a stopped worker's session its
share of the messages (for up to 7 days): take a worker out of service for good with
  tinydrift ingest --mqtt URL --db URL --client-id ingest-2 --retire Each message is acknowledged after it is committed, and a
record stored twice is ignored, so a killed worker loses and duplicates nothing. The schema
is created or migrated at start. Ctrl-C or SIGTERM stops after the batch in hand.

Exit status: 0 (also after SIGTERM, --duration or --idle-exit), 130 on Ctrl-C, 1 on an
error or when the broker never accepted the connection (one line says so).
"""

_SIM_EPILOG = """\
Examples:
  tinydrift fleet simulate --mqtt mqtt://localhost/tinydrift --spool gw1.spool --devices 50 --records 1000
  tinydrift fleet simulate --mqtt mqtt://localhost/tinydrift --spool gw2.spool --devices 50 --first-device 50 \\
      --gateway gw2 --rate 5

Each simulated device runs the C core over its own seeded sensor stream (every fourth one
drifts halfway). Records go through the spool, so the gateway can be stopped and restarted
with the same --spool: it goes on where it stopped. Exits when the broker acknowledged
every record.
"""


RETIRE_IDLE_S = 2.0  # --retire without --idle-exit: stop this long after the last queued message
_seconds = float_in(lambda v: 0 < v < float("inf"), "a positive number of seconds")


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="tinydrift: %(message)s")


def cmd_ingest(args: argparse.Namespace) -> int:
    from tinydrift.fleet.ingest import IngestWorker
    from tinydrift.fleet.urls import is_postgres_url, parse_mqtt_url

    url = parse_mqtt_url(args.mqtt)
    if not is_postgres_url(args.db):
        raise InputError(f"--db must be a postgresql:// URL, got {args.db!r}")
    _logging(not args.quiet)
    if args.retire and not args.client_id:
        raise InputError("--retire ends a worker's persistent session: give that worker's --client-id")
    idle_exit = args.idle_exit if args.idle_exit is not None or not args.retire else RETIRE_IDLE_S
    worker = IngestWorker(url, args.db, group=None if args.no_share else args.group, client_id=args.client_id,
                          alert_cmd=args.alert_cmd, batch=args.batch, retire=args.retire)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    started = time.monotonic()
    interrupted = False
    try:
        stats = worker.run(duration=args.duration, idle_exit=idle_exit)
    except KeyboardInterrupt:
        worker.stop()
        stats = worker.stats
        interrupted = True
    if not worker.ever_connected:
        print(f"tinydrift: error: never connected to the broker {url} in {time.monotonic() - started:.1f} s; "
              f"nothing ingested{' (interrupted)' if interrupted else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else EXIT_ERROR
    print(f"# ingested {count(stats.records_new, 'new record')} ({stats.records_duplicate} already stored), "
          f"{count(stats.gaps_new, 'gap')}, {count(stats.alarms_new, 'alarm onset')}, "
          f"{count(stats.malformed, 'malformed message')} skipped ({stats.quarantined_new} new in quarantine), "
          f"{count(stats.db_errors, 'database retry')}, {time.monotonic() - started:.1f} s"
          f"{' (interrupted)' if interrupted else ''}", file=sys.stderr)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from tinydrift.core.profile import load_profile
    from tinydrift.fleet.publisher import Publisher
    from tinydrift.fleet.simulate import build_sim_profile, run_gateway
    from tinydrift.fleet.spool import Spool
    from tinydrift.fleet.urls import parse_mqtt_url

    url = parse_mqtt_url(args.mqtt)
    _logging(args.verbose)
    profile = load_profile(args.profile) if args.profile else build_sim_profile()
    gateway = args.gateway or Path(args.spool).stem
    spool = Spool(args.spool)
    devices = range(args.first_device, args.first_device + args.devices)
    with Publisher(url, spool, client_id=f"tinydrift-gw-{gateway}") as pub:
        stats = run_gateway(pub, profile, devices, args.records, gateway=gateway, rate=args.rate,
                            flush_timeout=args.flush_timeout)
        left = pub.unacked()
        reached = pub.ever_connected
    if not reached:
        print(f"tinydrift: error: never connected to the broker {url}; {count(left, 'message')} "
              f"{plural(left, 'stays', 'stay')} in {args.spool} for the next run", file=sys.stderr)
        return EXIT_ERROR
    print(f"# {gateway}: {count(stats.records, 'record')} of {count(len(devices), 'device')} spooled, "
          f"{count(stats.alarms, 'alarm onset')}; {count(left, 'message')} not yet acknowledged by the broker",
          file=sys.stderr)
    return 0 if left == 0 else 1


def cmd_fleet_report(args: argparse.Namespace) -> int:
    """`tinydrift report --db postgresql://...`: the fleet page (every device's state, alarms, lost counts)."""
    from tinydrift.core.files import atomic_open
    from tinydrift.fleet.pgstore import connect
    from tinydrift.fleet.report import fleet_summary, quarantine_count, write_fleet_html

    with connect(args.db, migrate=False) as conn:
        rows = fleet_summary(conn)
        quarantined = quarantine_count(conn)
    for r in rows:
        print(f"{r.device}: {'ALARM' if r.alarm_now else 'ok'}, {count(r.records, 'record')}, "
              f"{count(r.alarm_onsets, 'alarm onset')}"
              f"{f', first alarm {r.first_alarm}' if r.first_alarm else ''}, {r.lost} lost, "
              f"{r.not_received} not received")
    with atomic_open(Path(args.output)) as fh:
        write_fleet_html(rows, fh, quarantined=quarantined)
    held = f"; {count(quarantined, 'message')} in quarantine, listed by tinydrift db quarantine" if quarantined else ""
    print(f"tinydrift: wrote {args.output} ({count(len(rows), 'device')}{held})", file=sys.stderr)
    return 0


def cmd_fleet_export(args: argparse.Namespace) -> int:
    """`tinydrift db export --db postgresql://... --csv`: every record, one CSV row each."""
    from tinydrift.core.files import atomic_open
    from tinydrift.fleet.pgstore import connect
    from tinydrift.fleet.report import export_csv

    if args.format != "csv":
        raise InputError("a PostgreSQL fleet database exports as --csv only")
    with connect(args.db, migrate=False) as conn:
        if args.output == "-":
            n = export_csv(conn, sys.stdout)
        else:
            with atomic_open(Path(args.output)) as fh:
                n = export_csv(conn, fh)
            print(f"tinydrift: wrote {count(n, 'record')} to {args.output} (csv)", file=sys.stderr)
    return 0


def _preview(data: bytes, size: int, width: int = 60) -> str:
    """The first ``width`` bytes of a payload as one printable line (Python bytes escapes: \\xNN, \\n)."""
    return repr(data[:width])[2:-1] + ("..." if size > width else "")


def cmd_quarantine(args: argparse.Namespace) -> int:
    """`tinydrift db quarantine --db postgresql://...`: the messages the ingest side could not decode."""
    from tinydrift.fleet.pgstore import connect, delete_quarantined, quarantined
    from tinydrift.fleet.urls import is_postgres_url

    if not is_postgres_url(args.db):
        raise InputError(f"the quarantine is kept by a fleet database (tinydrift ingest); --db must be a "
                         f"postgresql:// URL, got {args.db!r}")
    with connect(args.db, migrate=False) as conn:
        rows = quarantined(conn, args.limit)
        _print_quarantine(rows, args.json)
        if args.delete:
            sys.stdout.flush()  # the listing is out before a row goes (a failed write deletes nothing)
            gone = delete_quarantined(conn, rows)
            print(f"tinydrift: deleted the {count(gone, 'listed message')} from the quarantine", file=sys.stderr)
    return 0


def _print_quarantine(rows: list[Any], as_json: bool) -> None:
    """The quarantine listing: one line per message, or one JSON array with the payloads in base64."""
    import base64
    import json

    from tinydrift.fleet.pgstore import QUARANTINE_MAX_BYTES

    if as_json:
        print(json.dumps([{"received_at": r.received_at.timestamp(), "topic": r.topic, "error": r.error,
                           "worker": r.worker, "payload_size": r.payload_size,
                           "payload_base64": base64.b64encode(r.payload).decode("ascii")} for r in rows], indent=1))
    else:
        for r in rows:
            print(f"{r.received_at:%Y-%m-%d %H:%M:%S}  {r.topic}  {count(r.payload_size, 'byte')}  {r.error}  "
                  f"payload: {_preview(r.payload, r.payload_size)}")
        print(f"tinydrift: {count(len(rows), 'quarantined message')} (each keeps its first {QUARANTINE_MAX_BYTES} bytes; "
              "--json gives them whole in base64)", file=sys.stderr)


class Gateway:
    """`monitor --mqtt`: the publisher and the Collector hooks, closed (spool kept) on exit."""

    def __init__(self, publisher: Any, sink: Any) -> None:
        self.publisher = publisher
        self.sink = sink

    def __enter__(self) -> Gateway:
        self.publisher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.publisher.flush(2.0)
        left = self.publisher.unacked()
        self.publisher.close()
        if left:
            print(f"# {count(left, 'message')} not yet acknowledged by the broker {plural(left, 'stays', 'stay')} in "
                  f"{self.publisher.spool.path}; "
                  "the next `monitor --mqtt` sends them", file=sys.stderr)


def open_gateway(mqtt: str, spool_path: str, device_name: str) -> Gateway:
    """The publisher and Collector hooks of `tinydrift monitor --mqtt URL`."""
    import socket

    from tinydrift.fleet.gateway import GatewaySink
    from tinydrift.fleet.publisher import Publisher
    from tinydrift.fleet.spool import Spool
    from tinydrift.fleet.urls import parse_mqtt_url

    url = parse_mqtt_url(mqtt)
    gw = socket.gethostname()
    pub = Publisher(url, Spool(spool_path))
    return Gateway(pub, GatewaySink(pub, gw, device_name))


def add_commands(commands: Any) -> None:
    """Register `tinydrift ingest` and `tinydrift fleet simulate`."""
    p = commands.add_parser(
        "ingest", help="store a fleet's telemetry from an MQTT broker in PostgreSQL",
        description=textwrap.dedent("""\
            Subscribe to the fleet's topic on an MQTT broker (a shared subscription) and store
            every record, gap, alarm onset and device info in PostgreSQL, exactly once."""),
        epilog=_INGEST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mqtt", required=True, metavar="URL", help="broker and topic prefix, mqtt://HOST[:PORT][/PREFIX]")
    p.add_argument("--db", required=True, metavar="URL", help="PostgreSQL connection URL, postgresql://...")
    p.add_argument("--client-id", metavar="ID", help="MQTT client id, names the persistent session (default: random)")
    p.add_argument("--group", default="tinydrift-ingest", metavar="NAME",
                   help="shared-subscription group of the workers (default: tinydrift-ingest)")
    p.add_argument("--no-share", action="store_true",
                   help="plain subscription instead of a shared one: every worker gets every message "
                        "(survives a mosquitto restart while no worker is connected; see docs/fleet.md)")
    p.add_argument("--alert-cmd", metavar="CMD", help="run CMD on each new alarm onset, the event as JSON on stdin")
    p.add_argument("--retire", action="store_true",
                   help="take the worker --client-id out of service: ingest what the broker queued for its session, "
                        f"then end the session (stops {RETIRE_IDLE_S:g} s after the last message unless --idle-exit "
                        "says otherwise); a stopped worker's session otherwise keeps its share of the messages for up "
                        "to 7 days")
    p.add_argument("--batch", type=positive_int, default=1000, metavar="N", help="messages per transaction (1000)")
    p.add_argument("--duration", type=_seconds, metavar="S", help="stop after S seconds")
    p.add_argument("--idle-exit", type=_seconds, metavar="S", help="stop after S seconds without a message")
    p.add_argument("-q", "--quiet", action="store_true", help="log only warnings")
    p.set_defaults(func=cmd_ingest)

    fleet = commands.add_parser("fleet", help="fleet tools: simulate devices behind a gateway",
                                description="Fleet tools.")
    sub = fleet.add_subparsers(dest="fleet_command", metavar="COMMAND", required=True)
    s = sub.add_parser(
        "simulate", help="simulated devices publishing through a gateway spool",
        description="Run N simulated devices behind one gateway that publishes their records to the broker.",
        epilog=_SIM_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--mqtt", required=True, metavar="URL", help="broker and topic prefix, mqtt://HOST[:PORT][/PREFIX]")
    s.add_argument("--spool", required=True, metavar="FILE", help="the gateway's spool (SQLite, created if missing)")
    s.add_argument("--gateway", metavar="NAME", help="gateway name (default: the spool's file name stem)")
    s.add_argument("--devices", type=positive_int, default=10, metavar="N", help="simulated devices (10)")
    s.add_argument("--first-device", type=int, default=0, metavar="K", help="index of the first device (0)")
    s.add_argument("--records", type=positive_int, default=200, metavar="R", help="records per device (200)")
    s.add_argument("--rate", type=float, default=0.0, metavar="HZ",
                   help="records per second per device (default 0: as fast as possible)")
    s.add_argument("--profile", metavar="PROFILE", help="profile the devices run (default: built from the simulator's data)")
    s.add_argument("--flush-timeout", type=float, default=600.0, metavar="S",
                   help="wait at most S seconds for the broker's acknowledgements at the end (600)")
    s.add_argument("-v", "--verbose", action="store_true", help="log connections")
    s.set_defaults(func=cmd_simulate)
