#!/usr/bin/env python3
"""make demo: the whole product end to end, no hardware.

1. Build a reference profile from the bundled real IMU recording (UEA BasicMotions: a
   smartwatch's accelerometer and gyroscope at 10 Hz; see data/README.md).
2. Start a simulated board: QEMU's Cortex-M4 (mps2-an386) when qemu-system-arm and
   arm-none-eabi-gcc are installed, else the host-build simulator.
3. Upload the profile over the serial link (COBS frames, acknowledged chunks).
4. Replay the held-out recordings through the link with two drifts injected: from 150 s the
   gyroscope's y axis reads 4x too high, from 300 s the gyroscope's x axis is stuck.
5. Collect the device's telemetry into SQLite (backfilling anything missed from its ring).
6. Check the device's numbers against tinydrift.score on the host (bit for bit).
7. Write an HTML report with plots, and print when each drift began, when it was detected
   and which channel was blamed.
Outputs go to out/demo/, with train.csv and field.csv (the same recordings as CSV) for the
README's command-line path.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import tinydrift
from tinydrift.core.monitor import TRIGGER_HEALTH
from tinydrift.core.recording import write_csv
from tinydrift.telemetry.report import build_report
from tinydrift.device.sim import Simulator
from tinydrift.telemetry.store import TelemetryStore, mask_channels, trigger_kinds

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
RATE = 1e-3
SAMPLE_RATE_HZ = 10.0
GAIN_CHANNEL, GAIN, GAIN_FROM = "gyr_y", 4.0, 1500
STUCK_CHANNEL, STUCK_FROM = "gyr_x", 3000


def pick_board(requested: str) -> str:
    if requested != "auto":
        return requested
    have_qemu = shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
    return "qemu" if have_qemu else "host"


def drifted_stream(test: np.ndarray, names: list[str]) -> np.ndarray:
    out = test.astype(np.int32)
    g = names.index(GAIN_CHANNEL)
    out[GAIN_FROM:, g] = np.round(out[GAIN_FROM:, g] * GAIN)
    s = names.index(STUCK_CHANNEL)
    out[STUCK_FROM:, s] = out[STUCK_FROM - 1, s]
    return np.clip(out, -32768, 32767).astype(np.int16)


def example_recordings() -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """The demo's training recordings, its drifted field recording and the channel names."""
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    return train, drifted_stream(frames[split == 1], names), names


def write_example_recordings(out: Path) -> tuple[Path, Path]:
    """out/train.csv (the training recordings one after another: each is a whole number of windows, so
    no window straddles two) and out/field.csv (the drifted stream), for the README's command-line path."""
    train, stream, names = example_recordings()
    assert all(len(t) % WINDOW == 0 for t in train)
    paths = out / "train.csv", out / "field.csv"
    write_csv(paths[0], np.concatenate(train), names)
    write_csv(paths[1], stream, names)
    return paths


def blamed(rec: dict, names: list[str]) -> str:
    health = rec["stuck_mask"] | rec["saturated_mask"] | rec["missing_mask"]
    if rec["trigger"] & TRIGGER_HEALTH and health:
        kinds = [k for k in ("stuck", "saturated", "missing") if rec[f"{k}_mask"]]
        return f"{', '.join(mask_channels(health, names))} ({'/'.join(kinds)})"
    return names[rec["top_channel"]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", choices=("auto", "host", "qemu"), default="auto")
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"))
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.monotonic()

    train, stream, names = example_recordings()
    write_example_recordings(out)

    print(f"[1/6] profile from {len(train)} training recordings ({sum(map(len, train))} frames x {len(names)} "
          f"channels, window {WINDOW} = {WINDOW / SAMPLE_RATE_HZ:g} s, {RATE:g} false alarms/window)")
    with warnings.catch_warnings(record=True) as caught:  # shown as a note line, like `tinydrift build` does
        warnings.simplefilter("always", tinydrift.CalibrationWarning)
        profile = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=RATE, channel_names=names)
    for w in caught:
        print(f"      note: {w.message}")
    profile.save(out / "ref.tdp")
    print(f"      {out / 'ref.tdp'}: id {profile.profile_id:#010x}, {len(profile.to_bytes())} bytes")

    board = pick_board(args.board)
    print(f"[2/6] starting the {board} board" + (" (QEMU Cortex-M4, mps2-an386)" if board == "qemu" else ""))
    with Simulator(board, state_dir=out / f"{board}-state") as sim, \
            TelemetryStore(out / "telemetry.db") as store, tinydrift.Device(sim.url, timeout=2.0) as dev:
        device_name = f"demo-{board}"
        info = dev.info()
        store.add_device(device_name, board=info.board_name, board_id=info.board_id, firmware=info.firmware)
        print(f"      {sim.url}: {info.board_name}, firmware {info.firmware}, boot {info.boot_id:#010x}")

        print("[3/6] uploading the profile")
        dev.upload_profile(profile)
        store.add_profile(profile, channel_names=names)
        info = dev.info()
        assert info.profile_id == profile.profile_id
        print(f"      active profile {info.profile_id:#010x} in slot {info.active_slot}")

        print(f"[4/6] replaying {len(stream)} frames ({len(stream) / SAMPLE_RATE_HZ:.0f} s of data) with drift: "
              f"{GAIN_CHANNEL} x{GAIN:g} from {GAIN_FROM / SAMPLE_RATE_HZ:.0f} s, "
              f"{STUCK_CHANNEL} stuck from {STUCK_FROM / SAMPLE_RATE_HZ:.0f} s")
        t_replay = time.monotonic()
        records = dev.inject(stream, on_record=lambda rec: store.insert_record(device_name, rec))
        took = time.monotonic() - t_replay
        info = dev.info()
        for lo, hi in store.missing_ranges(device_name, info.boot_id, info.next_seq, start=records[0].seq):
            store.insert_records(device_name, dev.fetch(lo, max_records=hi - lo + 1))
        print(f"      {len(records)} telemetry records in {took:.1f} s ({len(stream) / took:.0f} frames/s), "
              f"link errors {info.link_errors}")

    print("[5/6] checking device telemetry against tinydrift.score on the host")
    rows = tinydrift.score(profile, stream)
    db = TelemetryStore(out / "telemetry.db", readonly=True)
    stored = [r for r in db.telemetry_records(device_name) if r.profile_id == profile.profile_id]
    fields = ("score", "dist", "recon", "cusum", "trigger", "alarm", "nearest", "top_channel", "stuck_mask",
              "saturated_mask", "missing_mask")
    per_channel = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")
    equal = len(stored) == len(rows) and all(
        all(getattr(rec, f) == row[f] for f in fields) and
        all(np.array_equal(np.asarray(getattr(rec, f)), row[f]) for f in per_channel)
        for rec, row in zip(stored, rows))
    print(f"      {len(stored)} windows stored, {len(rows)} computed on the host: "
          f"{'identical, field for field' if equal else 'MISMATCH'}")

    report = build_report(out / "telemetry.db", out / "report.html")
    print(f"[6/6] report: {report.html if hasattr(report, 'html') else out / 'report.html'}")
    ok = equal
    for begin_frame, end_frame, what, channel in (
            (GAIN_FROM, STUCK_FROM, f"{GAIN_CHANNEL} gain x{GAIN:g}", GAIN_CHANNEL),
            (STUCK_FROM, len(stream), f"{STUCK_CHANNEL} stuck", STUCK_CHANNEL)):
        begin, end = begin_frame // WINDOW, end_frame // WINDOW
        hit = next((r for r in stored if begin <= r.window < end and r.trigger), None)
        line = f"      {what}: began at window {begin} (t={begin_frame / SAMPLE_RATE_HZ:.0f} s), "
        if hit is None:
            print(line + "NOT detected")
            ok = False
            continue
        rec = {f: getattr(hit, f) for f in ("trigger", "top_channel", "stuck_mask", "saturated_mask", "missing_mask")}
        who = blamed(rec, names)
        print(line + f"detected at window {hit.window} ({(hit.window - begin) * WINDOW / SAMPLE_RATE_HZ:.0f} s later) "
              f"by {'+'.join(trigger_kinds(hit.trigger))}, channel {who}")
        ok = ok and who.startswith(channel)
    quiet = sum(1 for r in stored if r.window < GAIN_FROM // WINDOW and r.trigger)
    print(f"      windows with a trigger before any drift: {quiet}")
    print(f"done in {time.monotonic() - t0:.0f} s; database {out / 'telemetry.db'}, report {out / 'report.html'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
