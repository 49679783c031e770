"""Real sensor recordings for the calibration benchmark, read from files that installed packages carry.

Nothing is downloaded: every file ships inside a package wheel (sktime, heartpy: the ``bench`` extra) or in
this repository (BasicMotions). Each loader returns int16 recordings with class labels, split into a training
pool and a test pool that share no recording, plus the source and licence to print in the report.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Dataset:
    """Recordings (frames x channels, int16) with a class per recording, in a training and a test pool."""

    name: str
    what: str
    source: str
    licence: str
    window: int
    train: list[np.ndarray]
    train_labels: list[int]
    test: list[np.ndarray]
    test_labels: list[int]
    set_aside: bool = False  # never tuned on; reported separately
    reference: bool = False  # synthetic, exchangeable by construction: the method's own calibration, reported apart

    @property
    def n_classes(self) -> int:
        """Distinct classes over both pools (1: no class labels)."""
        return len(set(self.train_labels) | set(self.test_labels))

    def windows(self, pool: str) -> int:
        """Whole windows in a pool."""
        return sum(len(r) // self.window for r in (self.train if pool == "train" else self.test))


def package_dir(module: str) -> Path:
    """Directory of an installed package, without importing it (sktime's import is slow and not needed)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SystemExit(f"calibration benchmark: package {module!r} is not installed (pip install -e '.[bench]')")
    return Path(spec.origin).parent


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """A .ts file of the UCR/UEA archives: one case per line, dimensions separated by ':', class label last."""
    cases: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        series = [np.array([float(v) for v in d.split(",")]) for d in dims]
        n = min(len(s) for s in series)
        cases.append(np.stack([s[:n] for s in series], axis=1))
        labels.append(label.strip())
    return cases, labels


def to_int16(cases: list[np.ndarray], full_scale: np.ndarray) -> list[np.ndarray]:
    """Quantize like a fixed full-scale sensor driver: value / full_scale * 16384, rounded, clipped to int16."""
    return [np.clip(np.round(c / full_scale * 16384.0), -32768, 32767).astype(np.int16) for c in cases]


def _ucr(name: str, what: str, window: int, set_aside: bool = False) -> Dataset:
    base = package_dir("sktime") / "datasets" / "data" / name
    train, train_lab = read_ts(base / f"{name}_TRAIN.ts")
    test, test_lab = read_ts(base / f"{name}_TEST.ts")
    classes = sorted(set(train_lab) | set(test_lab))
    full = np.max([np.abs(c).max(axis=0) for c in train], axis=0)
    full = np.where(full > 0, full, 1.0)
    return Dataset(name, what, f"UCR/UEA archive problem {name}, copy in the sktime wheel "
                   f"(sktime/datasets/data/{name}/{name}_{{TRAIN,TEST}}.ts)",
                   "archive: free for research use, cite Dau et al. 2019 / Bagnall et al. 2018; sktime BSD-3-Clause",
                   window, to_int16(train, full), [classes.index(x) for x in train_lab],
                   to_int16(test, full), [classes.index(x) for x in test_lab], set_aside)


def basicmotions() -> Dataset:
    """The bundled BasicMotions recording (smartwatch IMU, 6 channels, 10 Hz, 4 activities)."""
    d = np.load(ROOT / "data" / "basicmotions.npz")
    out: dict[int, list] = {0: [], 1: []}
    for case in np.unique(d["case"]):
        sel = d["case"] == case
        split = int(d["split"][sel][0])
        out[split].append((d["frames"][sel], int(d["labels"][sel][0])))
    return Dataset("BasicMotions", "smartwatch IMU, 6 channels, 10 Hz, 4 activities",
                   "data/basicmotions.npz (UEA archive, from the sktime 1.2.0 wheel; data/README.md)",
                   "archive: free for research use; sktime BSD-3-Clause", 10,
                   [f for f, _ in out[0]], [c for _, c in out[0]], [f for f, _ in out[1]], [c for _, c in out[1]])


def japanese_vowels() -> Dataset:
    """Nine speakers' utterances as 12 LPC cepstrum coefficients per 10 ms frame (microphone)."""
    return _ucr("JapaneseVowels", "microphone: 12 LPC cepstra per frame, 9 speakers, utterances of 7-29 frames", 4)


def acsf1() -> Dataset:
    """Power consumption of 10 kinds of home appliances (smart plug), 1460 samples per recording."""
    return _ucr("ACSF1", "smart-plug power meter, 1 channel, 10 appliance kinds, 1460 samples per recording", 20)


def plaid() -> Dataset:
    """Current of 11 kinds of appliances (PLAID), recordings of 100-1344 samples. Set aside: never tuned on."""
    return _ucr("PLAID", "appliance current, 1 channel, 11 appliance kinds, 100-1344 samples per recording", 20,
                set_aside=True)


def _segments(signal: np.ndarray, length: int) -> list[np.ndarray]:
    return [signal[i:i + length] for i in range(0, len(signal) - length + 1, length)]


def heartpy_ppg() -> Dataset:
    """Photoplethysmogram recordings shipped with heartpy (data2.csv, data3.csv), cut into 20 s recordings; the first
    half of each file trains, the second half tests (no class labels)."""
    base = package_dir("heartpy") / "data"
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for name, hz in (("data2.csv", 100), ("data3.csv", 100)):
        values = np.genfromtxt(base / name, delimiter=",", skip_header=1, usecols=1)
        values = values[np.isfinite(values)]
        centred = (values - np.median(values)).reshape(-1, 1)
        half = len(centred) // 2
        seg = 20 * hz
        train += _segments(centred[:half], seg)
        test += _segments(centred[half:], seg)
    full = max(np.abs(r).max() for r in train) * np.ones(1)
    return Dataset("heartpy-PPG", "photoplethysmogram (finger PPG), 1 channel, two recordings cut into 2,000-sample "
                   "pieces", "heartpy 1.2.7 wheel (heartpy/data/data2.csv, data3.csv)",
                   "heartpy GPL-3.0 (package; data distributed with it)", 25,
                   to_int16(train, full), [0] * len(train), to_int16(test, full), [0] * len(test))


def mitdb() -> Dataset:
    """An ECG excerpt of the MIT-BIH arrhythmia database shipped with sktime (mitdb.csv), up to its labelled
    arrhythmic stretch; the first half trains, the second half tests."""
    path = package_dir("sktime") / "datasets" / "data" / "mitdb" / "mitdb.csv"
    table = np.genfromtxt(path, delimiter=",", skip_header=1)
    labelled = np.flatnonzero(table[:, 1] != 0)  # the file marks an arrhythmic stretch near its end: left out
    values = table[: labelled[0] if labelled.size else len(table), :1]
    half = len(values) // 2
    train, test = _segments(values[:half], 500), _segments(values[half:], 500)
    full = max(np.abs(r).max() for r in train) * np.ones(1)
    return Dataset("MIT-BIH-ECG", "ECG (MIT-BIH arrhythmia database excerpt), 1 channel, the 6,935 samples before its labelled stretch",
                   "sktime wheel (sktime/datasets/data/mitdb/mitdb.csv), from PhysioNet's MIT-BIH database",
                   "ODC-By 1.0 (PhysioNet); sktime BSD-3-Clause", 10,
                   to_int16(train, full), [0] * len(train), to_int16(test, full), [0] * len(test))


def exchangeable() -> Dataset:
    """Synthetic recordings that meet calibration's assumption by construction: i.i.d. Gaussian samples, the same
    distribution in every recording (seeded), 40 recordings of 100 windows per pool."""
    rng = np.random.default_rng(21)
    scale = np.array([300.0, 600.0, 900.0, 1200.0])

    def pool() -> list[np.ndarray]:
        return [np.round(rng.normal(0.0, 1.0, (100 * 16, 4)) * scale).astype(np.int16) for _ in range(40)]

    train, test = pool(), pool()
    return Dataset("exchangeable", "synthetic: i.i.d. Gaussian samples, 4 channels, every recording alike", "generated "
                   "(bench/calibration/datasets.py, seed 21)", "-", 16, train, [0] * len(train), test, [0] * len(test),
                   reference=True)


LOADERS = {"BasicMotions": basicmotions, "JapaneseVowels": japanese_vowels, "ACSF1": acsf1,
           "heartpy-PPG": heartpy_ppg, "MIT-BIH-ECG": mitdb, "PLAID": plaid,
           "exchangeable": exchangeable}
