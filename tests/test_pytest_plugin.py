"""The pytest plugin (tinydrift_pytest, entry point pytest11) run as a user runs it: pytester copies
examples/pytest_plugin into a temporary project and runs pytest there in a subprocess (so the plugin is
found through its entry point, not through this suite)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pytest_plugin"
NEEDS_QEMU = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="qemu-system-arm and gcc-arm-none-eabi not installed")


def user_project(pytester: pytest.Pytester) -> None:
    for name in ("ref.tdp", "field.csv", "drifted.csv", "test_drift.py"):
        shutil.copy(EXAMPLE / name, pytester.path / name)


@pytest.mark.slow
@NEEDS_QEMU
def test_example_project_passes_on_host_and_qemu(pytester: pytest.Pytester) -> None:
    user_project(pytester)
    result = pytester.runpytest_subprocess("-v", "--tinydrift-board", "host", "--tinydrift-board", "qemu")
    # Two tests on each board the option names; one parametrized by the test itself over host and qemu.
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_field_recording_stays_quiet?host? PASSED*",
                                 "*test_field_recording_stays_quiet?qemu? PASSED*",
                                 "*test_gain_drift_is_caught_within_20_windows?qemu? PASSED*",
                                 "*test_board_computes_what_the_host_computes?host? PASSED*",
                                 "*test_board_computes_what_the_host_computes?qemu? PASSED*"])


@pytest.mark.slow
def test_example_project_defaults_to_the_host_board(pytester: pytest.Pytester) -> None:
    user_project(pytester)
    result = pytester.runpytest_subprocess("-v", "-k", "not computes")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_field_recording_stays_quiet?host? PASSED*",
                                 "*test_gain_drift_is_caught_within_20_windows?host? PASSED*"])
    result.stdout.no_fnmatch_line("*qemu*")


@pytest.mark.slow
def test_failing_user_test_says_where_the_alarm_fell(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLE / "ref.tdp", pytester.path / "ref.tdp")
    shutil.copy(EXAMPLE / "drifted.csv", pytester.path / "drifted.csv")
    pytester.makepyfile(test_user="""
        import pytest

        @pytest.mark.tinydrift_profile("ref.tdp")
        def test_drifted_recording_is_quiet(tinydrift_board):
            assert tinydrift_board.replay("drifted.csv").first_alarm is None
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    # The oracle: the host's own score of the same recording puts the first alarm at window 35.
    import tinydrift
    from tinydrift.core.recording import read_recording

    rows = tinydrift.score(tinydrift.load_profile(EXAMPLE / "ref.tdp"), read_recording(EXAMPLE / "drifted.csv").frames)
    first = int(rows["window"][rows["alarm"]][0])
    result.stdout.fnmatch_lines([f"*assert {first} is None*",
                                 f"*Replay(drifted.csv on host: {len(rows)} windows, first alarm at window {first}*"])


@pytest.mark.slow
def test_profile_from_an_overridden_fixture(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLE / "field.csv", pytester.path / "field.csv")
    pytester.makeconftest(f"""
        import numpy as np, pytest, tinydrift

        @pytest.fixture
        def tinydrift_profile():
            data = np.load({str(ROOT / "data" / "basicmotions.npz")!r})
            train = [data["frames"][data["case"] == k] for k in range(8)]
            return tinydrift.build_profile(train, window=20)
    """)
    pytester.makepyfile(test_user="""
        def test_windows_and_host_agree(tinydrift_board):
            replay = tinydrift_board.replay("field.csv")
            assert replay.windows == 50
            assert tinydrift_board.host_differences(replay, "field.csv") == []
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_a_missing_profile_file_fails_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="""
        import pytest

        @pytest.mark.tinydrift_profile("nope.tdp")
        def test_x(tinydrift_board):
            pass
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*tinydrift_board (host): cannot read profile *nope.tdp: No such file or directory*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_plugin_is_registered_and_imports_nothing_of_tinydrift(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import sys

        def pytest_sessionfinish(session):
            plugin = session.config.pluginmanager.get_plugin("tinydrift")
            print("PLUGIN", getattr(plugin, "__name__", None), "IMPORTED", "tinydrift" in sys.modules)
    """)
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PLUGIN tinydrift_pytest IMPORTED False*"])
    # And the module itself: importing it loads pytest only.
    code = "import sys, tinydrift_pytest; print(sorted(m for m in sys.modules if m.startswith(('tinydrift', 'numpy'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tinydrift_pytest']"
