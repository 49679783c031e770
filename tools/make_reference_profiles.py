"""Build the reference profiles of tests/test_reference_profiles.py with the current code.

Run once before a refactoring that must not change profiles (``python tools/make_reference_profiles.py``);
the test rebuilds each case from tests/data/profiles/cases.json and compares the bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "profiles"

# name -> build_profile keyword options; "outputs" adds an outputs section (tinydrift.outputs).
CASES: dict[str, dict] = {
    "mixture_default": {},
    "centroids": {"scoring": "centroids", "n_centroids": 4},
    "occupancy": {"occupancy_windows": 16, "window": 32},
    "no_chart": {"feature_chart": False, "window": 32},
    "rails_sentinel": {"rails": [-30000, 30000], "sentinel": -32768, "stuck_tolerance": 1, "n_dims": 4},
    "outputs": {"outputs": {"n_classes": 4, "seed": 3}},
}


def recordings() -> list[np.ndarray]:
    """The bundled BasicMotions training recordings, one array per recording."""
    d = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = d["frames"], d["case"], d["split"]
    return [frames[(case == c) & (split == 0)] for c in np.unique(case[split == 0])]


def build_case(options: dict) -> bytes:
    """The blob of one case, with created_unix fixed at 0 (the only field that depends on the clock)."""
    from tinydrift import build_profile
    from tinydrift.outputs import calibrate_profile_outputs

    opts = dict(options)
    outputs = opts.pop("outputs", None)
    if "rails" in opts:
        opts["rails"] = tuple(opts["rails"])
    profile = build_profile(recordings(), **opts)
    if outputs is not None:
        rng = np.random.default_rng(outputs["seed"])
        n, k = 400, outputs["n_classes"]
        probs = rng.integers(-128, 128, size=(n, k)).astype(np.int8)
        labels = np.where(rng.random(n) < 0.7, np.argmax(probs, axis=1), rng.integers(0, k, size=n))
        profile = calibrate_profile_outputs(profile, probs, labels)
    return profile.replace(created_unix=0).to_bytes()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "cases.json").write_text(json.dumps(CASES, indent=2, sort_keys=True) + "\n")
    for name, options in CASES.items():
        blob = build_case(options)
        (OUT / f"{name}.tdp").write_bytes(blob)
        print(f"{name}.tdp {len(blob)} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
