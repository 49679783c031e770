"""Profile blob: round trip, independent struct/zlib decoding, and rejection of every corruption and truncation."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydrift import ChannelConfig, Monitor, Profile, ProfileError, build_profile, load_profile
from tinydrift.core.native import lib
from tinydrift.core.profile import validate

HEADER_FMT = "<4sHHIIBBBBHHIIIIIiII8x"  # docs: 64-byte little-endian header
HEADER_FIELDS = ("magic", "version", "header_size", "total_size", "profile_id", "n_channels", "n_dims",
                 "n_centroids", "proj_shift", "window", "flags", "false_alarm_ppb", "cusum_k_q8", "cusum_h_q8",
                 "instant_q8", "ext_scale_q24", "ext_zero_point", "created_unix", "calibration_windows")
CHANNEL_FMT = "<hhhHHHHHii"
FEATURE_FMT = "<iI"


def decode_header(blob: bytes) -> dict:
    assert struct.calcsize(HEADER_FMT) == 64
    return dict(zip(HEADER_FIELDS, struct.unpack_from(HEADER_FMT, blob, 0)))


def with_crc(body: bytes | bytearray) -> bytes:
    """Replace the trailing CRC with zlib.crc32 of everything before it."""
    body = bytes(body[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def channel_off(c: int) -> int:
    return 64 + 24 * c


def feature_off(n_channels: int, f: int) -> int:
    return 64 + 24 * n_channels + 8 * f


@pytest.fixture(scope="module")
def built(sensor_generator) -> Profile:
    rng = np.random.default_rng(42)
    frames = sensor_generator.draw(rng, 32 * 600)
    frames[rng.random(len(frames)) < 0.01, 1] = -32768  # some missing samples on channel 1
    # The layout checks below cover the sections of this profile; the occupancy section (on by default from 300
    # windows) has its own in test_occupancy.py.
    return build_profile(frames, window=32, false_alarm_rate=1e-3, n_centroids=4,
                         rails=(-32000, 32000), sentinel=-32768, seed=1, occupancy_windows=None)


@pytest.fixture(scope="module")
def blob(built) -> bytes:
    return built.to_bytes()


def assert_profiles_equal(a: Profile, b: Profile) -> None:
    assert a.window == b.window
    assert a.channels == b.channels
    for name in ("feature_mu_q8", "feature_inv_sigma_q24", "centroids_q8"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(np.asarray(x, np.int64), np.asarray(y, np.int64)), name
        assert np.asarray(x).shape == np.asarray(y).shape, name
    if a.projection is None:
        assert b.projection is None
    else:
        assert b.projection is not None and b.projection.dtype == np.int8
        assert np.array_equal(a.projection, b.projection)
    for name in ("proj_shift", "cusum_k_q8", "cusum_h_q8", "instant_q8", "false_alarm_ppb", "ext_scale_q24",
                 "ext_zero_point", "created_unix", "profile_id", "n_channels", "n_dims", "n_centroids"):
        assert getattr(a, name) == getattr(b, name), name


# ---------------------------------------------------------------------------------------------
# Round trip and independent decoding
# ---------------------------------------------------------------------------------------------

def test_round_trip_built_profile(built, blob):
    back = Profile.from_bytes(blob)
    assert_profiles_equal(built, back)
    assert back.to_bytes() == blob
    assert Profile.from_bytes(back.to_bytes()).to_bytes() == blob
    assert built.to_bytes() == blob  # serialisation is deterministic
    assert back.channel_names is None  # host-only field, not stored


def test_blob_layout_decodes_with_struct(built, blob):
    h = decode_header(blob)
    assert h["magic"] == b"TDPF"
    assert h["version"] == 1
    assert h["header_size"] == 64
    assert h["total_size"] == len(blob)
    assert blob[56:64] == bytes(8)  # reserved
    assert (h["n_channels"], h["n_dims"], h["n_centroids"], h["window"]) == (
        built.n_channels, built.n_dims, built.n_centroids, built.window)
    # default build: log-std + centroid scales + feature chart
    assert h["flags"] == 0x002C and built.projection is not None
    assert (h["cusum_k_q8"], h["cusum_h_q8"], h["instant_q8"], h["false_alarm_ppb"]) == (
        built.cusum_k_q8, built.cusum_h_q8, built.instant_q8, 1_000_000)
    assert h["profile_id"] == built.profile_id
    assert h["created_unix"] == built.created_unix
    assert h["calibration_windows"] == built.calibration_windows == built.calibration.n_windows > 0
    # CRC-32 (zlib) of everything before it, little-endian.
    assert struct.unpack("<I", blob[-4:])[0] == zlib.crc32(blob[:-4])
    # Sections: channels, features, int8 projection padded to 4, int32 centroids, centroid scales, feature chart
    # (k, h, roots), CRC.
    c, k, K = built.n_channels, built.n_dims, built.n_centroids
    proj = (k * 2 * c + 3) // 4 * 4
    assert len(blob) == 64 + 24 * c + 8 * 2 * c + proj + 4 * K * k + 4 * K * (k + 1) + 4 + 4 * K * 2 * c + 4
    assert lib.td_profile_size(c, k, K, h["flags"]) == len(blob)
    for ch in range(c):
        lo, hi, sentinel, flags, tol, max_miss, max_sat, reserved, mean, std = struct.unpack_from(
            CHANNEL_FMT, blob, channel_off(ch))
        cfg = built.channels[ch]
        assert (lo, hi) == (cfg.rail_lo, cfg.rail_hi) == (-32000, 32000)
        assert sentinel == cfg.sentinel == -32768 and flags & 0x0002
        assert bool(flags & 0x0001) == cfg.stuck_check
        assert (tol, max_miss, max_sat, reserved, mean, std) == (
            cfg.stuck_tolerance, cfg.max_missing, cfg.max_saturated, cfg.std_floor, cfg.ref_mean_q8, cfg.ref_std_q8)
        assert reserved >= 1  # the log-std floor
    for f in range(2 * c):
        mu, inv = struct.unpack_from(FEATURE_FMT, blob, feature_off(c, f))
        assert (mu, inv) == (built.feature_mu_q8[f], built.feature_inv_sigma_q24[f])
    off = feature_off(c, 2 * c)
    assert np.array_equal(np.frombuffer(blob, np.int8, k * 2 * c, off).reshape(k, 2 * c), built.projection)
    assert blob[off + k * 2 * c : off + proj] == bytes(proj - k * 2 * c)
    cent = np.frombuffer(blob, "<i4", K * k, off + proj).reshape(K, k)
    assert np.array_equal(cent, built.centroids_q8)
    scales = np.frombuffer(blob, "<u4", K * (k + 1), off + proj + 4 * K * k).reshape(K, k + 1)
    assert np.array_equal(scales[:, 0], built.centroid_offset_q8)
    assert np.array_equal(scales[:, 1:], built.centroid_inv_scale_q16)
    assert scales[:, 0].min() == 0 and scales[:, 1:].min() >= 1
    chart = off + proj + 4 * K * k + 4 * K * (k + 1)
    assert struct.unpack_from("<HH", blob, chart) == (built.chart_k_q8, built.chart_h_q8)
    roots = np.frombuffer(blob, "<u4", K * 2 * c, chart + 4).reshape(K, 2 * c)
    assert np.array_equal(roots, built.chart_roots())
    assert chart + 4 + 4 * K * 2 * c == len(blob) - 4


def test_profile_id_stable_and_content_addressed(built, blob):
    later = built.replace(created_unix=built.created_unix + 12345)
    assert later.profile_id == built.profile_id
    assert later.to_bytes() != blob
    assert Profile.from_bytes(later.to_bytes()).profile_id == built.profile_id
    # Independently: CRC-32 of the blob without its trailing CRC, with id and creation time zeroed
    # (host/tinydrift/core/profile.py Profile.profile_id). Including the trailing CRC would make every id the
    # CRC-32 residue constant 0x2144DF1C.
    zeroed = bytearray(blob[:-4])
    zeroed[12:16] = bytes(4)
    zeroed[48:52] = bytes(4)
    assert zlib.crc32(bytes(zeroed)) == built.profile_id
    assert built.profile_id != 0x2144DF1C
    # Content changes change the id.
    assert built.replace(cusum_h_q8=built.cusum_h_q8 + 1).profile_id != built.profile_id
    assert built.replace(window=built.window + 1).profile_id != built.profile_id


def test_blob_longer_than_profile_is_accepted(blob, built):
    """td_profile_parse: 'len may exceed the profile' (e.g. a flash slot)."""
    validate(blob + bytes(100))
    validate(blob + b"\xff" * 7)
    assert_profiles_equal(Profile.from_bytes(blob + b"\xff" * 7), built)


@st.composite
def random_profiles(draw) -> Profile:
    window = draw(st.integers(2, 1024))
    n_ch = draw(st.integers(1, 16))
    channels = []
    for _ in range(n_ch):
        lo = draw(st.integers(-32768, 32766))
        hi = draw(st.integers(lo + 1, 32767))
        sentinel = draw(st.one_of(st.none(), st.integers(-32768, lo), st.integers(hi, 32767)))
        channels.append(ChannelConfig(
            rail_lo=lo, rail_hi=hi, sentinel=sentinel, stuck_check=draw(st.booleans()),
            stuck_tolerance=draw(st.integers(0, 65535)), max_missing=draw(st.integers(0, window)),
            max_saturated=draw(st.integers(0, window)), ref_mean_q8=draw(st.integers(-2**31, 2**31 - 1)),
            ref_std_q8=draw(st.integers(0, 2**31 - 1))))
    external = draw(st.booleans())
    k = draw(st.integers(1, 16 if external else min(16, 2 * n_ch)))
    K = draw(st.integers(1, 16))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    u32 = st.integers(0, 2**32 - 1)
    return Profile(
        window=window, channels=channels,
        feature_mu_q8=rng.integers(-(1 << 23), (1 << 23) + 1, 2 * n_ch).astype(np.int32),
        feature_inv_sigma_q24=rng.integers(1, 2**31 + 1, 2 * n_ch).astype(np.uint32),
        centroids_q8=rng.integers(-(1 << 24), (1 << 24) + 1, (K, k)).astype(np.int32),
        projection=None if external else rng.integers(-128, 128, (k, 2 * n_ch)).astype(np.int8),
        proj_shift=0 if external else draw(st.integers(0, 15)),
        cusum_k_q8=draw(u32), cusum_h_q8=draw(u32), instant_q8=draw(u32),
        false_alarm_ppb=draw(st.integers(0, 10**9)),
        ext_scale_q24=draw(st.integers(1, 2**32 - 1)) if external else 0,
        ext_zero_point=draw(st.integers(-128, 127)) if external else 0,
        created_unix=draw(u32),
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(p=random_profiles())
def test_round_trip_random_profiles(p):
    b = p.to_bytes()
    back = Profile.from_bytes(b)
    assert_profiles_equal(p, back)
    assert back.to_bytes() == b
    h = decode_header(b)
    assert (h["magic"], h["version"], h["header_size"], h["total_size"]) == (b"TDPF", 1, 64, len(b))
    assert h["flags"] == (1 if p.external_embedding else 0)
    assert struct.unpack("<I", b[-4:])[0] == zlib.crc32(b[:-4])
    assert lib.td_profile_size(p.n_channels, p.n_dims, p.n_centroids, h["flags"]) == len(b)


# ---------------------------------------------------------------------------------------------
# Corruption and truncation
# ---------------------------------------------------------------------------------------------

def _expected_statuses(offset: int, blob: bytes) -> set[int]:
    """Which td_status a corruption at offset may produce, given the parser's documented check order."""
    if offset < 4:
        return {lib.TD_ERR_MAGIC}
    if offset < 6:
        return {lib.TD_ERR_VERSION}
    if offset < 12:
        return {lib.TD_ERR_SIZE}  # header size, total size
    if offset in (16, 17, 18):  # counts: size no longer matches (or too many channels)
        return {lib.TD_ERR_SIZE, lib.TD_ERR_LIMIT}
    if offset == 22:  # flags low byte: bit 0 changes the projection size
        return {lib.TD_ERR_SIZE, lib.TD_ERR_CRC}
    return {lib.TD_ERR_CRC}


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_single_byte_corruption_is_rejected(blob, mask):
    statuses = {}
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= mask
        with pytest.raises(ProfileError) as exc:
            validate(bytes(bad))
        st_ = exc.value.status
        assert st_ is not None and st_ != lib.TD_OK and st_ < 0, i
        assert st_ in _expected_statuses(i, blob), (i, mask, st_)
        statuses[st_] = statuses.get(st_, 0) + 1
    assert statuses.get(lib.TD_ERR_CRC, 0) > len(blob) // 2  # most bytes are caught by the CRC
    # The public entry points refuse it too.
    bad = bytearray(blob)
    bad[len(blob) // 2] ^= mask
    with pytest.raises(ProfileError):
        Profile.from_bytes(bytes(bad))
    with pytest.raises(ProfileError):
        Monitor(bytes(bad))


def test_every_truncation_is_rejected(blob):
    for n in range(len(blob)):
        with pytest.raises(ProfileError) as exc:
            validate(blob[:n])
        assert exc.value.status == lib.TD_ERR_TRUNCATED, n
    validate(blob)


def test_load_profile_errors(tmp_path, built, blob):
    with pytest.raises(ProfileError) as exc:
        load_profile(tmp_path / "missing.tdp")
    assert "missing.tdp" in str(exc.value)
    path = tmp_path / "p.tdp"
    built.save(path)
    assert path.read_bytes() == blob
    assert_profiles_equal(load_profile(path), built)
    assert_profiles_equal(load_profile(str(path)), built)
    bad = bytearray(blob)
    bad[100] ^= 0x10
    path.write_bytes(bytes(bad))
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    assert exc.value.status == lib.TD_ERR_CRC
    path.write_bytes(blob[:-1])
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    assert exc.value.status == lib.TD_ERR_TRUNCATED


# ---------------------------------------------------------------------------------------------
# Semantic errors behind a valid CRC
# ---------------------------------------------------------------------------------------------

def _patch(blob: bytes, fmt: str, offset: int, *values) -> bytes:
    b = bytearray(blob)
    struct.pack_into(fmt, b, offset, *values)
    return with_crc(b)


def _semantic_cases(blob: bytes, n_ch: int) -> dict:
    c1 = channel_off(1)
    return {
        "rail_lo_eq_rail_hi": _patch(blob, "<hh", c1, 100, 100),
        "rail_lo_gt_rail_hi": _patch(blob, "<hh", c1, 101, 100),
        "sentinel_inside_rails": _patch(blob, "<hhhH", c1, -1000, 1000, 0, 0x0002),
        "sentinel_just_inside": _patch(blob, "<hhhH", c1, -1000, 1000, -999, 0x0002),
        "sentinel_without_flag": _patch(blob, "<hhhH", c1, -1000, 1000, 5000, 0x0000),
        "inv_sigma_zero": _patch(blob, "<I", feature_off(n_ch, 3) + 4, 0),
        "inv_sigma_too_large": _patch(blob, "<I", feature_off(n_ch, 0) + 4, 0x80000001),
        "unknown_channel_flag": _patch(blob, "<H", c1 + 6, 0x0006),
        "log_std_floor_zero": _patch(blob, "<H", c1 + 14, 0),
        "channel_reserved_without_log_std": _patch(_patch(blob, "<H", 22, 0x0028), "<H", c1 + 14, 1),
        "max_missing_gt_window": _patch(blob, "<H", c1 + 10, 33),
        "negative_ref_std": _patch(blob, "<i", c1 + 20, -1),
        "header_reserved": _patch(blob, "<B", 60, 1),
        "unknown_profile_flag": _patch(blob, "<H", 22, 0x012C),
        "chart_root_above_2_25": _patch(blob, "<I", len(blob) - 8, (1 << 25) + 1),
        "window_1": _patch(blob, "<H", 20, 1),
        "false_alarm_ppb_gt_1e9": _patch(blob, "<I", 24, 10**9 + 1),
        "proj_shift_16": _patch(blob, "<B", 19, 16),
        "ext_scale_in_pca_mode": _patch(blob, "<I", 40, 5),
    }


def test_semantic_errors_rejected_with_range(built, blob):
    n_ch = built.n_channels
    validate(_patch(blob, "<hh", channel_off(1), -32000, 32000))  # unchanged values: still valid
    for name, bad in _semantic_cases(blob, n_ch).items():
        assert struct.unpack("<I", bad[-4:])[0] == zlib.crc32(bad[:-4])
        with pytest.raises(ProfileError) as exc:
            validate(bad)
        assert exc.value.status == lib.TD_ERR_RANGE, name


def test_limit_errors_behind_valid_crc(blob):
    with pytest.raises(ProfileError) as exc:
        validate(_patch(blob, "<H", 20, 1025))  # window above TD_MAX_WINDOW
    assert exc.value.status == lib.TD_ERR_LIMIT


def test_profile_writer_refuses_semantic_errors(built):
    """The Python writer runs the C validator: bad fields never leave the host."""
    chans = [ChannelConfig(**vars(c)) for c in built.channels]
    chans[0].rail_lo, chans[0].rail_hi = 10, 10
    with pytest.raises(ProfileError) as exc:
        built.replace(channels=chans).to_bytes()
    assert exc.value.status == lib.TD_ERR_RANGE
    chans = [ChannelConfig(**vars(c)) for c in built.channels]
    chans[2].sentinel = 0  # inside (-32000, 32000)
    with pytest.raises(ProfileError) as exc:
        built.replace(channels=chans).to_bytes()
    assert exc.value.status == lib.TD_ERR_RANGE
    inv = built.feature_inv_sigma_q24.copy()
    inv[5] = 0
    with pytest.raises(ProfileError) as exc:
        built.replace(feature_inv_sigma_q24=inv).to_bytes()
    assert exc.value.status == lib.TD_ERR_RANGE


# ---------------------------------------------------------------------------------------------
# Worked example of docs/profile-format.md (bytes printed by the C test writer)
# ---------------------------------------------------------------------------------------------

WORKED_EXAMPLE_HEX = """
54 44 50 46 01 00 40 00 74 00 00 00 44 33 22 11
01 01 01 07 32 00 00 00 40 42 0f 00 00 01 00 00
00 0a 00 00 00 10 00 00 00 00 00 00 00 00 00 00
00 f1 53 65 00 00 00 00 00 00 00 00 00 00 00 00
18 fc e8 03 00 80 03 00 01 00 02 00 05 00 00 00
00 64 00 00 00 08 00 00 00 64 00 00 00 00 20 00
00 0a 00 00 00 00 80 00 5b a6 00 00 80 fe ff ff
9c c6 eb 50
"""


def _worked_example_profile() -> Profile:
    return Profile(
        window=50,
        channels=[ChannelConfig(rail_lo=-1000, rail_hi=1000, sentinel=-32768, stuck_check=True, stuck_tolerance=1,
                                max_missing=2, max_saturated=5, ref_mean_q8=25600, ref_std_q8=2048)],
        feature_mu_q8=np.array([25600, 2560], np.int32),
        feature_inv_sigma_q24=np.array([1 << 21, 1 << 23], np.uint32),
        projection=np.array([[91, -90]], np.int8), proj_shift=7,
        centroids_q8=np.array([[-384]], np.int32),
        cusum_k_q8=256, cusum_h_q8=2560, instant_q8=4096, false_alarm_ppb=1_000_000, created_unix=1_700_000_000,
    )


def test_worked_example_bytes():
    ref = bytes.fromhex(WORKED_EXAMPLE_HEX)
    assert len(ref) == 116 and struct.unpack("<I", ref[-4:])[0] == zlib.crc32(ref[:-4]) == 0x50EBC69C
    validate(ref)
    p = _worked_example_profile()
    ours = p.to_bytes()
    # Identical except the profile id (the C writer used 0x11223344) and therefore the CRC.
    assert ours[:12] == ref[:12] and ours[16:-4] == ref[16:-4]
    assert with_crc(ours[:12] + ref[12:16] + ours[16:]) == ref
    back = Profile.from_bytes(ref)
    assert back.channels == p.channels and back.window == 50 and back.proj_shift == 7
    assert np.array_equal(back.projection, p.projection) and np.array_equal(back.centroids_q8, p.centroids_q8)


def test_worked_example_monitor_values():
    frames = np.r_[np.full(25, 100), np.full(25, 109)].astype(np.int16).reshape(-1, 1)
    rows = Monitor(bytes.fromhex(WORKED_EXAMPLE_HEX)).push(frames)
    r = rows[0]
    assert (r["mean"][0] * 256, r["std"][0] * 256) == (26752, 1152)
    assert (r["z_mean"][0] * 256, r["z_std"][0] * 256) == (144, -704)
    assert r["embedding"][0] * 256 == 597
    assert (r["dist"] * 256, r["recon"] * 256, r["score"] * 256) == (3759, 621, 4380)
    assert r["trigger"] == lib.TD_TRIGGER_INSTANT | lib.TD_TRIGGER_CUSUM
    assert r["cusum"] * 256 == 4124 and r["alarm"]
