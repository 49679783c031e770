"""``import tinydrift`` loads its public names on first use: build_profile needs neither the device client, the
CLI nor the fleet modules (nor pyserial), and every public name is the object its module defines."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import tinydrift


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_loads_nothing_heavy() -> None:
    loaded = _modules_after("import tinydrift")
    assert not {"numpy", "tinydrift._native", "tinydrift.core", "tinydrift.device", "serial"} & loaded


def test_build_profile_loads_no_device_cli_or_fleet_module() -> None:
    loaded = _modules_after("import tinydrift; tinydrift.build_profile")
    assert {"numpy", "tinydrift.build.builder", "tinydrift.core.monitor"} <= loaded
    unwanted = {m for m in loaded if m.split(".")[:2] in (["tinydrift", "device"], ["tinydrift", "cli"],
                                                          ["tinydrift", "fleet"], ["tinydrift", "telemetry"])}
    assert not unwanted and not {"serial", "threading", "logging", "socket"} & loaded


def test_public_names_are_their_modules_objects() -> None:
    for name in tinydrift.__all__:
        module = importlib.import_module(tinydrift._PUBLIC[name])
        assert getattr(tinydrift, name) is getattr(module, name), name
    assert set(tinydrift.__all__) <= set(dir(tinydrift))
    assert tinydrift.core.monitor.Monitor is tinydrift.Monitor  # subpackages resolve as attributes too
    with pytest.raises(AttributeError, match="no_such_name"):
        tinydrift.no_such_name  # noqa: B018
    from tinydrift import Device, build_profile  # noqa: F401  (from-imports go through __getattr__ as well)
