"""The C core compiled again as a separate CFFI module with other options, for tests that compare builds."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def compile_native(tmp: Path, name: str, *, optimize_speed: bool = True,
                   macros: dict[str, str] | None = None) -> ModuleType:
    """Build and import module ``name`` in ``tmp`` by _ffi_build.make_builder (its lib and ffi as the installed)."""
    spec = importlib.util.spec_from_file_location("_td_ffi_build", ROOT / "host" / "tinydrift" / "core" / "_ffi_build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)  # type: ignore[union-attr]
    so = build.make_builder(name, optimize_speed=optimize_speed, absolute=True, macros=macros).compile(tmpdir=str(tmp))
    mspec = importlib.util.spec_from_file_location(name, so)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
