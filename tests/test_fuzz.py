"""The fuzz targets' side in the test suite: the seeds regenerate, and the inputs the host fuzzer
found (fuzz/corpus/host/regress-*) give the package's one-line error, not a traceback.

The fuzzers themselves run in `make fuzz` (part of `make test`); docs/security.md has the campaigns.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tinydrift import InputError, Profile
from tinydrift.core.recording import read_recording

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def test_seed_corpora_regenerate(tmp_path: Path) -> None:
    # The generator writes the committed set of seeds. Frames are written from docs/protocol.md, so they must
    # match byte for byte; profiles come from build_profile, whose output may legitimately change: those seeds
    # must be valid profiles (the committed ones and the regenerated ones).
    proc = subprocess.run([sys.executable, str(ROOT / "fuzz" / "make_corpus.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for target in ("profile", "frame", "app", "host"):
        committed = sorted(p.name for p in (CORPUS / target).glob("seed-*"))
        assert committed == sorted(p.name for p in (tmp_path / target).glob("seed-*")), target
        assert len(committed) >= 7, target
    for path in (CORPUS / "frame").glob("seed-*"):
        assert path.read_bytes() == (tmp_path / "frame" / path.name).read_bytes(), path.name
    for root in (CORPUS, tmp_path):
        for path in (root / "profile").glob("seed-*"):
            blob = path.read_bytes()[1:]  # after the harness's option byte
            size = int.from_bytes(blob[8:12], "little")
            assert Profile.from_bytes(blob[:size]).window >= 2, path


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


def test_npz_member_that_is_not_an_array_is_an_input_error(tmp_path: Path) -> None:
    # Found by fuzz/fuzz_host.py in make test's short run (regress-npz-member-not-an-array): a zip member whose
    # name lacks the .npy suffix comes back from np.load as raw bytes, and read_recording died on `bytes.ndim`.
    path = tmp_path / "raw.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("frames", b"\x00\x01\x02\x03")
    with pytest.raises(InputError, match=r"raw\.npz: member 'frames' of the archive is not a \.npy array"):
        read_recording(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("frames.npy", _npy_bytes())
        zf.writestr("channel_names", b"acc_x")
    with pytest.raises(InputError, match=r"member 'channel_names' of the archive is not a \.npy array"):
        read_recording(path)


def _npy_bytes() -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.zeros((4, 1), dtype=np.int16))
    return buf.getvalue()
