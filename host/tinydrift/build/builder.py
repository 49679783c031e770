"""Build a reference profile from training recordings: statistics, PCA, centroids, health limits, thresholds.

Every quantity the device will compare against is measured by running the C
core itself (through Monitor) over the training data, so what the profile
expects is exactly what the device will compute on in-distribution input.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tinydrift.build import crossfit, disagreement, occupancy, scales as centroid_scales
from tinydrift.build.calibrate import basis, calibrate, chart_threshold, resample_shifts, threshold_method
from tinydrift.build.embedding_fit import kmeans, pca, quantize_projection
from tinydrift.build.health_limits import HealthLimit, describe, resolve_limits, set_health_rules
from tinydrift.core.wording import count
from tinydrift.core.native import lib
from tinydrift.core.errors import InputError
from tinydrift.core.monitor import Monitor, as_frames
from tinydrift.core.profile import CalibrationBasis, ChannelConfig, Profile
from tinydrift.build.options import DEFAULT_HOLDOUT, DEFAULTS, BuildOptions, Progress  # noqa: F401  (DEFAULT_HOLDOUT re-exported)

MIN_FIT_WINDOWS = 8
MIN_HOLDOUT_WINDOWS = 8
MIN_CALIBRATION_WINDOWS = 20_000
CALIBRATION_EXPECTED_ALARMS = 50
PROVISIONAL_INV_SIGMA_Q24 = 1 << 24
MAX_INV_SIGMA_Q24 = 1 << 31
SCORINGS = ("mixture", "centroids")
# Fewer centroids when windows are few: at least this many fitting windows per centroid and embedding dimension.
MIN_CLUSTER_WINDOWS_PER_DIM = 2
# Cross-fitted calibration (tinydrift.build.crossfit): folds, and windows left out of a fold's fit on each side of it.
CROSSFIT_FOLDS = crossfit.DEFAULT_FOLDS
CROSSFIT_GAP = crossfit.DEFAULT_GAP
MIN_TRAINING_WINDOWS = 16
OCCUPANCY_AUTO = "auto"
# Feature chart (PCA profiles): reference value half of a 1 sd shift (the textbook choice for detecting a shift
# of 1 sd), and the share of the false-alarm budget it gets; the rest goes to the score's CUSUM (and the occupancy
# test). tools/studies/feature_chart.py measured 10 %: every channel scenario of make bench detected at the same
# control false alarms.
CHART_K_Q8 = 128
CHART_SHARE = 0.1


class CalibrationWarning(UserWarning):
    """The training windows do not resolve the false-alarm rate by rank: a fitted tail sets the threshold."""


class RecordingDisagreementWarning(CalibrationWarning):
    """The training recordings' out-of-fold scores differ by recording (tinydrift.build.disagreement): the false-alarm
    rate holds on average over recordings like them, not on each new one."""


@dataclass
class _Split:
    fit: list[np.ndarray]
    holdout: list[np.ndarray]


def as_recordings(train: object) -> list[np.ndarray]:
    """train (one frames x channels array or a list of them) as validated int16 arrays."""
    if isinstance(train, np.ndarray):
        items: list[object] = [train]
    elif isinstance(train, (list, tuple)) and train and not np.isscalar(train[0]):
        items = list(train)
    else:
        items = [train]
    recordings: list[np.ndarray] = []
    n_channels: int | None = None
    for i, item in enumerate(items):
        arr = np.asarray(item)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise InputError(f"recording {i} must be a 2-D array (frames x channels), got shape {arr.shape}")
        if n_channels is None:
            n_channels = arr.shape[1]
        elif arr.shape[1] != n_channels:
            raise InputError(f"recording {i} has {arr.shape[1]} channels but recording 0 has {n_channels}")
        recordings.append(as_frames(arr, n_channels))
    if not recordings or n_channels is None:
        raise InputError("no training data")
    if n_channels > lib.TD_MAX_CHANNELS:
        raise InputError(f"{n_channels} channels exceed the core's limit of {lib.TD_MAX_CHANNELS}")
    return recordings


def _per_channel(value: object, n_channels: int, what: str) -> list:
    if isinstance(value, (list, tuple)) and len(value) == n_channels and not (
        what == "rails" and len(value) == 2 and all(np.isscalar(v) for v in value)
    ):
        return list(value)
    return [value] * n_channels


def _channel_rules(n_channels: int, rails: object, sentinel: object) -> list[ChannelConfig]:
    configs = []
    rail_list = _per_channel(rails, n_channels, "rails")
    sentinel_list = _per_channel(sentinel, n_channels, "sentinel")
    for c in range(n_channels):
        lo, hi = rail_list[c] if rail_list[c] is not None else (-32768, 32767)
        lo, hi = int(lo), int(hi)
        if not -32768 <= lo < hi <= 32767:
            raise InputError(f"channel {c}: rails must satisfy -32768 <= low < high <= 32767, got ({lo}, {hi})")
        s = sentinel_list[c]
        if s is not None:
            s = int(s)
            if lo < s < hi or not -32768 <= s <= 32767:
                raise InputError(f"channel {c}: sentinel {s} must lie outside the rails ({lo}, {hi})")
        configs.append(ChannelConfig(rail_lo=lo, rail_hi=hi, sentinel=s))
    return configs


def _split(recordings: list[np.ndarray], window: int, holdout: float) -> _Split:
    """Hold out the tail of each recording, or every n-th recording when recordings are short."""
    n_windows = [len(r) // window for r in recordings]
    fit: list[np.ndarray] = []
    hold: list[np.ndarray] = []
    if min(n_windows) >= 4:
        for rec, n in zip(recordings, n_windows):
            n_hold = max(1, int(round(n * holdout)))
            fit.append(rec[: (n - n_hold) * window])
            hold.append(rec[(n - n_hold) * window : n * window])
    else:
        every = max(2, int(round(1.0 / holdout)))
        for i, (rec, n) in enumerate(zip(recordings, n_windows)):
            if n:
                (hold if i % every == every - 1 else fit).append(rec[: n * window])
    n_fit = sum(len(r) for r in fit) // window
    n_hold = sum(len(r) for r in hold) // window
    if n_fit < MIN_FIT_WINDOWS or n_hold < MIN_HOLDOUT_WINDOWS:
        need = math.ceil((MIN_FIT_WINDOWS + MIN_HOLDOUT_WINDOWS) / min(holdout, 1 - holdout) / 2) * window
        total = sum(len(r) for r in recordings)
        raise InputError(
            f"training data too short: {total} frames give {n_fit} fitting and {n_hold} held-out windows of "
            f"{window} frames; need at least {MIN_FIT_WINDOWS} of each (about {need} frames or more)"
        )
    return _Split(fit, hold)


def _run(profile: Profile, recordings: list[np.ndarray]) -> np.ndarray:
    """Monitor rows over each recording with a fresh monitor (windows never straddle recordings)."""
    parts = [Monitor(profile).push(rec) for rec in recordings]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=Monitor(profile)._dtype)


def _features_q8(rows: np.ndarray, log_std: bool) -> np.ndarray:
    """Window features f[2c] = mean_q8, f[2c+1] = std_q8 (or its log) as float64 (exact integers).

    With log_std the C monitor computed the feature: under the provisional profile (mu 0, scale 1)
    its z is the feature itself, which fits int16 for a log.
    """
    n, c = rows["mean"].shape
    f = np.empty((n, 2 * c))
    f[:, 0::2] = rows["mean"] * 256.0
    f[:, 1::2] = (rows["z_std"] if log_std else rows["std"]) * 256.0
    return f


def _std_floors(rows: np.ndarray, window: int) -> list[int]:
    """Per channel, the LSB added to the window std before its log: the smallest std of a window with a valid
    sample (at least 1), so the log's steep part starts where the sensor's own noise ends."""
    floors = []
    for c in range(rows["std"].shape[1]):
        stds = rows["std"][rows["n_missing"][:, c] < window, c]
        lowest = float(stds.min()) if stds.size else 1.0
        floors.append(int(min(65535, max(1, round(lowest)))))
    return floors


@dataclass
class _Reference:
    """The frame side of a profile build: split, channel rules, window rows and feature standardization."""

    recordings: list[np.ndarray]
    configs: list[ChannelConfig]
    split: _Split
    provisional: Profile
    fit_rows: np.ndarray
    hold_rows: np.ndarray
    features: np.ndarray  # fitting windows' features, Q8 as float64
    mu_q8: np.ndarray
    inv_sigma_q24: np.ndarray
    min_sigma: float = 1.0 / 16
    sigma_floor_q8: np.ndarray | None = None  # per feature, quantization-aware (see _quantization_floors)


def _quantization_floors(rows: np.ndarray, window: int, configs: list[ChannelConfig], log_std: bool,
                         min_sigma: float) -> np.ndarray:
    """Per feature, the smallest sigma (Q8) the standardization may use: min_sigma LSB, and what int16 samples resolve.

    Samples are rounded to whole LSB; a uniform rounding error has sd 1/sqrt(12) LSB, so a window of W samples
    cannot place its mean or its std closer than about 1/sqrt(12 W) LSB, however still the training data were.
    For the log-std feature that resolution is carried through the log at the channel's typical std: octaves
    1/sqrt(12 W) / ((std + floor) ln 2). Without this, a channel that sat on a few discrete values in training
    gets a sigma from its rare steps, and a fresh window one LSB off scores as a far outlier."""
    n_channels = rows["std"].shape[1]
    resolution = 256.0 / math.sqrt(12.0 * window)
    floors = np.full(2 * n_channels, max(min_sigma * 256.0, resolution))
    for c, cfg in enumerate(configs):
        if log_std:
            typical = float(np.mean(rows["std"][:, c])) if len(rows) else 0.0
            octaves = (resolution / 256.0) / ((typical + cfg.std_floor) * math.log(2.0))
            floors[2 * c + 1] = max(min_sigma * 256.0, 256.0 * octaves)
    return floors


def _reference(recordings: list[np.ndarray], window: int, rails: object, sentinel: object, holdout: float | None,
               min_sigma: float, say: Progress, note: str = "", log_std: bool = False) -> _Reference:
    """Run a provisional profile (the C monitor) over the data for exact window features and health counts.

    holdout None (cross-fitting): every window is a fitting window and none is held out."""
    n_channels = recordings[0].shape[1]
    configs = _channel_rules(n_channels, rails, sentinel)
    for cfg in configs:
        cfg.max_missing = cfg.max_saturated = window  # provisional passes must not raise health events
    if holdout is None:
        split = _Split([r for r in recordings if len(r) >= window], [])
        total = sum(len(r) // window for r in recordings)
        if total < MIN_TRAINING_WINDOWS:
            raise InputError(f"training data too short: {sum(len(r) for r in recordings)} frames give {total} windows "
                             f"of {window} frames; need at least {MIN_TRAINING_WINDOWS} (about "
                             f"{MIN_TRAINING_WINDOWS * window} frames or more)")
    else:
        split = _split(recordings, window, holdout)
    n_features = 2 * n_channels
    provisional = Profile(
        window=window, channels=configs,
        feature_mu_q8=np.zeros(n_features, np.int32),
        feature_inv_sigma_q24=np.full(n_features, PROVISIONAL_INV_SIGMA_Q24, np.uint32),
        projection=np.zeros((1, n_features), np.int8), centroids_q8=np.zeros((1, 1), np.int32),
    )
    say(f"window statistics: {sum(len(r) for r in recordings)} frames x {n_channels} channels{note}")
    fit_rows = _run(provisional, split.fit)
    if log_std:
        # The log-std feature needs each channel's floor, taken from the raw window std of this first pass.
        for cfg, floor in zip(configs, _std_floors(fit_rows, window)):
            cfg.std_floor = floor
        provisional = provisional.replace(log_std=True)
        fit_rows = _run(provisional, split.fit)
    hold_rows = _run(provisional, split.holdout)
    features = _features_q8(fit_rows, log_std)
    floors = _quantization_floors(fit_rows, window, configs, log_std, min_sigma)
    mu_q8, inv_sigma = _standardization(features, floors)
    return _Reference(recordings, configs, split, provisional, fit_rows, hold_rows, features, mu_q8, inv_sigma,
                      min_sigma, floors)


def _standardization(features: np.ndarray, floor_q8: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """mu_q8 and inv_sigma_q24 of window features (float64 over the given windows; sigma floored at floor_q8)."""
    sigma = np.maximum(features.std(axis=0), floor_q8)
    mu_q8 = np.round(features.mean(axis=0)).astype(np.int32)
    inv_sigma = np.clip(np.round(2.0**32 / sigma), 1, MAX_INV_SIGMA_Q24).astype(np.uint32)
    return mu_q8, inv_sigma


def _centroids(embeddings: np.ndarray, n_centroids: int, seed: int, say: Progress) -> np.ndarray:
    """k-means++ centroids of the C monitor's window embeddings, in Q8."""
    rng = np.random.default_rng(seed)
    centres = kmeans(embeddings, min(n_centroids, len(embeddings)), rng)
    centroids = np.round(centres * 256.0).astype(np.int32)
    say(f"k-means: {count(len(centroids), 'centroid')} over {count(len(embeddings), 'window')}")
    return centroids


def _calibrate_chart(scored: Profile, shifts_q8: np.ndarray, rate: float, calibration_windows: int | None,
                     seed: int, say: Progress) -> Profile:
    """The profile with its feature chart calibrated to rate on the held-out windows' fitted shifts, or without a
    chart when none of CHART_K_Q8 and its larger fallbacks can be: held-out windows whose shifts stay biased (they
    differ from the fitting windows along a feature) drive every statistic to its ceiling."""
    n_chart = max(calibration_windows or 0, MIN_CALIBRATION_WINDOWS, math.ceil(CALIBRATION_EXPECTED_ALARMS / rate))
    stream: np.ndarray | None = None  # the same for every k (calibrate_chart's resampling, seeded alike)
    for k_q8 in (CHART_K_Q8, 2 * CHART_K_Q8, 4 * CHART_K_Q8):
        say(f"calibrating the feature chart (k {k_q8 / 256:g}) to {rate:g} false alarms/window on {n_chart} "
            f"resampled held-out windows ({len(shifts_q8)} distinct)")
        if stream is None:
            stream = resample_shifts(np.asarray(shifts_q8), n_chart, np.random.default_rng(seed))
        h_q8 = chart_threshold(stream, rate, k_q8)
        if h_q8 < 0xFFFF:
            return scored.replace(feature_chart=True, chart_k_q8=k_q8, chart_h_q8=h_q8)
    say("feature chart left out: the held-out windows' shifts cannot be held under its false-alarm budget "
        "(they differ from the fitting windows); its budget goes to the other tests")
    return scored.replace(feature_chart=False)


def _finish(staged: Profile, ref: _Reference, centroids: np.ndarray, score_holdout: Callable[[Profile], np.ndarray],
            *, stuck_tolerance: int, false_alarm_rate: float, calibration_windows: int | None, seed: int,
            channel_names: Sequence[str] | None, say: Progress,
            scales: tuple[np.ndarray, np.ndarray] | None = None, occupancy_windows: int | str | None = None,
            feature_chart: bool = False, source: str | None = None,
            windows_per_recording: Sequence[int] | None = None,
            limits: tuple[list[int | None], list[int | None]] | None = None) -> Profile:
    """Health limits, then thresholds calibrated on the held-out windows' scores (score_holdout: Monitor rows;
    with cross-fitting the out-of-fold rows, source "out-of-fold", in recording order, windows_per_recording of them
    per recording: then a clear between-recording disagreement of their scores is warned about).

    With feature_chart, CHART_SHARE of the false-alarm budget goes to the feature chart, calibrated on the
    held-out windows' fitted shifts. With occupancy_windows the rest is split evenly between the score's detector
    and the occupancy test, which is calibrated on resampled whole training recordings (tinydrift.build.occupancy).
    limits: the user's max_missing and max_saturated per channel (resolve_limits; None: the training maximum)."""
    missing, saturated = limits if limits is not None else (None, None)
    set_health_rules(ref.configs, np.concatenate([ref.fit_rows, ref.hold_rows]), ref.recordings, stuck_tolerance,
                     missing, saturated)
    names = list(channel_names) if channel_names is not None else [f"ch{c}" for c in range(len(ref.configs))]
    given = [v for v in (missing or []) + (saturated or []) if v is not None]
    origin = "the training maximum" if not given else "as given" if len(given) == 2 * len(ref.configs) else \
        "as given, else the training maximum"
    summary = describe([c.max_missing for c in ref.configs], [c.max_saturated for c in ref.configs], names)
    say(f"health limits (samples a window may hold before the health check fires): {summary} ({origin})")
    scored = staged.replace(channels=ref.configs, centroids_q8=centroids)
    if scales is not None:
        scored = scored.replace(centroid_offset_q8=scales[0], centroid_inv_scale_q16=scales[1])
    # One pass over the held-out windows gives both the scores and, with a chart section that never fires, every
    # window's fitted shifts; neither depends on the thresholds set below.
    hold_rows = score_holdout(scored.replace(feature_chart=True, chart_k_q8=CHART_K_Q8, chart_h_q8=0xFFFF)
                              if feature_chart else scored)
    if feature_chart:
        shifts_q8 = np.round(hold_rows["shift"] * 256).astype(np.int16)
        scored = _calibrate_chart(scored, shifts_q8, false_alarm_rate * CHART_SHARE, calibration_windows, seed, say)
    chart_rate = false_alarm_rate * CHART_SHARE if scored.feature_chart else 0.0
    shared_rate = false_alarm_rate - chart_rate
    nearest: list[np.ndarray] = []
    if occupancy_windows:
        nearest = [Monitor(scored).push(rec)["nearest"] for rec in ref.recordings]
    if occupancy_windows == OCCUPANCY_AUTO:
        occupancy_windows, why = occupancy.choose_windows(nearest, scored.n_centroids)
        say(why)
    score_rate = shared_rate / 2 if occupancy_windows else shared_rate
    if occupancy_windows:
        say(f"calibrating the occupancy test over {occupancy_windows} windows to {score_rate:g} false alarms/window "
            f"on resampled training recordings ({sum(len(n) for n in nearest)} windows)")
        cost_q8, threshold_q8 = occupancy.calibrate(nearest, scored.n_centroids, occupancy_windows, score_rate, seed)
        scored = scored.replace(occupancy_windows=occupancy_windows, occupancy_threshold_q8=threshold_q8,
                                occupancy_cost_q8=cost_q8)
    hold_scores = np.round(hold_rows["score"] * 256).astype(np.uint32)
    n_cal = max(calibration_windows or 0, MIN_CALIBRATION_WINDOWS,
                math.ceil(CALIBRATION_EXPECTED_ALARMS / score_rate))
    what = source or "held-out"
    # the instant threshold's method only (its rate interval, 200,000 beta draws, is never shown)
    method = threshold_method(len(hold_scores), score_rate / 2)
    say(f"calibrating to {score_rate:g} false alarms/window on {len(hold_scores)} {what} windows "
        f"(instant threshold: {method}; CUSUM on a resampled stream of {n_cal})")
    overall = basis(len(hold_scores), false_alarm_rate)
    if overall.method == "tail":
        message = (f"{len(hold_scores)} {what} windows do not resolve the target of {false_alarm_rate:g} false alarms "
                   f"per window by rank: the thresholds rest on a fitted tail (generalized Pareto, averaged over its "
                   f"uncertainty); about {overall.windows_needed} windows would resolve it")
        say(f"warning: {message}")
        warnings.warn(message, CalibrationWarning, stacklevel=3)
    if windows_per_recording is not None:
        _check_recordings(hold_scores, windows_per_recording, false_alarm_rate, seed, say)
    k_q8, h_q8, instant_q8 = calibrate(hold_scores, score_rate, n_cal, seed)
    say(f"expected false alarms: {false_alarm_rate:g}/window (90 % interval {overall.interval[0]:.2g}-"
        f"{overall.interval[1]:.2g} from {len(hold_scores)} windows; {method})")
    return scored.replace(
        calibration=CalibrationBasis(n_windows=len(hold_scores), method=method, source=what,
                                     rate=false_alarm_rate, interval=overall.interval,
                                     windows_needed=overall.windows_needed),
        cusum_k_q8=k_q8, cusum_h_q8=h_q8, instant_q8=instant_q8,
        false_alarm_ppb=int(round(false_alarm_rate * 1e9)), calibration_windows=len(hold_scores),
        channel_names=list(channel_names) if channel_names is not None else None,
    )


def _check_recordings(scores_q8: np.ndarray, windows_per_recording: Sequence[int], false_alarm_rate: float, seed: int,
                      say: Progress) -> None:
    """Say what the between-recording test of the out-of-fold scores found, and warn (RecordingDisagreementWarning,
    one line) when the recordings clearly disagree."""
    found = disagreement.recording_disagreement(scores_q8, windows_per_recording, seed)
    if found is None:
        say(f"recordings: {len(windows_per_recording)} given, too few of {disagreement.MIN_RECORDING_WINDOWS} windows "
            f"or more to test whether they agree (at least {disagreement.MIN_RECORDINGS} needed)")
        return
    if not found.clear:
        say(f"recordings agree: {found.describe()}")
        return
    message = (f"the training recordings disagree: {found.describe()}; the false-alarm rate of {false_alarm_rate:g} "
               f"holds on average over recordings like these, while a new recording's rate can lie well above or "
               f"below it; give more recordings of the conditions the device will see (the rate rests on "
               f"{found.n_recordings} recordings, not {found.n_windows} windows) or build one profile per condition")
    say(f"warning: {message}")
    warnings.warn(message, RecordingDisagreementWarning, stacklevel=4)


def build_profile(
    train: object,
    window: int = 64,
    false_alarm_rate: float = DEFAULTS.false_alarm_rate,
    *,
    n_centroids: int = DEFAULTS.n_centroids,
    n_dims: int | None = None,
    explained_variance: float = 0.95,
    scoring: str = "mixture",
    rails: tuple[int, int] | Sequence[tuple[int, int]] | None = DEFAULTS.rails,
    sentinel: int | Sequence[int | None] | None = DEFAULTS.sentinel,
    stuck_tolerance: int = DEFAULTS.stuck_tolerance,
    max_missing: HealthLimit = DEFAULTS.max_missing,
    max_saturated: HealthLimit = DEFAULTS.max_saturated,
    holdout: float | None = None,
    folds: int = CROSSFIT_FOLDS,
    min_sigma: float = DEFAULTS.min_sigma,
    calibration_windows: int | None = DEFAULTS.calibration_windows,
    channel_names: Sequence[str] | None = DEFAULTS.channel_names,
    occupancy_windows: int | str | None = OCCUPANCY_AUTO,
    feature_chart: bool = True,
    seed: int = DEFAULTS.seed,
    progress: Progress | None = DEFAULTS.progress,
) -> Profile:
    """Learn a reference profile from in-distribution recordings and calibrate its thresholds.

    train: an int16 array (frames x channels) or a list of them (separate recordings).
    window: frames per tumbling window. false_alarm_rate: target false alarms per window.
    scoring: "mixture" (default): features are the window mean and the log of the window std, every PCA
    dimension is kept, and each centroid measures distance in its own scale (a diagonal Gaussian
    mixture), so a change within a quiet activity is not drowned by the spread of a busy one;
    "centroids": mean and std, PCA truncated to explained_variance, one Euclidean scale for all.
    n_centroids / n_dims: reference clusters and PCA dimensions (None: every feature for "mixture",
    enough for explained_variance for "centroids").
    rails: (low, high) saturation rails, one pair or one per channel. sentinel: missing-value marker.
    max_missing / max_saturated: missing (sentinel) / saturated samples a window may hold before the health check
    fires: a count 0..window for every channel, one per channel (None: that channel's default) or {name: count}
    (names as in channel_names, else ch0, ch1, ...). Default: the largest count of a training window (0 on clean
    data, so one missing or saturated sample in the field raises a health alarm).
    holdout: None (default): cross-fitted calibration, every window scored by a model fit on the other folds
    (``folds`` of them, by recording or contiguous block; tinydrift.build.crossfit); a fraction: the older scheme that
    holds out the tail of each recording and calibrates on it alone.
    min_sigma: floor of a feature's standard deviation, in sensor LSB.
    occupancy_windows: also test, over the last n windows, how often each centroid is the nearest against the
    training mix (class-prior shift, new classes that look like known ones). "auto" (default): n is twice the
    longest run of one centroid within a training recording, and the test is left out (with a message) when the
    data cannot calibrate it; None: off. With the test the false-alarm budget is split between it and the score.
    feature_chart: also run, per feature, a two-sided CUSUM on the window's fitted shift of that feature (a
    persistent change of one sensor keeps its sign; noise does not). It gets 10 % of the false-alarm budget and
    catches small one-channel changes (gain, offset) the summed score dilutes; on by default.
    """
    opts = BuildOptions(false_alarm_rate=false_alarm_rate, n_centroids=n_centroids, rails=rails, sentinel=sentinel,
                        stuck_tolerance=stuck_tolerance, holdout=DEFAULT_HOLDOUT if holdout is None else holdout,
                        min_sigma=min_sigma, calibration_windows=calibration_windows, channel_names=channel_names,
                        seed=seed, progress=progress, max_missing=max_missing, max_saturated=max_saturated)
    say = opts.say()
    if occupancy_windows == OCCUPANCY_AUTO:
        pass
    elif occupancy_windows is not None and (isinstance(occupancy_windows, str) or
                                            not 2 <= occupancy_windows <= lib.TD_MAX_OCCUPANCY_WINDOWS):
        raise InputError(f"occupancy windows must be between 2 and {lib.TD_MAX_OCCUPANCY_WINDOWS}, "
                         f"got {occupancy_windows}")
    if not 2 <= window <= lib.TD_MAX_WINDOW:
        raise InputError(f"window must be between 2 and {lib.TD_MAX_WINDOW} frames, got {window}")
    opts.check()
    if not 2 <= folds <= 100:
        raise InputError(f"folds must be between 2 and 100, got {folds}")
    if scoring not in SCORINGS:
        raise InputError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    mixture = scoring == "mixture"
    if not 0.0 < explained_variance <= 1.0:
        raise InputError(f"explained variance must be in (0, 1], got {explained_variance}")
    recordings = as_recordings(train)
    n_channels = recordings[0].shape[1]
    opts.check_names(n_channels)
    limits = opts.health_limits(window, n_channels)
    if holdout is not None:
        ref = _reference(recordings, window, rails, sentinel, holdout, min_sigma, say, log_std=mixture)
        fitted, embeddings = _fit_model(ref, ref.features, ref.split.fit, n_centroids=n_centroids, n_dims=n_dims,
                                        explained_variance=explained_variance, mixture=mixture, seed=seed, say=say)
        return _finish(fitted, ref, fitted.centroids_q8, lambda prof: _run(prof, ref.split.holdout),
                       stuck_tolerance=stuck_tolerance, false_alarm_rate=false_alarm_rate,
                       calibration_windows=calibration_windows, seed=seed, channel_names=channel_names, say=say,
                       scales=_scales_of(fitted), occupancy_windows=occupancy_windows, feature_chart=feature_chart,
                       limits=limits)
    ref = _reference(recordings, window, rails, sentinel, None, min_sigma, say, log_std=mixture)
    usable = [r for r in recordings if len(r) >= window]
    counts = [len(r) // window for r in usable]
    n_total = sum(counts)
    n_folds = min(folds, n_total // 2)
    fold_list = crossfit.make_folds(counts, n_folds, CROSSFIT_GAP)
    how = ("one recording per fold" if crossfit.one_recording_per_fold(counts, n_folds) else "whole recordings"
           if crossfit.folds_by_recording(counts, n_folds) else f"contiguous blocks, gap {CROSSFIT_GAP}")
    say(f"cross-fitting: {len(fold_list)} folds over {n_total} windows ({how})")
    quiet: Progress = lambda _msg: None  # noqa: E731
    oof: np.ndarray | None = None
    for fold in fold_list:
        model, _ = _fit_model(ref, ref.features[fold.fit], _select(usable, window, fold.fit), n_centroids=n_centroids,
                              n_dims=n_dims, explained_variance=explained_variance, mixture=mixture, seed=seed, say=quiet)
        # Only the fold's own windows: a window's score and fitted shifts depend on it alone, not on its neighbours.
        rows = _run(model.replace(feature_chart=True, chart_k_q8=CHART_K_Q8, chart_h_q8=0xFFFF)
                    if feature_chart else model, _select(usable, window, fold.score))
        if oof is None:
            oof = np.zeros(n_total, dtype=rows.dtype)
        oof[fold.score] = rows
    assert oof is not None
    fitted, _ = _fit_model(ref, ref.features, usable, n_centroids=n_centroids, n_dims=n_dims,
                           explained_variance=explained_variance, mixture=mixture, seed=seed, say=say)
    oof_rows = oof
    return _finish(fitted, ref, fitted.centroids_q8, lambda _prof: oof_rows,
                   stuck_tolerance=stuck_tolerance, false_alarm_rate=false_alarm_rate,
                   calibration_windows=calibration_windows, seed=seed, channel_names=channel_names, say=say,
                   scales=_scales_of(fitted), occupancy_windows=occupancy_windows, feature_chart=feature_chart,
                   source="out-of-fold", windows_per_recording=counts, limits=limits)


def _scales_of(profile: Profile) -> tuple[np.ndarray, np.ndarray] | None:
    if profile.centroid_inv_scale_q16 is None or profile.centroid_offset_q8 is None:
        return None
    return profile.centroid_offset_q8, profile.centroid_inv_scale_q16


def _select(recordings: list[np.ndarray], window: int, indices: np.ndarray) -> list[np.ndarray]:
    """The windows with the given indices (in recording order) as recordings of consecutive selected windows."""
    wanted = np.zeros(sum(len(r) // window for r in recordings), bool)
    wanted[indices] = True
    out: list[np.ndarray] = []
    start = 0
    for rec in recordings:
        n = len(rec) // window
        mask = wanted[start:start + n]
        start += n
        if mask.any():
            out.append(rec[: n * window].reshape(n, window, -1)[mask].reshape(-1, rec.shape[1]))
    return out


def _fit_model(ref: _Reference, features: np.ndarray, fit_recordings: list[np.ndarray], *, n_centroids: int,
               n_dims: int | None, explained_variance: float, mixture: bool, seed: int,
               say: Progress) -> tuple[Profile, np.ndarray]:
    """The reference model (standardization, PCA, centroids and their scales) fit on some windows: their features
    and their frames (fit_recordings). Returns the profile without thresholds and the windows' embeddings."""
    floors = ref.sigma_floor_q8 if ref.sigma_floor_q8 is not None else ref.min_sigma * 256.0
    mu_q8, inv_sigma = _standardization(features, floors)
    z = (features - mu_q8) * inv_sigma.astype(np.float64) / 2.0**32
    n_channels = ref.recordings[0].shape[1]
    dims = n_dims
    if mixture and dims is None:
        dims = min(2 * n_channels, lib.TD_MAX_DIMS, len(z))
    components = pca(z, dims, explained_variance)
    projection, shift = quantize_projection(components)
    k = projection.shape[0]
    say(f"PCA: {2 * n_channels} features -> {count(k, 'dim')} (int8, shift {shift})")
    staged = ref.provisional.replace(feature_mu_q8=mu_q8, feature_inv_sigma_q24=inv_sigma,
                                     projection=projection, proj_shift=shift, centroids_q8=np.zeros((1, k), np.int32))
    embeddings = _run(staged, fit_recordings)["embedding"]
    # Few windows per centroid and dimension overfit the clusters' spreads: fewer centroids then.
    affordable = max(1, len(embeddings) // (MIN_CLUSTER_WINDOWS_PER_DIM * k)) if mixture else n_centroids
    if affordable < n_centroids:
        say(f"{count(len(embeddings), 'window')} afford {affordable} of the {count(n_centroids, 'centroid')} asked for "
            f"({MIN_CLUSTER_WINDOWS_PER_DIM} windows per centroid and dimension)")
    centroids = _centroids(embeddings, min(n_centroids, affordable), seed, say)
    fitted = staged.replace(centroids_q8=centroids)
    if mixture:
        # The sample rounding's resolution of each feature (its sigma floor, in z units) carried through the
        # projection: no cluster is tighter than a window can be placed, however still its training windows sat.
        floors = ref.sigma_floor_q8 if ref.sigma_floor_q8 is not None else ref.min_sigma * 256.0
        resolution_z = np.broadcast_to(floors, mu_q8.shape) * inv_sigma.astype(np.float64) / 2.0**32
        dim_floor = np.sqrt((components**2) @ resolution_z**2)
        offset, inv_scale, nu0 = centroid_scales.centroid_scales(embeddings, centroids, dim_floor)
        say(f"centroid scales: each cluster's variance moderated toward the pooled one with a prior worth {nu0:.3g} "
            f"window{'' if nu0 == 1 else 's'} (fitted to the clusters' spreads)")
        fitted = fitted.replace(centroid_offset_q8=offset, centroid_inv_scale_q16=inv_scale)
    return fitted, embeddings
