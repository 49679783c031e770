"""Reference profile: the Python image of the binary blob the device parses (docs/profile-format.md).

``Profile.to_bytes`` writes the blob with ``struct`` and ``zlib.crc32`` (independent of
the C code); every blob read or
written goes through the C parser ``td_profile_parse``, the same code the
device runs, so the host never hands the device a profile it would reject.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinydrift.core.native import ffi, lib, status_text
from tinydrift.core.channel_names import NamesError, pack_names, unpack_names
from tinydrift.core.errors import ProfileError
from tinydrift.core.fixed import Q16, Q24
from tinydrift.core.outputs import OutputsConfig

MAGIC = b"TDPF"
VERSION = 1
HEADER = struct.Struct("<4sHHIIBBBBHHIIIIIiII8x")
CHANNEL = struct.Struct("<hhhHHHHHii")
FEATURE = struct.Struct("<iI")
OUTPUTS_HEAD = struct.Struct("<BBHIi")  # n_classes, n_bins, reserved, scale_q24, zero_point
FLAG_EXTERNAL_EMBEDDING = 0x0001
FLAG_OUTPUTS = 0x0002
FLAG_LOG_STD = 0x0004
FLAG_CENTROID_SCALES = 0x0008
FLAG_OCCUPANCY = 0x0010
FLAG_FEATURE_CHART = 0x0020
FLAG_NAMES = 0x0040
MAX_CHART_ROOT = 1 << 25
CENTROID_SCALE_SHIFT = 16
CHANNEL_FLAG_STUCK_CHECK = 0x0001
CHANNEL_FLAG_SENTINEL = 0x0002
assert HEADER.size == 64 and CHANNEL.size == 24 and FEATURE.size == 8 and OUTPUTS_HEAD.size == 12


@dataclass
class ChannelConfig:
    """Per-channel sensor rules and health limits."""

    rail_lo: int = -32768
    rail_hi: int = 32767
    sentinel: int | None = None
    stuck_check: bool = False
    stuck_tolerance: int = 0
    max_missing: int = 0
    max_saturated: int = 0
    std_floor: int = 0  # LSB added to the window std before its log (profiles with log_std)
    ref_mean_q8: int = 0
    ref_std_q8: int = 0

    @property
    def ref_mean(self) -> float:
        return self.ref_mean_q8 / 256.0

    @property
    def ref_std(self) -> float:
        return self.ref_std_q8 / 256.0


@dataclass(frozen=True)
class CalibrationBasis:
    """What a built profile's thresholds rest on (host-side only, not stored in the blob)."""

    n_windows: int  # reference windows whose scores set the thresholds
    method: str  # instant threshold: "conformal" (finite-sample rank) or "tail" (generalized Pareto fit)
    source: str  # "out-of-fold" (cross-fitted) or "held-out"
    rate: float  # false alarms per window calibrated for
    interval: tuple[float, float]  # 90 % interval of the rate these windows can vouch for
    windows_needed: int  # windows that would resolve the rate by rank alone

    def describe(self) -> str:
        """One line for a person."""
        lo, hi = self.interval
        return (f"{self.n_windows} {self.source} windows, instant threshold by {self.method}; expected "
                f"{self.rate:.3g} false alarms/window (90 % interval {lo:.2g}-{hi:.2g})")


@dataclass
class Profile:
    """A reference profile. Integer fields are exactly what the device stores."""

    window: int
    channels: list[ChannelConfig]
    feature_mu_q8: np.ndarray  # int32 (2C,)
    feature_inv_sigma_q24: np.ndarray  # uint32 (2C,)
    centroids_q8: np.ndarray  # int32 (K, k)
    projection: np.ndarray | None = None  # int8 (k, 2C); None in external-embedding mode
    proj_shift: int = 0
    cusum_k_q8: int = 0
    cusum_h_q8: int = 0xFFFFFFFF
    instant_q8: int = 0xFFFFFFFF
    false_alarm_ppb: int = 0
    ext_scale_q24: int = 0
    ext_zero_point: int = 0
    created_unix: int = field(default_factory=lambda: int(time.time()))
    calibration_windows: int = 0  # reference windows whose scores set the thresholds (informational; 0: unknown)
    channel_names: list[str] | None = None  # names section (flag bit 6) when set; ch0, ch1, ... when None
    calibration: CalibrationBasis | None = field(default=None, compare=False)  # host-side only, set by the builder
    outputs: OutputsConfig | None = None  # model-output monitoring (outputs section, flag bit 1)
    log_std: bool = False  # feature 2c+1 is log2(std + std_floor) (flag bit 2)
    # Centroid scales (flag bit 3): per centroid a score offset (Q8) and per-dimension inverse scales (Q16).
    centroid_offset_q8: np.ndarray | None = None  # uint32 (K,)
    centroid_inv_scale_q16: np.ndarray | None = None  # uint32 (K, k)
    # Occupancy test (flag bit 4): over the last occupancy_windows windows, the G statistic (bits, Q8) of the
    # nearest-centroid counts against the reference mix, cost_k = -log2 p_k in Q8; alarm above the threshold.
    occupancy_windows: int = 0  # 0: no occupancy section
    occupancy_threshold_q8: int = 0
    occupancy_cost_q8: np.ndarray | None = None  # uint16 (K,)
    # Feature chart (flag bit 5, PCA mode): per feature, CUSUMs on the window's fitted shift and on its negative
    # (Q8 z units), reference value chart_k_q8, alarm above chart_h_q8 (65535: never). The section also stores
    # the norms the shift divides by (chart_roots), derived from the projection and the centroid scales.
    feature_chart: bool = False
    chart_k_q8: int = 0
    chart_h_q8: int = 0xFFFF

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def n_dims(self) -> int:
        return int(self.centroids_q8.shape[1])

    @property
    def n_centroids(self) -> int:
        return int(self.centroids_q8.shape[0])

    @property
    def external_embedding(self) -> bool:
        return self.projection is None

    @property
    def false_alarm_rate(self) -> float:
        """False alarms per window the thresholds were calibrated for."""
        return self.false_alarm_ppb / 1e9

    @property
    def profile_id(self) -> int:
        """CRC-32 of the blob with the id and creation time zeroed: equal content, equal id."""
        return zlib.crc32(self._pack(profile_id=0, created_unix=0)[:-4])

    def names(self) -> list[str]:
        """Channel names (ch0, ch1, ... when the profile was built from unnamed data)."""
        if self.channel_names and len(self.channel_names) == self.n_channels:
            return list(self.channel_names)
        return [f"ch{c}" for c in range(self.n_channels)]

    def replace(self, **changes: object) -> Profile:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def centroid_scales(self) -> bool:
        return self.centroid_inv_scale_q16 is not None

    def chart_roots(self) -> np.ndarray:
        """(K, 2C) uint32: floor(sqrt(sum_j (P[j, f] * (inv_kj >> s_k))^2)), the norm of feature f's direction in
        centroid k's scale (inv_kj its inverse scales in Q16, 65536 without scales; s_k the shift that brings the
        largest under 2^15). The monitor divides <a_f, u> by it to get the fitted shift (docs/profile-format.md)."""
        if self.projection is None:
            raise ProfileError("a feature chart needs a PCA profile (this one takes external embeddings)")
        proj = np.asarray(self.projection, dtype=np.int64)
        if self.centroid_inv_scale_q16 is not None:
            inv = np.asarray(self.centroid_inv_scale_q16, dtype=np.int64).reshape(self.n_centroids, self.n_dims)
        else:
            inv = np.full((self.n_centroids, self.n_dims), 1 << CENTROID_SCALE_SHIFT, np.int64)
        roots = np.empty((self.n_centroids, proj.shape[1]), np.uint32)
        for k in range(self.n_centroids):
            shift = max(0, int(inv[k].max()).bit_length() - 15)
            a = proj * (inv[k] >> shift)[:, None]  # |a| <= 2^22, d < 2^50: exact in int64
            roots[k] = [math.isqrt(int(d)) for d in (a * a).sum(axis=0).tolist()]
        return roots

    def _pack(self, profile_id: int, created_unix: int) -> bytes:
        flags = FLAG_EXTERNAL_EMBEDDING if self.external_embedding else 0
        if self.outputs is not None:
            flags |= FLAG_OUTPUTS
        if self.log_std:
            flags |= FLAG_LOG_STD
        if self.centroid_scales:
            flags |= FLAG_CENTROID_SCALES
        if self.occupancy_windows:
            flags |= FLAG_OCCUPANCY
        if self.feature_chart:
            flags |= FLAG_FEATURE_CHART
        if self.channel_names is not None:
            flags |= FLAG_NAMES
        n_features = 2 * self.n_channels
        body = bytearray()
        for ch in self.channels:
            ch_flags = (CHANNEL_FLAG_STUCK_CHECK if ch.stuck_check else 0) | (
                CHANNEL_FLAG_SENTINEL if ch.sentinel is not None else 0
            )
            body += CHANNEL.pack(
                ch.rail_lo, ch.rail_hi, 0 if ch.sentinel is None else ch.sentinel, ch_flags,
                ch.stuck_tolerance, ch.max_missing, ch.max_saturated, ch.std_floor if self.log_std else 0,
                ch.ref_mean_q8, ch.ref_std_q8,
            )
        mu = np.asarray(self.feature_mu_q8, dtype=np.int64)
        inv = np.asarray(self.feature_inv_sigma_q24, dtype=np.int64)
        if mu.shape != (n_features,) or inv.shape != (n_features,):
            raise ProfileError(f"profile has {n_features} features but mu/sigma arrays of shape {mu.shape}")
        for m, s in zip(mu.tolist(), inv.tolist()):
            body += FEATURE.pack(m, s)
        if self.projection is not None:
            proj = np.ascontiguousarray(self.projection, dtype=np.int8)
            if proj.shape != (self.n_dims, n_features):
                raise ProfileError(f"projection shape {proj.shape} != ({self.n_dims}, {n_features})")
            raw = proj.tobytes()
            body += raw + bytes(-len(raw) % 4)
        body += np.ascontiguousarray(self.centroids_q8, dtype="<i4").tobytes()
        if self.centroid_inv_scale_q16 is not None:
            inv_scale = np.asarray(self.centroid_inv_scale_q16, dtype=np.int64)
            offset = np.zeros(self.n_centroids, np.int64) if self.centroid_offset_q8 is None else np.asarray(
                self.centroid_offset_q8, dtype=np.int64)
            if inv_scale.shape != (self.n_centroids, self.n_dims) or offset.shape != (self.n_centroids,):
                raise ProfileError(f"centroid scales of shape {inv_scale.shape} and offsets of shape {offset.shape} "
                                   f"for {self.n_centroids} centroids of {self.n_dims} dims")
            for k in range(self.n_centroids):
                body += struct.pack(f"<I{self.n_dims}I", int(offset[k]), *inv_scale[k].tolist())
        if self.occupancy_windows:
            cost = np.asarray(self.occupancy_cost_q8 if self.occupancy_cost_q8 is not None else [], dtype=np.int64)
            if cost.shape != (self.n_centroids,):
                raise ProfileError(f"occupancy costs of shape {cost.shape} for {self.n_centroids} centroids")
            raw = struct.pack(f"<IB3x{self.n_centroids}H", self.occupancy_threshold_q8, self.occupancy_windows,
                              *cost.tolist())
            body += raw + bytes(-len(raw) % 4)
        if self.feature_chart:
            body += struct.pack("<HH", self.chart_k_q8, self.chart_h_q8)
            body += np.ascontiguousarray(self.chart_roots(), dtype="<u4").tobytes()
        if self.outputs is not None:
            n_classes, n_bins, scale_q24, zero_point, prior_q16, accuracy_q16 = self.outputs.quantized()
            body += OUTPUTS_HEAD.pack(n_classes, n_bins, 0, scale_q24, zero_point)
            body += struct.pack(f"<{n_classes}I{n_bins}I", *prior_q16, *accuracy_q16)
        if self.channel_names is not None:
            try:
                body += pack_names(self.channel_names, self.n_channels)
            except NamesError as exc:
                raise ProfileError(f"channel names: {exc}") from None
        total = HEADER.size + len(body) + 4
        header = HEADER.pack(
            MAGIC, VERSION, HEADER.size, total, profile_id, self.n_channels, self.n_dims, self.n_centroids,
            self.proj_shift, self.window, flags, self.false_alarm_ppb, self.cusum_k_q8, self.cusum_h_q8,
            self.instant_q8, self.ext_scale_q24, self.ext_zero_point, created_unix, self.calibration_windows,
        )
        blob = header + bytes(body)
        return blob + struct.pack("<I", zlib.crc32(blob))

    def to_bytes(self) -> bytes:
        """The binary blob, checked by the C parser before it is returned."""
        try:
            blob = self._pack(self.profile_id, self.created_unix)
        except struct.error as exc:
            raise ProfileError(f"profile field out of range: {exc}") from None
        validate(blob)
        return blob

    @classmethod
    def from_bytes(cls, blob: bytes) -> Profile:
        """Parse and fully validate a blob (raises ProfileError naming what is wrong)."""
        validate(blob)
        (_, _, _, total, _, n_ch, n_dims, n_cent, shift, window, flags, ppb, k, h, inst, scale, zp, created,
         cal_windows) = HEADER.unpack_from(blob, 0)
        off = HEADER.size
        channels = []
        for _ in range(n_ch):
            lo, hi, sentinel, ch_flags, tol, max_miss, max_sat, std_floor, mean, std = CHANNEL.unpack_from(blob, off)
            channels.append(
                ChannelConfig(lo, hi, sentinel if ch_flags & CHANNEL_FLAG_SENTINEL else None,
                              bool(ch_flags & CHANNEL_FLAG_STUCK_CHECK), tol, max_miss, max_sat, std_floor, mean, std)
            )
            off += CHANNEL.size
        n_features = 2 * n_ch
        feats = np.frombuffer(blob, dtype=np.dtype([("mu", "<i4"), ("inv", "<u4")]), count=n_features, offset=off)
        off += FEATURE.size * n_features
        projection = None
        if not flags & FLAG_EXTERNAL_EMBEDDING:
            projection = np.frombuffer(blob, dtype=np.int8, count=n_dims * n_features, offset=off)
            projection = projection.reshape(n_dims, n_features).copy()
            off += (n_dims * n_features + 3) // 4 * 4
        centroids = np.frombuffer(blob, dtype="<i4", count=n_cent * n_dims, offset=off).reshape(n_cent, n_dims)
        off += 4 * n_cent * n_dims
        offset_q8 = inv_scale_q16 = None
        if flags & FLAG_CENTROID_SCALES:
            rows = np.frombuffer(blob, dtype="<u4", count=n_cent * (n_dims + 1), offset=off).reshape(n_cent, n_dims + 1)
            offset_q8, inv_scale_q16 = rows[:, 0].astype(np.uint32), rows[:, 1:].astype(np.uint32)
            off += 4 * n_cent * (n_dims + 1)
        occ_windows, occ_threshold, occ_cost = 0, 0, None
        if flags & FLAG_OCCUPANCY:
            occ_threshold, occ_windows = struct.unpack_from("<IB", blob, off)
            occ_cost = np.frombuffer(blob, dtype="<u2", count=n_cent, offset=off + 8).astype(np.uint16)
            off += 8 + (2 * n_cent + 3) // 4 * 4
        chart_k = chart_h = 0
        chart_roots = None
        if flags & FLAG_FEATURE_CHART:
            chart_k, chart_h = struct.unpack_from("<HH", blob, off)
            chart_roots = np.frombuffer(blob, dtype="<u4", count=n_cent * n_features, offset=off + 4)
            off += 4 + 4 * n_cent * n_features
        outputs = None
        if flags & FLAG_OUTPUTS:
            n_classes, n_bins, _, scale_q24, zero_point = OUTPUTS_HEAD.unpack_from(blob, off)
            values = struct.unpack_from(f"<{n_classes + n_bins}I", blob, off + OUTPUTS_HEAD.size)
            outputs = OutputsConfig(prior=np.array(values[:n_classes], np.float64) / Q16,
                                    accuracy=np.array(values[n_classes:], np.float64) / Q16,
                                    scale=scale_q24 / Q24, zero_point=zero_point)
            off += OUTPUTS_HEAD.size + 4 * (n_classes + n_bins)
        names = None
        if flags & FLAG_NAMES:
            try:
                names = unpack_names(bytes(blob[off:total - 4]), n_ch)
            except NamesError as exc:
                raise ProfileError(f"invalid profile: channel names: {exc}") from None
        profile = cls(
            window=window, channels=channels, feature_mu_q8=feats["mu"].astype(np.int32),
            feature_inv_sigma_q24=feats["inv"].astype(np.uint32), centroids_q8=centroids.astype(np.int32),
            projection=projection, proj_shift=shift, cusum_k_q8=k, cusum_h_q8=h, instant_q8=inst,
            false_alarm_ppb=ppb, ext_scale_q24=scale, ext_zero_point=zp, created_unix=created, outputs=outputs,
            calibration_windows=cal_windows, channel_names=names,
            log_std=bool(flags & FLAG_LOG_STD), centroid_offset_q8=offset_q8, centroid_inv_scale_q16=inv_scale_q16,
            occupancy_windows=occ_windows, occupancy_threshold_q8=occ_threshold, occupancy_cost_q8=occ_cost,
            feature_chart=chart_roots is not None, chart_k_q8=chart_k, chart_h_q8=chart_h if chart_roots is not None
            else 0xFFFF,
        )
        # The roots are derived data: a blob whose roots do not follow from its projection and scales would be
        # rewritten differently by to_bytes, so it is refused here rather than silently changed.
        if chart_roots is not None and not np.array_equal(chart_roots.reshape(n_cent, n_features),
                                                          profile.chart_roots()):
            raise ProfileError("invalid profile: feature chart roots do not match the projection and centroid scales")
        return profile

    def save(self, path: str | Path) -> None:
        """Write the blob to path (atomically: a crash never leaves half a profile)."""
        from tinydrift.core.files import write_atomic  # a device or FIFO target is written in place

        write_atomic(path, self.to_bytes())

    def to_c_header(self, symbol: str = "tinydrift_profile") -> str:
        """C source declaring the blob as a const uint8_t array for compile-time embedding."""
        if not (symbol.isascii() and symbol.isidentifier()) or symbol in _C_KEYWORDS:
            raise ProfileError(f"not a C identifier: {symbol!r}")
        blob = self.to_bytes()
        guard = symbol.upper() + "_H"
        lines = [
            f"/* {symbol} - tinydrift profile {self.profile_id:#010x}, generated by `tinydrift profile header`.",
            f" * {self.n_channels} channels, window {self.window}, {self.n_dims} dims, {self.n_centroids} centroids,",
            f" * calibrated for {self.false_alarm_rate:g} false alarms per window. Do not edit. */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            "#include <stdint.h>",
            "",
            f"#define {symbol.upper()}_SIZE {len(blob)}u",
            f"#define {symbol.upper()}_ID {self.profile_id:#010x}u",
            "",
            "/* The core reads it byte-wise, so it can be parsed in place from flash at any alignment. */",
            f"static const uint8_t {symbol}[{len(blob)}] = {{",
        ]
        for i in range(0, len(blob), 12):
            lines.append("    " + ", ".join(f"0x{b:02x}" for b in blob[i : i + 12]) + ",")
        lines += ["};", "", f"#endif /* {guard} */", ""]
        return "\n".join(lines)


_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile "
    "while _Bool _Complex _Imaginary".split()
)


def validate(blob: bytes) -> None:
    """Run the C parser over blob; raise ProfileError with its verdict unless it is a valid profile."""
    parsed = ffi.new("td_profile_t *")
    status = lib.td_profile_parse(parsed, blob, len(blob))
    if status != lib.TD_OK:
        raise ProfileError(f"invalid profile: {status_text(status)}", status)


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    try:
        return Profile.from_bytes(blob)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}", exc.status) from None
