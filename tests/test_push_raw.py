"""Monitor.push_raw / to_rows against the C results read through cffi, and the speed build against the default one.

Oracles: (1) every td_window_result_t read field by field through cffi's struct access (no numpy dtype
involved), converted with the documented scales (Q8: /256, Q16: /65536); (2) a second CFFI module of the
core compiled here with the default options (TD_OPTIMIZE_SPEED=0), whose raw results the installed module
(built with the firmware's TD_OPTIMIZE_SPEED=1) must equal field for field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift import Profile
from tinydrift.core.monitor import RAW_DTYPE
from tinydrift.core.native import ffi, lib
from native_builds import compile_native

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "tests" / "data" / "profiles").glob("*.tdp"))
RECORDING = np.load(ROOT / "data" / "basicmotions.npz")["frames"]

SCALAR_Q8 = ("score", "dist", "recon", "cusum", "occupancy", "chart")
SCALAR_Q16 = ("mean_confidence", "estimated_accuracy", "prior_shift", "accuracy")
SCALAR_INT = ("trigger", "nearest", "top_channel", "stuck_mask", "saturated_mask", "missing_mask",
              "n_embeddings", "n_inferences", "top_class", "ddm_state", "n_labels", "n_correct")
CHANNEL_Q8 = ("mean", "std", "z_mean", "z_std")
CHANNEL_INT = ("min", "max", "sum", "sumsq", "n_missing", "n_saturated")


def _recordings(profile: Profile, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    c = profile.n_channels
    bundled = np.tile(RECORDING, (1, -(-c // RECORDING.shape[1])))[:, :c]
    # near-constant windows too (a few LSB around a level): the smallest variances, where the std's rounding is closest
    near = (rng.integers(-2, 3, size=(1500, c)) * (rng.random((1500, c)) < 0.3) + rng.integers(-30000, 30000, c))
    return [np.ascontiguousarray(bundled[:3000]),
            rng.integers(-32768, 32768, size=(1500, c), dtype=np.int16),
            rng.normal(0, 400, size=(1500, c)).astype(np.int16),
            near.astype(np.int16)]


def _c_results(ffi_, lib_, blob: bytes, frames: np.ndarray) -> tuple[list, tuple]:
    """The C core's results for frames, through the given cffi module, as cffi structs."""
    keep = ffi_.new("uint8_t[]", blob)
    parsed = ffi_.new("td_profile_t *")
    assert lib_.td_profile_parse(parsed, keep, len(blob)) == lib_.TD_OK
    mon = ffi_.new("td_monitor_t *")
    assert lib_.td_monitor_init(mon, parsed) == lib_.TD_OK
    cap = len(frames) // 2 + 1
    results = ffi_.new("td_window_result_t[]", cap)
    n = ffi_.new("uint32_t *")
    assert lib_.td_monitor_push(mon, ffi_.from_buffer("int16_t[]", frames), len(frames), results, cap, n) == lib_.TD_OK
    return [results[i] for i in range(n[0])], (keep, parsed, mon, results)


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_push_raw_and_to_rows_equal_the_c_results(path: Path) -> None:
    profile = Profile.from_bytes(path.read_bytes())
    c, k = profile.n_channels, profile.n_dims
    for seed, frames in enumerate(_recordings(profile, 24)):
        expected, _keep = _c_results(ffi, lib, path.read_bytes(), frames)
        rng = np.random.default_rng(seed)
        mon = tinydrift.Monitor(profile)
        cuts = np.sort(rng.choice(np.arange(1, len(frames)), size=40, replace=False))
        parts = [mon.push_raw(part) for part in np.split(frames, cuts)]
        assert all(part.dtype == RAW_DTYPE for part in parts)
        raw = np.concatenate(parts)  # packs the dtype (drops the C padding): to_rows takes it too
        rows = mon.to_rows(raw)
        assert len(raw) == len(rows) == len(expected) > 0
        assert rows.tobytes() == tinydrift.score(profile, frames).tobytes()  # push() is unchanged
        for i, r in enumerate(expected):
            assert raw["window_index"][i] == rows["window"][i] == r.window_index
            assert bool(rows["alarm"][i]) == bool(r.alarm) and raw["alarm"][i] == r.alarm
            for name in SCALAR_Q8:
                assert raw[name + "_q8"][i] == getattr(r, name + "_q8")
                assert rows[name][i] == getattr(r, name + "_q8") / 256.0
            for name in SCALAR_Q16:
                assert raw[name + "_q16"][i] == getattr(r, name + "_q16")
                assert rows[name][i] == getattr(r, name + "_q16") / 65536.0
            for name in SCALAR_INT:
                assert raw[name][i] == rows[name][i] == getattr(r, name)
            assert list(raw["embedding_q8"][i]) == list(r.embedding_q8)
            assert list(rows["embedding"][i]) == [v / 256.0 for v in list(r.embedding_q8)[:k]]
            assert list(rows["shift"][i]) == [v / 256.0 for v in list(r.shift_q8)[: 2 * c]]
            for j in range(c):
                ch = r.channels[j]
                for name in CHANNEL_Q8:
                    assert raw["channels"][name + "_q8"][i, j] == getattr(ch, name + "_q8")
                    assert rows[name][i, j] == getattr(ch, name + "_q8") / 256.0
                for name in CHANNEL_INT:
                    assert raw["channels"][name][i, j] == rows[name][i, j] == getattr(ch, name)


def test_push_raw_one_window_per_call_and_pending_frames() -> None:
    profile = Profile.from_bytes(PROFILES[0].read_bytes())
    frames = _recordings(profile, 5)[0]
    w = profile.window
    mon = tinydrift.Monitor(profile)
    assert len(mon.push_raw(frames[: w - 1])) == 0 and mon.frames_pending == w - 1
    parts = [mon.push_raw(frames[w - 1 : w])] + [mon.push_raw(frames[i : i + w]) for i in range(w, 20 * w, w)]
    assert [len(p) for p in parts] == [1] * 20
    assert mon.to_rows(np.concatenate(parts)).tobytes() == tinydrift.score(profile, frames[: 20 * w]).tobytes()
    with pytest.raises(tinydrift.InputError, match="push_raw"):
        mon.to_rows(tinydrift.score(profile, frames[: 2 * w]))


@pytest.fixture(scope="module")
def default_build(tmp_path_factory: pytest.TempPathFactory):
    """The core compiled again as a separate module with the default options (TD_OPTIMIZE_SPEED=0)."""
    return compile_native(tmp_path_factory.mktemp("default_build"), "_td_native_default", optimize_speed=False)


@pytest.mark.filterwarnings("ignore:.*out-of-fold windows")
def test_speed_build_results_equal_the_default_build(default_build) -> None:
    assert lib.TD_OPTIMIZE_SPEED == 1 and default_build.lib.TD_OPTIMIZE_SPEED == 0
    dffi = default_build.ffi
    assert dffi.sizeof("td_window_result_t") == ffi.sizeof("td_window_result_t")
    d = np.load(ROOT / "data" / "basicmotions.npz")
    built = [tinydrift.build_profile(d["frames"][d["split"] == 0], window=w, seed=3, progress=None).to_bytes()
             for w in (10, 64)]
    n_windows = 0
    for blob in [p.read_bytes() for p in PROFILES] + built:
        for frames in _recordings(Profile.from_bytes(blob), 7):
            fast, _k1 = _c_results(ffi, lib, blob, frames)
            slow, _k2 = _c_results(dffi, default_build.lib, blob, frames)
            a = np.frombuffer(ffi.buffer(_k1[3], len(fast) * RAW_DTYPE.itemsize), dtype=RAW_DTYPE)
            b = np.frombuffer(dffi.buffer(_k2[3], len(slow) * RAW_DTYPE.itemsize), dtype=RAW_DTYPE)
            assert len(a) == len(b) > 0
            for name in RAW_DTYPE.names:
                if name == "channels":
                    for sub in RAW_DTYPE["channels"].base.names:
                        assert np.array_equal(a["channels"][sub], b["channels"][sub]), f"channels.{sub}"
                else:
                    assert np.array_equal(a[name], b[name]), name
            n_windows += len(a)
    assert n_windows > 1000


@pytest.mark.parametrize("path", [p for p in PROFILES if p.stem in ("no_chart", "rails_sentinel")], ids=lambda p: p.stem)
def test_push_past_one_buffer_equals_small_pushes(path: Path) -> None:
    """push and push_raw over more than 2048 windows in one call (push: several C calls, each one's rows converted
    into place; push_raw: one C call into the returned array), after pending frames, equal the same frames pushed a
    few windows at a time (one C call each, push_raw's copy of the buffer)."""
    profile = Profile.from_bytes(path.read_bytes())
    w = profile.window
    rng = np.random.default_rng(11)
    n = 2 * 2048 * w + 3 * w + 5
    frames = np.ascontiguousarray(np.tile(RECORDING, (-(-n // len(RECORDING)), 1))[:n])
    frames[rng.integers(0, n, 200), rng.integers(0, 6, 200)] = -32768  # sentinel / rail samples in some windows
    big, big_raw = tinydrift.Monitor(profile), tinydrift.Monitor(profile)
    rows = [big.push(frames[:7]), big.push(frames[7:])]
    raws = [big_raw.push_raw(frames[:7]), big_raw.push_raw(frames[7:])]
    assert sum(len(r) for r in rows) == sum(len(r) for r in raws) == n // w > 2 * 2048
    small = tinydrift.Monitor(profile)
    step = 3 * w + 1
    parts = [small.push_raw(frames[i : i + step]) for i in range(0, n, step)]
    want = small.to_rows(np.concatenate(parts))
    assert np.concatenate(rows).tobytes() == want.tobytes()
    assert big_raw.to_rows(np.concatenate(raws)).tobytes() == want.tobytes()
    assert big.frames_pending == big_raw.frames_pending == small.frames_pending == n % w


@pytest.mark.parametrize("path", [p for p in PROFILES if p.stem in ("no_chart", "rails_sentinel")], ids=lambda p: p.stem)
def test_out_buffers_take_the_same_results(path: Path) -> None:
    """push(out=) and push_raw(out=) write what push() and push_raw() return into the caller's buffer (a view of it
    is returned), past one 2048-window buffer in one call, and reuse it call after call."""
    profile = Profile.from_bytes(path.read_bytes())
    w = profile.window
    n = 2048 * w + 8 * w + 5
    frames = np.ascontiguousarray(np.tile(RECORDING, (-(-n // len(RECORDING)), 1))[:n])
    plain, plain_raw = tinydrift.Monitor(profile), tinydrift.Monitor(profile)
    into, into_raw = tinydrift.Monitor(profile), tinydrift.Monitor(profile)
    rows_buf = np.empty(n // w + 10, dtype=tinydrift.result_dtype(profile.n_channels, profile.n_dims))
    raw_buf = np.empty(n // w + 10, dtype=RAW_DTYPE)
    want_raw = np.empty(0, dtype=RAW_DTYPE)
    for part in (frames[:7], frames[7 : 7 + 5 * w], frames[7 + 5 * w :]):
        want_rows = plain.push(part)
        want_raw = plain_raw.push_raw(part)
        got_rows = into.push(part, out=rows_buf)
        got_raw = into_raw.push_raw(part, out=raw_buf)
        assert len(got_rows) == len(want_rows) and len(got_raw) == len(want_raw)
        assert got_rows.tobytes() == want_rows.tobytes()
        assert got_raw.tobytes() == want_raw.tobytes()
        assert len(got_raw) == 0 or (np.shares_memory(got_rows, rows_buf) and np.shares_memory(got_raw, raw_buf))
    assert len(want_raw) > 2048  # the last part completes more windows than one C buffer holds
    assert into.frames_pending == into_raw.frames_pending == plain.frames_pending == n % w


def test_a_wrong_out_is_refused_before_any_frame_is_taken() -> None:
    profile = Profile.from_bytes(PROFILES[0].read_bytes())
    w = profile.window
    frames = _recordings(profile, 3)[0][: 4 * w + 3]
    rows_dtype = tinydrift.result_dtype(profile.n_channels, profile.n_dims)
    mon = tinydrift.Monitor(profile)
    bad = [(np.empty(3, dtype=RAW_DTYPE), "room for 3 windows, these frames complete 4"),
           (np.empty(8, dtype=rows_dtype), "1-D array of RAW_DTYPE"),
           (np.empty((8, 2), dtype=RAW_DTYPE), "1-D array of RAW_DTYPE"),
           (np.empty(16, dtype=RAW_DTYPE)[::2], "C-contiguous and writeable"),
           ([0] * 8, "1-D array of RAW_DTYPE, got list")]
    for out, message in bad:
        with pytest.raises(tinydrift.InputError, match=message):
            mon.push_raw(frames, out=out)
    ro = np.empty(8, dtype=rows_dtype)
    ro.flags.writeable = False
    with pytest.raises(tinydrift.InputError, match="push: out must be C-contiguous and writeable"):
        mon.push(frames, out=ro)
    with pytest.raises(tinydrift.InputError, match="push: out must be a 1-D array of result_dtype"):
        mon.push(frames, out=np.empty(8, dtype=RAW_DTYPE))
    assert mon.frames_pending == 0  # nothing was taken: the same frames then give a fresh monitor's results
    assert mon.push(frames).tobytes() == tinydrift.score(profile, frames).tobytes()
