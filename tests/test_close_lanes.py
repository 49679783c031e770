"""The x86-64 speed build's window close in lanes (TD_CLOSE_LANES, csrc/src/td_monitor.c: AVX2 where the CPU has it,
else SSE2) against three others.

Oracles: three more CFFI modules of the core compiled here, one with the close in SSE2 alone (TD_CLOSE_AVX2=0), one
with the close channel by channel (TD_OPTIMIZE_SPEED=1, TD_CLOSE_LANES=0: td_mean_std_q8_x86 and standardize per
channel) and one with the default options (TD_OPTIMIZE_SPEED=0: td_mean_q8, td_var_q32, td_std_q8 and td_log2_q8's
squaring loop, as the device's smallest build runs them). The installed module's window results must equal all three
byte for byte, and its lifetime statistics too, for 1-16 channels (counts not a multiple of 2 or 4 leave spare lanes),
log-std and plain-std profiles, health limits and stuck checks that trip, channels with no valid sample, and reference
means and scales that drive the z to both int16 limits.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

import numpy as np
import pytest

import tinydrift
from tinydrift.core.native import ffi, lib
from native_builds import compile_native

CHANNELS = (1, 2, 3, 5, 6, 7, 12, 15, 16)
WINDOW = 24


@pytest.fixture(scope="module")
def other_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    tmp = tmp_path_factory.mktemp("close_lanes_builds")
    return {"sse2": compile_native(tmp, "_td_native_close_sse2", macros={"TD_CLOSE_AVX2": "0"}),
            "channel_by_channel": compile_native(tmp, "_td_native_close_scalar", macros={"TD_CLOSE_LANES": "0"}),
            "portable": compile_native(tmp, "_td_native_close_portable", optimize_speed=False)}


def _run(ffi_: object, lib_: object, blob: bytes, frames: np.ndarray) -> tuple[bytes, list[tuple[int, ...]]]:
    """The C core's td_window_result_t records for frames pushed in one call, as bytes, and each channel's lifetime."""
    keep = ffi_.new("uint8_t[]", blob)  # type: ignore[attr-defined]
    parsed = ffi_.new("td_profile_t *")  # type: ignore[attr-defined]
    assert lib_.td_profile_parse(parsed, keep, len(blob)) == lib_.TD_OK  # type: ignore[attr-defined]
    mon = ffi_.new("td_monitor_t *")  # type: ignore[attr-defined]
    assert lib_.td_monitor_init(mon, parsed) == lib_.TD_OK  # type: ignore[attr-defined]
    cap = len(frames) // WINDOW + 1
    results = ffi_.new("td_window_result_t[]", cap)  # type: ignore[attr-defined]
    n = ffi_.new("uint32_t *")  # type: ignore[attr-defined]
    frames = np.ascontiguousarray(frames)
    buf = ffi_.from_buffer("int16_t[]", frames)  # type: ignore[attr-defined]
    status = lib_.td_monitor_push(mon, buf, len(frames), results, cap, n)  # type: ignore[attr-defined]
    assert status == lib_.TD_OK  # type: ignore[attr-defined]
    lifetimes = []
    life = ffi_.new("td_lifetime_t *")  # type: ignore[attr-defined]
    for c in range(frames.shape[1]):
        assert lib_.td_monitor_lifetime(mon, c, life) == lib_.TD_OK  # type: ignore[attr-defined]
        lifetimes.append((life.n, life.sum, life.sumsq_lo, life.sumsq_hi))
    raw = bytes(ffi_.buffer(results, n[0] * ffi_.sizeof("td_window_result_t")))  # type: ignore[attr-defined]
    return raw, lifetimes


def _frames(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """Gaussian frames of every scale, with windows of a constant channel, of the sentinel alone (no valid sample), of
    rail values, and of loud and shifted stretches."""
    scale = rng.choice([0.0, 0.5, 3.0, 40.0, 2000.0, 12000.0], size=c)
    x = rng.normal(0, 1, size=(n, c)) * scale + rng.normal(0, 500, size=c)
    frames = np.clip(np.rint(x), -32767, 32766).astype(np.int16)
    for w in range(n // WINDOW):
        rows = slice(w * WINDOW, (w + 1) * WINDOW)
        k = int(rng.integers(c))
        kind = w % 6
        if kind == 0:
            frames[rows, k] = -32768  # the sentinel (channels with one) or a rail
        elif kind == 1:
            frames[rows, k] = int(rng.integers(-20000, 20000))  # stuck
        elif kind == 2:
            frames[rows, k] = rng.choice([-32768, 32767], size=WINDOW)  # rails
        elif kind == 3:
            frames[rows, k] = np.clip(frames[rows, k].astype(np.int32) * 8 + 9000, -32767, 32766)  # loud, shifted
        elif kind == 4:
            hits = rng.integers(0, WINDOW, size=int(rng.integers(1, WINDOW)))
            frames[w * WINDOW + hits, k] = -32768
    return frames


def _profiles(rng: np.random.Generator, c: int) -> list[bytes]:
    """A mixture (log-std) and a centroids (plain std) profile, each with tight health limits and stuck checks on some
    channels, and a copy of the log-std one whose reference means and scales push the z past both int16 limits."""
    train = (rng.normal(0, 1500, size=(60 * WINDOW, c)) + rng.normal(0, 300, size=c)).astype(np.int16)
    sentinel = [-32768 if k % 2 == 0 else None for k in range(c)]
    blobs = []
    for scoring in ("mixture", "centroids"):
        prof = tinydrift.build_profile(train, window=WINDOW, scoring=scoring, sentinel=sentinel,
                                       calibration_windows=None, n_dims=min(2 * c, 16) if c > 8 else None,
                                       progress=None)
        channels = [dataclasses.replace(ch, stuck_check=k % 3 != 2, stuck_tolerance=int(k % 4),
                                        max_missing=[0, 3, WINDOW, 1][k % 4],
                                        max_saturated=[0, 2, WINDOW, 5][k % 4],
                                        std_floor=ch.std_floor + (k % 3) * 7 if prof.log_std else 0)
                    for k, ch in enumerate(prof.channels)]
        prof = prof.replace(channels=channels)
        blobs.append(prof.to_bytes())
        if scoring == "mixture":
            mu = prof.feature_mu_q8.astype(np.int64)
            inv = prof.feature_inv_sigma_q24.astype(np.int64)
            mu = np.clip(mu + rng.integers(-(1 << 22), 1 << 22, size=mu.shape), -(1 << 23), 1 << 23)
            scaled = np.maximum(inv, 1) * rng.integers(1, 4096, size=inv.shape)
            inv = np.where(np.arange(inv.size) % 3 == 0, 1 << 31, scaled)
            inv = np.minimum(inv, 1 << 31)  # the parser's limits: |mu| <= 2^23, 1 <= inv_sigma <= 2^31
            blobs.append(prof.replace(feature_mu_q8=mu.astype(np.int32),
                                      feature_inv_sigma_q24=inv.astype(np.uint32)).to_bytes())
    return blobs


@pytest.mark.filterwarnings("ignore:.*out-of-fold windows")
@pytest.mark.parametrize("c", CHANNELS)
def test_close_lanes_equal_sse2_channel_by_channel_and_portable(other_builds: dict[str, ModuleType], c: int) -> None:
    assert lib.TD_OPTIMIZE_SPEED == 1
    rng = np.random.default_rng(100 + c)
    frames = _frames(rng, 120 * WINDOW, c)
    n_windows = 0
    seen = {"z_max": False, "z_min": False, "empty": False, "stuck": False, "missing": False, "saturated": False}
    for blob in _profiles(rng, c):
        fast = _run(ffi, lib, blob, frames)
        for name, other in other_builds.items():
            assert fast == _run(other.ffi, other.lib, blob, frames), (c, name)
        rows = np.frombuffer(fast[0], dtype=np.uint8).reshape(-1, ffi.sizeof("td_window_result_t"))
        n_windows += len(rows)
        results = ffi.from_buffer("td_window_result_t[]", fast[0])
        for r in results:
            for k in range(c):
                ch = r.channels[k]
                seen["z_max"] |= ch.z_mean_q8 == 32767 or ch.z_std_q8 == 32767
                seen["z_min"] |= ch.z_mean_q8 == -32768 or ch.z_std_q8 == -32768
                seen["empty"] |= ch.n_missing == WINDOW
            seen["stuck"] |= r.stuck_mask != 0
            seen["missing"] |= r.missing_mask != 0
            seen["saturated"] |= r.saturated_mask != 0
    assert n_windows == 3 * 120
    assert all(seen.values()), seen
