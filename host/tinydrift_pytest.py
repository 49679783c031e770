"""pytest plugin of tinydrift: a simulated board with your profile, for your own CI.

``pip install tinydrift`` registers it (entry point ``pytest11``); a test is three lines::

    @pytest.mark.tinydrift_profile("ref.tdp")          # relative to the test file
    def test_field_recording_is_quiet(tinydrift_board):
        assert tinydrift_board.replay("field.csv").first_alarm is None

``tinydrift_board`` starts the host simulator (or QEMU's Cortex-M4 with ``--tinydrift-board qemu``;
repeat the option for both, or ``@pytest.mark.parametrize("tinydrift_board", ["host", "qemu"],
indirect=True)``), uploads the profile named by the ``tinydrift_profile`` marker or returned by a
``tinydrift_profile`` fixture you override, and hands the test a connected board. One simulator per
board runs for the session; each test gets a fresh connection and a restarted monitor.

This module lives outside the ``tinydrift`` package and imports tinydrift only inside the
fixtures, so a pytest run that does not use them pays nothing for the plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import numpy as np

    from tinydrift import Device, Profile, TelemetryRecord
    from tinydrift.device.sim import Simulator

BOARDS = ("host", "qemu")
TIMEOUT = {"host": 1.0, "qemu": 2.0}


def pytest_addoption(parser: pytest.Parser) -> None:
    """--tinydrift-board host|qemu (repeatable)."""
    group = parser.getgroup("tinydrift", "tinydrift simulated boards")
    group.addoption("--tinydrift-board", action="append", choices=BOARDS, dest="tinydrift_boards", default=None,
                    help="simulated board for the tinydrift_board fixture; repeat to run each test on both "
                         "(default: host)")


def pytest_configure(config: pytest.Config) -> None:
    """Register the tinydrift_profile marker."""
    config.addinivalue_line("markers", "tinydrift_profile(path): profile (.tdp) that tinydrift_board uploads; "
                                       "a relative path is taken from the test file's directory")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tinydrift_board over --tinydrift-board unless the test parametrizes it itself."""
    if "tinydrift_board" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "tinydrift_board" in names:
            return
    boards = metafunc.config.getoption("tinydrift_boards") or ["host"]
    metafunc.parametrize("tinydrift_board", list(dict.fromkeys(boards)), indirect=True)


@dataclass
class Replay:
    """The telemetry of a replayed recording: one record per completed window."""

    board: str
    source: str
    records: list[TelemetryRecord]

    @property
    def windows(self) -> int:
        """Number of windows the device completed."""
        return len(self.records)

    @property
    def first_alarm(self) -> int | None:
        """Window index of the first record with the alarm latched, or None."""
        return next((r.window for r in self.records if r.alarm), None)

    @property
    def triggers(self) -> list[str]:
        """Names of every trigger that fired in any window, in bit order."""
        from tinydrift.core.triggers import trigger_names

        bits = 0
        for r in self.records:
            bits |= r.trigger
        return trigger_names(bits)

    def __repr__(self) -> str:
        first = self.first_alarm
        if first is None:
            what = "no alarm"
        else:
            rec = next(r for r in self.records if r.alarm)
            from tinydrift.core.triggers import trigger_names

            what = (f"first alarm at window {first} (trigger {'|'.join(trigger_names(rec.trigger)) or '-'}, "
                    f"top channel {rec.top_channel}, score {rec.score:.2f})")
        return f"Replay({self.source} on {self.board}: {self.windows} windows, {what})"


class TinydriftBoard:
    """A simulated board with a connected Device (``device``) and the uploaded profile (``profile``)."""

    def __init__(self, name: str, sim: Simulator, device: Device, profile: Profile | None, base: Path) -> None:
        self.name = name
        self.sim = sim
        self.device = device
        self.profile = profile
        self._base = base

    @property
    def url(self) -> str:
        """The board's URL (what ``tinydrift info --port`` takes)."""
        assert self.sim.url is not None
        return self.sim.url

    def frames(self, recording: str | Path | np.ndarray) -> tuple[np.ndarray, str]:
        """A recording as int16 frames: a path (.csv/.npz/.npy, relative to the test file) or an array."""
        import numpy as np

        from tinydrift.core.recording import read_recording

        if isinstance(recording, (str, Path)):
            path = Path(recording)
            rec = read_recording(path if path.is_absolute() else self._base / path)
            return rec.frames, str(recording)
        return np.asarray(recording), "frames"

    def replay(self, recording: str | Path | np.ndarray, rate_hz: float | None = None) -> Replay:
        """Inject a recording into the board's monitor (INJECT); its telemetry, one record per window."""
        frames, source = self.frames(recording)
        return Replay(self.name, source, self.device.inject(frames, rate_hz=rate_hz))

    def host_differences(self, replay: Replay, recording: str | Path | np.ndarray) -> list[str]:
        """Where the board's records differ from ``tinydrift.score`` on the host ([] when bit-identical)."""
        from tinydrift.core.monitor import score
        from tinydrift.device.records import compare_records

        if self.profile is None:
            raise ValueError("no profile uploaded: mark the test with tinydrift_profile or override the fixture")
        return compare_records(replay.records, score(self.profile, self.frames(recording)[0]))

    def __repr__(self) -> str:
        return f"TinydriftBoard({self.name} at {self.sim.url})"


@pytest.fixture
def tinydrift_profile(request: pytest.FixtureRequest) -> Any:
    """The profile tinydrift_board uploads: the tinydrift_profile marker's path, else None (no upload).
    Override it to return a path, a tinydrift.Profile or a profile blob."""
    mark = request.node.get_closest_marker("tinydrift_profile")
    if mark is None:
        return None
    if not mark.args:
        raise pytest.UsageError("tinydrift_profile marker needs a path: @pytest.mark.tinydrift_profile('ref.tdp')")
    path = Path(mark.args[0])
    return path if path.is_absolute() else Path(request.path).parent / path


@pytest.fixture(scope="session")
def tinydrift_simulators() -> Iterator[dict[str, Simulator]]:
    """The session's running simulators by board name, started on first use, stopped at the end."""
    sims: dict[str, Simulator] = {}
    yield sims
    for sim in sims.values():
        sim.close()


@pytest.fixture
def tinydrift_board(request: pytest.FixtureRequest, tinydrift_simulators: dict[str, Simulator],
                    tinydrift_profile: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinydriftBoard]:
    """A simulated board ("host" or "qemu", see --tinydrift-board) with tinydrift_profile uploaded."""
    from tinydrift.core.errors import TinyDriftError
    from tinydrift.core.profile import Profile, load_profile
    from tinydrift.device.client import Device
    from tinydrift.device.sim import Simulator

    name = getattr(request, "param", None) or (request.config.getoption("tinydrift_boards") or ["host"])[0]
    if name not in BOARDS:
        raise pytest.UsageError(f"tinydrift_board: unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    try:
        sim = tinydrift_simulators.get(name)
        if sim is None:
            sim = Simulator(name, state_dir=tmp_path_factory.mktemp(f"tinydrift-{name}"))
            tinydrift_simulators[name] = sim
        if sim.url is None or sim.proc is None or sim.proc.poll() is not None:
            sim.start()
        assert sim.url is not None
        profile = tinydrift_profile
        if isinstance(profile, (str, Path)):
            profile = load_profile(profile)
        elif isinstance(profile, (bytes, bytearray)):
            profile = Profile.from_bytes(bytes(profile))
        device = Device(sim.url, timeout=TIMEOUT[name])
    except TinyDriftError as exc:
        pytest.fail(f"tinydrift_board ({name}): {exc}", pytrace=False)
    try:
        if profile is not None:
            device.upload_profile(profile)  # also restarts the monitor: window 0, alarm cleared
        yield TinydriftBoard(name, sim, device, profile, Path(request.path).parent)
    except TinyDriftError as exc:
        pytest.fail(f"tinydrift_board ({name}): {exc}", pytrace=False)
    finally:
        device.close()
