"""The drift monitor in Python: the C core's td_monitor_t driven through CFFI, one call per block."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Union

import numpy as np

from tinydrift.core.native import check, ffi, lib
from tinydrift.core.errors import InputError
from tinydrift.core.profile import Profile, load_profile
from tinydrift.core.triggers import (  # noqa: F401  (re-exported: tinydrift.monitor.TRIGGER_* predates the triggers module)
    TRIGGER_CONCEPT,
    TRIGGER_CUSUM,
    TRIGGER_FEATURE,
    TRIGGER_HEALTH,
    TRIGGER_INSTANT,
    TRIGGER_NAMES,
    TRIGGER_OCCUPANCY,
)

ProfileLike = Union[Profile, bytes, str, Path]

DDM_OK, DDM_WARNING, DDM_DRIFT = 0, 1, 2

_WINDOWS_PER_CALL = 2048
# push(): windows the core closes into the scratch buffer before td_host_push_rows turns them into rows (it stays in
# L1 cache; the rows are written while the core's next windows are computed)
_SCRATCH_WINDOWS = 4
_PREFAULT_ROWS = 256  # push(): fresh arrays of more rows have their pages mapped before the C call
_FRAMES_PER_CALL = 1 << 30  # push(): frames per td_host_push_rows call (its counts are uint32)
_INT16_MIN, _INT16_MAX = -32768, 32767


def _struct_dtype(ctype: str, fields: list[tuple[str, str | tuple[str, int]]]) -> np.dtype:
    """A numpy dtype laid out exactly like a C struct, offsets taken from the compiled core."""
    names, formats, offsets = [], [], []
    for name, fmt in fields:
        names.append(name)
        formats.append(fmt)
        offsets.append(ffi.offsetof(ctype, name))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": ffi.sizeof(ctype)})


_C_CHANNEL = _struct_dtype(
    "td_channel_result_t",
    [("sumsq", "<i8"), ("sum", "<i4"), ("mean_q8", "<i4"), ("std_q8", "<i4"), ("min", "<i2"), ("max", "<i2"),
     ("z_mean_q8", "<i2"), ("z_std_q8", "<i2"), ("n_missing", "<u2"), ("n_saturated", "<u2")],
)
_C_RESULT = _struct_dtype(
    "td_window_result_t",
    [("window_index", "<u4"), ("score_q8", "<u4"), ("dist_q8", "<u4"), ("recon_q8", "<u4"), ("cusum_q8", "<u4"),
     ("embedding_q8", ("<i4", lib.TD_MAX_DIMS)), ("n_embeddings", "<u2"), ("stuck_mask", "<u2"),
     ("saturated_mask", "<u2"), ("missing_mask", "<u2"), ("trigger", "u1"), ("alarm", "u1"), ("nearest", "u1"),
     ("top_channel", "u1"), ("n_inferences", "<u2"), ("top_class", "u1"), ("ddm_state", "u1"),
     ("mean_confidence_q16", "<u4"), ("estimated_accuracy_q16", "<u4"), ("prior_shift_q16", "<u4"),
     ("n_labels", "<u2"), ("n_correct", "<u2"), ("accuracy_q16", "<u4"), ("occupancy_q8", "<i4"),
     ("shift_q8", ("<i2", lib.TD_MAX_FEATURES)), ("chart_q8", "<u2"), ("channels", (_C_CHANNEL, lib.TD_MAX_CHANNELS))],
)

RAW_DTYPE = _C_RESULT  # Monitor.push_raw's dtype: td_window_result_t as the compiled core lays it out
_RAW_SIZE = RAW_DTYPE.itemsize

# push()'s row fields in the order of td_host_rows' offsets (host/tinydrift/core/_host_rows.c)
ROW_FIELDS = ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
              "stuck_mask", "saturated_mask", "missing_mask", "n_embeddings", "n_inferences", "top_class",
              "ddm_state", "mean_confidence", "estimated_accuracy", "prior_shift", "n_labels", "n_correct",
              "accuracy", "occupancy", "chart", "shift", "embedding", "mean", "std", "z_mean", "z_std", "min",
              "max", "sum", "sumsq", "n_missing", "n_saturated")
_INT16 = np.dtype(np.int16)
_INT16_C = ffi.typeof("int16_t[]")
_RESULT_C = ffi.typeof("td_window_result_t[]")
_BYTES_C = ffi.typeof("uint8_t[]")


def result_dtype(n_channels: int, n_dims: int) -> np.dtype:
    """dtype of the rows Monitor.push returns. Q8 and Q16 values appear as float64, which holds them exactly.

    Model-output columns (profiles with an outputs section, 0 otherwise): ``n_inferences``, ``top_class``,
    ``ddm_state`` (worst DDM verdict of the window's labels: DDM_OK, DDM_WARNING, DDM_DRIFT),
    ``mean_confidence``, ``estimated_accuracy``, ``prior_shift`` (window values), ``n_labels``, ``n_correct``
    (labels received during the window) and ``accuracy`` (all labelled predictions since the start; 1.0
    before the first label).

    ``occupancy`` (profiles with an occupancy section, 0 otherwise and until its window count has passed): the
    G statistic in bits of how often each centroid was the nearest over the last n windows against the
    reference mix; above the profile's threshold it raises TRIGGER_OCCUPANCY.

    ``shift`` (PCA mode): per feature (2c: channel c's mean, 2c+1: its spread), the shift of that feature that
    best explains the window's distance from its nearest centroid, in reference standard deviations; computed
    every window with a feature chart (profiles built by ``build_profile``), otherwise only inside a CUSUM run
    (0 elsewhere). ``chart``: the feature chart's largest statistic after the window (0 without one); above the
    profile's ``chart_h_q8 / 256`` it raises TRIGGER_FEATURE.
    """
    c, k = n_channels, n_dims
    return np.dtype([
        ("window", "<u4"), ("score", "<f8"), ("dist", "<f8"), ("recon", "<f8"), ("cusum", "<f8"),
        ("alarm", "?"), ("trigger", "u1"), ("nearest", "u1"), ("top_channel", "u1"),
        ("stuck_mask", "<u2"), ("saturated_mask", "<u2"), ("missing_mask", "<u2"), ("n_embeddings", "<u2"),
        ("n_inferences", "<u2"), ("top_class", "u1"), ("ddm_state", "u1"), ("mean_confidence", "<f8"),
        ("estimated_accuracy", "<f8"), ("prior_shift", "<f8"), ("n_labels", "<u2"), ("n_correct", "<u2"),
        ("accuracy", "<f8"), ("occupancy", "<f8"), ("chart", "<f8"), ("shift", "<f8", (2 * c,)),
        ("embedding", "<f8", (k,)), ("mean", "<f8", (c,)), ("std", "<f8", (c,)),
        ("z_mean", "<f8", (c,)), ("z_std", "<f8", (c,)), ("min", "<i2", (c,)), ("max", "<i2", (c,)),
        ("sum", "<i8", (c,)), ("sumsq", "<i8", (c,)), ("n_missing", "<u2", (c,)), ("n_saturated", "<u2", (c,)),
    ])


def as_frames(frames: object, n_channels: int) -> np.ndarray:
    """frames as a C-contiguous int16 (n, n_channels) array; InputError if that would change a value."""
    arr = np.asarray(frames)
    if arr.ndim == 1 and n_channels == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise InputError(f"frames must be a 2-D array (frames x channels), got {arr.ndim}-D")
    if arr.shape[1] != n_channels:
        raise InputError(f"frames have {arr.shape[1]} channels but the profile expects {n_channels}")
    if arr.dtype == np.int16:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise InputError("frames contain NaN or infinite values (use a sentinel for missing samples)")
        if arr.size and not np.all(arr == np.round(arr)):
            raise InputError("frames must be integer sensor counts (int16), got fractional values")
    elif arr.dtype.kind not in "iub":
        raise InputError(f"frames must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < _INT16_MIN or arr.max() > _INT16_MAX):
        raise InputError(f"frame values must lie in [{_INT16_MIN}, {_INT16_MAX}] (int16)")
    return np.ascontiguousarray(arr, dtype=np.int16)


def _load(profile: ProfileLike) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, (bytes, bytearray)):
        return Profile.from_bytes(bytes(profile))
    return load_profile(profile)


class Monitor:
    """A drift monitor bound to one profile; computes exactly what the device computes.

    >>> mon = Monitor(profile)
    >>> rows = mon.push(frames)          # one row per completed window
    >>> rows["alarm"].any(), rows["z_mean"][-1]
    """

    def __init__(self, profile: ProfileLike) -> None:
        self.profile = _load(profile)
        blob = self.profile.to_bytes()
        self._blob = ffi.new("uint8_t[]", blob)  # the parsed view points into this buffer: keep it alive
        self._parsed = ffi.new("td_profile_t *")
        check(lib.td_profile_parse(self._parsed, self._blob, len(blob)), "parse profile")
        self._mon = ffi.new("td_monitor_t *")
        check(lib.td_monitor_init(self._mon, self._parsed), "init monitor")
        self._results = ffi.new("td_window_result_t[]", _WINDOWS_PER_CALL)
        self._n_results = ffi.new("uint32_t *")
        self._scratch = ffi.new("td_window_result_t[]", _SCRATCH_WINDOWS)
        self._n_rows = ffi.new("uint32_t *")
        self._n_taken = ffi.new("uint32_t *")
        # a byte view of the C buffer: copies go through it (numpy copies a nested struct dtype field by field)
        self._raw_bytes = np.frombuffer(ffi.buffer(self._results), dtype=np.uint8)
        self._raw_view = np.frombuffer(ffi.buffer(self._results), dtype=RAW_DTYPE)
        self._views: dict[int, np.ndarray] = {}  # self._raw_view[:n] by n, made once: slicing costs per call
        self._fill = 0
        # fixed per profile, read on every push: plain attributes, not properties of the profile
        self._window = self.profile.window
        self._n_channels = self.profile.n_channels
        self._max_frames = _WINDOWS_PER_CALL * self._window  # pending + new frames that one C call can take
        self._n_dims = self.profile.n_dims
        self._dtype = result_dtype(self.profile.n_channels, self.profile.n_dims)
        self._row_size = self._dtype.itemsize
        self._row_offsets = np.array([self._dtype.fields[name][1] for name in ROW_FIELDS], dtype=np.uint32)
        self._c_row_offsets = ffi.from_buffer("uint32_t[]", self._row_offsets)

    @property
    def window(self) -> int:
        return self.profile.window

    @property
    def frames_pending(self) -> int:
        """Frames in the window being filled."""
        return self._fill

    def push(self, frames: object, *, out: np.ndarray | None = None) -> np.ndarray:
        """Feed frames (n x channels int16); return one result row per window completed by them.

        ``out``: an array of ``result_dtype`` rows to write them into (at least as many as the windows completed);
        the result is then ``out[:n]``, a view. Reusing one buffer spares allocating (and the kernel zeroing) fresh
        pages on every call. A wrong ``out`` raises InputError before any frame is taken.
        """
        arr = self._as_frames(frames)
        n_frames = len(arr)
        n_total = (self._fill + n_frames) // self._window
        if out is None:
            out = np.empty((n_total,), dtype=self._dtype)
            if n_total > _PREFAULT_ROWS:
                # a big array's pages mapped now, in one pass, rather than one by one between the core's windows
                # (the kernel's zeroing of each new page would push the core's state out of the cache there)
                out.view(np.uint8)[::4096] = 0
        else:
            out = self._check_out(out, self._dtype, n_total, "push", "result_dtype(n_channels, n_dims)")[:n_total]
        c_out = ffi.from_buffer(_BYTES_C, out)
        c_frames = ffi.from_buffer(_INT16_C, arr)
        # one C call: the core a few windows at a time into the small scratch buffer, each chunk straight into rows
        done = pos = 0
        while True:
            take = min(n_frames - pos, _FRAMES_PER_CALL)
            status = lib.td_host_push_rows(self._mon, c_frames + pos * self._n_channels, take, self._scratch,
                                           _SCRATCH_WINDOWS, self._c_row_offsets, self._row_size,
                                           c_out + done * self._row_size, n_total - done, self._n_rows, self._n_taken)
            self._fill = (self._fill + self._n_taken[0]) % self._window
            if status != lib.TD_OK:
                check(status, "td_monitor_push")
            done += self._n_rows[0]
            pos += take
            if pos >= n_frames:
                return out

    def push_raw(self, frames: object, *, copy: bool = True, out: np.ndarray | None = None) -> np.ndarray:
        """Like ``push`` but return the C core's results as they are (dtype RAW_DTYPE, td_window_result_t).

        No conversion: the fast path for streaming one window per call. ``to_rows`` turns the array into
        ``push``'s rows, value for value. With ``copy=False`` and at most 2048 windows completed, the array is a
        view of the monitor's own result buffer, reused by the next push: it is overwritten then (copy what you
        keep). ``out``: a C-contiguous RAW_DTYPE array with room for the windows completed; the core writes into it
        in one call, whatever their number, and ``out[:n]`` is returned (the fastest form for big blocks when the
        caller reuses it: no fresh pages). A wrong ``out`` raises InputError before any frame is taken.
        C-contiguous int16 frames go to the core without a copy; other arrays are checked and converted.
        """
        arr = self._as_frames(frames)
        n_frames = len(arr)
        if out is not None:
            n_total = (self._fill + n_frames) // self._window
            out = self._check_out(out, RAW_DTYPE, n_total, "push_raw", "RAW_DTYPE")
            self._push_c(arr, n_frames, ffi.from_buffer(_RESULT_C, out), len(out))
            return out[:n_total]
        if self._fill + n_frames <= self._max_frames:  # one C call into the reused buffer
            self._push_c(arr, n_frames, self._results, _WINDOWS_PER_CALL)
            n = self._n_results[0]
            if copy:  # through the bytes: numpy copies a nested struct dtype field by field, 5x slower
                return np.frombuffer(self._raw_bytes[: n * _RAW_SIZE].copy(), dtype=RAW_DTYPE)
            view = self._views.get(n)
            if view is None:
                view = self._views[n] = self._raw_view[:n]
            return view
        # more than one buffer's worth: one C call straight into a new array (no copy afterwards)
        n_total = (self._fill + n_frames) // self._window
        out = np.empty((n_total,), dtype=RAW_DTYPE)
        self._push_c(arr, n_frames, ffi.from_buffer(_RESULT_C, out), n_total)
        return out

    @staticmethod
    def _check_out(out: object, dtype: np.dtype, n: int, what: str, dtype_name: str) -> np.ndarray:
        """out if it can take n results of dtype in place; InputError (one line) otherwise."""
        if not isinstance(out, np.ndarray) or out.dtype != dtype or out.ndim != 1:
            got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
            raise InputError(f"{what}: out must be a 1-D array of {dtype_name}, got {got}")
        if not (out.flags.c_contiguous and out.flags.writeable):
            raise InputError(f"{what}: out must be C-contiguous and writeable")
        if len(out) < n:
            raise InputError(f"{what}: out has room for {len(out)} windows, these frames complete {n}")
        return out

    def _as_frames(self, frames: object) -> np.ndarray:
        """C-contiguous int16 frames of this profile's width as they are (no copy); anything else checked/converted."""
        if (type(frames) is np.ndarray and frames.dtype is _INT16 and frames.ndim == 2
                and frames.shape[1] == self._n_channels and frames.flags.c_contiguous):
            return frames
        return as_frames(frames, self._n_channels)

    def _push_c(self, block: np.ndarray, take: int, results: object, cap: int) -> None:
        status = lib.td_monitor_push(self._mon, ffi.from_buffer(_INT16_C, block), take, results, cap,
                                     self._n_results)
        if status != lib.TD_OK:  # check() only on failure: this runs once per streamed window
            check(status, "td_monitor_push")
        self._fill = (self._fill + take) % self._window

    def _rows(self, raw: object, n: int, out: object) -> None:
        status = lib.td_host_rows(raw, n, self._n_channels, self._n_dims, self._c_row_offsets, self._row_size, out)
        if status != lib.TD_OK:
            check(status, "td_host_rows")

    def to_rows(self, raw: np.ndarray) -> np.ndarray:
        """``push``'s rows (dtype ``result_dtype``) from ``push_raw``'s C results (one C loop over the block)."""
        if not isinstance(raw, np.ndarray) or raw.dtype.names != RAW_DTYPE.names:
            got = raw.dtype if isinstance(raw, np.ndarray) else type(raw).__name__
            raise InputError(f"to_rows takes push_raw's results (td_window_result_t), got {got}")
        if raw.dtype != RAW_DTYPE or not raw.flags.c_contiguous:
            raw = np.ascontiguousarray(raw, dtype=RAW_DTYPE)  # packed by np.concatenate, or strided: C layout
        out = np.empty((len(raw),), dtype=self._dtype)  # td_host_rows assigns every field
        if len(raw):
            self._rows(ffi.from_buffer(_RESULT_C, raw), len(raw), ffi.from_buffer(_BYTES_C, out))
        return out

    def push_embedding(self, embeddings: object) -> None:
        """External-embedding profiles: add int8 embeddings (n x n_dims) to the current window."""
        arr = np.asarray(embeddings)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.profile.n_dims:
            raise InputError(f"embeddings must be (n, {self.profile.n_dims}), got shape {arr.shape}")
        if arr.size and (arr.min() < -128 or arr.max() > 127 or arr.dtype.kind not in "iu"):
            raise InputError("embeddings must be int8 values")
        arr = np.ascontiguousarray(arr, dtype=np.int8)
        for row in arr:
            check(lib.td_monitor_push_embedding(self._mon, ffi.from_buffer("int8_t[]", row), len(row)),
                  "td_monitor_push_embedding")

    @property
    def has_outputs(self) -> bool:
        """True when the profile has an outputs section (model-output monitoring)."""
        return self.profile.outputs is not None

    def push_outputs(self, probs: object) -> np.ndarray:
        """Outputs profiles: add inferences' int8 class probabilities (n x n_classes) to the current window.

        Returns their inference numbers (uint32, consecutive from 0 after construction, wrapping at 2^32),
        which ``push_label`` takes once the true classes are known.
        """
        if self.profile.outputs is None:
            raise InputError("the profile has no outputs section (attach one with tinydrift.outputs.attach_outputs)")
        n_classes = self.profile.outputs.n_classes
        arr = np.asarray(probs)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != n_classes:
            raise InputError(f"outputs must be (n, {n_classes}), got shape {arr.shape}")
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -128 or arr.max() > 127):
            raise InputError("outputs must be int8 values")
        arr = np.ascontiguousarray(arr, dtype=np.int8)
        seqs = np.empty(len(arr), dtype=np.uint32)
        seq = ffi.new("uint32_t *")
        for i, row in enumerate(arr):
            check(lib.td_monitor_push_outputs(self._mon, ffi.from_buffer("int8_t[]", row), n_classes, seq),
                  "td_monitor_push_outputs")
            seqs[i] = seq[0]
        return seqs

    def push_label(self, seqs: object, labels: object) -> None:
        """Outputs profiles: the true classes of earlier inferences (numbers from ``push_outputs``).

        Each label feeds DDM and counts in the current window. CoreError for an inference that is not among
        the last TD_MAX_PENDING_PREDICTIONS (or not pushed yet: TD_ERR_RANGE), a class out of range
        (TD_ERR_ARG) or a second label for the same inference (TD_ERR_STATE); labels before it are applied.
        """
        if self.profile.outputs is None:
            raise InputError("the profile has no outputs section (attach one with tinydrift.outputs.attach_outputs)")
        s = np.atleast_1d(np.asarray(seqs))
        y = np.atleast_1d(np.asarray(labels))
        if s.ndim != 1 or y.ndim != 1 or len(s) != len(y):
            raise InputError(f"need as many inference numbers as labels, got shapes {s.shape} and {y.shape}")
        if len(s) and (s.dtype.kind not in "iu" or s.min() < 0 or s.max() > 0xFFFFFFFF):
            raise InputError("inference numbers must be uint32 values from push_outputs")
        if len(y) and (y.dtype.kind not in "iub" or y.min() < 0 or y.max() > 255):
            raise InputError("labels must be class indices 0..255")
        for seq, label in zip(s.tolist(), y.tolist()):
            check(lib.td_monitor_push_label(self._mon, seq, label), "td_monitor_push_label")

    def reset_alarm(self) -> None:
        """Clear the latched alarm and the CUSUM statistic."""
        check(lib.td_monitor_reset_alarm(self._mon), "td_monitor_reset_alarm")

    def lifetime(self, channel: int) -> tuple[int, float, float]:
        """(samples, mean, population variance) of a channel over all completed windows."""
        if not 0 <= channel < self.profile.n_channels:
            raise InputError(f"channel {channel} out of range 0..{self.profile.n_channels - 1}")
        life = ffi.new("td_lifetime_t *")
        check(lib.td_monitor_lifetime(self._mon, channel, life), "td_monitor_lifetime")
        n, mean_q32, var_q32 = ffi.new("uint64_t *"), ffi.new("int64_t *"), ffi.new("uint64_t *")
        check(lib.td_lifetime_get(life, n, mean_q32, var_q32), "td_lifetime_get")
        return int(n[0]), mean_q32[0] / 2.0**32, var_q32[0] / 2.0**32


def score(profile: ProfileLike, frames: object) -> np.ndarray:
    """Run a fresh monitor over a whole recording; one row per complete window."""
    return Monitor(profile).push(frames)


EVENT_KINDS = ("frames", "embeddings", "outputs", "labels")


def parse_events(events: object) -> Iterator[tuple[str, object]]:
    """Validate (kind, data) events (kinds in EVENT_KINDS; "labels" data is a (seqs, labels) pair)."""
    for i, event in enumerate(events):  # type: ignore[arg-type]
        try:
            kind, data = event
        except (TypeError, ValueError):
            raise InputError(f"event {i} is not a (kind, array) pair") from None
        if kind not in EVENT_KINDS:
            raise InputError(f"event {i}: unknown kind {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
        if kind == "labels":
            try:
                seqs, labels = data  # type: ignore[misc]
            except (TypeError, ValueError):
                raise InputError(f"event {i}: labels must be a (seqs, labels) pair") from None
            data = (seqs, labels)
        yield kind, data


def score_events(profile: ProfileLike, events: Iterable[tuple[str, object]]) -> np.ndarray:
    """Run a fresh monitor over an interleaved stream; one row per window completed.

    events: ``("frames", frames)`` (n x channels int16), ``("embeddings", embeddings)``
    (n x n_dims int8, external-embedding profiles), ``("outputs", probs)`` (n x n_classes int8)
    and ``("labels", (seqs, labels))`` (profiles with an outputs section) in the order they
    happen. Embeddings and outputs go into the window being filled, the one the next frame
    belongs to; labels count in that window too. Inference numbers are consecutive from 0 in
    the order of the "outputs" events, so ``seqs`` can be computed by the caller. For frames and
    embeddings this is what a device computes for the same sequence of ``Device.inject`` /
    ``Device.inject_embeddings`` calls (``Device.inject_stream(events)``), field for field.
    """
    mon = Monitor(profile)
    parts = []
    handlers = {"frames": lambda d: parts.append(mon.push(d)), "embeddings": mon.push_embedding,
                "outputs": mon.push_outputs, "labels": lambda d: mon.push_label(*d)}
    for kind, data in parse_events(events):
        handlers[kind](data)
    if not parts:
        return np.zeros((0,), dtype=mon._dtype)
    return np.concatenate(parts)
