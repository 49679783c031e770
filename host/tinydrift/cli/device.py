"""Device commands of the ``tinydrift`` CLI: simulators, info, upload, replay, firmware build, flash, selftest.

    tinydrift sim --board host|qemu [--state-dir DIR] [--sensor-file REC [--rate HZ]]
    tinydrift info --port URL|auto [--json]
    tinydrift upload --port URL|auto ref.tdp
    tinydrift replay --port URL|auto STREAM [--rate HZ] [--json] [--db FILE]
    tinydrift firmware build --board host|qemu|nano33ble
    tinydrift flash --board nano33ble [--port auto] FIRMWARE
    tinydrift selftest --port URL|auto [--restore PROFILE] [--keep-selftest-profile] [--db DB]

``add_commands(subparsers)`` registers them on the main parser (tinydrift.cli.build_parser).
Errors are DeviceError/InputError (TinyDriftError): the CLI prints them as one line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from tinydrift.core.wording import count
from tinydrift.cli.common import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, PROG, TRIGGER_BITS, float_in, int_in,
                                  make_parser, port_option, positive_int, resolve_port, trigger_text,
                                  with_names)
from tinydrift.core.errors import InputError

_URL_HELP = ("device URL: a serial port (/dev/ttyACM0), socket://127.0.0.1:PORT (simulators), a pty path, or "
             "auto (the Nano 33 BLE found by USB VID:PID); `tinydrift sim` prints one")

_SIM_EPILOG = """\
Builds the simulator firmware if needed (in a checkout: there; installed: from
the sources the package carries, once, into $XDG_CACHE_HOME/tinydrift/fw/),
starts it, prints its URL on stdout and runs until Ctrl-C (exit status 130) or
SIGTERM (0). The profile store lives in
DIR/tinydrift-storage.bin (a temporary directory when --state-dir is not
given), so with --state-dir an uploaded profile survives a restart, and so
does the board's device id (INFO): random at the first start of a state
directory, or --device-id HEX, which replaces the stored one.

  host  build/fw/host/tinydrift-sim, a TCP server (needs gcc, make)
  qemu  build/fw/mps2-an386/tinydrift.elf in qemu-system-arm -M mps2-an386
        (needs gcc-arm-none-eabi, qemu-system-arm)

Both serve one client at a time and answer a second client with one line
naming the client they serve, which the second client prints as its error
(for QEMU, whose serial server would leave it hanging, this command serves the
link through a small relay in its own process).

--sensor-file REC gives the board a simulated sensor that plays the recording
REC (.csv, .npy or .npz; the active profile's channel count) in real time,
the way a board samples its IMU: with --rate HZ it starts by itself as soon
as a profile is active; without --rate it starts when a host asks for a rate
(`tinydrift monitor --sensor-rate HZ`). At the end of the recording the
sensor goes quiet. Its windows reach the host as live telemetry, so
`tinydrift monitor --db` collects them as from a real board.

Examples:
  tinydrift sim --board host
  tinydrift sim --board host --listen 5555      # socket://127.0.0.1:5555
  tinydrift sim --board host --sensor-file field.csv --rate 100
  tinydrift sim --board qemu --sensor-file field.npz --rate 100
  tinydrift sim --board qemu --state-dir /tmp/qemu-board
  tinydrift sim --board host --state-dir /tmp/board-7 --device-id 00000000000000b7
  exec 3< <(tinydrift sim --board host); read -r URL <&3   # bash: the first line is the URL
  tinydrift info --port "$URL"; kill $!                    # $!: the simulator
"""

_INFO_EPILOG = """\
Prints the board, its unique device id, firmware, active profile, telemetry
ring and link error counters the device reports (docs/protocol.md, INFO).

Examples:
  tinydrift info --port /dev/ttyACM0
  tinydrift info --port socket://127.0.0.1:5555 --json
"""

_UPLOAD_EPILOG = """\
Validates the profile with the C parser, then writes it into the device's
inactive slot (UPLOAD_BEGIN, CHUNK..., COMMIT; each acknowledged, retried on
timeout). The device checks size, CRC-32 and the parser again before it
switches atomically; any failure leaves the previous profile active. Prints
the new profile id.

Examples:
  tinydrift upload --port /dev/ttyACM0 ref.tdp
  tinydrift upload --port socket://127.0.0.1:5555 ref.tdp --chunk 128
"""

_REPLAY_EPILOG = """\
Injects a recording into the device's monitor as if its sensors had sampled
it, and prints the telemetry record of every window as it arrives, one line
each (or one JSON object per line with --json: the record's fields plus
channels, triggers, top_channel_name and the channels each health mask
flags, named from --profile or the recording). The recording must have the
active profile's channel count. Without --rate frames go as fast as the
device acknowledges them. The device's monitor goes on from where it stands:
after an earlier replay its window count, CUSUM and a latched alarm carry
over (the closing line says so); `tinydrift upload` of the profile starts it
again from window 0, as `tinydrift score` does.

Line format: seq, window, score, CUSUM, alarm (ALARM or -), the trigger
kinds, top channel with its z of mean and std.
trigger bits: {triggers}.

--db FILE also stores every record in the telemetry database (the store and
schema of `tinydrift monitor --db`, device name as there: the URL unless
--device-name), each as it arrives, so an interrupted replay keeps what came.

Examples:
  tinydrift replay --port socket://127.0.0.1:5555 field.csv
  tinydrift replay --port /dev/ttyACM0 field.npz --rate 100
  tinydrift replay --port /dev/ttyACM0 field.csv --json > telemetry.jsonl
  tinydrift replay --port socket://127.0.0.1:5555 field.csv --db telemetry.db
"""

_FIRMWARE_EPILOG = """\
Examples:
  tinydrift firmware build --board host
  tinydrift firmware build --board qemu
  tinydrift firmware build --board nano33ble
"""

_FIRMWARE_BUILD_EPILOG = """\
host and qemu run `make -f firmware/firmware.mk fw-host|fw-qemu` in this
checkout (build/fw/host/tinydrift-sim, build/fw/mps2-an386/tinydrift.elf), or,
installed, in a copy of the package's sources in $XDG_CACHE_HOME/tinydrift/fw/
(qemu: the image the package carries prebuilt, if any);
nano33ble generates the Arduino library (make arduino-lib) and runs
`arduino-cli compile --fqbn arduino:mbed_nano:nano33ble --library
build/arduino/tinydrift` on its DriftMonitor example (needs arduino-cli with the
arduino:mbed_nano core and the Arduino_LSM9DS1 library), giving
build/fw/nano33ble/out/DriftMonitor.ino.bin. Prints the firmware's path.

Examples:
  tinydrift firmware build --board host
  tinydrift firmware build --board nano33ble
"""

_FLASH_EPILOG = """\
Writes FIRMWARE (the .bin from `tinydrift firmware build --board nano33ble`)
with `arduino-cli upload` when arduino-cli is on PATH (it resets the board
into its bootloader with the 1200-baud touch and runs the core's bossac);
otherwise with Arduino's bossac (on PATH if it is Arduino's fork, else
~/.arduino15/packages/arduino/tools/bossac/*/bossac, installed with the
arduino:mbed_nano core) after a 1200-baud touch. Debian's bossa-cli cannot
flash the nRF52840. --port auto finds the board by its USB VID:PID
(boards/nano33ble/board.json; 2341:805A running, 2341:005A in the bootloader).

Examples:
  tinydrift flash --board nano33ble build/fw/nano33ble/out/DriftMonitor.ino.bin
  tinydrift flash --board nano33ble --port /dev/ttyACM0 DriftMonitor.ino.bin
"""


_SELFTEST_EPILOG = """\
Proves that a board computes what the host computes: uploads a self-test
profile (built from the bundled BasicMotions recording), injects a known
120-window recording through the link, compares every telemetry record with
tinydrift.score on the host field by field, restores the board's profile and
prints one verdict line. Exit status 0 on PASS, 1 on FAIL or error.

The link cannot read a profile back, so a board that runs a profile needs
--restore with the .tdp it was uploaded from (checked by id before anything
changes), or --keep-selftest-profile. Sensor sampling is paused during the
test and resumed. If the test's records would push unsaved ones out of the
board's telemetry ring, pass --db (they are stored there first, as
`tinydrift monitor` stores them) or --discard-ring.

Examples:
  tinydrift selftest --port auto --restore ref.tdp
  tinydrift selftest --port /dev/ttyACM0 --keep-selftest-profile
  tinydrift selftest --port socket://127.0.0.1:5555
"""


_timeout = float_in(lambda v: 0 < v <= 3600, "in (0, 3600] seconds")
_rate = float_in(lambda v: 0 < v <= 1e6, "in (0, 1e6] frames per second")


def _chunk(text: str) -> int:
    value = positive_int(text)
    if value > 256:
        raise argparse.ArgumentTypeError(f"must be at most 256 bytes, got {value}")
    return value


def _device_options(p: argparse.ArgumentParser) -> None:
    port_option(p)
    p.add_argument("--timeout", type=_timeout, default=1.0, metavar="SECONDS",
                   help="seconds of silence before a request is retried, 3 tries in all (default: 1)")


def add_commands(commands: Any) -> None:
    """Register sim, info, upload, replay, firmware and flash on the CLI's subparsers."""
    sim = make_parser(PROG, "Run a simulated tinydrift board (host process or QEMU Cortex-M4) in the foreground "
                        "and print the URL to connect to.", _SIM_EPILOG, commands, "sim",
                  help="run a simulated board until Ctrl-C")
    sim.add_argument("--board", choices=("host", "qemu"), default="host", help="which simulator (default: host)")
    sim.add_argument("--state-dir", metavar="DIR", default=None,
                     help="directory for the board's storage file (default: a temporary one)")
    sim.add_argument("--no-build", dest="build", action="store_false",
                     help="use the firmware already built instead of running make")
    sim.add_argument("--listen", type=int_in(0, 65535), default=0, metavar="PORT",
                     help="serve on 127.0.0.1:PORT (default: 0, a free port; the URL is printed)")
    sim.add_argument("--sensor-file", metavar="REC", default=None,
                     help="a recording (.csv, .npy, .npz) the board's simulated sensor plays in real time")
    sim.add_argument("--rate", type=int_in(1, 65535), default=None, metavar="HZ",
                     help="with --sensor-file: start the sensor at HZ frames per second once a profile is active "
                          "(default: when a host sends SENSOR, e.g. monitor --sensor-rate)")
    sim.add_argument("--device-id", type=_device_id, default=None, metavar="HEX",
                     help="the board's 64-bit device id, 1 to 16 hex digits, kept in its state (default: the one "
                          "stored, or a random one at the first start of a state directory)")
    sim.set_defaults(func=cmd_sim)

    info = make_parser(PROG, "Ask a device (or simulator) what it is running: board, firmware, active profile, "
                         "telemetry sequence numbers and link error counters.", _INFO_EPILOG, commands, "info",
                   help="show what a device is running")
    _device_options(info)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_info)

    upload = make_parser(PROG, "Upload a reference profile to a device; it becomes active atomically once the device "
                           "has checked it.", _UPLOAD_EPILOG, commands, "upload",
                     help="upload a profile to a device")
    _device_options(upload)
    upload.add_argument("profile", metavar="PROFILE", help="profile file (.tdp)")
    upload.add_argument("--chunk", type=_chunk, default=256, metavar="BYTES",
                        help="bytes per UPLOAD_CHUNK message, 1..256 (default: 256)")
    upload.set_defaults(func=cmd_upload)

    replay = make_parser(PROG, "Replay a recording through a device's monitor and print its telemetry as it "
                           "arrives.", _REPLAY_EPILOG.replace("{triggers}", TRIGGER_BITS), commands, "replay",
                     help="inject a recording into a device, print telemetry")
    _device_options(replay)
    replay.add_argument("stream", metavar="STREAM", help="recording to inject: .csv, .npy or .npz")
    replay.add_argument("--rate", type=_rate, default=None, metavar="HZ",
                        help="frames per second (default: as fast as the device acknowledges)")
    replay.add_argument("--json", action="store_true", help="one JSON object per record and line")
    replay.add_argument("--db", metavar="FILE", default=None,
                        help="also store every record in this telemetry database (created if missing)")
    replay.add_argument("--device-name", metavar="NAME", default=None,
                        help="the device's name in the database (default: the URL, as monitor)")
    replay.add_argument("--profile", metavar="PROFILE", default=None,
                        help="the device's profile file: its channel names label the lines (default: the "
                             "stream's header; ch0, ch1, ... for .npy)")
    replay.set_defaults(func=cmd_replay)

    firmware = make_parser(PROG, "Build device firmware from this checkout.", _FIRMWARE_EPILOG, commands, "firmware",
                       help="build firmware for a board or simulator")
    fw_cmds = firmware.add_subparsers(dest="firmware_command", metavar="SUBCOMMAND", title="subcommands")
    fw_cmds.required = True
    build = make_parser(PROG, "Build the firmware of one board: the host simulator, the QEMU Cortex-M4 image, or "
                          "the Arduino Nano 33 BLE sketch.", _FIRMWARE_BUILD_EPILOG, fw_cmds, "build",
                    help="build the firmware of a board")
    build.add_argument("--board", choices=("host", "qemu", "nano33ble"), required=True, help="target board")
    build.set_defaults(func=cmd_firmware_build)

    flash = make_parser(PROG, "Flash firmware onto an Arduino Nano 33 BLE over USB (arduino-cli upload, or a "
                              "1200-baud reset into the bootloader and Arduino's bossac).", _FLASH_EPILOG, commands,
                        "flash",
                    help="flash firmware onto a Nano 33 BLE")
    flash.add_argument("--board", choices=("nano33ble",), default="nano33ble", help="target board")
    port_option(flash, required=False, default="auto")
    flash.add_argument("firmware", metavar="FIRMWARE", help="firmware image (.bin)")
    flash.set_defaults(func=cmd_flash)

    selftest = make_parser(PROG, "Check that a device computes bit for bit what the host computes: upload a "
                                 "self-test profile, inject a known recording, compare every telemetry record with "
                                 "tinydrift.score, restore.", _SELFTEST_EPILOG, commands, "selftest",
                           help="prove a board computes what the host does")
    selftest.add_argument("--port", required=True, metavar="URL", help=_URL_HELP)
    selftest.add_argument("--timeout", type=_timeout, default=2.0, metavar="SECONDS",
                          help="seconds of silence before a request is retried, 3 tries in all (default: 2)")
    selftest.add_argument("--restore", metavar="PROFILE", default=None,
                          help="the .tdp the board's active profile was uploaded from; uploaded again afterwards")
    selftest.add_argument("--keep-selftest-profile", action="store_true",
                          help="let the board keep the self-test profile (its own is not restored)")
    selftest.add_argument("--db", metavar="DB", default=None,
                          help="telemetry database to save the board's ring into before the test, if the test "
                               "would push records out")
    selftest.add_argument("--discard-ring", action="store_true",
                          help="run even if the test pushes unsaved records out of the board's ring")
    selftest.set_defaults(func=cmd_selftest)


# ------------------------------------------------------------------------------------------ commands


def _stderr(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def _device_id(text: str) -> int:
    """A device id: 1 to 16 hex digits (an optional 0x), not all zero."""
    digits = text[2:] if text.lower().startswith("0x") else text
    if not 1 <= len(digits) <= 16 or any(c not in "0123456789abcdefABCDEF" for c in digits) or int(digits, 16) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device id (1 to 16 hex digits, not all zero)")
    return int(digits, 16)


def cmd_sim(args: argparse.Namespace) -> int:
    from tinydrift.device.protocol import DeviceError
    from tinydrift.device.sim import Simulator

    class Stop(Exception):
        pass

    def stop(signum: int, frame: object) -> None:
        for name in ("SIGTERM", "SIGHUP"):  # a second signal while the simulator stops changes nothing
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise Stop

    for name in ("SIGTERM", "SIGHUP"):  # stop the simulator cleanly on kill / a closed terminal (status 0)
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)
    if args.rate is not None and args.sensor_file is None:
        raise InputError("--rate needs --sensor-file (the recording the simulated sensor plays)")
    sim = Simulator(args.board, state_dir=args.state_dir, build=args.build, sensor_file=args.sensor_file,
                    sensor_rate=args.rate, port=args.listen, refuse_second_client=True, device_id=args.device_id)
    try:
        url = sim.start()
        print(url, flush=True)
        where = f"state in {sim.state_dir}" if args.state_dir else "temporary state"
        if args.sensor_file:
            when = f"at {args.rate} Hz once a profile is active" if args.rate else "when a host sends SENSOR"
            where += f"; sensor plays {args.sensor_file} ({sim.sensor_channels} channels) {when}"
        _stderr(f"{args.board} simulator listening on {url} ({where}); Ctrl-C stops it")
        status = sim.wait()
        last = next((ln for ln in reversed(sim.output) if ln.strip()), "")
        raise DeviceError(f"{args.board} simulator exited with status {status}" + (f": {last}" if last else ""))
    except Stop:
        _stderr("stopping the simulator")
        return EXIT_OK
    except KeyboardInterrupt:
        _stderr("stopping the simulator")
        return EXIT_INTERRUPTED
    finally:
        sim.close()


def _open(args: argparse.Namespace):  # noqa: ANN202
    from tinydrift.device.client import Device

    return Device(resolve_port(args.port), timeout=args.timeout)


def info_lines(info: Any) -> list[str]:
    """Human-readable INFO, one field per line."""
    from tinydrift.device.protocol import BOARD_NAMES

    board = BOARD_NAMES.get(info.board_id, f"board id {info.board_id}")
    if info.has_profile:
        profile = (f"{info.profile_id:#010x} in slot {info.active_slot}: {count(info.profile_channels, 'channel')}, "
                   f"window {info.profile_window}")
    else:
        profile = "none (upload one with `tinydrift upload`)"
    held = info.next_seq - info.oldest_seq
    ring = (f"next seq {info.next_seq}; ring holds {count(held, 'record')}"
            + (f", seq {info.oldest_seq}..{info.next_seq - 1}" if held else "") + f" (capacity {info.ring_capacity})")
    rows = [
        ("board", f"{info.board_name or board} ({board}, id {info.board_id})"),
        ("firmware", f"{info.firmware}, link protocol {info.protocol_version}, max payload {info.max_payload} bytes, "
                     f"up to {info.max_channels} channels"),
        ("device id", info.uid_text or "not reported (firmware of link protocol 1)"),
        ("boot id", f"{info.boot_id:#010x}"),
        ("profile", profile),
        ("telemetry", ring),
        ("sensor", f"{info.sensor_rate_hz} Hz" if info.sensor_rate_hz else "off"),
        ("frames", f"{info.frames_processed} processed since boot"),
        ("link errors", f"{info.link_errors} since boot"),
    ]
    width = max(len(k) for k, _ in rows)
    return [f"{k.ljust(width)}  {v}" for k, v in rows]


def cmd_info(args: argparse.Namespace) -> int:
    with _open(args) as dev:
        info = dev.info()
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print(f"{args.port}:")
        print("\n".join("  " + line for line in info_lines(info)))
    return EXIT_OK


class _ProgressBar:
    """A one-line \\r progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label = label
        self.width = width
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = self.width * done // total
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} bytes")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd_upload(args: argparse.Namespace) -> int:
    from tinydrift.core.profile import load_profile

    prof = load_profile(args.profile)
    bar = _ProgressBar("upload")
    with _open(args) as dev:
        try:
            pid = dev.upload_profile(prof, chunk=args.chunk, progress=bar)
        finally:
            bar.finish()
        info = dev.info()
    print(f"uploaded {args.profile} to {args.port}: profile {pid:#010x} active in slot {info.active_slot} "
          f"({prof.n_channels} channels, window {prof.window})")
    return EXIT_OK


def record_line(rec: Any, names: list[str]) -> str:
    """One telemetry record as a line of text."""
    top = rec.top_channel
    name = names[top] if top < len(names) else f"ch{top}"
    z = ""
    if top < len(rec.z_mean):
        z = f" (z {rec.z_mean[top]:+.2f}/{rec.z_std[top]:+.2f})"
    return (f"seq {rec.seq:>6}  window {rec.window:>6}  score {rec.score:10.3f}  cusum {rec.cusum:10.3f}  "
            f"{'ALARM' if rec.alarm else '-    '}  trigger {trigger_text(rec.trigger):<19}  top {name}{z}"
            + ("  (replayed)" if rec.replayed else ""))


def cmd_replay(args: argparse.Namespace) -> int:
    from tinydrift.core.recording import default_names, read_recording

    rec = read_recording(args.stream)
    store = None
    if args.db is not None:
        from tinydrift.telemetry.store import TelemetryStore

        store = TelemetryStore(args.db)
    name = args.device_name or args.port
    stored = 0
    try:
        with _open(args) as dev:
            info = dev.info()
            if not info.has_profile:
                raise InputError(f"device at {args.port} has no active profile; upload one first")
            if rec.n_channels != info.profile_channels:
                raise InputError(f"{rec.source} has {rec.n_channels} channels but the device's profile "
                                 f"{info.profile_id:#010x} expects {info.profile_channels}")
            names = rec.channel_names
            if args.profile is not None:
                from tinydrift.core.profile import load_profile

                prof = load_profile(args.profile)
                if prof.profile_id != info.profile_id:
                    raise InputError(f"{args.profile} is profile {prof.profile_id:#010x} but the device at "
                                     f"{args.port} runs {info.profile_id:#010x}")
                names = prof.names()
            if store is not None:
                store.add_device(name, board=info.board_name, board_id=info.board_id, firmware=info.firmware)
                store.note_profile(info.profile_id, window=info.profile_window, n_channels=info.profile_channels,
                                   channel_names=None if names == default_names(rec.n_channels) else names)

            def show(record: Any) -> None:
                nonlocal stored
                if store is not None:  # each as it arrives: Ctrl-C or a lost link keeps what came
                    stored += store.insert_record(name, record)
                if args.json:
                    sys.stdout.write(json.dumps(with_names(record.to_dict(), names)) + "\n")
                else:
                    sys.stdout.write(record_line(record, names) + "\n")
                sys.stdout.flush()

            records = dev.inject(rec.frames, rate_hz=args.rate, on_record=show)
    except KeyboardInterrupt:
        if store is not None:
            _stderr(f"interrupted; {count(stored, 'new record')} stored in {args.db}")
        return EXIT_INTERRUPTED
    finally:
        if store is not None:
            store.close()
    alarms = sum(1 for r in records if r.alarm)
    where = f"; {count(stored, 'new record')} stored in {args.db}" if store is not None else ""
    _stderr(f"replayed {count(rec.n_frames, 'frame')} from {rec.source}: {count(len(records), 'window')}, {alarms} "
            f"with the alarm latched{where}")
    if records and records[0].window > 0:
        _stderr(f"note: the device's monitor went on from window {records[0].window} (its CUSUM and a latched "
                f"alarm carried over); upload the profile again to start from window 0")
    return EXIT_OK


def cmd_firmware_build(args: argparse.Namespace) -> int:
    if args.board == "nano33ble":
        from tinydrift.device.flash import build_firmware as build_nano

        path = build_nano()
    else:
        from tinydrift.device.sim import build_firmware

        path = build_firmware(args.board)
    print(path)
    return EXIT_OK


def cmd_flash(args: argparse.Namespace) -> int:
    from tinydrift.device.flash import flash

    flash(args.firmware, port=args.port, progress=_stderr)
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    from tinydrift.build.selftest_data import selftest_profile, selftest_stream
    from tinydrift.device.selftest import run_selftest

    url = resolve_port(args.port)

    def save_ring(records: list[Any], info: Any) -> None:
        """--db: store the ring's records as `tinydrift monitor` does (device named by its URL; idempotent)."""
        from tinydrift.telemetry.store import TelemetryStore

        with TelemetryStore(args.db) as store:
            store.add_device(url, board=info.board_name, board_id=info.board_id, firmware=info.firmware)
            new = store.insert_records(url, records)
        _stderr(f"saved the {count(len(records), 'record')} of the board's ring to {args.db} ({new} new)")

    result = run_selftest(url, selftest_profile(), selftest_stream(), restore=args.restore,
                          keep_selftest_profile=args.keep_selftest_profile, save_ring=save_ring if args.db else None,
                          discard_ring=args.discard_ring, timeout=args.timeout, say=_stderr)
    _stderr(result.restored)
    print(result.verdict, flush=True)
    return EXIT_OK if result.passed else EXIT_ERROR


__all__ = ["add_commands", "info_lines", "record_line", "EXIT_ERROR"]
