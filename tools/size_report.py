#!/usr/bin/env python3
"""Print the Cortex-M4 footprint of the tinydrift core: per-object .text/.data/.bss, the linked
total (with the libgcc helpers it pulls in) and sizeof the monitor state for a channel count.

Usage: tools/size_report.py [--channels 6] [--markdown]
Needs arm-none-eabi-gcc (Debian package gcc-arm-none-eabi, libnewlib-arm-none-eabi).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = ["td_frame"]
# Threshold calibration runs on the host only: a firmware link drops it.
HOST_ONLY = ["td_calibrate"]
# The core: every other source of csrc/src (the monitor's files, td_outputs for the outputs section, ...).
CORE = sorted(p.stem for p in (ROOT / "csrc" / "src").glob("*.c") if p.stem not in LINK + HOST_ONLY)
CFLAGS = ["-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard",
          "-ffunction-sections", "-fdata-sections", "-fno-common", "-Wall", "-Wextra", "-Werror"]
CORE_FLASH_TARGET = 8 * 1024
STATE_RAM_TARGET = 1024


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def section_sizes(obj: Path) -> tuple[int, int, int]:
    text, data, bss = run(["arm-none-eabi-size", str(obj)]).splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=6)
    args = ap.parse_args()
    defs = [f"-DTD_MAX_CHANNELS={args.channels}", f"-I{ROOT / 'csrc' / 'include'}"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows = []
        objs = []
        for name in CORE + [n for n in LINK + HOST_ONLY if (ROOT / "csrc" / "src" / f"{n}.c").exists()]:
            obj = tmp / f"{name}.o"
            run(["arm-none-eabi-gcc", *CFLAGS, *defs, "-c", str(ROOT / "csrc" / "src" / f"{name}.c"), "-o", str(obj)])
            rows.append((name, *section_sizes(obj)))
            if name in CORE:
                objs.append(obj)
        probe = tmp / "probe.elf"
        run(["arm-none-eabi-gcc", *CFLAGS, *defs, "--specs=nosys.specs", "-Wl,--gc-sections", "-nostartfiles",
             "-Wl,-e,main", str(ROOT / "tools" / "size_probe.c"), *map(str, objs), "-o", str(probe)])
        syms = {}
        for line in run(["arm-none-eabi-nm", "-S", "-C", str(probe)]).splitlines():
            parts = line.split()
            if len(parts) == 4:
                syms[parts[3]] = int(parts[1], 16)
        print(f"Cortex-M4 (-Os, {' '.join(CFLAGS[2:6])}), TD_MAX_CHANNELS={args.channels}")
        print(f"{'object':<14}{'.text':>8}{'.data':>8}{'.bss':>8}")
        for name, t, d, b in rows:
            print(f"{name:<14}{t:>8}{d:>8}{b:>8}")
        core_text = sum(t for name, t, _, _ in rows if name in CORE)
        linked = run(["arm-none-eabi-size", str(probe)]).splitlines()[1].split()
        helpers = {n: s for n, s in syms.items() if n.startswith("__")}
        helper_bytes = sum(helpers.values())
        print(f"core objects .text total: {core_text} bytes; libgcc helpers linked in: {helper_bytes} bytes "
              f"({', '.join(sorted(helpers)) or 'none'})")
        flash = core_text + helper_bytes
        print(f"core flash (objects + helpers): {flash} bytes (target <= {CORE_FLASH_TARGET}) "
              f"{'OK' if flash <= CORE_FLASH_TARGET else 'OVER'}")
        mon = syms.get("size_probe_monitor", -1)
        res = syms.get("size_probe_result", -1)
        print(f"sizeof(td_monitor_t) = {mon} bytes (target <= {STATE_RAM_TARGET}) "
              f"{'OK' if 0 < mon <= STATE_RAM_TARGET else 'OVER'}; sizeof(td_window_result_t) = {res} bytes")
        print(f"linked probe image: text={linked[0]} data={linked[1]} bss={linked[2]}")
        return 0 if flash <= CORE_FLASH_TARGET and 0 < mon <= STATE_RAM_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
