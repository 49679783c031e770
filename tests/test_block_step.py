"""The x86-64 speed build's block step (AVX2 where the CPU has it, else SSE2) against the portable accumulation.

Oracles: two more CFFI modules of the core compiled here, one with the block step in SSE2 alone
(TD_OPTIMIZE_SPEED=1, TD_BLOCK_AVX2=0) and one with the default options (TD_OPTIMIZE_SPEED=0: td_window_add channel
by channel, as the device's smallest build runs it); the installed module's raw window results must equal both, byte
for byte, for 1-16 channels, windows that are and are not multiples of the block kernels' groups, frames pushed in
uneven chunks, and samples on the int16 extremes, the rails and the sentinel.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import tinydrift
from tinydrift.core.native import ffi, lib
from native_builds import compile_native

CHANNELS = (1, 3, 5, 6, 7, 8, 9, 12, 16)
WINDOWS = (10, 37, 64)


@pytest.fixture(scope="module")
def other_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    tmp = tmp_path_factory.mktemp("block_step_builds")
    return {"sse2": compile_native(tmp, "_td_native_sse2", macros={"TD_BLOCK_AVX2": "0"}),
            "portable": compile_native(tmp, "_td_native_portable", optimize_speed=False)}


def _frames(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """Gaussian frames, a few channels on the int16 extremes, sprinkled with rail values and the sentinel."""
    x = rng.normal(0, 2000, size=(n, c))
    loud = rng.random(c) < 0.3
    x[:, loud] = rng.choice([-32767, 32766], size=(n, int(loud.sum())))
    frames = np.clip(x, -32768, 32767).astype(np.int16)
    hits = rng.integers(0, n * c, size=max(1, n * c // 400))
    frames.reshape(-1)[hits] = rng.choice([-32768, 32767, -30000, 30000], size=len(hits))
    return frames


def _raw(ffi_, lib_, blob: bytes, frames: np.ndarray, cuts: np.ndarray) -> bytes:
    """The C core's td_window_result_t records for frames pushed in the chunks cuts gives, as bytes."""
    keep = ffi_.new("uint8_t[]", blob)
    parsed = ffi_.new("td_profile_t *")
    assert lib_.td_profile_parse(parsed, keep, len(blob)) == lib_.TD_OK
    mon = ffi_.new("td_monitor_t *")
    assert lib_.td_monitor_init(mon, parsed) == lib_.TD_OK
    cap = len(frames) + 1
    results = ffi_.new("td_window_result_t[]", cap)
    n = ffi_.new("uint32_t *")
    total = 0
    for part in np.split(frames, cuts):
        part = np.ascontiguousarray(part)
        status = lib_.td_monitor_push(mon, ffi_.from_buffer("int16_t[]", part), len(part), results + total,
                                      cap - total, n)
        assert status == lib_.TD_OK
        total += n[0]
    return bytes(ffi_.buffer(results, total * ffi_.sizeof("td_window_result_t")))


@pytest.mark.filterwarnings("ignore:.*out-of-fold windows")
@pytest.mark.parametrize("window", WINDOWS)
def test_block_step_equals_sse2_and_portable_builds(other_builds: dict[str, ModuleType], window: int) -> None:
    assert lib.TD_OPTIMIZE_SPEED == 1
    rng = np.random.default_rng(window)
    n_windows = 0
    for c in CHANNELS:
        train = rng.normal(0, 2000, size=(40 * window, c)).astype(np.int16)
        rails = [(-32768, 32767) if k % 3 else (-30000, 30000) for k in range(c)]
        sentinel = [-32768 if k % 3 == 0 else None for k in range(c)]
        blob = tinydrift.build_profile(train, window=window, rails=rails, sentinel=sentinel, calibration_windows=None,
                                       progress=None).to_bytes()
        frames = _frames(rng, 30 * window + 7, c)
        whole = np.array([], dtype=np.int64)  # one push
        uneven = np.sort(rng.choice(np.arange(1, len(frames)), size=60, replace=False))
        for cuts in (whole, uneven):
            fast = _raw(ffi, lib, blob, frames, cuts)
            assert fast == _raw(other_builds["sse2"].ffi, other_builds["sse2"].lib, blob, frames, cuts), (c, window)
            assert fast == _raw(other_builds["portable"].ffi, other_builds["portable"].lib, blob, frames, cuts), (c, window)
            n_windows += len(fast) // ffi.sizeof("td_window_result_t")
    assert n_windows >= 2 * len(CHANNELS) * 30
