"""``tinydrift db export`` and ``tinydrift report``: get telemetry out of a store (docs/telemetry-store.md).

    tinydrift db export --db telemetry.db --csv [-o records.csv]
    tinydrift db export --db telemetry.db --json [-o telemetry.json]
    tinydrift db quarantine --db postgresql://USER@HOST/DB [--limit N] [--json]
    tinydrift report --db telemetry.db -o report.html [--png-dir DIR]

``add_commands(subparsers)`` adds both to the ``tinydrift`` parser. Handlers return an exit
status and raise ``TinyDriftError`` subclasses (``StoreError``), which the CLI prints as one line.
This module does not import ``tinydrift.cli`` (which imports it).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from tinydrift.cli.common import TRIGGER_BITS, file_error, positive_int
from tinydrift.core.wording import count
from tinydrift.core.errors import InputError
from tinydrift.core.files import atomic_open
from tinydrift.telemetry.store import StoreError, TelemetryStore

PROG = "tinydrift"
DEFAULT_DB = "telemetry.db"

_DB_EPILOG = """\
Examples:
  tinydrift db export --db telemetry.db --csv -o records.csv
  tinydrift db export --db telemetry.db --json > telemetry.json
  tinydrift db quarantine --db postgresql://tinydrift@dbhost/tinydrift [--delete]
"""

_QUARANTINE_EPILOG = """\
Lists the messages `tinydrift ingest` could not decode (malformed or foreign
payloads on the fleet topic), oldest first, one line each: time received,
topic, payload size, the error, and the payload's first bytes. Each distinct
(topic, payload) is kept once, with its first 4096 bytes (docs/fleet.md).

Examples:
  tinydrift db quarantine --db postgresql://tinydrift@dbhost/tinydrift
  tinydrift db quarantine --db postgresql:///tinydrift --limit 20 --json
  tinydrift db quarantine --db postgresql:///tinydrift --json --delete > kept.json

--delete removes the messages just listed (with --limit, only those N) once
the listing is written; messages that arrive meanwhile stay.
"""

_EXPORT_EPILOG = """\
Reads the store without changing it (it may be exported while a monitor is
still writing to it).

Output (stdout, or FILE with -o):
  --csv   one row per telemetry record, in device, boot, seq order:
          device,board,boot_id,seq,profile_id,window,uptime_ms,received_at,
          replayed,score,dist,recon,cusum,alarm,trigger,nearest,top_channel,
          stuck_mask,saturated_mask,missing_mask,n_embeddings,n_channels, then
          per channel z_mean_<name>,z_std_<name>,mean_<name>,std_<name>,
          n_missing_<name>,n_saturated_<name> (names from the profile when every
          record's profile has the same names, else ch0, ch1, ...)
  --json  one object: devices, boots, profiles (blob base64), records (per-
          channel values as lists in channel order), alarms, gaps

trigger bits: {triggers}.
Score-unit values are Q8 / 256, written exactly. Times are unix seconds.

Examples:
  tinydrift db export --db telemetry.db --csv -o records.csv
  tinydrift db export --db telemetry.db --json -o telemetry.json
"""

_REPORT_EPILOG = """\
Writes one self-contained HTML file (PNG images embedded) and the same images
as PNG files beside it (or in --png-dir): for every run of records of one
device, boot and profile a score timeline (score, instant threshold, CUSUM and
h, triggers by kind, alarm, gaps), a per-channel z heatmap and a sensor health
event raster, plus a summary table (first alarm, triggers, channels
implicated, records received and lost). Prints one line per run.

Examples:
  tinydrift report --db telemetry.db -o report.html
  tinydrift report --db field.db -o out/field.html --png-dir out/png
"""


def make_parser(sub: Any, name: str, description: str, epilog: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, description=textwrap.fill(description, 79), epilog=epilog, help=help_text,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_commands(subparsers: Any) -> None:
    """Add ``db`` (with ``export`` and ``quarantine``) and ``report`` to the ``tinydrift`` subcommand parsers."""
    db = make_parser(subparsers, "db", "Inspect and export the telemetry store that device monitoring fills.",
                 _DB_EPILOG, "export the telemetry database")
    db_cmds = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", title="subcommands")
    db_cmds.required = True

    export = make_parser(db_cmds, "export", "Export every telemetry record of a store as CSV, or the whole store "
                                        "(devices, boots, profiles, records, alarms, gaps) as JSON.",
                     _EXPORT_EPILOG.replace("{triggers}", TRIGGER_BITS), "write the records as CSV or the store as JSON")
    export.add_argument("--db", default=DEFAULT_DB, metavar="DB",
                        help=f"telemetry database (default: {DEFAULT_DB})")
    fmt = export.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format", help="one CSV row per record")
    fmt.add_argument("--json", action="store_const", const="json", dest="format",
                     help="one JSON object holding every table")
    export.add_argument("-o", "--output", default="-", metavar="FILE", help="write here (default: stdout)")
    export.set_defaults(func=cmd_db_export)

    quar = make_parser(db_cmds, "quarantine", "List the messages the fleet's ingest side could not decode and kept "
                                          "in its PostgreSQL quarantine table.", _QUARANTINE_EPILOG,
                       "list the fleet messages the ingest side could not decode")
    quar.add_argument("--db", required=True, metavar="URL", help="fleet database, postgresql://...")
    quar.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the newest N")
    quar.add_argument("--json", action="store_true", help="one JSON array, payloads whole in base64")
    quar.add_argument("--delete", action="store_true", help="then delete the listed messages from the quarantine")
    quar.set_defaults(func=_cmd_quarantine)

    report = make_parser(subparsers, "report", "Write an HTML report of a telemetry store: score timelines, "
                                           "per-channel z heatmaps, sensor health events and a summary of "
                                           "alarms and lost records.", _REPORT_EPILOG,
                     "write an HTML report (with PNG plots) of a telemetry database")
    report.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=f"telemetry database (default: {DEFAULT_DB})")
    report.add_argument("-o", "--output", required=True, metavar="HTML", help="HTML file to write")
    report.add_argument("--png-dir", default=None, metavar="DIR",
                        help="directory for the PNG files (default: beside the HTML file)")
    report.set_defaults(func=cmd_report)


def open_store(path: str) -> TelemetryStore:
    """The store at path, read-only; StoreError unless it exists, is a tinydrift store and holds records."""
    store = TelemetryStore(path, readonly=True)
    if store.count_records() == 0:
        store.close()
        raise StoreError(f"no telemetry records in {path}")
    return store


def cmd_db_export(args: argparse.Namespace) -> int:
    if args.db.startswith(("postgresql://", "postgres://")):
        from tinydrift.cli.fleet import cmd_fleet_export

        return cmd_fleet_export(args)
    with open_store(args.db) as store:
        write = store.export_csv if args.format == "csv" else store.export_json
        if args.output == "-":
            n = write(sys.stdout)
            sys.stdout.flush()
        else:
            target = Path(args.output)
            try:
                with atomic_open(target) as fh:
                    n = write(fh)
            except OSError as exc:
                raise file_error("cannot write", target, exc) from None
            print(f"{PROG}: wrote {count(n, 'record')} to {target} ({args.format})", file=sys.stderr)
    return 0


def _cmd_quarantine(args: argparse.Namespace) -> int:
    from tinydrift.cli.fleet import cmd_quarantine

    return cmd_quarantine(args)


def cmd_report(args: argparse.Namespace) -> int:
    if args.db.startswith(("postgresql://", "postgres://")):
        from tinydrift.cli.fleet import cmd_fleet_report

        return cmd_fleet_report(args)
    from tinydrift.telemetry.report import build_report  # matplotlib is imported only when a report is made

    out = Path(args.output)
    if out.is_dir():
        raise InputError(f"{out} is a directory; -o takes the HTML file to write")
    rep = build_report(args.db, out, args.png_dir)
    for s in rep.segments:
        head = f"{s.device} boot {s.boot_id:#010x} profile {s.profile_id:#010x}: {count(s.records_received, 'record')}"
        if s.first_alarm_window is None:
            alarm = "no alarm"
        else:
            alarm = (f"first alarm at window {s.first_alarm_window} ({'+'.join(s.first_alarm_triggers)}; "
                     f"{', '.join(s.channels_implicated) or 'no channel named'})")
        lost = f", {s.records_lost} lost in gaps" if s.records_lost else ""
        missing = f", {s.records_not_received} not received" if s.records_not_received else ""
        print(f"{head}, {alarm}{lost}{missing}")
    png_dir = Path(args.png_dir) if args.png_dir else out.parent
    print(f"{PROG}: wrote {out} and {count(len(rep.pngs), 'PNG file')} in {png_dir}", file=sys.stderr)
    return 0


__all__ = ["add_commands", "cmd_db_export", "cmd_report", "open_store"]
