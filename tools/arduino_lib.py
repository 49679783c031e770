#!/usr/bin/env python3
"""Generate the tinydrift Arduino library (1.5 format) from this checkout: `make arduino-lib`.

    python3 tools/arduino_lib.py [--out-dir build/arduino] [--dist dist]

writes build/arduino/tinydrift/ (the library folder) and dist/tinydrift-arduino-<version>.zip
(the same folder, zipped: "Add .ZIP Library" in the IDE, `arduino-cli lib install --zip-path`).
The version is pyproject.toml's [project] version, the project's one version. Layout:

    tinydrift/library.properties           arduino/library.properties.in, @VERSION@ filled in, # lines dropped
    tinydrift/README.md                    arduino/README.md
    tinydrift/examples/<Name>/<Name>.ino   arduino/examples/ (DriftMonitor, ImuClassifier)
    tinydrift/src/tinydrift.h              arduino/src/tinydrift.h (umbrella header, C linkage)
    tinydrift/src/tinydrift/*.h            csrc/include/tinydrift/*.h (public core headers)
    tinydrift/src/tinydrift/core/          csrc/src/*.c, *.h (core sources and private headers)
    tinydrift/src/tinydrift/firmware/      firmware/*.c, *.h (device application)
    tinydrift/src/tinydrift/boards/nano33ble/hal_nano33ble.cpp   boards/nano33ble/ (board layer)

The Arduino builder compiles src/ recursively with only src/ on the include path: the sources'
`#include "tinydrift/x.h"` resolve through src/, and their private headers ("td_fixed.h",
"td_app_config.h") sit next to them, so no include is rewritten. The builder passes no -D, so
two defaults are set in the copies as every other firmware build sets them with -D:
TD_CRC32_TABLE_BYTES 1024 (td_crc32.h) and TD_OPTIMIZE_SPEED 1 (td_config.h); both give the
same results as the defaults (make test checks both builds). The zip is deterministic (sorted
entries, fixed timestamps). Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import shutil
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB_NAME = "tinydrift"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
# (file relative to ROOT, exact line, replacement): firmware build options the builder cannot pass.
DEFAULTS = [
    ("csrc/include/tinydrift/td_crc32.h", "#define TD_CRC32_TABLE_BYTES 64", "#define TD_CRC32_TABLE_BYTES 1024"),
    ("csrc/include/tinydrift/td_config.h", "#define TD_OPTIMIZE_SPEED 0", "#define TD_OPTIMIZE_SPEED 1"),
]


class LibError(Exception):
    """A one-line reason the library cannot be generated."""


def project_version(root: Path = ROOT) -> str:
    """pyproject.toml's [project] version (tomllib on Python 3.11+, else the [project] table's version line)."""
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError as exc:
        raise LibError(f"cannot read pyproject.toml: {exc.strerror}") from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
        match = re.search(r'^version\s*=\s*"([^"]+)"\s*$', section.group(1) if section else "", re.MULTILINE)
        version = match.group(1) if match else None
    else:
        try:
            version = tomllib.loads(text).get("project", {}).get("version")
        except tomllib.TOMLDecodeError as exc:
            raise LibError(f"pyproject.toml: {exc}") from None
    if not isinstance(version, str) or not version:
        raise LibError("pyproject.toml has no [project] version")
    return version


def _sources(root: Path) -> list[tuple[Path, str]]:
    """(source file, path inside the library folder) for every file of the library."""
    files: list[tuple[Path, str]] = []

    def add(pattern_dir: str, patterns: tuple[str, ...], dest: str) -> None:
        found = sorted({p for pat in patterns for p in (root / pattern_dir).glob(pat) if p.is_file()})
        if not found:
            raise LibError(f"no {' or '.join(patterns)} files in {pattern_dir}/")
        files.extend((p, f"{dest}/{p.relative_to(root / pattern_dir).as_posix()}") for p in found)

    add("arduino", ("README.md",), ".")
    add("arduino/src", ("*.h",), "src")
    add("arduino/examples", ("*/*",), "examples")
    add("csrc/include/tinydrift", ("*.h",), "src/tinydrift")
    add("csrc/src", ("*.c", "*.h"), "src/tinydrift/core")
    add("firmware", ("*.c", "*.h"), "src/tinydrift/firmware")
    add("boards/nano33ble", ("*.cpp",), "src/tinydrift/boards/nano33ble")
    return [(src, dest[2:] if dest.startswith("./") else dest) for src, dest in files]


def library_files(root: Path = ROOT) -> dict[str, bytes]:
    """Every file of the library folder (path inside it -> contents), library.properties included."""
    version = project_version(root)
    out: dict[str, bytes] = {}
    try:
        props = (root / "arduino" / "library.properties.in").read_text(encoding="utf-8")
    except OSError as exc:
        raise LibError(f"cannot read arduino/library.properties.in: {exc.strerror}") from None
    if "@VERSION@" not in props:
        raise LibError("arduino/library.properties.in has no @VERSION@")
    props = "".join(ln for ln in props.splitlines(keepends=True) if not ln.startswith("#"))
    out["library.properties"] = props.replace("@VERSION@", version).encode()
    defaults = {rel: (line, new) for rel, line, new in DEFAULTS}
    for src, dest in _sources(root):
        data = src.read_bytes()
        rel = src.relative_to(root).as_posix()
        if rel in defaults:
            line, new = defaults.pop(rel)
            text = data.decode()
            if text.splitlines().count(line) != 1:
                raise LibError(f"{rel}: expected the line {line!r} exactly once (the library sets it to {new!r})")
            data = "\n".join(new if ln == line else ln for ln in text.split("\n")).encode()
        if dest in out:
            raise LibError(f"two files map to {dest}")
        out[dest] = data
    if defaults:
        raise LibError(f"not found: {', '.join(defaults)}")
    return out


def write_library(out_dir: Path, dist: Path, root: Path = ROOT) -> tuple[Path, Path, int]:
    """Write OUT_DIR/tinydrift/ and DIST/tinydrift-arduino-<version>.zip; return (folder, zip, files)."""
    files = library_files(root)
    folder = out_dir / LIB_NAME
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    dist.mkdir(parents=True, exist_ok=True)
    archive = dist / f"{LIB_NAME}-arduino-{project_version(root)}.zip"
    tmp = archive.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{LIB_NAME}/{rel}", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[rel])
    tmp.replace(archive)
    return folder, archive, len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arduino_lib.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "build" / "arduino",
                        help="where the library folder goes (default: build/arduino)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the zip goes (default: dist)")
    args = parser.parse_args(argv)
    try:
        folder, archive, n = write_library(args.out_dir, args.dist)
    except (LibError, OSError) as exc:
        print(f"arduino_lib.py: {exc}", file=sys.stderr)
        return 1
    print(f"arduino-lib: {archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive} "
          f"({n} files, {archive.stat().st_size:,} bytes); unpacked in "
          f"{folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
