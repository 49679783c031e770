"""The device's unique id in INFO (link protocol 2): the simulated boards, the CLI, the gateway's identity.

Oracle for the boards: the storage file itself (the HAL's private page, "TDID" | u64 LE at byte
8192 + 8), read here with struct, and the ids the test hands in. QEMU needs qemu-system-arm and
arm-none-eabi-gcc; without them its half is skipped.
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from e2e_boards import missing_tools
from tinydrift.cli.app import main
from tinydrift.device.client import Device
from tinydrift.device.messages import Info
from tinydrift.device.sim import STORAGE_FILE, Simulator, firmware_path

UID_OFFSET = 8192 + 8  # boards/host/hal_host.c, boards/mps2-an386/hal_mps2.c: the HAL's page, after the boot count


def stored_uid(state_dir: Path) -> int | None:
    """The uid the storage file holds, read independently of the firmware."""
    raw = (state_dir / STORAGE_FILE).read_bytes()[UID_OFFSET:UID_OFFSET + 12]
    return struct.unpack("<Q", raw[4:])[0] if raw[:4] == b"TDID" else None


def board_uid(sim: Simulator) -> int:
    assert sim.url is not None
    with Device(sim.url, timeout=2.0) as dev:
        info = dev.info()
    assert info.protocol_version == 2 and info.device_uid is not None
    return info.device_uid


@pytest.mark.parametrize("board", ["host", "qemu"])
def test_boards_differ_keep_their_id_across_restarts_and_take_a_given_one(board, tmp_path):
    missing = missing_tools(board)
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed")
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    with Simulator(board, state_dir=a_dir) as a, Simulator(board, state_dir=b_dir) as b:
        a.start()
        b.start()
        uid_a, uid_b = board_uid(a), board_uid(b)
        assert uid_a != 0 and uid_b != 0 and uid_a != uid_b
        assert (stored_uid(a_dir), stored_uid(b_dir)) == (uid_a, uid_b)
        a.restart()
        assert board_uid(a) == uid_a  # a reboot keeps the id (the boot id changes)
    given = 0x0123456789ABCDEF
    with Simulator(board, state_dir=a_dir, device_id=given) as a:
        a.start()
        assert board_uid(a) == given and stored_uid(a_dir) == given
    with Simulator(board, state_dir=a_dir) as a:  # without the option: the given id was stored
        a.start()
        assert board_uid(a) == given


def test_qemu_board_makes_its_own_id_when_none_is_passed(tmp_path):
    """A storage file without an id and no device_id= on QEMU's command line: the firmware derives and stores one."""
    missing = missing_tools("qemu")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed")
    tmp_path.joinpath(STORAGE_FILE).write_bytes(b"\xff" * 12288)  # exists: the wrapper passes no id
    with Simulator("qemu", state_dir=tmp_path) as sim:
        sim.start()
        uid = board_uid(sim)
        assert uid != 0 and stored_uid(tmp_path) == uid
        sim.restart()
        assert board_uid(sim) == uid


def test_host_simulator_rejects_a_bad_device_id_in_one_line(tmp_path):
    exe = str(firmware_path("host"))
    for bad in ("0", "xyz", "1" * 17, ""):
        run = subprocess.run([exe, "--storage", str(tmp_path / "s.bin"), "--device-id", bad], capture_output=True,
                             text=True, timeout=10)
        assert run.returncode == 2 and "--device-id needs 1 to 16 hex digits" in run.stderr.splitlines()[0]
    assert not (tmp_path / "s.bin").exists()  # refused before touching any state


def test_info_command_shows_the_device_id(tmp_path, capsys):
    with Simulator("host", state_dir=tmp_path, device_id=0xFEDCBA9876543210) as sim:
        sim.start()
        assert main(["info", "--port", sim.url]) == 0
        text = capsys.readouterr().out
        assert [ln.split() for ln in text.splitlines() if "device id" in ln] == [["device", "id", "fedcba9876543210"]]
        assert main(["info", "--port", sim.url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["device_uid"] == "fedcba9876543210"
    assert main(["sim", "--device-id", "0"]) == 2
    assert "'0' is not a device id" in capsys.readouterr().err


def _info(version: int, uid: int | None) -> Info:
    return Info(1, 1, None, 352, 5, 0x000100, 0, 0, 16, 0, 0, 0, 128, 0, 0, 0, "host simulator", version, uid)


class _Publisher:
    def __init__(self) -> None:
        self.url = SimpleNamespace(prefix="tinydrift")
        self.sent: list[tuple[str, bytes]] = []

    def put(self, messages: list[tuple[str, bytes]], marks: Any = None) -> None:
        self.sent += messages


def test_gateway_uses_the_uid_and_falls_back_with_one_warning_for_old_firmware(caplog):
    from tinydrift.fleet.gateway import GatewaySink

    pub = _Publisher()
    sink = GatewaySink(pub, "gw", "/dev/ttyACM0")  # type: ignore[arg-type]
    sink.connected(_info(2, 0x00000000DEADBEEF), "/dev/ttyACM0")
    assert sink.device == "00000000deadbeef"
    assert pub.sent[-1][0] == "tinydrift/v1/00000000deadbeef/info"
    assert json.loads(pub.sent[-1][1])["info"]["uid"] == "00000000deadbeef"
    old = GatewaySink(pub, "gw", "/dev/ttyACM0")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="tinydrift.fleet"):
        old.connected(_info(1, None), "/dev/ttyACM0")
        old.connected(_info(1, None), "/dev/ttyACM0")  # a reconnect: no second warning
    assert old.device == "_dev_ttyACM0"
    warnings = [r.getMessage() for r in caplog.records if r.name == "tinydrift.fleet"]
    assert len(warnings) == 1 and "reports no device id" in warnings[0] and "\n" not in warnings[0]


def test_fleet_simulator_devices_have_distinct_ids():
    from tinydrift.fleet.simulate import device_uid

    ids = [device_uid(i) for i in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(u) == 16 and int(u, 16) != 0 for u in ids[:1000])
