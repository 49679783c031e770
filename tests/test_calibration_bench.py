"""The calibration bench's training draws (bench/calibration/run.py): exactly the cell's size, from any pool."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "calibration"))
import datasets as D  # noqa: E402
import run as R  # noqa: E402

WINDOW = 4


def pool(lengths: list[int], labels: list[int] | None = None) -> D.Dataset:
    """Recordings whose every frame holds (recording, window) so a draw can be traced back."""
    recs = [np.array([[i, w] for w in range(n) for _ in range(WINDOW)], np.int16) for i, n in enumerate(lengths)]
    labels = labels or [0] * len(recs)
    return D.Dataset("t", "t", "t", "t", WINDOW, recs, labels, recs, labels)


def drawn(train: list[np.ndarray]) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in r[i * WINDOW]) for r in train for i in range(len(r) // WINDOW)]


@pytest.mark.parametrize("size", [30, 100, 300])
def test_draw_gives_exactly_the_size_from_short_recordings(size: int) -> None:
    """Recordings of 3-6 windows, few of the longest (as JapaneseVowels'): the draw holds exactly size distinct
    windows of the pool. The draw before took only pieces of min(size // 20, longest) windows: here 5 pieces, 30
    windows, for 300, as JapaneseVowels' 300-window cell trained on 30."""
    ds = pool([3] * 250 + [4] * 15 + [6] * 5)
    got = drawn(R.draw_training(ds, size, np.random.default_rng(size)))
    assert len(got) == size and len(set(got)) == size


def test_draw_keeps_to_the_classes_asked_and_refuses_a_too_small_pool() -> None:
    ds = pool([10] * 20, labels=[i % 2 for i in range(20)])
    got = drawn(R.draw_training(ds, 100, np.random.default_rng(1), exclude=1))
    assert len(got) == 100 and all(rec % 2 == 0 for rec, _ in got)
    with pytest.raises(ValueError, match="fewer than 101 windows"):
        R.draw_training(ds, 101, np.random.default_rng(1), exclude=1)
