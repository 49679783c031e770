"""A user's CI tests against a simulated tinydrift board (run: pytest, or pytest --tinydrift-board qemu)."""

import pytest


@pytest.mark.tinydrift_profile("ref.tdp")
def test_field_recording_stays_quiet(tinydrift_board):
    assert tinydrift_board.replay("field.csv").first_alarm is None


@pytest.mark.tinydrift_profile("ref.tdp")
def test_gain_drift_is_caught_within_20_windows(tinydrift_board):
    replay = tinydrift_board.replay("drifted.csv")  # gyr_y gain x4 from window 20
    assert replay.first_alarm is not None and 20 <= replay.first_alarm < 40


@pytest.mark.parametrize("tinydrift_board", ["host", "qemu"], indirect=True)
@pytest.mark.tinydrift_profile("ref.tdp")
def test_board_computes_what_the_host_computes(tinydrift_board):
    replay = tinydrift_board.replay("drifted.csv")
    assert tinydrift_board.host_differences(replay, "drifted.csv") == []
