"""The streaming fast path: push_raw(copy=False) views, the C row converter (td_host_rows) and odd input arrays.

Oracle of the converter: the numpy conversion Monitor.to_rows used before td_host_rows (kept verbatim as
``tdbench.stream_rows.numpy_rows``, the bench's baseline), on real streams that raise alarms and set every health mask and the model-output fields.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift import Profile
from tinydrift.core.monitor import RAW_DTYPE, ROW_FIELDS, result_dtype
from tinydrift.core.native import lib
from tdbench.stream_rows import numpy_rows

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "tests" / "data" / "profiles").glob("*.tdp"))
RECORDING = np.load(ROOT / "data" / "basicmotions.npz")["frames"]


def faulty_stream(profile: Profile, seed: int) -> np.ndarray:
    """The bundled recording with drift, a stuck channel, rail hits and sentinel samples spliced in."""
    rng = np.random.default_rng(seed)
    c, w = profile.n_channels, profile.window
    frames = np.tile(RECORDING, (3, -(-c // RECORDING.shape[1])))[:, :c].astype(np.int32)
    n = len(frames)
    frames[n // 4 : n // 2] = frames[n // 4 : n // 2] * 3 + 900  # drift: alarms
    frames[n // 2 : n // 2 + 20 * w, 1] = 123  # stuck channel 1
    hits = rng.integers(0, n, size=n // 50)
    frames[hits, rng.integers(0, c, size=len(hits))] = rng.choice([-32768, 32767], size=len(hits))  # rails
    frames[-30 * w :: 3, 2 % c] = -32768  # the sentinel of rails_sentinel.tdp, a rail elsewhere
    return np.ascontiguousarray(np.clip(frames, -32768, 32767).astype(np.int16))


def raw_stream(profile: Profile, seed: int) -> np.ndarray:
    """push_raw's results over faulty_stream in uneven blocks; model outputs and labels for outputs profiles."""
    mon = tinydrift.Monitor(profile)
    rng = np.random.default_rng(seed)
    frames = faulty_stream(profile, seed)
    cuts = np.sort(rng.choice(np.arange(1, len(frames)), size=60, replace=False))
    parts = []
    for block in np.split(frames, cuts):
        if mon.has_outputs:
            probs = rng.integers(-128, 128, size=(3, profile.outputs.n_classes)).astype(np.int8)
            seqs = mon.push_outputs(probs)
            mon.push_label(seqs, rng.integers(0, profile.outputs.n_classes, size=len(seqs)))
        parts.append(mon.push_raw(block))
    return np.concatenate(parts)


def test_row_fields_are_the_rows_fields() -> None:
    assert len(ROW_FIELDS) == lib.TD_HOST_ROW_FIELDS == len(set(ROW_FIELDS))
    assert set(ROW_FIELDS) == set(result_dtype(6, 12).names)


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_c_rows_equal_numpy_rows(path: Path) -> None:
    profile = Profile.from_bytes(path.read_bytes())
    raw = raw_stream(profile, 24)
    mon = tinydrift.Monitor(profile)
    rows = mon.to_rows(raw)
    want = numpy_rows(raw, profile.n_channels, profile.n_dims)
    assert rows.dtype == want.dtype and len(rows) == len(raw) > 100
    for name in want.dtype.names:
        assert np.array_equal(rows[name], want[name]), name
    assert rows.tobytes() == want.tobytes()
    # one row at a time (the streaming case) and strided input convert the same
    assert np.concatenate([mon.to_rows(raw[i : i + 1]) for i in range(0, 50)]).tobytes() == want[:50].tobytes()
    assert mon.to_rows(raw[::3]).tobytes() == want[::3].tobytes()


def test_streams_cover_every_field() -> None:
    """The streams above set what the converter copies: alarms, all triggers' fields, health masks, outputs."""
    rows = np.concatenate([tinydrift.Monitor(Profile.from_bytes(p.read_bytes())).to_rows(
        raw_stream(Profile.from_bytes(p.read_bytes()), 24))[list(ROW_FIELDS[:24])] for p in PROFILES])
    for name in ("alarm", "trigger", "top_channel", "stuck_mask", "saturated_mask", "missing_mask",
                 "n_inferences", "top_class", "mean_confidence", "n_labels", "n_correct", "occupancy", "chart",
                 "cusum", "recon"):
        assert rows[name].any(), name
    assert len(np.unique(rows["nearest"])) > 1


def test_push_raw_view_is_reused_and_equals_the_copy() -> None:
    profile = Profile.from_bytes(PROFILES[0].read_bytes())
    frames = faulty_stream(profile, 3)
    w = profile.window
    fast, slow = tinydrift.Monitor(profile), tinydrift.Monitor(profile)
    first = fast.push_raw(frames[:w], copy=False)
    kept = first.copy()
    assert kept.tobytes() == slow.push_raw(frames[:w]).tobytes()
    second = fast.push_raw(frames[w : 2 * w], copy=False)
    assert np.shares_memory(first, second) and first.tobytes() == second.tobytes() != kept.tobytes()
    assert second.tobytes() == slow.push_raw(frames[w : 2 * w]).tobytes()
    copied = fast.push_raw(frames[2 * w : 3 * w])
    assert not np.shares_memory(copied, second) and copied.tobytes() == slow.push_raw(frames[2 * w : 3 * w]).tobytes()
    assert len(fast.push_raw(frames[3 * w : 3 * w + 1], copy=False)) == 0 and fast.frames_pending == 1
    slow.push_raw(frames[3 * w : 3 * w + 1])
    # more windows than one C call holds: a fresh array, the same results
    big = np.ascontiguousarray(np.tile(frames, (-(-2100 * w // len(frames)), 1))[: 2100 * w])
    out = fast.push_raw(big, copy=False)
    assert not np.shares_memory(out, second)
    assert out.tobytes() == slow.push_raw(big).tobytes() and len(out) == 2100


@pytest.mark.parametrize("kind", ["float", "int32", "fortran", "strided", "list"])
def test_push_raw_converts_other_arrays(kind: str) -> None:
    profile = Profile.from_bytes(PROFILES[0].read_bytes())
    frames = faulty_stream(profile, 4)[: 30 * profile.window]
    other = {"float": frames.astype(np.float64), "int32": frames.astype(np.int32),
             "fortran": np.asfortranarray(frames), "strided": np.repeat(frames, 2, axis=0)[::2],
             "list": frames.tolist()}[kind]
    want = tinydrift.Monitor(profile).push_raw(frames).tobytes()
    assert tinydrift.Monitor(profile).push_raw(other, copy=False).tobytes() == want


def test_to_rows_rejects_other_arrays() -> None:
    mon = tinydrift.Monitor(Profile.from_bytes(PROFILES[0].read_bytes()))
    with pytest.raises(tinydrift.InputError, match="push_raw"):
        mon.to_rows(np.zeros(3, dtype=np.int16))
    with pytest.raises(tinydrift.InputError, match="push_raw"):
        mon.to_rows([1, 2])  # type: ignore[arg-type]
    assert mon.to_rows(np.zeros(0, dtype=RAW_DTYPE)).dtype == mon.push(np.zeros((0, 6), np.int16)).dtype
