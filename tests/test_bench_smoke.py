"""bench/tdbench (make bench): its scenario generator and metric code on a tiny configuration.

These check properties that can fail: the injected drift changes the stream at the change point and
only there, the class scenarios stream the right classes, delays and false alarms are counted as
documented, the tuning helpers hit their counts, and tinydrift's per-window runner counts alarms the
way the calibration does.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.build.calibrate import count_alarms

from tdbench import config, data, detectors, metrics, runs, scenarios


@pytest.fixture(scope="module")
def ds():
    return data.load_dataset()


@pytest.fixture(scope="module")
def sd(ds):
    train = np.concatenate([c[0] for c in ds.cases(0)]).astype(np.float64)
    return train.std(axis=0)


def _match_cases(ds, frames, skip_channel=None):
    """For each 100-frame chunk of a stream: the index of the test case it was cut from (matched on the
    channels other than skip_channel), or -1."""
    test = ds.cases(1)
    keep = [c for c in range(ds.n_channels) if c != skip_channel]
    out = []
    for start in range(0, len(frames), 100):
        chunk = frames[start : start + 100][:, keep]
        hits = [i for i, (f, _) in enumerate(test) if len(f) == len(chunk) and np.array_equal(f[:, keep], chunk)]
        out.append(hits[0] if len(hits) == 1 else -1)
    return out


# ------------------------------------------------------------------------------------ injection

@pytest.mark.parametrize("kind,magnitude", [("gain", 2.0), ("offset", 0.5), ("stuck", 0.0), ("dropout", 0.2),
                                            ("noise", 0.5)])
def test_inject_changes_one_channel_from_the_change_point_only(ds, sd, kind, magnitude):
    base = np.ascontiguousarray(ds.frames[ds.split == 1][:600])
    start, ch = 237, 4
    out = scenarios.inject(base, start, kind, ch, magnitude, float(sd[ch]), np.random.default_rng(1))
    assert out.dtype == np.int16 and out.shape == base.shape
    assert np.array_equal(out[:start], base[:start]), "drift leaked before the change point"
    others = [c for c in range(base.shape[1]) if c != ch]
    assert np.array_equal(out[:, others], base[:, others]), "drift leaked into other channels"
    seg, orig = out[start:, ch].astype(np.int64), base[start:, ch].astype(np.int64)
    changed = seg != orig
    assert changed.mean() > 0.05, "the drifted channel barely changed"
    if kind == "gain":
        assert np.array_equal(seg, np.clip(np.round(orig * 2.0), -32767, 32767))
    elif kind == "offset":
        assert np.array_equal(seg, np.clip(orig + int(round(0.5 * sd[ch])), -32767, 32767))
    elif kind == "stuck":
        assert np.all(seg == base[start - 1, ch])
    elif kind == "dropout":
        assert np.array_equal(changed, seg == config.SENTINEL), "dropout must only write the sentinel"
        assert 0.12 < changed.mean() < 0.28
        assert not np.any(out[:start] == config.SENTINEL)
    elif kind == "noise":
        resid = (seg - orig)[changed]
        assert abs(resid.std() / (0.5 * sd[ch]) - 1.0) < 0.2


@pytest.mark.parametrize("key", ["gain", "offset_small", "stuck", "dropout", "noise"])
def test_channel_scenarios_drift_at_the_change_window_and_only_there(ds, sd, key):
    scen = scenarios.SCENARIO_BY_KEY[key]
    for rep in range(2):
        s = scenarios.make_stream(ds, scen, rep, seed=7, sd=sd)
        assert len(s.frames) == 4000 and s.n_windows == 400
        assert 150 <= s.change <= 250 and 0 <= s.channel < ds.n_channels
        cases = _match_cases(ds, s.frames, skip_channel=s.channel)
        assert sorted(cases) == list(range(40)), "stream must be a permutation of the 40 held-out cases"
        test = ds.cases(1)
        clean = np.concatenate([test[i][0] for i in cases])
        cut = s.change * config.WINDOW
        assert np.array_equal(s.frames[:cut], clean[:cut])
        diff_windows = np.flatnonzero((s.frames != clean).reshape(400, config.WINDOW, -1).any(axis=(1, 2)))
        assert diff_windows.min() >= s.change
        assert diff_windows.size > 0.5 * (400 - s.change)
        # Deterministic in (seed, scenario, rep); another rep differs.
        again = scenarios.make_stream(ds, scen, rep, seed=7, sd=sd)
        assert np.array_equal(again.frames, s.frames) and again.change == s.change


def test_control_streams_are_clean_permutations(ds, sd):
    s = scenarios.make_stream(ds, scenarios.SCENARIO_BY_KEY["control"], 0, seed=7, sd=sd)
    assert s.change is None and s.channel is None
    assert sorted(_match_cases(ds, s.frames)) == list(range(40))


def test_unseen_and_prior_streams_switch_class_at_the_change(ds, sd):
    test = ds.cases(1)
    for key in ("unseen", "prior"):
        for rep in range(4):
            s = scenarios.make_stream(ds, scenarios.SCENARIO_BY_KEY[key], rep, seed=3, sd=sd)
            cls = rep % 4
            assert s.note == ds.classes[cls]
            labels = [test[i][1] for i in _match_cases(ds, s.frames)]
            per_case = config.WINDOW * np.arange(len(labels)) * 10  # 10 windows per 100-frame case
            pre = [lab for lab, f in zip(labels, per_case) if f < s.change * config.WINDOW]
            post = [lab for lab, f in zip(labels, per_case) if f >= s.change * config.WINDOW]
            assert post and all(lab == cls for lab in post)
            assert len(set(pre)) >= 3
            if key == "unseen":
                assert cls not in pre and s.reference == f"without:{cls}"
                assert len(post) == 10
            else:
                assert s.reference == "all" and len(post) == 7


# -------------------------------------------------------------------------------------- metrics

def test_delay_and_false_alarms_on_hand_made_alarm_vectors():
    a = np.array([0, 1, 0, 0, 0, 0, 1, 1], bool)
    assert metrics.false_alarms(a, 4) == (1, 4)
    assert metrics.detection_delay(a, 4) == 2
    assert metrics.false_alarms(a, None) == (3, 8)
    assert metrics.detection_delay(a, 6) == 0
    assert metrics.detection_delay(np.array([1, 1, 0, 0], bool), 2) is None
    assert metrics.median_delay([1, None, 3]) == 3
    assert math.isinf(metrics.median_delay([None, None, 1]))
    assert metrics.per_1000(3, 1500) == 2.0


def test_outcome_names_the_channel_at_the_first_alarm():
    run = detectors.Run(np.array([0, 1, 0, 1, 1], bool), np.array([0, 1 << 2, 0, 1 << 5, 1 << 3]), np.zeros(5))
    s = scenarios.Stream("gain", 0, np.zeros((50, 6), np.int16), 2, 5, "all")
    o = runs.outcome_of(run, s)
    assert (o.fa, o.fa_windows, o.delay, o.named_ok) == (1, 2, 1, True)
    s.channel = 3
    assert runs.outcome_of(run, s).named_ok is False


def test_tuning_helpers_hit_the_allowed_count():
    stat = np.array([5.0, 1.0, 3.0, 3.0, 2.0, 4.0])
    for allowed in range(len(stat) + 1):
        t = metrics.threshold_for_count(stat, allowed)
        assert np.count_nonzero(stat > t) <= allowed
        if allowed < len(stat):  # and it is the most sensitive such threshold found in the data
            assert not any(np.count_nonzero(stat > u) <= allowed for u in stat if u < t)
    # A knob whose alarm count falls as it grows: the smallest knob with count <= allowed, to ~1e-6 relative.
    knob = metrics.bisect_knob(lambda x: int(100 / x), allowed=9, lo=0.01, hi=1e4, increasing=False, steps=60)
    assert int(100 / knob) <= 9 and knob == pytest.approx(10.0, rel=1e-6)
    knob = metrics.bisect_knob(lambda d: int(d * 1000), allowed=5, lo=1e-9, hi=1.0, increasing=True, steps=60)
    assert int(knob * 1000) <= 5 and knob == pytest.approx(0.006, rel=1e-3)


def test_poisson_upper_and_bonferroni():
    assert metrics.poisson_upper(0) == pytest.approx(-math.log(0.05), rel=1e-6)
    assert metrics.poisson_upper(3) == pytest.approx(7.7537, rel=1e-3)
    assert detectors.bonferroni_z(0.05, 1) == pytest.approx(1.959964, rel=1e-5)
    assert detectors.bonferroni_z(0.05, 6) > detectors.bonferroni_z(0.05, 1)


def test_numpy_window_statistics_match_a_loop():
    rng = np.random.default_rng(0)
    frames = rng.integers(-3000, 3000, size=(130, 3)).astype(np.int16)
    s, ss, mn, mx, mean, std = data.window_stats_numpy(frames, 64)
    assert s.shape == (2, 3)
    for w in range(2):
        x = frames[w * 64 : (w + 1) * 64].astype(np.float64)
        assert np.allclose(s[w], x.sum(0)) and np.allclose(ss[w], (x * x).sum(0))
        assert np.array_equal(mn[w], x.min(0)) and np.array_equal(mx[w], x.max(0))
        assert np.allclose(mean[w], x.mean(0)) and np.allclose(std[w], x.std(0))


# ---------------------------------------------------------------------------------- detectors

@pytest.fixture(scope="module")
def reference(ds):
    return detectors.build_reference("all", [c[0] for c in ds.cases(0)], ds.names)


def test_tinydrift_runner_counts_alarms_like_the_calibration(ds, sd, reference):
    # The test split is in class order, a prior shift to the occupancy test: this checks the score's detector only.
    prof = reference.profile.replace(occupancy_windows=0)
    test = np.ascontiguousarray(ds.frames[ds.split == 1])
    # An offset of 2 sd on gyr_z (no rail, no sentinel): score alarms only, CUSUM with reset after each.
    drifted = scenarios.inject(test, 2000, "offset", 5, 2.0, float(sd[5]), np.random.default_rng(0))
    run = detectors.run_tinydrift(prof, drifted)
    rows = tinydrift.score(prof, drifted)
    assert not np.any(rows["trigger"] & 4), "fixture must not raise health events"
    q8 = np.round(rows["score"] * 256).astype(np.uint32)
    assert np.array_equal(run.stat, rows["score"])
    assert run.alarm.sum() >= 10 and (run.extra["trigger"] & 2).sum() >= 10, "fixture must raise CUSUM alarms"
    assert not run.alarm[:200].any()
    assert int(run.alarm.sum()) == count_alarms(prof.cusum_k_q8, prof.cusum_h_q8, prof.instant_q8, q8)


def test_tinydrift_runner_names_a_stuck_channel_at_once(ds, sd, reference):
    s = scenarios.make_stream(ds, scenarios.SCENARIO_BY_KEY["stuck"], 0, seed=11, sd=sd)
    o = runs.outcome_of(detectors.run_tinydrift(reference.profile, s.frames), s)
    assert o.delay == 0 and o.named_ok and o.how & 4


def test_peer_statistics_react_to_a_jump_on_the_right_channel(ds, reference):
    test = np.ascontiguousarray(ds.frames[ds.split == 1][:2000])
    drifted = scenarios.inject(test, 1000, "offset", 1, 3.0, 6957.0, np.random.default_rng(0))
    z, top = detectors.ztest_stat(reference, drifted)
    d2, mtop = detectors.mahalanobis_stat(reference, drifted)
    assert np.median(z[100:]) > 2 * np.median(z[:100]) and np.all(top[100:][z[100:] > 5] == 1)
    assert np.median(d2[100:]) > 2 * np.median(d2[:100])
    pytest.importorskip("river")
    run = detectors.run_river(detectors.adwin_factory(0.002), detectors.zscores_of_means(reference, drifted))
    delay = metrics.detection_delay(run.alarm, 100)
    assert delay is not None and delay < 40 and run.named[100 + delay] == 1 << 1


@pytest.mark.parametrize("args,message", [(["--repeats", "0"], "bench: --repeats must be at least 1"),
                                          (["--out", "/dev/null/benchmarks.md"], "bench: cannot write the report: ")])
def test_cli_rejects_bad_options_in_one_line_before_running(args, message, tmp_path):
    pytest.importorskip("river")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root / "bench"))
    proc = subprocess.run([sys.executable, "-m", "tdbench", *args, "--img", str(tmp_path / "img")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""
