"""External-embedding profiles: the application's own model provides the embedding.

``build_model_profile(train, model, ...)`` is ``build_profile`` for a model's embedding instead of
PCA. The profile's window is the model's input length; every window's int8 embedding comes from
the model (``tinydrift.build.model``) and reaches the C monitor the way it does on the device: the
window's embedding is pushed (``td_monitor_push_embedding``), then the window's frames. So:

- features mu/sigma and health limits: from the frames, exactly as in PCA mode;
- ``ext_scale_q24 = round(scale * 2^24)`` and ``ext_zero_point``: the embedding's int8
  quantization (an int8 TFLite tensor's own, or symmetric from the training embeddings);
- centroids: k-means over the fitting windows' embeddings as the C monitor dequantizes them;
- thresholds: ``calibrate`` over the held-out windows' scores computed by the C monitor (score =
  squared distance to the nearest centroid, in embedding units; no reconstruction term).

``score_with_model(profile, frames, model)`` scores a recording the same way, computing the
embeddings on the host. TensorFlow is imported only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinydrift.core import monitor as _monitor
from tinydrift.core.fixed import Q24
from tinydrift.build.builder import _centroids, _finish, _reference, as_recordings
from tinydrift.build.health_limits import HealthLimit
from tinydrift.build.options import DEFAULTS, BuildOptions, Progress
from tinydrift.core.errors import InputError
from tinydrift.build.model import DEFAULT_INPUT_SCALE, EmbeddingModel, load_embedding_model
from tinydrift.core.monitor import Monitor, as_frames
from tinydrift.core.profile import Profile



def _events(frames: np.ndarray, embeddings: np.ndarray, window: int) -> list[tuple[str, np.ndarray]]:
    """Per window: its embedding, then its frames (trailing frames that fill no window last)."""
    events: list[tuple[str, np.ndarray]] = []
    for i in range(len(embeddings)):
        events.append(("embeddings", embeddings[i : i + 1]))
        events.append(("frames", frames[i * window : (i + 1) * window]))
    if len(frames) > len(embeddings) * window:
        events.append(("frames", frames[len(embeddings) * window :]))
    return events


def run_with_embeddings(profile: Profile, frames: object, embeddings: object) -> np.ndarray:
    """Monitor rows of one recording with a fresh monitor; embeddings[i] (int8) belongs to window i.

    Uses tinydrift.core.monitor.score_events when it exists, else Monitor.push_embedding / push directly.
    """
    arr = as_frames(frames, profile.n_channels)
    emb = np.asarray(embeddings)
    w = profile.window
    if emb.ndim != 2 or emb.shape[1] != profile.n_dims or len(emb) != len(arr) // w:
        raise InputError(f"need one embedding of {profile.n_dims} values per window ({len(arr) // w} windows), "
                         f"got shape {emb.shape}")
    events = _events(arr, emb, w)
    score_events = getattr(_monitor, "score_events", None)
    if score_events is not None:
        return score_events(profile, events)
    mon = Monitor(profile)
    parts = []
    for kind, data in events:
        if kind == "embeddings":
            mon.push_embedding(data)
        else:
            parts.append(mon.push(data))
    return np.concatenate(parts) if parts else mon.push(np.zeros((0, profile.n_channels), np.int16))


def _run_all(profile: Profile, recordings: list[np.ndarray], embeddings: list[np.ndarray]) -> np.ndarray:
    parts = [run_with_embeddings(profile, r, e) for r, e in zip(recordings, embeddings)]
    return np.concatenate(parts)


def _as_model(model: EmbeddingModel | str | Path, layer: str | None, tensor: str | int | None,
              input_scale: float | None) -> EmbeddingModel:
    if isinstance(model, EmbeddingModel):
        if layer is not None or tensor is not None or input_scale is not None:
            raise InputError("layer, tensor and input_scale apply only when model is a path; "
                             "this EmbeddingModel already has them")
        return model
    return load_embedding_model(model, layer=layer, tensor=tensor,
                                input_scale=DEFAULT_INPUT_SCALE if input_scale is None else input_scale)


def build_model_profile(
    train: object,
    model: EmbeddingModel | str | Path,
    false_alarm_rate: float = DEFAULTS.false_alarm_rate,
    *,
    layer: str | None = None,
    tensor: str | int | None = None,
    input_scale: float | None = None,
    n_centroids: int = DEFAULTS.n_centroids,
    rails: tuple[int, int] | Sequence[tuple[int, int]] | None = DEFAULTS.rails,
    sentinel: int | Sequence[int | None] | None = DEFAULTS.sentinel,
    stuck_tolerance: int = DEFAULTS.stuck_tolerance,
    max_missing: HealthLimit = DEFAULTS.max_missing,
    max_saturated: HealthLimit = DEFAULTS.max_saturated,
    holdout: float = DEFAULTS.holdout,
    min_sigma: float = DEFAULTS.min_sigma,
    calibration_windows: int | None = DEFAULTS.calibration_windows,
    channel_names: Sequence[str] | None = DEFAULTS.channel_names,
    seed: int = DEFAULTS.seed,
    progress: Progress | None = DEFAULTS.progress,
) -> Profile:
    """An external-embedding profile whose embedding is the model's (see the module docstring).

    train: int16 frames (frames x channels) or a list of recordings, as for build_profile.
    model: an EmbeddingModel, or a .keras / .tflite path with layer= / tensor= (and input_scale=,
    default 1/4096: model input = int16 counts * input_scale). The window is the model's input
    length. A float embedding without a scale gets its int8 scale from the fitting windows
    (recorded on the EmbeddingModel). Other arguments as for build_profile.
    """
    opts = BuildOptions(false_alarm_rate=false_alarm_rate, n_centroids=n_centroids, rails=rails, sentinel=sentinel,
                        stuck_tolerance=stuck_tolerance, holdout=holdout, min_sigma=min_sigma,
                        calibration_windows=calibration_windows, channel_names=channel_names, seed=seed,
                        progress=progress, max_missing=max_missing, max_saturated=max_saturated)
    say = opts.say()
    opts.check()
    recordings = as_recordings(train)
    n_channels = recordings[0].shape[1]
    emb_model = _as_model(model, layer, tensor, input_scale)
    if n_channels != emb_model.n_channels:
        raise InputError(f"training data has {n_channels} channels but model {emb_model.path} expects "
                         f"{emb_model.n_channels}")
    opts.check_names(n_channels)
    window = emb_model.window
    limits = opts.health_limits(window, n_channels)
    # Window features and health counts from the frames: the same steps as build_profile.
    ref = _reference(recordings, window, rails, sentinel, holdout, min_sigma, say,
                     note=f", window {window} (the model's input)")

    # Embeddings of every window from the model, int8 as the device pushes them.
    fit_windows = [emb_model.windows(r) for r in ref.split.fit]
    hold_windows = [emb_model.windows(r) for r in ref.split.holdout]
    if emb_model.scale is None:
        emb_model.fit_quantization(np.concatenate(fit_windows))
    scale_q24 = emb_model.ext_scale_q24
    fit_emb = [emb_model.embed(w) for w in fit_windows]
    hold_emb = [emb_model.embed(w) for w in hold_windows]
    what = f"layer {emb_model.layer!r}" if emb_model.layer is not None else f"tensor {emb_model.tensor!r}"
    say(f"embeddings: {emb_model.n_dims} dims from {what} of {emb_model.path.name}, int8 scale "
        f"{scale_q24 / Q24:.6g} zero point {emb_model.zero_point}")
    staged = ref.provisional.replace(
        feature_mu_q8=ref.mu_q8, feature_inv_sigma_q24=ref.inv_sigma_q24, projection=None, proj_shift=0,
        centroids_q8=np.zeros((1, emb_model.n_dims), np.int32),
        ext_scale_q24=scale_q24, ext_zero_point=emb_model.zero_point,
    )
    centroids = _centroids(_run_all(staged, ref.split.fit, fit_emb)["embedding"], n_centroids, seed, say)
    return _finish(staged, ref, centroids, lambda prof: _run_all(prof, ref.split.holdout, hold_emb),
                   stuck_tolerance=stuck_tolerance, false_alarm_rate=false_alarm_rate,
                   calibration_windows=calibration_windows, seed=seed, channel_names=channel_names, say=say,
                   limits=limits)


def check_model_for_profile(profile: Profile, model: EmbeddingModel, source: str = "profile") -> None:
    """InputError unless model produces the embedding profile expects; gives a float model its scale."""
    if not profile.external_embedding:
        raise InputError(f"{source} is a PCA profile: it computes its own embedding, so it takes no model")
    if model.window != profile.window:
        raise InputError(f"{source} has a window of {profile.window} frames but model {model.path} takes "
                         f"{model.window}")
    if model.n_channels != profile.n_channels:
        raise InputError(f"{source} has {profile.n_channels} channels but model {model.path} expects "
                         f"{model.n_channels}")
    if model.n_dims != profile.n_dims:
        raise InputError(f"{source} has {profile.n_dims} embedding dims but the model's embedding has "
                         f"{model.n_dims}")
    if model.int8_tensor:
        if model.ext_scale_q24 != profile.ext_scale_q24 or model.zero_point != profile.ext_zero_point:
            raise InputError(
                f"{source} expects embedding scale {profile.ext_scale_q24 / Q24:.6g} zero point "
                f"{profile.ext_zero_point}, but tensor {model.tensor!r} of {model.path} has scale "
                f"{model.scale:.6g} zero point {model.zero_point}: not the model (or tensor) it was built with")
    else:
        model.set_quantization(profile.ext_scale_q24 / Q24, profile.ext_zero_point)


def score_with_model(profile: Profile, frames: object, model: EmbeddingModel) -> np.ndarray:
    """Score a recording against an external-embedding profile, the model's embeddings computed here.

    Each window's int8 embedding is pushed before the window's frames, as the device does.
    """
    check_model_for_profile(profile, model)
    arr = as_frames(frames, profile.n_channels)
    return run_with_embeddings(profile, arr, model.embed(model.windows(arr)))
