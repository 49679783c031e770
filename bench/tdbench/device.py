"""Device figures: QEMU instruction counts (bench/m4/bench_device.py or its committed page) and firmware sizes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import ROOT


def sh(cmd: list[str], timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=timeout)


def device_section(say: Callable[[str], None]) -> tuple[str, dict[str, float]]:
    """docs-ready device benchmark markdown (live from bench/m4/bench_device.py when QEMU is there, else the
    committed docs/benchmarks-device.md) and the per-channel-sample numbers."""
    md_path = Path("/tmp") / f"tinydrift-bench-device-{os.getpid()}.md"
    text = None
    source = ""
    if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"):
        proc = sh([sys.executable, "bench/m4/bench_device.py", "--runs", "1", "--markdown", str(md_path)], 900)
        if proc.returncode == 0 and md_path.exists():
            text = md_path.read_text()
            source = "measured now: `bench/m4/bench_device.py --runs 1` (builds bench.elf from this checkout)"
        else:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            say(f"  device bench failed ({tail[0]}); using docs/benchmarks-device.md")
        md_path.unlink(missing_ok=True)
    if text is None:
        committed = ROOT / "docs" / "benchmarks-device.md"
        if not committed.exists():
            return "Device benchmark not available (no QEMU and no docs/benchmarks-device.md).\n", {}
        text = committed.read_text()
        source = "copied from the committed docs/benchmarks-device.md (`make bench-device`); not re-measured"
    nums: dict[str, float] = {}
    for key, pattern in (("block", r"\| channel-sample, pushed in blocks \| ([\d,.]+)"),
                         ("fast", r"\| channel-sample, fast path only \| ([\d,.]+)"),
                         ("single", r"\| channel-sample, pushed one frame at a time \| ([\d,.]+)"),
                         ("close", r"\| window close[^|]*\| ([\d,.]+)"),
                         ("telemetry", r"\| window \+ telemetry[^|]*\| ([\d,.]+)"),
                         ("close_run", r"\| window close, window in a CUSUM run \| ([\d,.]+)"),
                         ("close_out", r"\| window close, window outside a CUSUM run \| ([\d,.]+)")):
        m = re.search(pattern, text)
        if m:
            nums[key] = float(m.group(1).replace(",", ""))
    body = re.sub(r"^## .*\n", "", text, count=1).strip()
    body = body.replace("\n| quantity |", "\n| quantity |")
    return f"Source: {source}.\n\n{body}\n", nums


@dataclass
class Footprint:
    rows: list[tuple[str, str, str, str]]      # (what, flash, RAM, how)
    raw: list[str]


def footprint(say: Callable[[str], None]) -> Footprint:
    rows: list[tuple[str, str, str, str]] = []
    raw: list[str] = []
    if not shutil.which("arm-none-eabi-gcc"):
        return Footprint([("(arm-none-eabi-gcc not installed)", "-", "-", "")], raw)
    proc = sh([sys.executable, "tools/size_report.py", "--channels", "6"])
    if proc.returncode == 0:
        out = proc.stdout
        raw += ["$ python3 tools/size_report.py --channels 6", *out.strip().splitlines()]
        flash = re.search(r"core flash \(objects \+ helpers\): (\d+) bytes", out)
        mon = re.search(r"sizeof\(td_monitor_t\) = (\d+) bytes", out)
        res = re.search(r"sizeof\(td_window_result_t\) = (\d+) bytes", out)
        rows.append(("core, Cortex-M4 -Os, 6 channels (`tools/size_report.py`)",
                     f"{int(flash.group(1)):,} B" if flash else "?",
                     (f"{int(mon.group(1)):,} B td_monitor_t" if mon else "?") +
                     (f" (+ {int(res.group(1)):,} B per td_window_result_t)" if res else ""),
                     "core objects + libgcc helpers (target <= 8 KB flash, <= 1 KB state)"))
        mflash = re.search(r"minimal core flash \(objects \+ helpers\): (\d+) bytes", out)
        mmon = re.search(r"minimal sizeof\(td_monitor_t\) = (\d+) bytes", out)
        if mflash and mmon:
            rows.append(("minimal core (-DTD_MINIMAL=1: statistics, health, score, CUSUM), same options",
                         f"{int(mflash.group(1)):,} B", f"{int(mmon.group(1)):,} B td_monitor_t",
                         "target <= 4 KB flash, <= 512 B state"))
    else:
        say(f"  size_report failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    proc = sh(["make", "-s", "--no-print-directory", "fw-qemu"])
    elf = ROOT / "build" / "fw" / "mps2-an386" / "tinydrift.elf"
    if proc.returncode == 0 and elf.exists():
        out = sh(["arm-none-eabi-size", str(elf)]).stdout
        raw += ["", "$ arm-none-eabi-size build/fw/mps2-an386/tinydrift.elf", *out.strip().splitlines()]
        text_b, data_b, bss_b = (int(x) for x in out.splitlines()[1].split()[:3])
        rows.append(("whole firmware, mps2-an386 (`make fw-qemu`)", f"{text_b + data_b:,} B",
                     f"{data_b + bss_b:,} B + stack", "text + data / data + bss; RAM includes the board's 12 KB "
                     "storage mirror and 4 KB receive ring and the 128-record telemetry ring"))
    else:
        say("  make fw-qemu failed; firmware size omitted")
    proc = sh(["make", "-s", "--no-print-directory", "fw-nano33ble-check"])
    if proc.returncode == 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("fw-nano33ble-check:")]
        raw += ["", "$ make fw-nano33ble-check", *lines]
        core_names = sorted(p.stem for p in (ROOT / "csrc" / "src").glob("*.c"))
        objs = [ROOT / "build" / "fw" / "nano33ble" / "check" / "core" / f"{n}.o" for n in core_names]
        objs = [o for o in objs if o.exists()]
        if objs:
            out = sh(["arm-none-eabi-size", "-t", *map(str, objs)]).stdout.strip().splitlines()[-1]
            text_b, data_b, bss_b = (int(x) for x in out.split()[:3])
            rows.append((f"core, Nano 33 BLE flags (Mbed core's softfp C flags), {len(objs)} objects",
                         f"{text_b + data_b:,} B", f"{data_b + bss_b:,} B static",
                         "csrc/src objects from `make fw-nano33ble-check`, before --gc-sections"))
        app = next((ln for ln in lines if "core + app objects" in ln), None)
        probe = next((ln for ln in lines if "static td_app_t" in ln), None)
        if app:
            m = re.search(r"text (\d+), data (\d+), bss (\d+)", app)
            ram = re.search(r"td_app_t: (\d+) bytes", probe or "")
            if m:
                rows.append(("core + firmware app, Nano 33 BLE flags", f"{int(m.group(1)) + int(m.group(2)):,} B",
                             f"{int(ram.group(1)):,} B td_app_t" if ram else "?",
                             "before --gc-sections; the Arduino/Mbed runtime comes on top"))
    else:
        say("  make fw-nano33ble-check failed; Nano 33 BLE size omitted")
    return Footprint(rows, raw)

