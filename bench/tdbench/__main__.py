"""The command line: python -m tdbench [options] (make bench runs it with PYTHONPATH=bench)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tinydrift

from . import __doc__ as DESCRIPTION
from .config import IMG_LIMIT, RATE, ROOT, WINDOW
from .data import load_dataset
from .device import device_section, footprint
from .link import LinkResult, run_link, wire_sizes
from .plots import plot_delays, plot_timeline
from .reading import reading, targets_table
from .report import build_context, machine, write_doc
from .runs import DETECTORS, run_quality
from .scenarios import SCENARIOS
from .build_speed import BUILD_SIZES, run_build_speed
from .speed import TARGET_STREAM_US, run_speed
from .stream_rows import run_rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the report; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m tdbench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40, help="streams per scenario (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="4 streams per scenario, small speed runs, no link/device")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-link", action="store_true", help="skip the simulated boards")
    ap.add_argument("--no-device", action="store_true", help="skip QEMU instruction counts and firmware sizes")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--img", default=None,
                    help="folder for the plots (default: img/ next to --out, so a scratch --out leaves docs/img alone)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 4)
        args.no_link = args.no_device = True
    if args.repeats < 1:
        print("bench: --repeats must be at least 1", file=sys.stderr)
        return 2
    try:
        import river  # noqa: F401
    except ImportError:
        print("bench: the peer detectors need river: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    out = Path(args.out)
    img = Path(args.img) if args.img is not None else out.parent / "img"
    try:  # before the run: a report that cannot be written would lose every figure measured
        for folder in (out.parent, img):
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"{folder} is not writable")
    except OSError as exc:
        print(f"bench: cannot write the report: {exc}", file=sys.stderr)
        return 2
    command = "make bench" if not argv and len(sys.argv) == 1 else \
        "PYTHONPATH=bench python -m tdbench " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine()
    ds = load_dataset()
    say = print

    say(f"[1/5] detection quality: {len(SCENARIOS)} scenarios x {args.repeats} streams, {len(DETECTORS)} detectors")
    q = run_quality(ds, args.repeats, args.seed, say)
    imgs: dict[str, str] = {}
    rel = os.path.relpath(img, out.parent)
    for name, fn in (("timeline", plot_timeline), ("delays", plot_delays)):
        p = img / f"bench-{name}.png"
        fn(q, p)
        size = p.stat().st_size
        if size > IMG_LIMIT:
            say(f"  warning: {p} is {size // 1024} KB (limit {IMG_LIMIT // 1024} KB)")
        imgs[name] = f"{rel}/{p.name}"
    say(f"  done in {q.seconds:.0f} s")

    speed = rows_speed = build_speed = None
    if not args.no_speed:
        say("[2/5] host speed")
        n_win = 1024 if args.quick else 8192
        speed, speed_profile = run_speed(ds, 3 if args.quick else 5, n_win, 2000 if args.quick else 20000)
        for what, t, _ in speed.rows:
            say(f"  {speed.frames / t:>14,.0f} frames/s  {what}")
        for w, td, raw, cl, npy in speed.blocks:
            say(f"  window {w}: {td:,.0f} channel-samples/s tinydrift push, {raw:,.0f} push_raw(out=), {cl:,.0f} C loop, "
                f"{npy:,.0f} numpy (push {td / cl:.3g} of the C loop, {td / npy:.3g}x numpy; push_raw "
                f"{raw / cl:.3g}, {raw / npy:.3g}x)")
        for what, us in speed.stream:
            say(f"  {us:>8.2f} us per one-window call  {what}  (target <= {TARGET_STREAM_US:g} us)")
        rows_speed = run_rows(speed_profile, np.ascontiguousarray(ds.frames), speed.repeats, 2000)
        say(f"  {rows_speed.floor_us:>8.2f} us per one-window call  td_monitor_push through CFFI, arguments made "
            "beforehand (the floor)")
        for what, block, single in rows_speed.conversion:
            say(f"  {block:>8.3f} us per row over {rows_speed.block_rows:,} rows, {single:.2f} us for one row  {what}")
        build_speed = run_build_speed(BUILD_SIZES[:1] if args.quick else BUILD_SIZES, 3 if args.quick else 5, say)

    dev_md, dev, foot = None, {}, None
    if not args.no_device:
        say("[3/5] device: QEMU instruction counts, footprint")
        dev_md, dev = device_section(say)
        foot = footprint(say)
        for row in foot.rows:
            say(f"  {row[0]}: flash {row[1]}, RAM {row[2]}")

    links: list[LinkResult] = []
    train = [c[0] for c in ds.cases(0)]
    profile10 = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=RATE, channel_names=ds.names)
    test = np.ascontiguousarray(ds.frames[ds.split == 1])
    wire = wire_sizes(profile10, test)
    if not args.no_link:
        say("[4/5] telemetry link on the simulated boards")
        boards = ["host"] + (["qemu"] if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
                             else [])
        for board in boards:
            r = run_link(board, profile10, test, uploads=5)
            links.append(r)
            if r.error:
                say(f"  {board}: FAILED: {r.error}")
            else:
                say(f"  {board}: {r.records / r.seconds:,.0f} records/s, profile upload "
                    f"{statistics.median(r.uploads) * 1000:.1f} ms, records equal tinydrift.score")

    say(f"[5/5] writing {out}")
    context = build_context(info, command, q, speed, dev_md, dev, foot, links, wire, imgs, ds.classes, ds.names,
                            args.repeats, rows_speed=rows_speed, build_speed=build_speed)
    headline = write_doc(out, context)
    print()
    print("Headline (peers tuned to tinydrift's false-alarm count; detected/runs, median delay in windows):")
    for line in headline:
        if not line.startswith("|---"):
            print("  " + line)
    print()
    for line in targets_table(q):
        if not line.startswith("|---"):
            print("  " + line)
    read, _ = reading(q, dev, speed)
    print()
    for line in read:
        print("  " + line)
    print(f"\nbench: {time.perf_counter() - t0:.0f} s; wrote {out} and {len(imgs)} plots in {img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
