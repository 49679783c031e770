#!/usr/bin/env python3
"""Collection over a damaged link: the host simulator streams its sensor through tests/faultproxy.py
(corrupted bytes, dropped bytes, dropped connections) into a Collector, and every stored record is
compared with tinydrift.score of the same frames on the host.

For each fault level: the board (build/fw/host/tinydrift-sim) plays the bundled BasicMotions test
split (4,000 frames, a gain x4 on gyr_y from frame 1,500, so the alarm rises) as its sensor at
--rate Hz with a window of 10 frames; ``Collector`` (what ``tinydrift monitor`` runs) stores into
SQLite with ``--alert-cmd``-style alerts; collection stops once every window is stored, or --drain
seconds after the sensor ran out once the collector has heard of the last window (an INFO or a
record got through; at most 20 s more). Columns:

  stored        records in the store, of the windows the board produced
  corrupt       stored records that differ from the host's computation (any field)
  lost / not received   seqs in gap rows: gone from the ring for good / still in it, not fetched yet
  unaccounted   windows neither stored nor in a gap row (must be 0), overlap: stored seqs in gap rows
  alerts        alert commands run / alarm onsets in the host's computation

Usage: bench/link_faults.py [--rate 200] [--seed 1] [--levels none,disc,...] [--markdown FILE]
Exit status 0 when nothing corrupt was stored and every window is stored or in a gap row.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import tinydrift  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from tinydrift.device.sim import firmware_path, free_port  # noqa: E402
from tinydrift.telemetry.collect import Collector  # noqa: E402
from tinydrift.telemetry.gaps import gap_is_final  # noqa: E402
from tinydrift.telemetry.store import TelemetryStore  # noqa: E402

WINDOW = 10
FIELDS = ("window", "score", "dist", "recon", "cusum", "trigger", "alarm", "nearest", "top_channel", "stuck_mask",
          "saturated_mask", "missing_mask")
PER_CHANNEL = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")
LEARN_S = 20.0  # after the drain: longest wait for an INFO (or record) to get through and name the last seq


@dataclass(frozen=True)
class Level:
    """One row of the table: byte fault probabilities and the mean connection lifetime (None: no disconnects)."""

    key: str
    label: str
    corrupt: float = 0.0
    drop: float = 0.0
    disconnect_mean_s: float | None = None


LEVELS = (
    Level("none", "none"),
    Level("disc", "disconnects only (mean 2 s)", disconnect_mean_s=2.0),
    Level("c0.1", "0.1 % bytes corrupted, no disconnects (a serial port)", corrupt=0.001),
    Level("cd0.1", "0.1 % corrupted + 0.1 % dropped + disconnects", 0.001, 0.001, 2.0),
    Level("cd1", "1 % corrupted + 1 % dropped + disconnects", 0.01, 0.01, 2.0),
)


@dataclass
class Result:
    """What one collection run over a faulty link stored, compared with the host's computation."""

    level: Level
    produced: int
    stored: int
    corrupt: int
    lost: int
    unreceived: int
    unaccounted: int
    overlap: int
    gap_rows: int
    onsets: int
    alerts: int
    seconds: float
    connects: int
    link_bytes: int

    @property
    def ok(self) -> bool:
        return self.corrupt == 0 and self.unaccounted == 0 and self.overlap == 0


def scenario(n_windows: int | None = None) -> dict:
    """Profile, sensor stream (the first n_windows windows; all 400 when None) and the host's rows for it."""
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    stream = frames[split == 1].astype(np.int32)
    stream[1500:, 4] *= 4  # gyr_y gain: an alarm to alert on
    stream = np.clip(stream, -32768, 32767).astype(np.int16)
    if n_windows is not None:
        stream = stream[: n_windows * WINDOW]
    profile = tinydrift.build_profile(train, window=WINDOW, channel_names=names)
    return {"profile": profile, "stream": stream, "rows": tinydrift.score(profile, stream), "names": names}


def onsets(rows: np.ndarray) -> int:
    """Alarm onsets of one uninterrupted run: windows whose alarm is latched and whose predecessor's is not."""
    alarm = rows["alarm"].astype(bool)
    return int(alarm[0]) + int(np.count_nonzero(alarm[1:] & ~alarm[:-1]))


def equal_row(rec: object, row: np.void) -> bool:
    """A stored record equals the host's row, field for field, bit for bit."""
    for f in FIELDS:
        if getattr(rec, f) != row[f]:
            return False
    return all(np.array_equal(np.asarray(getattr(rec, f)), row[f]) for f in PER_CHANNEL)


def measure(level: Level, data: dict, work: Path, rate_hz: int = 200, seed: int = 1, drain_s: float = 6.0,
            timeout: float = 0.5) -> Result:
    """Run one level: board, proxy, collector; compare the store with the host's rows."""
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    rows = data["rows"]
    n = len(rows)
    sensor = work / "sensor.i16"
    sensor.write_bytes(data["stream"].astype("<i2").tobytes())
    port = free_port()
    board = subprocess.Popen([str(firmware_path("host")), "--tcp", str(port), "--storage", str(work / "storage.bin"),
                              "--sensor-file", str(sensor)], stdout=subprocess.PIPE, text=True, cwd=work)
    try:
        assert board.stdout is not None
        line = board.stdout.readline()
        if f"127.0.0.1:{port}" not in line:
            raise RuntimeError(f"host simulator did not start: {line.strip() or 'no output'}")
        with tinydrift.Device(f"socket://127.0.0.1:{port}") as dev:
            dev.upload_profile(data["profile"])
            boot = dev.info().boot_id
        alerts = work / "alerts.jsonl"
        alerts.unlink(missing_ok=True)
        cmd = f"{shlex.quote(sys.executable)} -c \"import sys; open({str(alerts)!r}, 'a').write(sys.stdin.read())\""
        db = work / "telemetry.db"
        db.unlink(missing_ok=True)
        with FaultProxy(port, level.corrupt, level.drop, level.disconnect_mean_s, seed=seed) as proxy, \
                TelemetryStore(db) as store:
            store.add_profile(data["profile"], channel_names=data["names"])
            collector = Collector(proxy.url, store, sensor_rate=rate_hz, alert_cmd=cmd, timeout=timeout,
                                  backoff_max=0.5)
            started = time.monotonic()
            thread = threading.Thread(target=collector.run, daemon=True)
            thread.start()
            deadline = started + n * WINDOW / rate_hz + drain_s
            while time.monotonic() < deadline + LEARN_S:
                time.sleep(0.2)
                if len(store.stored_seqs(proxy.url, boot)) == n:
                    break
                # past the drain, wait (at most LEARN_S) only until the collector has heard of every window
                if time.monotonic() >= deadline and collector.known_next(boot) >= n:
                    break
            collector.stop()
            thread.join(30)
            seconds = time.monotonic() - started
            stored = store.telemetry_records(proxy.url, boot)
            gaps = store.gap_rows(proxy.url, boot)
            link_bytes = proxy.counts.bytes
        seqs = {r.seq for r in stored}
        in_gaps = [s for lo, hi, _ in gaps for s in range(lo, hi + 1)]
        lost = sum(hi - lo + 1 for lo, hi, r in gaps if gap_is_final(r))
        corrupt = sum(1 for r in stored if r.seq >= n or not equal_row(r, rows[r.seq]))
        fired = len(alerts.read_text().splitlines()) if alerts.exists() else 0
        return Result(level, n, len(stored), corrupt, lost, len(in_gaps) - lost,
                      unaccounted=len(set(range(n)) - seqs - set(in_gaps)),
                      overlap=len(seqs & set(in_gaps)) + len(in_gaps) - len(set(in_gaps)), gap_rows=len(gaps),
                      onsets=onsets(rows), alerts=fired, seconds=seconds, connects=collector.stats.connects,
                      link_bytes=link_bytes)
    finally:
        board.send_signal(signal.SIGTERM)
        try:
            board.wait(5)
        except subprocess.TimeoutExpired:
            board.kill()
            board.wait()


def frame_sizes(data: dict) -> dict[str, int]:
    """Wire bytes (COBS, CRC, delimiter) of one TELEMETRY frame of this scenario and of an INFO answer."""
    from tinydrift.device.messages import Info, encode
    from tinydrift.device.records import TelemetryRecord

    rec = TelemetryRecord.from_row(data["rows"][0], seq=0, profile_id=data["profile"].profile_id)
    info = Info(request_seq=0, board_id=1, active_slot=0, max_payload=352, boot_id=1, firmware_version=0x100,
                profile_id=1, profile_channels=6, max_channels=16, profile_window=10, next_seq=0, oldest_seq=0,
                ring_capacity=128, sensor_rate_hz=0, frames_processed=0, link_errors=0, board_name="host simulator")
    return {"TELEMETRY": len(encode(rec, 1)), "INFO": len(encode(info, 1))}


def survival_table(sizes: dict[str, int]) -> str:
    """Share of frames that arrive intact when each byte is hit independently: (1 - corrupt - drop) ** bytes."""
    sizes = {**sizes, "a 100-byte frame": 100}
    lines = ["| link faults | " + " | ".join(f"{k} ({v} B)" if not k.startswith("a ") else k
                                            for k, v in sizes.items()) + " |",
             "|---|" + "---|" * len(sizes)]
    for lv in LEVELS:
        if lv.corrupt or lv.drop:
            q = lv.corrupt + lv.drop
            lines.append(f"| {lv.label} | " + " | ".join(f"{100 * (1 - q) ** n:.1f} %" for n in sizes.values())
                         + " |")
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    lines = ["| link faults | records stored | corrupt accepted | lost (gap rows) | not received (gap rows) | "
             "unaccounted | alerts fired / alarm onsets | connections | run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.level.label} | {r.stored} of {r.produced} | {r.corrupt} | {r.lost} | {r.unreceived} | "
                     f"{r.unaccounted} | {r.alerts} / {r.onsets} | {r.connects} | {r.seconds:.1f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=200, help="sensor frames per second (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="fault RNG seed (default 1)")
    parser.add_argument("--drain", type=float, default=6.0, help="seconds to keep collecting after the sensor ends")
    parser.add_argument("--levels", default=",".join(lv.key for lv in LEVELS),
                        help=f"comma-separated subset of {','.join(lv.key for lv in LEVELS)}")
    parser.add_argument("--work", default=str(ROOT / "build" / "link_faults"), help="scratch directory")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as a markdown page")
    args = parser.parse_args(argv)
    chosen = [lv for key in args.levels.split(",") for lv in LEVELS if lv.key == key.strip()]
    if not chosen:
        print("link_faults: error: no known level in --levels", file=sys.stderr)
        return 1
    data = scenario()
    results = []
    for lv in chosen:
        r = measure(lv, data, Path(args.work) / lv.key, rate_hz=args.rate, seed=args.seed, drain_s=args.drain)
        print(f"{lv.label}: {r.stored}/{r.produced} stored, {r.corrupt} corrupt, {r.lost} lost, {r.unreceived} "
              f"not received, {r.unaccounted} unaccounted, {r.overlap} overlapping, alerts {r.alerts}/{r.onsets}, "
              f"{r.connects} connections, {r.seconds:.1f} s", flush=True)
        results.append(r)
    text = table(results)
    print(text)
    if args.markdown:
        page = (
            "# Collection over a damaged link\n\n"
            "Written by `make bench-link` (`bench/link_faults.py --markdown docs/benchmarks-link.md`); "
            "do not edit by hand.\n\n"
            f"The host simulator plays the bundled BasicMotions test split ({len(data['rows'])} windows of "
            f"{WINDOW} frames, gain x4 on gyr_y from frame 1,500) as its sensor at {args.rate} Hz "
            f"({args.rate // WINDOW} records/s); tests/faultproxy.py sits between it and `Collector` (what "
            "`tinydrift monitor --db` runs), corrupting and dropping bytes in both directions and closing the "
            f"connection after exponentially distributed lifetimes; fault seed {args.seed}. Every stored record "
            "is compared with `tinydrift.score` of the same frames on the host. *lost*: seqs in gap rows the "
            "ring had overwritten; *not received*: seqs in gap rows still in the ring when collection stopped "
            f"({args.drain:g} s after the sensor ran out); *unaccounted*: windows neither stored nor in a gap row. "
            "Alerts: `--alert-cmd` runs against alarm onsets of the host's computation.\n\n"
            f"{text}\n\n"
            "## Frame size and a noisy line\n\n"
            "A frame survives only if none of its bytes is hit (CRC-32 rejects the rest: no corrupt record was "
            "stored at any level). Shares of frames that arrive intact, from the encoded sizes of this scenario's "
            "frames (6 channels):\n\n"
            f"{survival_table(frame_sizes(data))}\n\n"
            "At 0.1 % the recovery above already stores every window with the current record format; at 1 % + "
            "1 % a record of about 100 bytes would get through about five times as often, still far from all. "
            "A compact record encoding (record version 3 in the shared C codec) was therefore not made.\n"
        )
        Path(args.markdown).write_text(page, encoding="utf-8")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
