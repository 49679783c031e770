"""push()'s rows (host/tinydrift/core/_host_rows.c): the AVX2, SSE2 and field-by-field paths, and td_host_push_rows.

Oracles: (1) the rows computed here in numpy from the raw td_window_result_t fields (float64 division by 256 and
65536, integers widened), for random raw bytes (every field's whole range, alarm any byte) and every channel count
1-16 with embedding sizes 0-16; (2) two more CFFI modules compiled here, one with the SSE2 path alone
(TD_HOST_ROWS_SIMD=1) and one with the field-by-field path alone (TD_HOST_ROWS_SIMD=0): the installed module (AVX2
where the CPU has it) must equal both, byte for byte, through td_host_rows and through td_host_push_rows; (3) push()
against push_raw() + to_rows() for frames pushed in uneven chunks; (4) td_host_push_rows' non-temporal path (rows staged
in cache, out written in whole 64-byte lines) in two more builds that take it for every output
(TD_HOST_ROWS_STREAM_MIN=0, AVX2 and SSE2 alone), into rows at every offset from a 64-byte line with guard bytes
on both sides, and Monitor.push of an output past the installed threshold.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import tinydrift
from tinydrift.core.monitor import RAW_DTYPE, ROW_FIELDS, result_dtype
from tinydrift.core.native import ffi, lib
from native_builds import compile_native

ROOT = Path(__file__).resolve().parents[1]
RECORDING = np.load(ROOT / "data" / "basicmotions.npz")["frames"]

Q8 = ("score", "dist", "recon", "cusum", "occupancy", "chart")
Q16 = ("mean_confidence", "estimated_accuracy", "prior_shift", "accuracy")
INTS = ("trigger", "nearest", "top_channel", "stuck_mask", "saturated_mask", "missing_mask", "n_embeddings",
        "n_inferences", "top_class", "ddm_state", "n_labels", "n_correct")
CHANNEL_Q8 = ("mean", "std", "z_mean", "z_std")
CHANNEL_INT = ("min", "max", "sum", "sumsq", "n_missing", "n_saturated")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    tmp = tmp_path_factory.mktemp("host_rows_builds")
    return {"sse2": compile_native(tmp, "_td_native_rows_sse2", macros={"TD_HOST_ROWS_SIMD": "1"}),
            "fields": compile_native(tmp, "_td_native_rows_fields", macros={"TD_HOST_ROWS_SIMD": "0"}),
            "stream": compile_native(tmp, "_td_native_rows_stream", macros={"TD_HOST_ROWS_STREAM_MIN": "0"}),
            "stream_sse2": compile_native(tmp, "_td_native_rows_stream_sse2",
                                          macros={"TD_HOST_ROWS_SIMD": "1", "TD_HOST_ROWS_STREAM_MIN": "0"})}


def _oracle(raw: np.ndarray, c: int, k: int) -> np.ndarray:
    rows = np.zeros(len(raw), dtype=result_dtype(c, k))
    rows["window"] = raw["window_index"]
    rows["alarm"] = raw["alarm"] != 0
    for name in Q8:
        rows[name] = raw[name + "_q8"].astype(np.float64) / 256.0
    for name in Q16:
        rows[name] = raw[name + "_q16"].astype(np.float64) / 65536.0
    for name in INTS:
        rows[name] = raw[name]
    rows["shift"] = raw["shift_q8"][:, : 2 * c].astype(np.float64) / 256.0
    rows["embedding"] = raw["embedding_q8"][:, :k].astype(np.float64) / 256.0
    ch = raw["channels"][:, :c]
    for name in CHANNEL_Q8:
        rows[name] = ch[name + "_q8"].astype(np.float64) / 256.0
    for name in CHANNEL_INT:
        rows[name] = ch[name]
    return rows


def _offsets(dtype: np.dtype) -> np.ndarray:
    return np.array([dtype.fields[name][1] for name in ROW_FIELDS], dtype=np.uint32)


def _rows(module: ModuleType, raw: np.ndarray, c: int, k: int, dtype: np.dtype, offsets: np.ndarray) -> bytes:
    """td_host_rows of module into a buffer with guard bytes after the rows: they must stay untouched."""
    mffi = module.ffi
    out = np.full(len(raw) * dtype.itemsize + 64, 0xA5, dtype=np.uint8)
    status = module.lib.td_host_rows(mffi.from_buffer("td_window_result_t[]", raw), len(raw), c, k,
                                     mffi.from_buffer("uint32_t[]", offsets), dtype.itemsize,
                                     mffi.from_buffer("uint8_t[]", out))
    assert status == module.lib.TD_OK
    assert np.all(out[len(raw) * dtype.itemsize :] == 0xA5), "a store went past the last row"
    return out[: len(raw) * dtype.itemsize].tobytes()


def test_the_paths_are_the_ones_built(builds: dict[str, ModuleType]) -> None:
    assert lib.TD_HOST_ROWS_SIMD == 2 and lib.td_host_rows_path() in (1, 2)
    assert builds["sse2"].lib.td_host_rows_path() == 1
    assert builds["fields"].lib.td_host_rows_path() == 0
    assert builds["stream"].lib.td_host_rows_path() == lib.td_host_rows_path()
    assert builds["stream_sse2"].lib.td_host_rows_path() == 1
    assert builds["stream"].lib.TD_HOST_ROWS_STREAM_MIN == builds["stream_sse2"].lib.TD_HOST_ROWS_STREAM_MIN == 0
    assert lib.TD_HOST_ROWS_STREAM_MIN == builds["sse2"].lib.TD_HOST_ROWS_STREAM_MIN == 1 << 20


@pytest.mark.parametrize("c", range(1, 17))
def test_rows_of_random_results_equal_numpy_in_every_path(builds: dict[str, ModuleType], c: int) -> None:
    rng = np.random.default_rng(c)
    raw = np.frombuffer(rng.bytes(9 * RAW_DTYPE.itemsize), dtype=RAW_DTYPE).copy()
    raw["alarm"][:3] = (0, 1, 2)
    for k in range(0, 17):
        dtype = result_dtype(c, k)
        want = _oracle(raw, c, k).tobytes()
        offsets = _offsets(dtype)
        assert _rows(_installed(), raw, c, k, dtype, offsets) == want, (c, k)
        assert _rows(builds["sse2"], raw, c, k, dtype, offsets) == want, (c, k)
        assert _rows(builds["fields"], raw, c, k, dtype, offsets) == want, (c, k)
        # one row, and rows in a wider record (not the packed layout: field by field in every build)
        assert _rows(_installed(), raw[:1], c, k, dtype, offsets) == want[: dtype.itemsize]
        wide = np.dtype({"names": dtype.names, "formats": [dtype.fields[n][0] for n in dtype.names],
                         "offsets": [dtype.fields[n][1] for n in dtype.names], "itemsize": dtype.itemsize + 8})
        got = np.frombuffer(_rows(_installed(), raw, c, k, wide, _offsets(wide)), dtype=wide)
        assert got.astype(dtype).tobytes() == want


def _installed() -> ModuleType:
    import tinydrift._native as native  # type: ignore[import-not-found]

    return native


def _profile(c: int, window: int) -> bytes:
    rng = np.random.default_rng(c)
    train = np.ascontiguousarray(np.tile(RECORDING, (1, -(-c // RECORDING.shape[1])))[:, :c])
    train = train[: 60 * window] + rng.integers(-3, 4, size=(60 * window, c)).astype(np.int16)
    return tinydrift.build_profile(train, window=window, seed=1, calibration_windows=None, progress=None).to_bytes()


def _push_rows(module: ModuleType, blob: bytes, frames: np.ndarray, cuts: np.ndarray, scratch_cap: int,
               lead: int = 0) -> bytes:
    """td_host_push_rows of module over frames in the chunks cuts gives, into one buffer of rows lead bytes past a
    64-byte line, with guard bytes before and after it: they must stay untouched."""
    mffi, mlib = module.ffi, module.lib
    profile = tinydrift.Profile.from_bytes(blob)
    dtype = result_dtype(profile.n_channels, profile.n_dims)
    keep = mffi.new("uint8_t[]", blob)
    parsed = mffi.new("td_profile_t *")
    assert mlib.td_profile_parse(parsed, keep, len(blob)) == mlib.TD_OK
    mon = mffi.new("td_monitor_t *")
    assert mlib.td_monitor_init(mon, parsed) == mlib.TD_OK
    scratch = mffi.new("td_window_result_t[]", scratch_cap)
    offsets = _offsets(dtype)
    n_out = len(frames) // profile.window
    space = np.full(n_out * dtype.itemsize + 256, 0xA5, dtype=np.uint8)
    start = 128 + (lead - space.ctypes.data) % 64
    out = np.frombuffer(space[start : start + n_out * dtype.itemsize], dtype=dtype)
    assert out.ctypes.data % 64 == lead
    n_rows, n_taken = mffi.new("uint32_t *"), mffi.new("uint32_t *")
    done = 0
    for part in np.split(frames, cuts):
        part = np.ascontiguousarray(part)
        status = mlib.td_host_push_rows(mon, mffi.from_buffer("int16_t[]", part), len(part), scratch, scratch_cap,
                                        mffi.from_buffer("uint32_t[]", offsets), dtype.itemsize,
                                        mffi.from_buffer("uint8_t[]", out[done:]), len(out) - done, n_rows, n_taken)
        assert status == mlib.TD_OK and n_taken[0] == len(part)
        done += n_rows[0]
    assert done == len(out)
    end = start + n_out * dtype.itemsize
    assert np.all(space[:start] == 0xA5) and np.all(space[end:] == 0xA5), "a store went past the rows"
    return out.tobytes()


@pytest.mark.filterwarnings("ignore:.*out-of-fold windows")
@pytest.mark.parametrize("c", (1, 3, 6, 9))
def test_push_rows_equal_push_raw_and_to_rows_in_every_path(builds: dict[str, ModuleType], c: int) -> None:
    window = 10
    blob = _profile(c, window)
    rng = np.random.default_rng(c)
    n = 700 * window + 3
    frames = np.ascontiguousarray(np.tile(RECORDING, (-(-n // len(RECORDING)), -(-c // RECORDING.shape[1])))[:n, :c])
    frames[rng.integers(0, n, 50), rng.integers(0, c, 50)] = -32768
    cuts = np.sort(rng.choice(np.arange(1, n), size=30, replace=False))
    ref = tinydrift.Monitor(blob)
    want = ref.to_rows(np.concatenate([ref.push_raw(part) for part in np.split(frames, cuts)])).tobytes()
    mon = tinydrift.Monitor(blob)
    assert b"".join(mon.push(part).tobytes() for part in np.split(frames, cuts)) == want
    assert mon.frames_pending == ref.frames_pending == n % window
    for scratch_cap in (1, 4, 7):
        assert _push_rows(_installed(), blob, frames, cuts, scratch_cap) == want
        for build in builds.values():
            assert _push_rows(build, blob, frames, cuts, scratch_cap) == want
    for lead in range(0, 64, 4 if c == 6 else 12):  # non-temporal rows from every offset in a line
        for scratch_cap in (1, 4):
            assert _push_rows(builds["stream"], blob, frames, cuts, scratch_cap, lead) == want, (lead, scratch_cap)
            assert _push_rows(builds["stream_sse2"], blob, frames, cuts, scratch_cap, lead) == want, (lead, scratch_cap)


@pytest.mark.filterwarnings("ignore:.*out-of-fold windows")
def test_push_past_the_stream_threshold_equals_push_raw_and_to_rows() -> None:
    """An output of more than TD_HOST_ROWS_STREAM_MIN bytes: the installed build's non-temporal path, fresh or out=."""
    c, window = 6, 10
    blob = _profile(c, window)
    dtype = tinydrift.Monitor(blob)._dtype
    n_rows = lib.TD_HOST_ROWS_STREAM_MIN // dtype.itemsize + 300
    n = n_rows * window + 7
    frames = np.ascontiguousarray(np.tile(RECORDING, (-(-n // len(RECORDING)), 1))[:n, :c])
    ref = tinydrift.Monitor(blob)
    want = ref.to_rows(ref.push_raw(frames)).tobytes()
    assert tinydrift.Monitor(blob).push(frames).tobytes() == want
    space = np.full((n_rows + 2) * dtype.itemsize, 0xA5, dtype=np.uint8)
    for lead in (0, 8, 24, 56):
        at = dtype.itemsize + (lead - space.ctypes.data - dtype.itemsize) % 64
        space[:] = 0xA5
        out = np.frombuffer(space[at : at + n_rows * dtype.itemsize], dtype=dtype)
        mon = tinydrift.Monitor(blob)
        got = mon.push(frames[:5], out=out)  # a partial window first: the rows start mid-call
        assert len(got) == 0
        got = mon.push(frames[5:], out=out)
        assert got.tobytes() == want and np.shares_memory(got, out)
        assert np.all(space[:at] == 0xA5) and np.all(space[at + n_rows * dtype.itemsize :] == 0xA5)


def test_push_rows_refuses_before_taking_any_frame() -> None:
    blob = _profile(6, 10)
    profile = tinydrift.Profile.from_bytes(blob)
    dtype = result_dtype(6, profile.n_dims)
    keep = ffi.new("uint8_t[]", blob)
    parsed = ffi.new("td_profile_t *")
    assert lib.td_profile_parse(parsed, keep, len(blob)) == lib.TD_OK
    mon = ffi.new("td_monitor_t *")
    assert lib.td_monitor_init(mon, parsed) == lib.TD_OK
    frames = np.ascontiguousarray(RECORDING[:47])  # 4 windows and 7 frames
    scratch = ffi.new("td_window_result_t[]", 2)
    offsets = _offsets(dtype)
    out = np.zeros(4, dtype=dtype)
    n_rows, n_taken = ffi.new("uint32_t *"), ffi.new("uint32_t *")

    def push(n_frames: int, cap: int, scratch_cap: int = 2) -> int:
        return lib.td_host_push_rows(mon, ffi.from_buffer("int16_t[]", frames), n_frames, scratch, scratch_cap,
                                     ffi.from_buffer("uint32_t[]", offsets), dtype.itemsize,
                                     ffi.from_buffer("uint8_t[]", out), cap, n_rows, n_taken)

    assert push(47, 3) == lib.TD_ERR_CAPACITY and n_rows[0] == n_taken[0] == 0
    assert push(47, 4, scratch_cap=0) == lib.TD_ERR_ARG and n_taken[0] == 0
    assert push(47, 4) == lib.TD_OK and n_rows[0] == 4 and n_taken[0] == 47
    assert out.tobytes() == tinydrift.score(blob, frames).tobytes()  # the refused calls took nothing
