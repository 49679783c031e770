"""The per-user firmware cache under concurrent first use: processes that need the same firmware at once (pytest-xdist
workers, parallel CI jobs) wait for one build instead of racing it, and every one gets the finished file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WORKERS = 6

# A stand-in for firmware/firmware.mk: each build appends one line to a log outside the cache and takes long
# enough (0.5 s) that unsynchronised workers would all start their own build.
FAKE_MK = """\
out/board.elf:
\tmkdir -p out
\techo build >> {log}
\tsleep 0.5
\techo firmware > out/board.elf
"""

WORKER = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from tinydrift.device.firmware import build_in_cache
    out = build_in_cache(Path(sys.argv[1]), "out/board.elf", Path("out/board.elf"), "test firmware", "make")
    print(out.read_text().strip(), out)
""")


def _sources(tmp_path: Path, log: Path) -> Path:
    src = tmp_path / "src"
    (src / "firmware").mkdir(parents=True)
    (src / "firmware" / "firmware.mk").write_text(FAKE_MK.format(log=log))
    return src


def test_concurrent_first_use_builds_once(tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("the cache lock is POSIX flock")
    log = tmp_path / "builds.log"
    src = _sources(tmp_path, log)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(src)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(WORKERS)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    outputs = {out.split()[1] for out, _ in results}
    assert [out.split()[0] for out, _ in results] == ["firmware"] * WORKERS
    assert len(outputs) == 1  # one cache directory for all
    assert log.read_text().splitlines() == ["build"]  # built exactly once
    cache = tmp_path / "cache" / "tinydrift" / "fw"
    assert not [p for p in cache.iterdir() if ".tmp-" in p.name]  # no half-built copies left behind


def test_failed_build_leaves_no_cache_entry(tmp_path: Path) -> None:
    log = tmp_path / "builds.log"
    src = _sources(tmp_path, log)
    (src / "firmware" / "firmware.mk").write_text("out/board.elf:\n\t@echo 'error: no compiler'; exit 3\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", WORKER, str(src)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "error: no compiler" in proc.stderr
    cache = tmp_path / "cache" / "tinydrift" / "fw"
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []
