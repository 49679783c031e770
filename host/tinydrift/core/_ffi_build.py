"""cffi out-of-line API-mode build of the C core into ``tinydrift._native``.

Run from the project root (setuptools does this through ``cffi_modules``); it
never imports tinydrift, so it works before the package is built.
"""

from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[3]
CSRC = ROOT / "csrc"
HERE = Path(__file__).resolve().parent


def _cdef_text(path: Path) -> str:
    # cffi's parser rejects C comments only inside #define lines; drop comments wholesale.
    text = path.read_text()
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def make_builder(module: str = "tinydrift._native", optimize_speed: bool = True, absolute: bool = False,
                 macros: dict[str, str] | None = None) -> FFI:
    """An FFI builder of the core as ``module``; absolute paths let it compile outside the project root; ``macros``
    more -D definitions (tests: TD_BLOCK_AVX2=0 builds the x86-64 block step in SSE2 alone)."""
    builder = FFI()
    for cdef_file in sorted(HERE.glob("_cdef_*.h")):
        builder.cdef(_cdef_text(cdef_file))
    headers = sorted((CSRC / "include" / "tinydrift").glob("td_*.h"))
    path = (lambda p: str(p)) if absolute else (lambda p: str(p.relative_to(ROOT)))
    builder.set_source(
        module,
        "\n".join([f'#include "tinydrift/{h.name}"' for h in headers]
                  + [f'#include "{h.name}"' for h in sorted(HERE.glob("_host_*.h"))]),
        # the core's sources, and the host-only helpers next to this script (never built for a device)
        sources=[path(p) for p in sorted((CSRC / "src").glob("*.c"))] + [path(p) for p in sorted(HERE.glob("_host_*.c"))],
        include_dirs=[path(CSRC / "include"), path(CSRC / "src"), path(HERE)],
        # TD_OPTIMIZE_SPEED=1 is the firmware's speed option (firmware/firmware.mk FW_CORE_DEFS); same results.
        define_macros=[("TD_OPTIMIZE_SPEED", "1" if optimize_speed else "0"), *(macros or {}).items()],
        # -O3: GCC vectorises more of the close; -fno-semantic-interposition: calls between the core's own functions
        # go direct, not through the PLT (nothing interposes on them). Same results; the wheel targets any x86-64.
        extra_compile_args=["-std=c99", "-O3", "-fno-semantic-interposition", "-Wall", "-Wextra", "-Werror"],
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
