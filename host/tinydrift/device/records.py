"""Telemetry records (the TELEMETRY message, record version 2) and their relation to host-computed rows.

``TelemetryRecord.to_row`` and ``compare_records`` relate device telemetry to the rows
``tinydrift.score`` computes on the host, field for field. The record is decoded here, in the device
layer, from link frames; tinydrift.telemetry stores and reports it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from tinydrift.core.fixed import Q16
from tinydrift.device.protocol import FLAG_REPLAYED, MSG_TELEMETRY, RECORD_VERSION, ProtocolError, expect_size


_REC = struct.Struct("<9I4B4H4B")
_REC_CH = struct.Struct("<iihhHH")
# Record version 2: the model-outputs block after the channel blocks (zeros without an outputs section).
_REC_OUT = struct.Struct("<HBBIIIHHI")
assert _REC.size == 52 and _REC_CH.size == 16 and _REC_OUT.size == 24

# Columns of tinydrift.result_dtype rows that a telemetry record carries.
TELEMETRY_SCALARS = ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
                     "stuck_mask", "saturated_mask", "missing_mask", "n_embeddings", "n_inferences", "top_class",
                     "ddm_state", "mean_confidence", "estimated_accuracy", "prior_shift", "n_labels", "n_correct",
                     "accuracy")
# Model-output columns (record version 2); Q16 values are floats (q16 / 65536, exact).
TELEMETRY_OUTPUTS = ("n_inferences", "top_class", "ddm_state", "mean_confidence", "estimated_accuracy",
                     "prior_shift", "n_labels", "n_correct", "accuracy")
_Q16_FIELDS = ("mean_confidence", "estimated_accuracy", "prior_shift", "accuracy")
TELEMETRY_CHANNELS = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")
TELEMETRY_COLUMNS = TELEMETRY_SCALARS + TELEMETRY_CHANNELS


def _q8(value: float) -> int:
    return int(round(value * 256))


def _q16(value: float) -> int:
    return int(round(value * Q16))


@dataclass(frozen=True)
class TelemetryRecord:
    """One window's result as the device sent it. Q8 values are floats (q8 / 256, exact); ``*_q8`` give the ints.

    Names follow the rows of ``tinydrift.score`` (``result_dtype``); per-channel values are
    tuples in channel order. Model-output fields (``n_inferences`` .. ``accuracy``; Q16 values as
    floats, q16 / 65536) come from record version 2 and are 0 in a version-1 record.
    """

    seq: int
    boot_id: int
    profile_id: int
    window: int
    uptime_ms: int
    score: float
    dist: float
    recon: float
    cusum: float
    trigger: int
    alarm: bool
    nearest: int
    top_channel: int
    stuck_mask: int
    saturated_mask: int
    missing_mask: int
    n_embeddings: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    z_mean: tuple[float, ...] = ()
    z_std: tuple[float, ...] = ()
    n_missing: tuple[int, ...] = ()
    n_saturated: tuple[int, ...] = ()
    replayed: bool = False
    version: int = RECORD_VERSION
    n_inferences: int = 0
    top_class: int = 0
    ddm_state: int = 0
    mean_confidence: float = 0.0
    estimated_accuracy: float = 0.0
    prior_shift: float = 0.0
    n_labels: int = 0
    n_correct: int = 0
    accuracy: float = 0.0
    TYPE: ClassVar[int] = MSG_TELEMETRY

    @property
    def n_channels(self) -> int:
        return len(self.mean)

    @property
    def score_q8(self) -> int:
        return _q8(self.score)

    @property
    def dist_q8(self) -> int:
        return _q8(self.dist)

    @property
    def recon_q8(self) -> int:
        return _q8(self.recon)

    @property
    def cusum_q8(self) -> int:
        return _q8(self.cusum)

    def pack(self) -> bytes:
        c = self.n_channels
        per_channel = (self.std, self.z_mean, self.z_std, self.n_missing, self.n_saturated)
        if any(len(v) != c for v in per_channel):
            raise ValueError("per-channel fields of a telemetry record differ in length")
        out = bytearray(_REC.pack(
            self.seq, self.boot_id, self.profile_id, self.window, self.uptime_ms, self.score_q8, self.dist_q8,
            self.recon_q8, self.cusum_q8, self.trigger, int(self.alarm), self.nearest, self.top_channel,
            self.stuck_mask, self.saturated_mask, self.missing_mask, self.n_embeddings, c,
            FLAG_REPLAYED if self.replayed else 0, self.version, 0,
        ))
        for i in range(c):
            out += _REC_CH.pack(_q8(self.mean[i]), _q8(self.std[i]), _q8(self.z_mean[i]), _q8(self.z_std[i]),
                                self.n_missing[i], self.n_saturated[i])
        if self.version >= 2:
            out += _REC_OUT.pack(self.n_inferences, self.top_class, self.ddm_state, _q16(self.mean_confidence),
                                 _q16(self.estimated_accuracy), _q16(self.prior_shift), self.n_labels,
                                 self.n_correct, _q16(self.accuracy))
        return bytes(out)

    @classmethod
    def unpack(cls, payload: bytes) -> TelemetryRecord:
        expect_size(payload, _REC.size, "TELEMETRY", exact=False)
        (seq, boot, pid, window, uptime, score, dist, recon, cusum, trigger, alarm, nearest, top, stuck, sat, miss,
         n_emb, n_ch, flags, version, _) = _REC.unpack_from(payload)
        if version not in (1, RECORD_VERSION):
            raise ProtocolError(f"TELEMETRY record version {version}, this host understands 1..{RECORD_VERSION}")
        v1_size = _REC.size + _REC_CH.size * n_ch
        expect_size(payload, v1_size + (_REC_OUT.size if version >= 2 else 0), f"TELEMETRY v{version} of {n_ch} channels")
        outputs: dict[str, Any] = {}
        if version >= 2:
            (n_inf, top_class, ddm, conf, est, shift, n_lab, n_cor, acc) = _REC_OUT.unpack_from(payload, v1_size)
            outputs = dict(n_inferences=n_inf, top_class=top_class, ddm_state=ddm, mean_confidence=conf / Q16,
                           estimated_accuracy=est / Q16, prior_shift=shift / Q16, n_labels=n_lab, n_correct=n_cor,
                           accuracy=acc / Q16)
        ch = np.frombuffer(payload, dtype=np.dtype([("mean", "<i4"), ("std", "<i4"), ("z_mean", "<i2"),
                                                    ("z_std", "<i2"), ("n_missing", "<u2"),
                                                    ("n_saturated", "<u2")]), count=n_ch, offset=_REC.size)
        return cls(
            seq=seq, boot_id=boot, profile_id=pid, window=window, uptime_ms=uptime, score=score / 256.0,
            dist=dist / 256.0, recon=recon / 256.0, cusum=cusum / 256.0, trigger=trigger, alarm=bool(alarm),
            nearest=nearest, top_channel=top, stuck_mask=stuck, saturated_mask=sat, missing_mask=miss,
            n_embeddings=n_emb, mean=tuple((ch["mean"] / 256.0).tolist()), std=tuple((ch["std"] / 256.0).tolist()),
            z_mean=tuple((ch["z_mean"] / 256.0).tolist()), z_std=tuple((ch["z_std"] / 256.0).tolist()),
            n_missing=tuple(ch["n_missing"].tolist()), n_saturated=tuple(ch["n_saturated"].tolist()),
            replayed=bool(flags & FLAG_REPLAYED), version=version, **outputs,
        )

    @classmethod
    def from_row(cls, row: np.void, seq: int = 0, boot_id: int = 0, profile_id: int = 0, uptime_ms: int = 0,
                 replayed: bool = False) -> TelemetryRecord:
        """The record a device would send for a ``tinydrift.score`` row (for fakes and tests)."""
        return cls(
            seq=seq, boot_id=boot_id, profile_id=profile_id, window=int(row["window"]), uptime_ms=uptime_ms,
            score=float(row["score"]), dist=float(row["dist"]), recon=float(row["recon"]),
            cusum=float(row["cusum"]), trigger=int(row["trigger"]), alarm=bool(row["alarm"]),
            nearest=int(row["nearest"]), top_channel=int(row["top_channel"]), stuck_mask=int(row["stuck_mask"]),
            saturated_mask=int(row["saturated_mask"]), missing_mask=int(row["missing_mask"]),
            n_embeddings=int(row["n_embeddings"]), mean=tuple(row["mean"].tolist()), std=tuple(row["std"].tolist()),
            z_mean=tuple(row["z_mean"].tolist()), z_std=tuple(row["z_std"].tolist()),
            n_missing=tuple(row["n_missing"].tolist()), n_saturated=tuple(row["n_saturated"].tolist()),
            replayed=replayed, **{name: (float(row[name]) if name in _Q16_FIELDS else int(row[name]))
                                  for name in TELEMETRY_OUTPUTS if name in (row.dtype.names or ())},
        )

    def to_row(self, n_channels: int | None = None, n_dims: int = 0) -> np.void:
        """A row of ``tinydrift.result_dtype(n_channels, n_dims)``; fields telemetry lacks (embedding,
        min, max, sum, sumsq) are 0."""
        from tinydrift.core.monitor import result_dtype

        c = self.n_channels if n_channels is None else n_channels
        if c != self.n_channels:
            raise ValueError(f"record has {self.n_channels} channels, not {c}")
        row = np.zeros((), dtype=result_dtype(c, n_dims))
        for name in TELEMETRY_COLUMNS:
            row[name] = getattr(self, name)
        return row[()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (per-channel values as lists)."""
        d = asdict(self)
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        return d


def records_to_rows(records: Sequence[TelemetryRecord], n_channels: int | None = None) -> np.ndarray:
    """Records as an array of ``result_dtype(n_channels, 0)`` rows."""
    from tinydrift.core.monitor import result_dtype

    if n_channels is None:
        n_channels = records[0].n_channels if records else 0
    out = np.zeros((len(records),), dtype=result_dtype(n_channels, 0))
    for i, rec in enumerate(records):
        out[i] = rec.to_row(n_channels)
    return out


def compare_records(records: Sequence[TelemetryRecord], rows: np.ndarray, limit: int = 10) -> list[str]:
    """Differences between device records and host rows (same order), field by field; [] when equal.

    Compares every telemetry column (TELEMETRY_COLUMNS) exactly; lists at most ``limit`` differences.
    """
    diffs: list[str] = []
    if len(records) != len(rows):
        diffs.append(f"{len(records)} records but {len(rows)} rows")
    for i, (rec, row) in enumerate(zip(records, rows)):
        for name in TELEMETRY_COLUMNS:
            got = np.asarray(getattr(rec, name))
            want = np.asarray(row[name])
            if got.shape != want.shape or not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
                diffs.append(f"record {i} (seq {rec.seq}, window {rec.window}) {name}: device {got.tolist()} "
                             f"!= host {want.tolist()}")
                if len(diffs) >= limit:
                    return diffs
    return diffs


def records_equal_rows(records: Sequence[TelemetryRecord], rows: np.ndarray) -> bool:
    """True if the records equal the rows of ``tinydrift.score`` in every telemetry column."""
    return not compare_records(records, rows, limit=1)
