"""`tinydrift monitor`: collect a device's telemetry into SQLite with a live view."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import textwrap
import time
from typing import Any

from tinydrift.core.errors import InputError
from tinydrift.core.wording import count
from tinydrift.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, float_in, int_in, port_option,
                                  resolve_port)
from tinydrift.telemetry.collect import Collector, DeviceState
from tinydrift.device.records import TelemetryRecord
from tinydrift.core.triggers import HEALTH_MASKS, mask_channels
from tinydrift.core.triggers import trigger_names as trigger_kinds
from tinydrift.telemetry.store import TelemetryStore

_seconds = float_in(lambda v: 0 < v < float("inf"), "a positive number of seconds")

EXAMPLES = """\
Examples:
  tinydrift monitor --port /dev/ttyACM0 --db telemetry.db
  tinydrift monitor --port auto --db telemetry.db --alert-cmd 'notify-send tinydrift'
  tinydrift monitor --port auto --db telemetry.db --alert-cmd 'cat | jq .trigger_kinds'
  tinydrift monitor --port socket://127.0.0.1:5555 --db telemetry.db --plain --sensor-rate 100
  tinydrift monitor --port socket://127.0.0.1:5555 --db t.db --profile ref.tdp --idle-exit 5
  tinydrift monitor --port /dev/ttyACM0 --db telemetry.db --mqtt mqtt://broker:1883/tinydrift

The database keeps every record; run `tinydrift report --db telemetry.db -o report.html`
to plot it. Ctrl-C stops collecting and leaves the database consistent (exit status 130;
SIGTERM, --duration and --idle-exit stop with 0; 1 when the device was never reached: then
one line says so, and a database or spool this run created is removed again).

--alert-cmd CMD runs `sh -c CMD` once per new alarm (the latched flag rising), without
waiting for it, with the record as one line of JSON on stdin (its fields, plus
trigger_kinds, channels_implicated and channel_names), e.g. 'cat | jq .trigger_kinds'
or 'notify-send "tinydrift alarm"'. A command that fails is logged, never fatal.
"""


def _labels(state: DeviceState, n: int) -> list[str]:
    return state.channel_names if len(state.channel_names) == n else [f"ch{c}" for c in range(n)]


def _moved(state: DeviceState, rec: TelemetryRecord) -> str:
    names = _labels(state, rec.n_channels)
    parts = []
    for field, kind in HEALTH_MASKS:
        mask = getattr(rec, field)
        if mask:
            parts.append(f"{kind}: {','.join(mask_channels(mask, names))}")
    if rec.n_channels:
        c = rec.top_channel
        parts.append(f"{names[c]} z={rec.z_mean[c]:+.1f}/{rec.z_std[c]:+.1f}")
    return "; ".join(parts)


def _model(rec: TelemetryRecord) -> str:
    """Model outputs of a window with inferences: estimated vs realized accuracy, prior shift ('' without)."""
    if not rec.n_inferences:
        return ""
    labels = f"{rec.n_correct}/{rec.n_labels} right this window" if rec.n_labels else "no labels this window"
    return (f"estimated accuracy {rec.estimated_accuracy:.2f} vs realized {rec.accuracy:.2f} (all labels; "
            f"{labels}), prior shift {rec.prior_shift:.2f}, {count(rec.n_inferences, 'inference')}")


def plain_line(state: DeviceState, rec: TelemetryRecord) -> str:
    thr = f"/{state.instant:.1f}" if state.instant is not None else ""
    kinds = "+".join(trigger_kinds(rec.trigger)) or "-"
    flag = " (backfill)" if rec.replayed else ""
    model = f" est={rec.estimated_accuracy:.2f} acc={rec.accuracy:.2f}" if rec.n_inferences else ""
    return (f"{rec.boot_id:08x} seq={rec.seq} window={rec.window} score={rec.score:.2f}{thr} "
            f"cusum={rec.cusum:.2f} alarm={int(rec.alarm)} trigger={kinds}{model} {_moved(state, rec)}{flag}")


class LiveView:
    """A rich live panel: device, profile, rate, score vs threshold, alarm, channels that moved."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=False)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.state: DeviceState | None = None

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, state: DeviceState) -> None:
        from rich.table import Table
        from rich.text import Text

        self.state = state
        table = Table(title=f"tinydrift monitor - {state.url}", show_header=False, expand=False)
        table.add_column(style="bold")
        table.add_column()
        info = state.info
        link = "connected" if state.connected else "waiting for device"
        table.add_row("device", f"{info.board_name if info else '?'} ({link})")
        if info:
            table.add_row("boot / profile", f"{info.boot_id:#010x} / {info.profile_id:#010x} "
                          f"(window {info.profile_window}, {count(info.profile_channels, 'channel')})")
        table.add_row("windows/s", f"{state.window_rate():.1f}")
        rec = state.last
        if rec is not None:
            thr = f" (instant threshold {state.instant:.1f}, CUSUM h {state.cusum_h:.1f})" \
                if state.instant is not None and state.cusum_h is not None else ""
            table.add_row("window / seq", f"{rec.window} / {rec.seq}")
            table.add_row("score", f"{rec.score:.2f}, CUSUM {rec.cusum:.2f}{thr}")
            alarm = Text("ALARM", style="bold white on red") if rec.alarm else Text("ok", style="green")
            if rec.trigger:
                alarm.append(f"  ({'+'.join(trigger_kinds(rec.trigger))})")
            table.add_row("alarm", alarm)
            table.add_row("moved", _moved(state, rec))
            if rec.n_inferences:
                table.add_row("model", _model(rec))
        if state.message:
            table.add_row("status", state.message)
        self.live.update(table)


def _check_device_path(url: str) -> None:
    """InputError for a serial device path (no URL scheme) that does not exist: nothing to wait for."""
    if "://" not in url and ("/" in url or os.sep in url) and not os.path.exists(url):
        raise InputError(f"cannot open {url}: no such device (is the board plugged in? --port auto finds a "
                         "Nano 33 BLE)")


def _remove_new_files(paths: list[str]) -> None:
    """Remove what this run created and never filled: SQLite files and their journals."""
    for path in paths:
        for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)


def cmd_monitor(args: argparse.Namespace) -> int:
    url = resolve_port(args.port)
    _check_device_path(url)
    prof = None
    if args.profile:
        from tinydrift.core.profile import load_profile

        prof = load_profile(args.profile)  # a bad profile stops here, before any file is created
    spool_path = args.spool or f"{args.db}.spool"
    created = [p for p in [args.db] + ([spool_path] if args.mqtt else []) if not os.path.exists(p)]
    logging.basicConfig(level=logging.WARNING, format="tinydrift: %(message)s")
    gateway = None
    if args.mqtt:
        from tinydrift.cli.fleet import open_gateway

        gateway = open_gateway(args.mqtt, spool_path, args.device_name or url)
    run = _MonitorRun(args, url, prof, gateway)
    try:
        return run.collect()
    finally:
        if not run.contacted:  # no device ever answered: leave no empty database or spool behind
            _remove_new_files(created)


class _MonitorRun:
    """One `tinydrift monitor` session: the store, the view, the collector and the closing note."""

    def __init__(self, args: argparse.Namespace, url: str, prof: Any, gateway: Any) -> None:
        self.args = args
        self.url = url
        self.prof = prof
        self.gateway = gateway
        self.contacted = False  # a device answered INFO (then the files stay, whatever happens next)

    def collect(self) -> int:
        args, url, prof, gateway = self.args, self.url, self.prof, self.gateway
        interrupted = False
        given_id: int | None = prof.profile_id if prof is not None else None  # to say when the device runs another
        mismatch: list[str] = []
        with TelemetryStore(args.db) as store, gateway or contextlib.nullcontext():
            if gateway and prof is not None:
                gateway.sink.channel_names = list(prof.channel_names or [])
            plain = args.plain or not sys.stdout.isatty()
            view: LiveView | None = None

            def on_contact() -> None:
                self.contacted = True
                if prof is not None:  # into the store only once a device answers: a failed start writes nothing
                    store.add_profile(prof)

            def on_record(state: DeviceState, rec: TelemetryRecord, new: bool) -> None:
                if plain:
                    if new:
                        print(plain_line(state, rec), flush=True)
                elif view is not None:
                    view.update(state)

            def on_status(state: DeviceState) -> None:
                if gateway and state.connected and state.info is not None:
                    gateway.sink.connected(state.info, url)
                if (given_id is not None and state.connected and state.info is not None and state.info.has_profile
                        and state.info.profile_id != given_id and not mismatch):
                    mismatch.append(f"tinydrift: note: --profile {args.profile} is profile {given_id:#010x} but the "
                                    f"device runs {state.info.profile_id:#010x}: its channel names do not label "
                                    f"these records")
                    if plain:
                        print(mismatch[0], file=sys.stderr, flush=True)
                if plain:
                    print(f"# {state.message}", file=sys.stderr, flush=True)
                elif view is not None:
                    view.update(state)

            collector = Collector(url, store, device_name=args.device_name, alert_cmd=args.alert_cmd,
                                  sensor_rate=args.sensor_rate, on_record=on_record, on_status=on_status,
                                  record_sink=gateway.sink.record if gateway else None,
                                  gap_sink=gateway.sink.gap if gateway else None,
                                  onset_sink=gateway.sink.onset if gateway else None, on_contact=on_contact)
            # SIGTERM stops as cleanly as Ctrl-C: the record in hand is stored, then we return.
            signal.signal(signal.SIGTERM, lambda *_: collector.stop())
            started = time.monotonic()
            try:
                if plain:
                    stats = collector.run(duration=args.duration, idle_exit=args.idle_exit)
                else:
                    with LiveView() as view:
                        view.update(collector.state)
                        stats = collector.run(duration=args.duration, idle_exit=args.idle_exit)
            except KeyboardInterrupt:
                collector.stop()
                stats = collector.stats
                interrupted = True
            if not self.contacted:
                reason = collector.state.message.removeprefix("disconnected: ").split("; retrying")[0]
                reason = reason.removeprefix(f"cannot open {url}: ")
                print(f"tinydrift: error: never connected to {url} in {time.monotonic() - started:.1f} s: "
                      f"{reason or 'no answer'}; nothing stored{' (interrupted)' if interrupted else ''}",
                      file=sys.stderr)
                return EXIT_INTERRUPTED if interrupted else EXIT_ERROR
            if interrupted:
                print("tinydrift: interrupted; database is consistent", file=sys.stderr)
            elapsed = time.monotonic() - started
            print(_closing_note(stats, elapsed, args.db, store.count_records()), file=sys.stderr)
            if mismatch and not plain:
                print(mismatch[0], file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _closing_note(stats: Any, elapsed: float, db: str, in_all: int) -> str:
    """The line that counts what a session collected."""
    dropped = f", {stats.records_dropped} dropped from a full queue (backfilled)" if stats.records_dropped else ""
    fetch = " (still in the device's ring: run again to fetch them)" if stats.seqs_unreceived else ""
    return (f"# collected {count(stats.records_new, 'new record')} ({stats.records_backfilled} backfilled, "
            f"{count(stats.records_duplicate, 'duplicate')}{dropped}), {count(stats.alarms, 'new alarm')}, "
            f"{count(stats.seqs_lost, 'record')} lost in {count(stats.gaps_recorded, 'gap')}, "
            f"{stats.seqs_unreceived} not received yet{fetch}, {count(stats.connects, 'connection')}, "
            f"{elapsed:.1f} s -> {db} ({count(in_all, 'record')} in all)")


def add_commands(commands: Any) -> None:
    """Register `tinydrift monitor`."""
    p = commands.add_parser(
        "monitor", help="collect a device's telemetry into SQLite, with a live view",
        description=textwrap.dedent("""\
            Connect to a device, store every telemetry record in an SQLite database and show
            the drift state live. Missed records are fetched again from the device's ring buffer
            until stored; records the ring no longer holds are recorded as gaps, and so are, until
            they arrive, records still in the ring but not received yet. --alert-cmd runs once per
            alarm onset, whatever order records arrive in. The device may reset or be unplugged:
            the monitor reconnects and goes on."""),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    port_option(p)
    p.add_argument("--db", required=True, metavar="FILE", help="SQLite database (created if missing)")
    p.add_argument("--profile", metavar="PROFILE", help="profile file, to show thresholds and channel names")
    p.add_argument("--device-name", metavar="NAME", help="name of the device in the database (default: the URL)")
    p.add_argument("--alert-cmd", metavar="CMD",
                   help="run CMD with `sh -c` once per alarm onset, the onset's record as JSON on stdin")
    p.add_argument("--sensor-rate", type=int_in(1, 65535), metavar="HZ",
                   help="ask the board to sample its sensors at HZ (1..65535)")
    p.add_argument("--mqtt", metavar="URL", help="also publish every record and event to an MQTT broker, "
                   "mqtt://HOST[:PORT][/PREFIX] (docs/fleet.md)")
    p.add_argument("--spool", metavar="FILE", help="with --mqtt: messages not yet acknowledged by the broker "
                   "(default: the database's name + .spool)")
    p.add_argument("--plain", action="store_true", help="one line per record (default when stdout is not a TTY)")
    p.add_argument("--duration", type=_seconds, metavar="S", help="stop after S seconds (no wait runs past it)")
    p.add_argument("--idle-exit", type=_seconds, metavar="S", help="stop after S seconds without a new record stored")
    p.set_defaults(func=cmd_monitor)
