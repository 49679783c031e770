"""Shared pieces of the end-to-end tests that run against every simulated board.

Test modules import the ``sim`` and ``dev`` fixtures from here (pytest finds fixtures in a
module's namespace): ``sim`` is one simulator per module and board (host and QEMU), ``dev`` a
fresh Device connection to it per test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import numpy as np
import pytest

from tinydrift import Profile
from tinydrift.device import protocol as proto
from tinydrift.device.client import Device
from tinydrift.device.protocol import DeviceError
from tinydrift.device.records import compare_records
from tinydrift.device.sim import Simulator

BOARDS = ["host", "qemu"]
TIMEOUT = {"host": 1.0, "qemu": 2.0}


def missing_tools(board: str) -> list[str]:
    """Tools a board needs that this machine lacks (QEMU and the Arm compiler for "qemu")."""
    if board != "qemu":
        return []
    return [tool for tool in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(tool) is None]


@pytest.fixture(scope="module", params=BOARDS)
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    board = request.param
    missing = missing_tools(board)
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian packages qemu-system-arm, gcc-arm-none-eabi)")
    module = request.module.__name__.rsplit(".", 1)[-1]
    with Simulator(board, state_dir=tmp_path_factory.mktemp(f"{module}-{board}")) as s:
        yield s


def connect(sim: Simulator, **kwargs: object) -> Device:
    assert sim.url is not None
    return Device(sim.url, timeout=TIMEOUT[sim.board], **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def dev(sim: Simulator) -> Iterator[Device]:
    if sim.url is None:  # a previous test left it stopped
        sim.start()
    with connect(sim) as d:
        yield d


def activate(dev: Device, profile: Profile) -> None:
    """Upload (which also restarts the device's monitor: window 0, alarm cleared)."""
    assert dev.upload_profile(profile) == profile.profile_id


def assert_equal_rows(records: list, rows: np.ndarray) -> None:
    diffs = compare_records(records, rows)
    assert not diffs, "\n".join(diffs)


def nack(dev: Device, msg_type: int, payload: bytes, status: int) -> None:
    """The raw request is NACKed with exactly this td_status."""
    with pytest.raises(DeviceError, match=proto.status_name(status)) as exc:
        dev.request(msg_type, payload)
    assert exc.value.status == status
