"""External-embedding profiles end to end on every simulated board (host build and QEMU Cortex-M4).

An external-embedding profile (no projection; the application's int8 embeddings are the
embedding) is built by hand: one ChannelConfig per channel, feature mu / 1/sigma from
data/basicmotions.npz, random centroids, thresholds from a dry run. It is uploaded, and then
every window gets 0..3 random int8 embeddings (INJECT_EMBEDDING) interleaved with its frames
(INJECT) at random points: before a window's first frame, between INJECT messages, in
messages of several embeddings, with INJECT messages that span windows. Every telemetry
record equals the row tinydrift.score_events computes for the same event list, field for
field; dist and nearest also equal an independent numpy evaluation of the documented
formula (docs/protocol.md, INJECT_EMBEDDING). NACKs: TD_ERR_STATE without a profile,
TD_ERR_MODE on a PCA profile, TD_ERR_ARG for a length that is not whole embeddings,
TD_ERR_CAPACITY past 65,535 embeddings in a window. A retried message (lost ACK) is not
added twice. QEMU needs qemu-system-arm and arm-none-eabi-gcc; without them its half is skipped.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import round_half_away

import tinydrift
from tinydrift import ChannelConfig, Profile
from tinydrift.device import messages as link, protocol as proto
from tinydrift.core.native import lib
from tinydrift.device.client import Device
from tinydrift.core.errors import InputError
from tinydrift.device.protocol import DeviceError
from tinydrift.device.sim import Simulator
from e2e_boards import TIMEOUT, activate, assert_equal_rows, connect, dev, missing_tools, nack, sim  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
DATA_NPZ = ROOT / "data" / "basicmotions.npz"
WINDOW = 10
N_DIMS = 8
N_CENTROIDS = 4
SCALE_Q24 = 838_861  # 0.05
ZERO_POINT = -3


def external_profile(frames: np.ndarray, n_dims: int = N_DIMS, n_centroids: int = N_CENTROIDS,
                     zero_point: int = ZERO_POINT, seed: int = 3, **thresholds: int) -> Profile:
    """A hand-built external-embedding profile: feature statistics from frames, random centroids."""
    base = tinydrift.build_profile(frames, window=WINDOW, seed=0)  # for mu / 1/sigma of the 12 features
    rng = np.random.default_rng(seed)
    channels = [ChannelConfig(ref_mean_q8=int(round(frames[:, c].mean() * 256)),
                              ref_std_q8=int(round(frames[:, c].std() * 256))) for c in range(frames.shape[1])]
    centroids = np.round(rng.normal(0.0, 2.5, (n_centroids, n_dims)) * 256).astype(np.int32)
    return Profile(window=WINDOW, channels=channels, feature_mu_q8=base.feature_mu_q8.copy(),
                   feature_inv_sigma_q24=base.feature_inv_sigma_q24.copy(), centroids_q8=centroids,
                   projection=None, proj_shift=0, ext_scale_q24=SCALE_Q24, ext_zero_point=zero_point,
                   false_alarm_ppb=1000, created_unix=1_700_000_000, **thresholds)


def make_events(rng: np.random.Generator, frames: np.ndarray, n_dims: int, max_per_window: int = 3,
                ) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    """Frames of whole windows with 0..max_per_window random embeddings per window at random frame positions.

    Returns the event list and the number of embeddings of each window."""
    n_windows = len(frames) // WINDOW
    counts = rng.integers(0, max_per_window + 1, n_windows)
    # An embedding at position p is sent after p frames: p in [w*W, w*W + W - 1] puts it into window w
    # (p == w*W: before the window's first frame; otherwise between two of its frames).
    positions = np.sort(np.concatenate([w * WINDOW + rng.integers(0, WINDOW, k) for w, k in enumerate(counts)]
                                       + [np.zeros(0, np.int64)]))
    emb = rng.integers(-128, 128, (len(positions), n_dims)).astype(np.int8)
    events: list[tuple[str, np.ndarray]] = []
    done = i = 0
    while i < len(positions):
        p = int(positions[i])
        j = i
        while j < len(positions) and positions[j] == p:
            j += 1
        if p > done:
            events.append(("frames", frames[done:p]))
            done = p
        events.append(("embeddings", emb[i:j]))
        i = j
    if done < n_windows * WINDOW:
        events.append(("frames", frames[done : n_windows * WINDOW]))
    return events, counts


def formula_rows(profile: Profile, events: list[tuple[str, np.ndarray]]) -> list[tuple[list[int], int, int]]:
    """Per window, from docs/protocol.md alone: e_q8 = round((sum - n*zp) * scale_q24 / (n << 16)),
    dist_q8 = (min_k |e - c_k|^2 + 128) >> 8, nearest = first argmin; (0s, 0, 0) without embeddings."""
    out = []
    pending: list[np.ndarray] = []
    fill = 0
    cents = profile.centroids_q8.astype(object)
    for kind, data in events:
        if kind == "embeddings":
            pending.append(np.asarray(data))
            continue
        fill += len(data)
        while fill >= WINDOW:
            fill -= WINDOW  # every embedding sent before this frames event belongs to the window it completes
            emb = np.concatenate(pending) if pending else np.zeros((0, profile.n_dims), np.int8)
            pending = []
            n = len(emb)
            if n == 0:
                out.append(([0] * profile.n_dims, 0, 0))
                continue
            sums = emb.astype(np.int64).sum(axis=0)
            e = [round_half_away(Fraction((int(s) - n * profile.ext_zero_point) * profile.ext_scale_q24, n << 16))
                 for s in sums]
            d2 = [sum((e[j] - int(c[j])) ** 2 for j in range(profile.n_dims)) for c in cents]
            k = int(np.argmin(d2))
            out.append((e, (d2[k] + 128) >> 8, k))
    return out


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def data() -> dict:
    frames = np.load(DATA_NPZ)["frames"]
    train, stream = frames[:4000], frames[4000:5500].copy()  # 150 held-out windows
    dry = external_profile(train)
    events, _ = make_events(np.random.default_rng(11), stream, N_DIMS)
    scores = tinydrift.score_events(dry, events)["score"]
    scores = scores[scores > 0]
    # Thresholds from the dry run: instant at the 97th percentile, CUSUM k at the 70th, h = 8 k.
    k = int(np.percentile(scores, 70) * 256)
    profile = dry.replace(instant_q8=int(np.percentile(scores, 97) * 256), cusum_k_q8=k, cusum_h_q8=8 * k)
    blob = profile.to_bytes()  # the C parser accepts it
    assert Profile.from_bytes(blob).external_embedding and blob[22] & 1 and blob[19] == 0
    pca = tinydrift.build_profile(train, window=WINDOW, seed=0)
    return {"profile": profile, "pca": pca, "train": train, "stream": stream, "frames": frames}


# ------------------------------------------------------------------------------------------ tests


def test_inject_embedding_nacks(dev: Device, data: dict) -> None:
    profile = data["profile"]
    assert dev.info().profile_id == 0  # fresh storage: no profile yet
    nack(dev, proto.MSG_INJECT_EMBEDDING, bytes(N_DIMS), lib.TD_ERR_STATE)
    # A PCA profile: the wrong mode, whether sent raw or through Device.inject_embeddings.
    activate(dev, data["pca"])
    nack(dev, proto.MSG_INJECT_EMBEDDING, bytes(N_DIMS), lib.TD_ERR_MODE)
    with pytest.raises(DeviceError, match="INJECT_EMBEDDING rejected: TD_ERR_MODE"):
        dev.inject_embeddings(np.zeros((2, N_DIMS), np.int8))
    # The external profile: lengths that are not whole 8-value embeddings, an empty message.
    activate(dev, profile)
    for size in (N_DIMS + 1, N_DIMS - 1, 3 * N_DIMS + 5, 0):
        nack(dev, proto.MSG_INJECT_EMBEDDING, bytes(size), lib.TD_ERR_ARG)
    with pytest.raises(InputError, match="expects 8"):
        dev.inject_embeddings(np.zeros((2, N_DIMS + 1), np.int8))  # checked on the host before sending
    with pytest.raises(InputError, match="int8"):
        dev.inject_embeddings(np.full((1, N_DIMS), 200))
    # None of the rejected messages added anything: the first window holds exactly what follows.
    events = [("embeddings", np.full((1, N_DIMS), 7, np.int8)), ("frames", data["stream"][:WINDOW])]
    records = dev.inject_stream(events)
    rows = tinydrift.score_events(profile, events)
    assert_equal_rows(records, rows)
    assert records[0].n_embeddings == 1 and records[0].window == 0


def test_interleaved_stream_equals_score_events(sim: Simulator, dev: Device, data: dict) -> None:
    profile = data["profile"]
    activate(dev, profile)
    events, counts = make_events(np.random.default_rng(2024), data["stream"], N_DIMS)
    kinds = [k for k, _ in events]
    assert kinds.count("embeddings") > 100 and {len(d) for k, d in events if k == "embeddings"} >= {1, 2}
    next_seq = dev.info().next_seq
    t0 = time.monotonic()
    records = dev.inject_stream(events)
    elapsed = time.monotonic() - t0
    rows = tinydrift.score_events(profile, events)
    assert len(rows) == len(counts) == 150
    assert_equal_rows(records, rows)
    assert [r.seq for r in records] == list(range(next_seq, next_seq + 150))
    # What the records say about the embeddings, against the event list and the documented formula.
    assert rows["n_embeddings"].tolist() == counts.tolist() and set(counts.tolist()) == {0, 1, 2, 3}
    assert [r.n_embeddings for r in records] == counts.tolist()
    assert (rows["recon"] == 0).all() and (rows["score"] == rows["dist"]).all()
    expected = formula_rows(profile, events)
    assert [r.dist_q8 for r in records] == [d for _, d, _ in expected]
    assert [r.nearest for r in records] == [k for _, _, k in expected]
    assert (rows["embedding"] * 256).astype(np.int64).tolist() == [e for e, _, _ in expected]
    assert (rows["dist"][counts == 0] == 0).all() and (rows["dist"][counts > 0] > 0).all()
    # The thresholds make the detector do something, not everything.
    assert rows["trigger"].any() and not rows["alarm"].all()
    n_messages = sum(len(d) // (160 // 6) + 1 for k, d in events if k == "frames") + kinds.count("embeddings")
    print(f"{sim.board}: {len(events)} events (~{n_messages} messages), 150 records in {elapsed:.2f} s")


def test_many_embeddings_per_window_span_messages(dev: Device, data: dict) -> None:
    """Windows of 40 (one full message), 41, 100 and 1 embeddings, extremes -128 and 127 included."""
    profile = data["profile"]
    activate(dev, profile)
    rng = np.random.default_rng(5)
    stream = data["stream"]
    events = []
    for w, n in enumerate([40, 41, 100, 1, 0, 100]):
        emb = rng.integers(-128, 128, (n, N_DIMS)).astype(np.int8)
        if n >= 2:
            emb[0], emb[1] = 127, -128
        half = 3 + w
        events += [("frames", stream[w * WINDOW : w * WINDOW + half]), ("embeddings", emb),
                   ("frames", stream[w * WINDOW + half : (w + 1) * WINDOW])]
    records = dev.inject_stream(events)
    rows = tinydrift.score_events(profile, events)
    assert_equal_rows(records, rows)
    assert [r.n_embeddings for r in records] == [40, 41, 100, 1, 0, 100]
    assert [r.dist_q8 for r in records] == [d for _, d, _ in formula_rows(profile, events)]
    # inject_embeddings splits into messages of 320 // 8 = 40 embeddings and returns the count.
    assert dev.inject_embeddings(rng.integers(-128, 128, (81, N_DIMS)).astype(np.int8)) == 81
    assert dev.inject_embeddings(np.zeros((0, N_DIMS), np.int8)) == 0
    assert dev.inject_embeddings(np.arange(N_DIMS, dtype=np.int8)) == 1  # one embedding as a 1-D array
    assert dev.inject(stream[:WINDOW])[0].n_embeddings == 82


def test_lost_acks_are_retried_without_double_embeddings(sim: Simulator, data: dict) -> None:
    """Drop the first ACK of some INJECT_EMBEDDING requests: the host retries with the same seq, the device
    answers from its retry cache without adding the embeddings again."""
    profile = data["profile"]
    seen = 0
    dropped = []

    def lose_acks(frame: proto.Frame) -> bool:
        nonlocal seen
        if frame.type == proto.MSG_ACK:
            ack = link.Ack.unpack(frame.payload)
            if ack.request_type == proto.MSG_INJECT_EMBEDDING:
                seen += 1
                if seen % 10 == 3:
                    dropped.append(ack)
                    return False
        return True

    events, counts = make_events(np.random.default_rng(77), data["stream"][:400], N_DIMS)
    with Device(sim.url, timeout=0.2, frame_hook=lose_acks) as dev:
        activate(dev, profile)
        records = dev.inject_stream(events)
    assert len(dropped) >= 3
    assert_equal_rows(records, tinydrift.score_events(profile, events))
    assert [r.n_embeddings for r in records] == counts.tolist()


def test_window_capacity(dev: Device, data: dict) -> None:
    """A 1-value profile: 320 embeddings per message, at most 65,535 per window; a message that would pass
    the limit is refused whole (TD_ERR_CAPACITY); the next window starts empty."""
    profile = external_profile(data["train"], n_dims=1, n_centroids=2, zero_point=0)
    activate(dev, profile)
    rng = np.random.default_rng(9)
    emb = rng.integers(-128, 128, (65535, 1)).astype(np.int8)
    assert dev.inject_embeddings(emb[:65280]) == 65280  # 204 full messages
    nack(dev, proto.MSG_INJECT_EMBEDDING, bytes(256), lib.TD_ERR_CAPACITY)  # 65536: none of the 256 added
    assert dev.inject_embeddings(emb[65280:]) == 255  # exactly to the limit
    with pytest.raises(DeviceError, match="TD_ERR_CAPACITY"):
        dev.inject_embeddings(emb[:1])
    stream = data["stream"]
    events = [("embeddings", emb), ("frames", stream[:WINDOW]), ("embeddings", emb[:320]),
              ("frames", stream[WINDOW : 2 * WINDOW])]
    records = dev.inject(stream[:WINDOW])
    assert dev.inject_embeddings(emb[:320]) == 320
    records += dev.inject(stream[WINDOW : 2 * WINDOW])
    rows = tinydrift.score_events(profile, events)
    assert_equal_rows(records, rows)
    assert [r.n_embeddings for r in records] == [65535, 320]
    assert [r.dist_q8 for r in records] == [d for _, d, _ in formula_rows(profile, events)]


def test_score_events_is_the_monitor_in_event_order(data: dict) -> None:
    """Host side only: score_events == a Monitor driven by hand; bad events are InputErrors."""
    profile = data["profile"]
    events, _ = make_events(np.random.default_rng(1), data["stream"][:300], N_DIMS)
    mon = tinydrift.Monitor(profile)
    rows = []
    for kind, arr in events:
        if kind == "frames":
            rows += list(mon.push(arr))
        else:
            mon.push_embedding(arr)
    got = tinydrift.score_events(profile, events)
    assert got.tobytes() == np.array(rows, dtype=got.dtype).tobytes()
    assert len(tinydrift.score_events(profile, [])) == 0
    with pytest.raises(InputError, match="unknown kind 'sensor'"):
        tinydrift.score_events(profile, [("sensor", data["stream"][:10])])
    with pytest.raises(InputError, match="not a \\(kind, array\\) pair"):
        tinydrift.score_events(profile, [data["stream"][:10]])
    with pytest.raises(InputError):
        tinydrift.score_events(profile, [("embeddings", np.zeros((1, N_DIMS + 1), np.int8))])
