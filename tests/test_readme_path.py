"""The README's command-line path, run as written: the block after ``<!-- readme-cli-path -->`` in README.md
is executed by bash in a temporary directory (with the demo's recordings where `make demo` writes them), so
README and behaviour cannot drift apart. Every window of the replayed recording must reach the store, equal
to ``tinydrift.score`` of the same recording with the same profile, and the report must name the trigger of
the first alarm."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.core.recording import read_recording
from tinydrift.core.triggers import trigger_names
from tinydrift.device.sim import free_port
from tinydrift.telemetry.store import TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-cli-path -->"
README_PORT = "5555"


def readme_block(text: str) -> str:
    """The fenced sh block right after the marker."""
    start = text.index(MARKER)
    m = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert m is not None and text[start:m.start()].strip() == MARKER, "the marker must precede a ```sh block"
    return m.group(1)


def runnable(block: str, port: int) -> str:
    """The block as a bash script: stop at the first failing command, wait for a background simulator to
    serve before the next line (a person waits for its URL), never leave it running, and use a free port
    instead of the README's fixed one (other test runs share this machine)."""
    lines = ["set -euo pipefail", "trap 'kill %1 2>/dev/null || true' EXIT"]
    for line in block.replace(README_PORT, str(port)).splitlines():
        lines.append(line)
        if re.search(r"&\s*(#.*)?$", line):
            lines.append(f"for i in $(seq 300); do tinydrift info --port socket://127.0.0.1:{port} >/dev/null 2>&1 "
                         "&& break; sleep 0.2; done")
    return "\n".join(lines) + "\n"


def load_demo():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("tinydrift_demo", ROOT / "tools" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_block_is_found_and_covers_the_path() -> None:
    block = readme_block((ROOT / "README.md").read_text())
    commands = [ln.split()[1] for ln in block.splitlines() if ln.startswith("tinydrift ")]
    for needed in ("profile", "sim", "info", "upload", "replay", "monitor", "report", "db"):
        assert needed in commands, (needed, block)


def test_readme_commands_store_every_window(tmp_path: Path) -> None:
    demo = tmp_path / "out" / "demo"
    demo.mkdir(parents=True)
    train_csv, field_csv = load_demo().write_example_recordings(demo)
    script = runnable(readme_block((ROOT / "README.md").read_text()), free_port())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    work = tmp_path / "out" / "cli"

    # The oracle: the same profile over the same recording on the host.
    profile = tinydrift.load_profile(work / "ref.tdp")
    field = read_recording(field_csv)
    rows = tinydrift.score(profile, field.frames)
    assert len(rows) == len(field.frames) // profile.window == 400

    with TelemetryStore(work / "telemetry.db", readonly=True) as store:
        records = store.telemetry_records()
        gaps = store.gaps()
    assert [r.window for r in records] == list(range(len(rows))) and gaps == []
    for field_name in ("score", "cusum", "trigger", "alarm", "top_channel"):
        assert [getattr(r, field_name) for r in records] == rows[field_name].tolist(), field_name
    # monitor found nothing missing and said what the database holds
    assert f"({len(rows)} records in all)" in proc.stderr and "0 records lost in 0 gaps" in proc.stderr

    # The export has one row per window, the report names the first alarm's trigger.
    with open(work / "records.csv", newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert [int(r["window"]) for r in exported] == list(range(len(rows)))
    first = int(np.argmax(rows["alarm"]))
    assert rows["alarm"][first], "the field recording's drift must raise an alarm"
    text = " ".join(re.sub(r"<[^>]+>", " ", (work / "report.html").read_text()).split())
    summary = text[text.index("Summary"):]
    fired = "+".join(trigger_names(int(rows["trigger"][first])))
    assert f" {first} " in summary and f" {fired} " in summary, (first, fired)
    assert "thresholds unknown" not in text  # monitor --profile put the profile's thresholds in the store
    assert len((work / "replay.txt").read_text().splitlines()) == len(rows)
    assert train_csv.exists()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
