"""Hardware self-test: does a board compute, bit for bit, what ``tinydrift.score`` computes on the host?

    >>> from tinydrift.build.selftest_data import selftest_profile, selftest_stream
    >>> result = run_selftest("socket://127.0.0.1:5555", selftest_profile(), selftest_stream(), restore="ref.tdp")
    >>> print(result.verdict)      # selftest: PASS — 120 windows identical ...

The self-test's profile and recording come from the build layer (tinydrift.build.selftest_data;
this device-layer module does not import it): the caller passes them in.

Steps (``tinydrift selftest --port PORT``):
  1. INFO: the board's active profile, sensor rate and telemetry ring.
  2. The link cannot read a profile back (docs/protocol.md has no such message), so the previous
     profile is restored by re-uploading it from a file: ``restore`` must be the .tdp the board's
     active profile was uploaded from (its id is checked against INFO before anything changes).
     Without it, a board with a profile is left alone (SelftestError) unless ``keep_selftest_profile``
     says the board may keep the self-test profile; a board without a profile keeps it anyway (no
     message removes a profile). Either way the result says what the board runs afterwards.
  3. If the test's records would push records of another profile out of the board's telemetry
     ring (capacity 128), the ring is fetched and handed to ``save_ring`` first (the CLI's --db
     stores them in a ``tinydrift monitor`` database); without it such a board is left alone
     unless ``discard_ring``.
  4. Sensor sampling is paused (its frames would interleave with the injected ones), the self-test
     profile is uploaded and the known recording injected through the link (the CLI passes
     tinydrift.build.selftest_data's: a profile built from the bundled BasicMotions recording,
     window 10, seed 0, and 120 held-out windows with a gyroscope gain x3 in windows 40-79 and an
     accelerometer axis stuck at its rail from window 80).
  5. Every TELEMETRY record is compared with the host's row, field by field, in window order.
  6. The previous profile and sensor rate are restored; one verdict line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydrift.core.errors import TinyDriftError
from tinydrift.core.wording import count
from tinydrift.core.monitor import score
from tinydrift.core.profile import Profile, load_profile
from tinydrift.device.client import Device
from tinydrift.device.messages import Info
from tinydrift.device.records import TELEMETRY_COLUMNS, TelemetryRecord

Say = Callable[[str], None]


class SelftestError(TinyDriftError):
    """The self-test could not run (nothing on the board was changed, unless the message says so)."""


@dataclass
class SelftestResult:
    """Outcome of one self-test: ``passed``, the verdict line, and what the board runs afterwards."""

    passed: bool
    verdict: str
    windows: int
    board: str
    restored: str
    first_difference: tuple[int, str, object, object] | None = None  # (window, field, device, host)


def _fmt(value: object) -> str:
    """A value as the verdict shows it: integers without a point, Q8/Q16 fractions exactly (12.75)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def first_difference(records: list[TelemetryRecord], rows: np.ndarray) -> tuple[int, str, object, object] | None:
    """The first (window, field, device value, host value) where records and host rows differ, in window
    order and TELEMETRY_COLUMNS order; per-channel fields are named field[channel]. None when all equal."""
    for rec, row in zip(records, rows):
        window = int(row["window"])
        for name in TELEMETRY_COLUMNS:
            got = np.asarray(getattr(rec, name), dtype=np.float64)
            want = np.asarray(row[name], dtype=np.float64)
            if got.shape != want.shape:
                return window, name, got.tolist(), want.tolist()
            if got.ndim == 0:
                if got != want:
                    return window, name, got.item(), want.item()
                continue
            bad = np.flatnonzero(got != want)
            if len(bad):
                c = int(bad[0])
                return window, f"{name}[{c}]", got[c].item(), want[c].item()
    return None


def _check_restore(info: Info, restore: str | Path | None, keep: bool, selftest_id: int):  # noqa: ANN202
    """The profile to upload afterwards (or None) and the sentence saying what the board runs then."""
    if restore is not None:
        prof = load_profile(restore)
        if info.has_profile and prof.profile_id != info.profile_id:
            raise SelftestError(f"--restore {restore} is profile {prof.profile_id:#010x} but the board runs "
                                f"{info.profile_id:#010x}; pass the .tdp the board's profile was uploaded from")
        if not info.has_profile:
            raise SelftestError(f"the board has no active profile, so there is nothing to restore from {restore}")
        return prof, f"profile {prof.profile_id:#010x} restored from {restore}"
    if info.has_profile and info.profile_id == selftest_id:
        return None, f"the board keeps the self-test profile {selftest_id:#010x} it ran before"
    if info.has_profile and not keep:
        raise SelftestError(f"the board's active profile {info.profile_id:#010x} cannot be read back over the link "
                            "(docs/protocol.md); pass --restore FILE.tdp (the file it was uploaded from) or "
                            "--keep-selftest-profile")
    why = "it had none" if not info.has_profile else f"its profile {info.profile_id:#010x} was not restored"
    return None, (f"the board keeps the self-test profile {selftest_id:#010x} ({why}); upload yours with "
                  "`tinydrift upload`")


SaveRing = Callable[[list[TelemetryRecord], Info], None]


def run_selftest(url: str, profile: Profile, stream: np.ndarray, *, restore: str | Path | None = None,
                 keep_selftest_profile: bool = False,
                 save_ring: SaveRing | None = None, discard_ring: bool = False, timeout: float = 1.0,
                 say: Say | None = None, device: Device | None = None) -> SelftestResult:
    """Run the self-test on the board at url with this profile and recording (see the module docstring);
    SelftestError if it cannot run.

    save_ring(records, info) stores the ring's records before the test would push some of another profile
    out (the CLI's --db); without it the test refuses unless discard_ring."""
    say = say or (lambda msg: None)
    rows = score(profile, stream)
    n = len(rows)
    dev = device or Device(url, timeout=timeout)
    try:
        info = dev.info()
        board = info.board_name or f"board id {info.board_id}"
        restore_profile, restored = _check_restore(info, restore, keep_selftest_profile, profile.profile_id)
        if info.max_channels < profile.n_channels:
            raise SelftestError(f"{board} supports {info.max_channels} channels; the self-test needs "
                                f"{profile.n_channels}")
        held = info.next_seq - info.oldest_seq
        pushed_out = held + n - info.ring_capacity
        if pushed_out > 0 and held > 0:
            ring = dev.fetch(info.oldest_seq, max_records=held)
            at_risk = [r for r in ring[:pushed_out] if r.profile_id != profile.profile_id]
            if at_risk and save_ring is not None:
                save_ring(ring, info)
            elif at_risk and not discard_ring:
                raise SelftestError(f"the test's {count(n, 'record')} would push {count(len(at_risk), 'record')} "
                                    f"of the board's ring (from seq {at_risk[0].seq}) out; save them with --db FILE (a tinydrift "
                                    "monitor database) or pass --discard-ring")
        rate = info.sensor_rate_hz
        if rate:
            dev.sensor(0)
            say(f"paused sensor sampling ({rate} Hz) for the test")
        try:
            dev.upload_profile(profile)
            start = dev.info().next_seq
            records = dev.inject(stream)
            if len(records) != n or [r.seq for r in records] != list(range(start, start + n)):
                got = {r.seq: r for r in records}
                for rec in dev.fetch(start, max_records=n):
                    got.setdefault(rec.seq, rec)
                records = [got[s] for s in range(start, start + n) if s in got]
        finally:
            if restore_profile is not None:
                dev.upload_profile(restore_profile)
            if rate:
                dev.sensor(rate)
        if rate:
            restored += f"; sensor sampling at {rate} Hz resumed"
    finally:
        if device is None:
            dev.close()
    diff = first_difference(records, rows)
    if len(records) != n:
        verdict = f"selftest: FAIL — {board} sent {len(records)} telemetry records for {n} windows"
        return SelftestResult(False, verdict, n, board, restored)
    if diff is not None:
        window, field, got, want = diff
        verdict = f"selftest: FAIL — window {window} field {field}: device {_fmt(got)} host {_fmt(want)}"
        return SelftestResult(False, verdict, n, board, restored, diff)
    triggered = int(np.count_nonzero(rows["trigger"]))
    verdict = (f"selftest: PASS — {n} windows identical to tinydrift.score on the host ({len(TELEMETRY_COLUMNS)} "
               f"fields each, {triggered} with a trigger), {board}")
    return SelftestResult(True, verdict, n, board, restored)


__all__ = ["SaveRing", "SelftestError", "SelftestResult", "first_difference", "run_selftest"]

