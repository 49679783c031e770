"""The fuzz targets' side in the test suite: seeds regenerate byte for byte, and the inputs the host fuzzer
found (fuzz/corpus/host/regress-*) give the package's one-line error, not a traceback.

The fuzzers themselves run in `make fuzz` (part of `make test`); docs/security.md has the campaigns.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tinydrift import InputError
from tinydrift.recording import read_recording

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def test_seed_corpora_match_their_generator() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "fuzz" / "make_corpus.py"), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for target in ("profile", "frame", "app", "host"):
        assert len(list((CORPUS / target).glob("seed-*"))) >= 7, target


def test_npy_with_corrupt_header_is_an_input_error(tmp_path: Path) -> None:
    # Found by fuzz/fuzz_host.py: a header dict cut off mid-token made numpy raise tokenize.TokenError, which
    # read_recording let through as a traceback.
    data = (CORPUS / "host" / "regress-npy-header-tokenerror").read_bytes()[1:]
    path = tmp_path / "cut.npy"
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"cut\.npy: not a valid \.npy array file"):
        read_recording(path)


def test_npz_with_corrupt_member_header_is_an_input_error(tmp_path: Path) -> None:
    # The same .npy as an archive member: np.load reads members lazily, inside the archive's own try.
    data = (CORPUS / "host" / "regress-npy-header-tokenerror").read_bytes()[1:]
    path = tmp_path / "cut.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("frames.npy", data)
    with pytest.raises(InputError, match=r"cut\.npz: not a valid \.npz archive"):
        read_recording(path)
