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


ffibuilder = FFI()
for cdef_file in sorted(HERE.glob("_cdef_*.h")):
    ffibuilder.cdef(_cdef_text(cdef_file))

_HEADERS = sorted((CSRC / "include" / "tinydrift").glob("td_*.h"))
ffibuilder.set_source(
    "tinydrift._native",
    "\n".join(f'#include "tinydrift/{h.name}"' for h in _HEADERS),
    sources=[str(p.relative_to(ROOT)) for p in sorted((CSRC / "src").glob("*.c"))],
    include_dirs=[str((CSRC / "include").relative_to(ROOT)), str((CSRC / "src").relative_to(ROOT))],
    extra_compile_args=["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
