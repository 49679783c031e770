"""`tinydrift flash --board nano33ble` with fake upload tools: which tool, which command, the 1200-baud touch.

The fakes are shell scripts that write their argv to a file; the board's port is a pty, whose
line settings show whether the touch really opened it at 1200 baud (the fake bootloader port only
"appears" after that).
"""

from __future__ import annotations

import os
import stat
import termios
from pathlib import Path

import pytest

from tinydrift.cli.app import main
from tinydrift.device import flash
from tinydrift.device.protocol import DeviceError

FQBN = "arduino:mbed_nano:nano33ble"


def fake_tool(path: Path, argv_file: Path, version: str = "", exit_code: int = 0, message: str = "") -> Path:
    """A script recording its argv (one per line); --help prints a BOSSA-like version line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""#!/bin/sh
if [ "$1" = "--help" ]; then echo "Basic Open Source SAM-BA Application (BOSSA) Version {version}"; exit 1; fi
printf '%s\\n' "$@" > "{argv_file}"
{f'echo "{message}"' if message else ''}
exit {exit_code}
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(home))
    fw = tmp_path / "DriftMonitor.ino.bin"
    fw.write_bytes(b"\x00\x10\x00\x20" * 64)
    return {"bin": bin_dir, "home": home, "fw": fw, "argv": tmp_path / "argv.txt"}


@pytest.fixture
def pty_port() -> tuple[str, int]:
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[4] = attrs[5] = termios.B115200
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    yield os.ttyname(slave), slave
    os.close(master)
    os.close(slave)


def test_arduino_cli_upload_when_present(env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    fake_tool(env["bin"] / "arduino-cli", env["argv"])
    fake_tool(env["bin"] / "bossac", env["argv"], version="1.9.1-arduino2")  # arduino-cli wins over bossac
    assert main(["flash", "--board", "nano33ble", "--port", "/dev/ttyACM3", str(env["fw"])]) == 0
    assert env["argv"].read_text().splitlines() == ["upload", "-p", "/dev/ttyACM3", "--fqbn", FQBN,
                                                    "--input-file", str(env["fw"])]


def test_arduino_cli_failure_is_one_line(env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    fake_tool(env["bin"] / "arduino-cli", env["argv"], exit_code=1,
              message="Error during Upload: Failed uploading: no upload port provided")
    assert main(["flash", "--board", "nano33ble", "--port", "/dev/ttyACM3", str(env["fw"])]) == 1
    err = capsys.readouterr().err.splitlines()  # a progress line naming the command, then the error
    assert err[0].startswith("tinydrift: flashing ") and err[0].endswith(f"--input-file {env['fw']}")
    assert err[1:] == ["tinydrift: error: arduino-cli failed (exit 1): Error during Upload: Failed uploading: no "
                       "upload port provided"]


def test_arduino15_bossac_with_1200_baud_touch(env: dict, pty_port: tuple[str, int],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    port, slave = pty_port
    base = env["home"] / ".arduino15" / "packages" / "arduino" / "tools" / "bossac"
    fake_tool(base / "1.9.1-arduino1" / "bossac", env["argv"].with_suffix(".old"),
              version="1.9.1-arduino1")
    newest = fake_tool(base / "1.9.1-arduino2" / "bossac", env["argv"], version="1.9.1-arduino2")
    info = flash.board_info()
    speeds: list[int] = []

    def ports(vid: int, pid: int) -> list[str]:
        """The bootloader's port exists once the application port was opened at 1200 baud."""
        speed = termios.tcgetattr(slave)[5]
        speeds.append(speed)
        return ["/dev/ttyACM9"] if pid == info.boot_pid and speed == termios.B1200 else []

    monkeypatch.setattr(flash, "_ports", ports)
    monkeypatch.setattr(flash.time, "sleep", lambda s: None)
    tool = flash.find_upload_tool()
    assert (tool.kind, tool.path) == ("bossac", str(newest))
    said: list[str] = []
    flash.flash(env["fw"], port=port, info=info, progress=said.append)
    assert speeds[0] == termios.B115200 and termios.B1200 in speeds  # no touch before, a touch after
    assert env["argv"].read_text().splitlines() == ["-d", "--port=ttyACM9", "-U", "-i", "-e", "-w", str(env["fw"]),
                                                    "-R"]
    assert not env["argv"].with_suffix(".old").exists()  # the older bossac was not used
    assert said[0].startswith(f"resetting the board on {port}")


def test_touch_sets_1200_baud(pty_port: tuple[str, int]) -> None:
    port, slave = pty_port
    assert termios.tcgetattr(slave)[5] == termios.B115200
    flash.touch_1200(port)
    assert termios.tcgetattr(slave)[4:6] == [termios.B1200, termios.B1200]
    with pytest.raises(DeviceError, match="cannot open /dev/ttyNOPE9"):
        flash.touch_1200("/dev/ttyNOPE9")


def test_arduino_bossac_on_path(env: dict) -> None:
    path = fake_tool(env["bin"] / "bossac", env["argv"], version="1.9.1-arduino2")
    assert flash.find_upload_tool() == flash.UploadTool("bossac", str(path))


def test_debian_bossac_is_refused(env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """Debian's bossa-cli prints 'Version 1.9.1' and cannot flash the nRF52840: never used, never recommended."""
    fake_tool(env["bin"] / "bossac", env["argv"], version="1.9.1")
    assert main(["flash", "--board", "nano33ble", "--port", "/dev/ttyACM3", str(env["fw"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not env["argv"].exists()
    assert "install arduino-cli" in err and "arduino-cli core install arduino:mbed_nano" in err
    assert ".arduino15/packages/arduino/tools/bossac" in err
    assert "is not Arduino's bossac and cannot flash the nRF52840" in err
    assert "install the Debian package" not in err


def test_no_tool_names_what_to_install(env: dict) -> None:
    with pytest.raises(DeviceError) as exc:
        flash.find_upload_tool()
    assert "install arduino-cli" in str(exc.value) and "arduino:mbed_nano" in str(exc.value)
    assert "bossa-cli" not in str(exc.value)


@pytest.mark.parametrize("argv", [["info", "--port", "auto"],
                                  ["selftest", "--port", "auto"]])
def test_port_auto_finds_the_board_or_says_so(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--port auto looks the Nano 33 BLE up by USB VID:PID (none here: one line naming it)."""
    monkeypatch.setattr(flash, "_ports", lambda vid, pid: [])
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Nano 33 BLE running found (USB 2341:805A)" in err, err


def test_firmware_build_compiles_the_library_example(env: dict, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`tinydrift firmware build --board nano33ble`: make arduino-lib, then arduino-cli compile of DriftMonitor
    with the generated library (a fake arduino-cli records its argv and writes the .bin)."""
    root = Path(__file__).resolve().parents[1]
    cli = env["bin"] / "arduino-cli"
    cli.write_text(f"""#!/bin/sh
printf '%s\\n' "$@" > "{env['argv']}"
while [ $# -gt 0 ]; do [ "$1" = "--output-dir" ] && out=$2; shift; done
printf 'image' > "$out/DriftMonitor.ino.bin"
""")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{env['bin']}:/usr/bin:/bin")
    out = root / "build" / "fw" / "nano33ble" / "out"
    try:
        assert main(["firmware", "build", "--board", "nano33ble"]) == 0
    finally:  # the fake image must not stay where a real build would be
        (out / "DriftMonitor.ino.bin").unlink(missing_ok=True)
    assert capsys.readouterr().out.strip() == str(out / "DriftMonitor.ino.bin")
    assert env["argv"].read_text().splitlines() == [
        "compile", "--fqbn", FQBN, "--library", str(root / "build" / "arduino" / "tinydrift"), "--output-dir", str(out),
        str(root / "build" / "arduino" / "tinydrift" / "examples" / "DriftMonitor")]
    assert (root / "build" / "arduino" / "tinydrift" / "examples" / "DriftMonitor" / "DriftMonitor.ino").is_file()
