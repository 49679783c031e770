"""The Arduino library `make arduino-lib` writes (tools/arduino_lib.py): metadata, layout, includes, sources.

library.properties is checked against the Arduino library specification, 1.5 library format
(rev. 2.2), https://arduino.github.io/arduino-cli/latest/library-specification/ ("Library
metadata" and "Layout of folders and files"), with the name rule of arduino-lint's schema
(etc/schemas/arduino-library-properties-definitions-schema.json):
  * required fields: name, version, author, maintainer, sentence, paragraph, category, url,
    architectures (the spec lists email as deprecated, maintainer replaces it);
  * name: starts with a letter or number, then letters, numbers, spaces, underscores, dots and
    dashes; at most 63 characters; "Arduino" as a prefix is reserved for official libraries;
  * version: semver ("1.2.0"; "r5", "003", "1.1c" are the spec's invalid examples);
  * category: one of Display, Communication, Signal Input/Output, Sensors, Device Control,
    Timing, Data Storage, Data Processing, Other;
  * architectures: a comma-separated list of architectures (or *);
  * includes (optional): comma-separated header files of src/; depends (optional): library names;
  * examples/: one folder per example holding a sketch of the same name (<Name>/<Name>.ino);
  * src/ is compiled recursively, with only src/ added to the include path.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url", "architectures")
CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
              "Data Storage", "Data Processing", "Other"}
NAME = re.compile(r"^(([a-zA-Z][a-zA-Z0-9 _.\-]*)|([0-9][a-zA-Z0-9 _.\-]*[a-zA-Z][a-zA-Z0-9 _.\-]*))*$")
# semver.org's regular expression
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
                    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
ARCH = re.compile(r"^(\*|[A-Za-z0-9_]+)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)


def _tool():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("arduino_lib", ROOT / "tools" / "arduino_lib.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["arduino_lib"] = mod
    spec.loader.exec_module(mod)
    return mod


def parse_properties(text: str) -> dict[str, str]:
    """key=value lines (UTF-8; # comments and blank lines ignored), as the IDE reads library.properties."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"line {n}: not key=value: {line!r}")
        key, value = line.split("=", 1)
        if key.strip() in out:
            raise ValueError(f"line {n}: {key.strip()} given twice")
        out[key.strip()] = value.strip()
    return out


def spec_problems(props: dict[str, str], files: set[str]) -> list[str]:
    """What in library.properties (and the folder's files, paths relative to the library root) breaks the spec."""
    bad = [f"missing required field {k}" for k in REQUIRED if not props.get(k)]
    name = props.get("name", "")
    if name and (not NAME.match(name) or len(name) > 63):
        bad.append(f"name {name!r}: characters or length not allowed")
    if name.lower().startswith("arduino"):
        bad.append(f"name {name!r}: the Arduino prefix is reserved")
    if props.get("version") and not SEMVER.match(props["version"]):
        bad.append(f"version {props['version']!r} is not semver")
    if props.get("category") and props["category"] not in CATEGORIES:
        bad.append(f"category {props['category']!r} is not one of the spec's")
    if props.get("url") and not re.match(r"^https?://\S+$", props["url"]):
        bad.append(f"url {props['url']!r} is not a web address")
    archs = [a.strip() for a in props.get("architectures", "").split(",")]
    if props.get("architectures") and not all(ARCH.match(a) for a in archs):
        bad.append(f"architectures {props['architectures']!r} is not a comma-separated list")
    for header in filter(None, (h.strip() for h in props.get("includes", "").split(","))):
        if f"src/{header}" not in files:
            bad.append(f"includes names {header}, which is not in src/")
    for dep in filter(None, (d.strip() for d in props.get("depends", "").split(","))):
        if not NAME.match(re.sub(r"\s*\(.*\)$", "", dep)):
            bad.append(f"depends: {dep!r} is not a library name")
    examples = {PurePosixPath(f).parts[1:] for f in files if f.startswith("examples/")}
    for parts in examples:
        if len(parts) < 2:
            bad.append(f"examples/{parts[0]}: a file directly in examples/ (each example needs its own folder)")
    for folder in {parts[0] for parts in examples if len(parts) >= 2}:
        if f"examples/{folder}/{folder}.ino" not in files:
            bad.append(f"examples/{folder} has no {folder}.ino")
    if not any(f.startswith("src/") for f in files):
        bad.append("no src/ folder")
    return bad


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tool = _tool()
    tmp = tmp_path_factory.mktemp("arduino")
    folder, archive, n = tool.write_library(tmp / "out", tmp / "dist")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        contents = {name: zf.read(name) for name in names}
    return {"tool": tool, "folder": folder, "zip": archive, "n": n, "names": names, "contents": contents, "tmp": tmp}


def _lib_files(built: dict) -> dict[str, bytes]:
    return {n.split("/", 1)[1]: data for n, data in built["contents"].items()}


def test_zip_name_and_version_from_pyproject(built: dict) -> None:
    version = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert built["zip"].name == f"tinydrift-arduino-{version}.zip"
    props = parse_properties(_lib_files(built)["library.properties"].decode())
    assert props["version"] == version


def test_library_properties_follow_the_spec(built: dict) -> None:
    files = _lib_files(built)
    props = parse_properties(files["library.properties"].decode("utf-8"))
    assert spec_problems(props, set(files)) == []
    # what the issue asks for on top of the spec
    assert [a.strip() for a in props["architectures"].split(",")] == ["mbed_nano", "mbed"]
    assert props["includes"] == "tinydrift.h" and "Arduino_LSM9DS1" in props["depends"]
    # one folder at the top of the zip, named as the library (the IDE installs it under that name)
    assert {n.split("/", 1)[0] for n in built["names"]} == {props["name"].replace(" ", "_")}


@pytest.mark.parametrize("change, problem", [
    ({"category": "Machine Learning"}, "category"),
    ({"version": "1.1c"}, "not semver"),
    ({"version": "003"}, "not semver"),
    ({"name": "-tinydrift"}, "characters"),
    ({"name": "Arduino_tinydrift"}, "reserved"),
    ({"maintainer": ""}, "missing required field maintainer"),
    ({"includes": "nothere.h"}, "not in src/"),
    ({"architectures": "mbed nano"}, "comma-separated"),
])
def test_spec_check_rejects_bad_metadata(built: dict, change: dict, problem: str) -> None:
    """The checker above is not vacuous: each rule fails on a value the spec forbids."""
    files = _lib_files(built)
    props = parse_properties(files["library.properties"].decode()) | change
    problems = spec_problems(props, set(files))
    assert any(problem in p for p in problems), problems


def test_spec_check_rejects_bad_example_layout(built: dict) -> None:
    files = set(_lib_files(built))
    props = parse_properties(_lib_files(built)["library.properties"].decode())
    assert any("has no Loose.ino" in p for p in spec_problems(props, files | {"examples/Loose/main.ino"}))
    assert any("own folder" in p for p in spec_problems(props, files | {"examples/stray.ino"}))


def test_examples(built: dict) -> None:
    files = _lib_files(built)
    assert {"examples/DriftMonitor/DriftMonitor.ino", "examples/ImuClassifier/ImuClassifier.ino"} <= set(files)
    drift = files["examples/DriftMonitor/DriftMonitor.ino"].decode()
    assert "#include <tinydrift.h>" in drift and "td_app_poll" in drift
    hal = files["src/tinydrift/boards/nano33ble/hal_nano33ble.cpp"].decode()
    assert "#include <Arduino_LSM9DS1.h>" in hal and "IMU.readAcceleration" in hal


def _resolve(src_files: set[str], including: str, header: str, quoted: bool) -> bool:
    """As GCC resolves it with only src/ on the include path: "x" next to the including file first, then src/."""
    here = PurePosixPath(including).parent
    candidates = ([str(here / header)] if quoted else []) + [f"src/{header}"]
    return any(c in src_files for c in candidates)


def test_every_include_resolves_with_only_src_on_the_path(built: dict) -> None:
    files = _lib_files(built)
    src = {f for f in files if f.startswith("src/")}
    # compiler headers (arm_acle.h: the Cortex-M4's DSP paths; emmintrin.h, immintrin.h: the x86-64 host's SSE2 and
    # AVX2 block step)
    system = {"stdint.h", "stddef.h", "string.h", "math.h", "arm_acle.h", "emmintrin.h", "immintrin.h", "Arduino.h",
              "Arduino_LSM9DS1.h", "Arduino_BMI270_BMM150.h"}
    unresolved = []
    for f in sorted(src):
        for kind, header in INCLUDE.findall(files[f].decode()):
            if header in system:
                continue
            if not _resolve(src, f, header, kind == '"'):
                unresolved.append(f"{f}: {header}")
    assert unresolved == []
    # the umbrella header and the library's own headers cover the sketch's needs
    assert "src/tinydrift.h" in src and "src/tinydrift/tinydrift.h" in src


def test_sources_are_the_repository_files(built: dict) -> None:
    """One source of truth: src/ holds csrc/ and firmware/ byte for byte, except the two firmware defaults."""
    files = _lib_files(built)
    mapping = {**{f"src/tinydrift/{p.name}": p for p in (ROOT / "csrc/include/tinydrift").glob("*.h")},
               **{f"src/tinydrift/core/{p.name}": p for p in (ROOT / "csrc/src").iterdir() if p.suffix in (".c", ".h")},
               **{f"src/tinydrift/firmware/{p.name}": p for p in (ROOT / "firmware").iterdir()
                  if p.suffix in (".c", ".h")},
               "src/tinydrift/boards/nano33ble/hal_nano33ble.cpp": ROOT / "boards/nano33ble/hal_nano33ble.cpp"}
    assert set(mapping) == {f for f in files if f.startswith("src/tinydrift/")}
    changed = {}
    for dest, path in mapping.items():
        if files[dest] != path.read_bytes():
            a, b = path.read_text().splitlines(), files[dest].decode().splitlines()
            assert len(a) == len(b)
            changed[dest] = [(x, y) for x, y in zip(a, b) if x != y]
    assert changed == {
        "src/tinydrift/td_crc32.h": [("#define TD_CRC32_TABLE_BYTES 64", "#define TD_CRC32_TABLE_BYTES 1024")],
        "src/tinydrift/td_config.h": [("#define TD_OPTIMIZE_SPEED 0", "#define TD_OPTIMIZE_SPEED 1")],
    }


def test_zip_is_reproducible(built: dict) -> None:
    tool = built["tool"]
    _, again, _ = tool.write_library(built["tmp"] / "out2", built["tmp"] / "dist2")
    assert again.read_bytes() == built["zip"].read_bytes()


def test_missing_default_line_is_an_error(tmp_path: Path, built: dict) -> None:
    """A renamed default must stop the generator, not silently ship the core's default."""
    tool = built["tool"]
    fake = tmp_path / "root"
    for rel in ("pyproject.toml", "arduino", "csrc", "firmware", "boards/nano33ble"):
        src = ROOT / rel
        dst = fake / rel
        if src.is_dir():
            import shutil

            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    cfg = fake / "csrc/include/tinydrift/td_config.h"
    cfg.write_text(cfg.read_text().replace("#define TD_OPTIMIZE_SPEED 0", "#define TD_OPTIMIZE_SPEED (0)"))
    with pytest.raises(tool.LibError, match="TD_OPTIMIZE_SPEED"):
        tool.library_files(fake)
