"""Profiles are byte-identical to the reference blobs committed before the host package was reorganised.

tests/data/profiles/*.tdp were written by tools/make_reference_profiles.py with the code of that time;
each case is rebuilt here from cases.json with today's code and compared byte for byte.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "profiles"
CASES = json.loads((DATA / "cases.json").read_text())


def _maker():
    spec = importlib.util.spec_from_file_location("make_reference_profiles", ROOT / "tools" / "make_reference_profiles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize("name", sorted(CASES))
def test_profile_bytes_match_reference(name: str) -> None:
    expected = (DATA / f"{name}.tdp").read_bytes()
    blob = _maker().build_case(CASES[name])
    assert len(blob) == len(expected)
    assert blob == expected, f"{name}: first differing byte at {next(i for i, (a, b) in enumerate(zip(blob, expected)) if a != b)}"


def test_reference_cases_cover_the_option_sets() -> None:
    # the sections the refactoring could disturb are all present in at least one reference blob
    from tinydrift import Profile

    profiles = {name: Profile.from_bytes((DATA / f"{name}.tdp").read_bytes()) for name in CASES}
    assert profiles["outputs"].outputs is not None
    assert profiles["mixture_default"].outputs is None
    assert profiles["centroids"].centroid_scales != profiles["mixture_default"].centroid_scales
    assert len({p.profile_id for p in profiles.values()}) == len(profiles)
