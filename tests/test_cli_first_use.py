"""What tripped a first-time user of the CLI: hints on a CSV cell that is not an integer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinydrift.cli.app import main
from tinydrift.core.recording import HINT_FLOAT, HINT_MISSING


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(
    ("cell", "shown", "hint"),
    [("-112.16", "'-112.16'", HINT_FLOAT), ("1e3", "'1e3'", HINT_FLOAT), ("", "'' (empty)", HINT_MISSING),
     ("NaN", "'NaN'", HINT_MISSING), ("abc", "'abc'", "CSV cells must be integers in int16 range")],
    ids=["float", "exponent", "empty", "nan", "text"],
)
def test_non_integer_cell_says_what_to_do(capsys: pytest.CaptureFixture[str], tmp_path: Path, cell: str,
                                          shown: str, hint: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(f"ax,temp\n1,2\n3,{cell}\n")
    rc, out, err = run(capsys, "profile", "build", path, "-o", tmp_path / "p.tdp")
    assert (rc, out) == (1, "")
    assert err == f"tinydrift: error: {path}:3:3: non-integer value {shown} in column 'temp'; {hint}\n"
    assert not (tmp_path / "p.tdp").exists()


def test_float_npy_says_what_to_do(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "r.npy"
    np.save(path, np.array([[1.0, 2.0], [3.0, 4.25]]))
    rc, out, err = run(capsys, "profile", "build", path, "-o", tmp_path / "p.tdp")
    assert (rc, out) == (1, "")
    assert err == f"tinydrift: error: {path}: frame 1, channel 1: non-integer value 4.25; {HINT_FLOAT}\n"
