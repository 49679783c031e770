"""The ``tinydrift`` command line: build, inspect and embed profiles; score recordings.

    tinydrift profile build TRAIN [TRAIN ...] -o ref.tdp [--model MODEL (--layer NAME | --tensor T)]
    tinydrift profile show ref.tdp [--json]
    tinydrift profile header ref.tdp -o tinydrift_profile.h [--symbol NAME]
    tinydrift score --profile ref.tdp STREAM [--model MODEL ...] [--csv | --json] [-o FILE] [--fail-on-alarm]

Exit status: 0 success (whether or not drift was found), 1 error (bad input, unreadable
file, invalid profile), 2 usage error, 3 drift found with --fail-on-alarm, 130 interrupted,
141 output pipe closed early. Errors print one line, ``tinydrift: error: <message>``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .build import CHART_SHARE, CROSSFIT_FOLDS, DEFAULT_HOLDOUT, OCCUPANCY_AUTO, SCORINGS, CalibrationWarning, build_profile
from .calibrate import rate_interval, resolves
from .core import lib
from .errors import InputError, TinyDriftError
from .monitor import TRIGGER_NAMES, Monitor
from .profile import Profile, load_profile
from .recording import Recording, default_names, read_recording

PROG = "tinydrift"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_ALARM = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
THRESHOLD_DISABLED = 0xFFFFFFFF

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "_Bool _Complex _Imaginary".split()
)
_NEGATIVE_RAILS = re.compile(r"^-[0-9]+:-?[0-9]+$")
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_MAIN_EPILOG = """\
Examples:
  tinydrift profile build walk.csv run.csv -o ref.tdp --window 64
  tinydrift profile show ref.tdp
  tinydrift profile header ref.tdp -o tinydrift_profile.h
  tinydrift score --profile ref.tdp field.csv
  tinydrift score --profile ref.tdp field.csv --csv -o windows.csv

Recordings are .csv (header row of channel names, then one integer row per
frame), .npy (2-D integer array) or .npz (array "frames", optional
"channel_names"). Values must fit in int16.

Exit status: 0 success (also when drift is found), 1 error, 2 usage error,
3 drift found with `score --fail-on-alarm`, 130 interrupted.
"""

_PROFILE_EPILOG = """\
Examples:
  tinydrift profile build train.csv -o ref.tdp
  tinydrift profile show ref.tdp --json
  tinydrift profile header ref.tdp -o tinydrift_profile.h
"""

_BUILD_EPILOG = """\
Each TRAIN file is one separate recording of in-distribution data; windows
never straddle two files. All files must have the same channels. The channel
names of the first file appear in the summary (the .tdp blob itself stores no
names; `score` takes them from the stream's header).

Examples:
  tinydrift profile build data/basicmotions.csv -o ref.tdp --window 10
  tinydrift profile build day1.csv day2.csv -o ref.tdp --rate 1e-4 --dims 4
  tinydrift profile build imu.npz -o ref.tdp --rails -2048:2047 --sentinel -32768
  tinydrift profile build imu.npy -o ref.tdp --centroids 4 --seed 7 -q

External-embedding profile (the application's model provides the embedding,
see tinydrift.model; needs TensorFlow: pip install 'tinydrift[tf]'): the window
is the model's input length, the model input is int16 counts * --input-scale,
and the embedding is a layer's float output quantized to int8 (.keras) or an
int8 tensor of a full-integer .tflite model with its own scale and zero point
(--tensor NAME, INDEX or output:N for the model's N-th output).
  tinydrift profile build train.npz -o ref.tdp --model model.keras --layer embedding
  tinydrift profile build train.npz -o ref.tdp --model model.tflite --tensor output:1
  tinydrift profile build train.npz -o ref.tdp --model model.tflite --tensor 20
"""

_SHOW_EPILOG = """\
Thresholds are stored in Q8 (value x 256); the table also shows them in score
units. 4294967295 (0xffffffff) means the threshold is disabled.

Examples:
  tinydrift profile show ref.tdp
  tinydrift profile show ref.tdp --json > ref.json
"""

_HEADER_EPILOG = """\
The header declares `static const uint8_t NAME[NAME_SIZE]` holding the profile
blob, ready for td_profile_parse(&prof, NAME, NAME_SIZE) on the device.

Examples:
  tinydrift profile header ref.tdp -o tinydrift_profile.h
  tinydrift profile header ref.tdp -o imu_profile.h --symbol imu_profile
  tinydrift profile header ref.tdp -o -            # to stdout
"""

_SCORE_EPILOG = """\
Runs the device's exact fixed-point monitor over STREAM, one result per
complete window (trailing frames that do not fill a window are ignored).

Output (stdout, or FILE with -o):
  default  a short summary: windows, alarms, first alarm and what triggered it
           (instant / cusum / health), the channel that moved most, max score
  --csv    one row per window: window,score,dist,recon,cusum,alarm,trigger,
           nearest,top_channel,stuck_mask,saturated_mask,missing_mask, then for
           each channel z_mean_<name>,z_std_<name>,mean_<name>,std_<name>,
           n_missing_<name>,n_saturated_<name>
  --json   a list with one object per window holding the same fields;
           per-channel values are lists in channel order

trigger bits: 1 instant threshold, 2 CUSUM, 4 sensor health. Masks have bit c
set for channel c. Scores are exact Q8 values (multiples of 1/256).

Exit status is 0 whether or not drift is found; with --fail-on-alarm it is 3
when any window raised an alarm.

Examples:
  tinydrift score --profile ref.tdp field.csv
  tinydrift score --profile ref.tdp field.npz --json -o windows.json
  tinydrift score --profile ref.tdp field.csv --csv | head
  tinydrift score --profile ref.tdp field.csv --fail-on-alarm || echo drift

An external-embedding profile needs the model it was built with: --model
computes each window's int8 embedding on the host (model input = int16 counts
* --input-scale, one window of the profile's length) and pushes it into the
monitor before the window's frames, as the device does. A .tflite tensor must
have the profile's scale and zero point; a .keras layer is quantized with them.
  tinydrift score --profile ref.tdp field.csv --model model.tflite --tensor output:1
  tinydrift score --profile ref.tdp field.csv --model model.keras --layer embedding
"""


# ------------------------------------------------------------------------------------------ arguments


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _int_in(low: int, high: int):  # noqa: ANN202
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _float_in(accept: Callable[[float], bool], rule: str):  # noqa: ANN202
    """An argparse type: a number for which accept() holds, else the error "must be <rule>, got TEXT"."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


_fraction = _float_in(lambda v: 0.0 < v < 1.0, "between 0 and 1 (exclusive)")


def _occupancy(text: str) -> int | str | None:
    """--occupancy: a window count, auto or off."""
    if text in ("auto", "off"):
        return OCCUPANCY_AUTO if text == "auto" else None
    return _int_in(2, lib.TD_MAX_OCCUPANCY_WINDOWS)(text)
_variance = _float_in(lambda v: 0.0 < v <= 1.0, "in (0, 1]")


def _rails(text: str) -> tuple[int, int]:
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH integers, e.g. -2048:2047, got {text!r}") from None
    if not -32768 <= low < high <= 32767:
        raise argparse.ArgumentTypeError(f"need -32768 <= LOW < HIGH <= 32767, got {text}")
    return low, high


def _scale(text: str) -> float:
    """A positive number, also as a fraction: 0.000244140625 or 1/4096."""
    try:
        num, _, den = text.partition("/")
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _model_options(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("embedding model (external-embedding profiles; needs TensorFlow)")
    group.add_argument("--model", metavar="MODEL", help=f"{what} (.keras or .tflite)")
    group.add_argument("--layer", metavar="NAME", help=".keras: the layer whose output is the embedding")
    group.add_argument("--tensor", metavar="T", help=".tflite: the embedding tensor's NAME, INDEX or output:N")
    group.add_argument("--input-scale", type=_scale, default=None, metavar="S",
                       help="model input = int16 counts * S (default: 1/4096)")


def _symbol(text: str) -> str:
    if not _C_IDENTIFIER.match(text) or text in _C_KEYWORDS:
        raise argparse.ArgumentTypeError(f"not a valid C identifier: {text!r}")
    return text


def _parser(prog: str, description: str, epilog: str, sub: Any = None, name: str | None = None,
            **kwargs: Any) -> argparse.ArgumentParser:
    options = dict(description=textwrap.fill(description, 79), epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
                   **kwargs)
    if sub is None:
        return argparse.ArgumentParser(prog=prog, **options)
    return sub.add_parser(name, **options)


def build_parser() -> argparse.ArgumentParser:
    parser = _parser(PROG, "On-device drift monitor for TinyML: build reference profiles from in-distribution "
                           "sensor recordings, embed them in firmware, and score recordings exactly as the "
                           "device does.", _MAIN_EPILOG)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True

    profile = _parser(PROG, "Build, inspect and export reference profiles.", _PROFILE_EPILOG, commands, "profile",
                      help="build, show or export a reference profile")
    profile_cmds = profile.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", title="subcommands")
    profile_cmds.required = True

    build = _parser(PROG, "Learn a reference profile from in-distribution recordings and calibrate its alarm "
                          "thresholds to a target false-alarm rate.", _BUILD_EPILOG, profile_cmds, "build",
                    help="learn a profile from training recordings")
    build.add_argument("train", nargs="+", metavar="TRAIN", help="training recording(s): .csv, .npy or .npz")
    build.add_argument("-o", "--output", required=True, metavar="PROFILE", help="profile file to write (.tdp)")
    build.add_argument("--window", type=_positive_int, default=None, metavar="N",
                       help="frames per tumbling window (default: 64; with --model: the model's input length)")
    build.add_argument("--rate", type=_fraction, default=1e-3, metavar="R",
                       help="target false alarms per window on in-distribution data (default: 1e-3)")
    build.add_argument("--centroids", type=_positive_int, default=8, metavar="K",
                       help="reference clusters in the embedding space (default: 8)")
    build.add_argument("--scoring", choices=SCORINGS, default="mixture",
                       help="mixture: log-std features and a scale per centroid (default); centroids: one "
                            "Euclidean scale, PCA cut to --variance")
    build.add_argument("--dims", type=_positive_int, default=None, metavar="N",
                       help="PCA dimensions (default: every feature with --scoring mixture, else enough to "
                            "explain --variance)")
    build.add_argument("--variance", type=_variance, default=0.95, metavar="F",
                       help="explained variance that picks --dims with --scoring centroids (default: 0.95)")
    build.add_argument("--rails", type=_rails, default=None, metavar="LOW:HIGH",
                       help="saturation rails of every channel (default: -32768:32767)")
    build.add_argument("--sentinel", type=_int_in(-32768, 32767), default=None, metavar="VALUE",
                       help="sample value that marks a missing reading (must lie outside the rails or on one)")
    build.add_argument("--stuck-tolerance", type=_int_in(0, 65535), default=0, metavar="N",
                       help="a window whose max-min spread is <= N counts as stuck (default: 0)")
    build.add_argument("--occupancy", type=_occupancy, default=OCCUPANCY_AUTO, metavar="N|auto|off",
                       help="test how often each centroid is the nearest over the last N windows against the "
                            "training mix (class-prior shift, new classes that look like known ones); default auto: "
                            "N is twice the longest run of one centroid within a training recording, and the test is "
                            "left out (with a message) where the data cannot calibrate it; off: no test")
    build.add_argument("--no-feature-chart", dest="feature_chart", action="store_false",
                       help="leave out the feature chart (a two-sided CUSUM per channel mean and spread, on by "
                            "default in PCA profiles; it catches small one-sensor changes the score dilutes)")
    build.add_argument("--folds", type=_int_in(2, 100), default=CROSSFIT_FOLDS, metavar="K",
                       help="cross-fitted calibration: every window is scored by a model fit on the other K-1 folds "
                            f"(by recording or contiguous block; default: {CROSSFIT_FOLDS})")
    build.add_argument("--holdout", type=_fraction, default=None, metavar="F",
                       help="calibrate on the last fraction F of each recording only, instead of cross-fitting "
                            f"(external-embedding profiles always hold out; default there: {DEFAULT_HOLDOUT:g})")
    build.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=0, metavar="N",
                       help="random seed of k-means and calibration (default: 0)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    _model_options(build, "build an external-embedding profile whose embedding comes from this model")
    build.set_defaults(func=cmd_profile_build)

    show = _parser(PROG, "Print a profile's header fields, thresholds, per-channel rules and health limits, "
                         "features and centroids.", _SHOW_EPILOG, profile_cmds, "show",
                   help="print a profile's contents")
    show.add_argument("profile", metavar="PROFILE", help="profile file (.tdp)")
    show.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    show.set_defaults(func=cmd_profile_show)

    header = _parser(PROG, "Write a C header embedding the profile blob as a const array, for firmware that "
                           "compiles its profile in.", _HEADER_EPILOG, profile_cmds, "header",
                     help="export a profile as a C header")
    header.add_argument("profile", metavar="PROFILE", help="profile file (.tdp)")
    header.add_argument("-o", "--output", required=True, metavar="FILE", help="header file to write ('-': stdout)")
    header.add_argument("--symbol", type=_symbol, default="tinydrift_profile", metavar="NAME",
                        help="C array name; NAME_SIZE and NAME_ID macros are defined too "
                             "(default: tinydrift_profile)")
    header.set_defaults(func=cmd_profile_header)

    score = _parser(PROG, "Score a recording against a profile, window by window, with the device's arithmetic.",
                    _SCORE_EPILOG, commands, "score", help="score a recording for drift")
    score.add_argument("--profile", required=True, metavar="PROFILE", help="profile file (.tdp)")
    score.add_argument("stream", metavar="STREAM", help="recording to score: .csv, .npy or .npz")
    fmt = score.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format", help="one CSV row per window")
    fmt.add_argument("--json", action="store_const", const="json", dest="format", help="JSON list, one per window")
    score.add_argument("-o", "--output", default="-", metavar="FILE", help="write the output here (default: stdout)")
    score.add_argument("--fail-on-alarm", action="store_true", help="exit with status 3 if any window alarmed")
    _model_options(score, "compute each window's embedding with this model (the profile's)")
    score.set_defaults(func=cmd_score, format="summary")
    from . import cli_device, cli_monitor, cli_store

    cli_device.add_commands(commands)  # sim, info, upload, replay, firmware, flash
    cli_monitor.add_commands(commands)  # monitor
    cli_store.add_commands(commands)  # db export, report
    return parser


# ------------------------------------------------------------------------------------------ output helpers


def _write_output(path: str, text: str) -> None:
    """Write text to stdout ('-') or to a file (via a temporary file, so a failure leaves no half file)."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise _file_error("cannot write", target, exc) from None


def _file_error(verb: str, path: object, exc: OSError) -> InputError:
    return InputError(f"{verb} {path}: {exc.strerror or exc}")


def _q8(value: int) -> str:
    return "disabled" if value == THRESHOLD_DISABLED else f"{value / 256:.4f}"


def _triggers(bits: int) -> str:
    names = [n for bit, n in TRIGGER_NAMES if bits & bit]
    return "+".join(names) if names else "none"


def _mask_names(mask: int, names: Sequence[str]) -> list[str]:
    return [n for c, n in enumerate(names) if mask >> c & 1]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], align_numbers: bool = True) -> list[str]:
    cells = [[str(h) for h in headers]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for j, r in enumerate(cells):
        out.append("  " + "  ".join(v.rjust(w) if j and align_numbers and _numeric(v) else v.ljust(w)
                                    for v, w in zip(r, widths)).rstrip())
    return out


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


# ------------------------------------------------------------------------------------------ commands


def _read_training(paths: Sequence[str]) -> list[Recording]:
    recs = [read_recording(p) for p in paths]
    first = recs[0]
    for rec in recs[1:]:
        if rec.n_channels != first.n_channels:
            raise InputError(f"{rec.source} has {rec.n_channels} channels but {first.source} has "
                             f"{first.n_channels}; all training recordings need the same channels")
    return recs


def cmd_profile_build(args: argparse.Namespace) -> int:
    recs = _read_training(args.train)
    names = recs[0].channel_names
    quiet = args.quiet

    def progress(msg: str) -> None:
        if not quiet:
            print(f"{PROG}: {msg}", file=sys.stderr, flush=True)

    for rec in recs[1:]:
        if not quiet and rec.channel_names not in (names, default_names(rec.n_channels)):
            print(f"{PROG}: warning: {rec.source} names its channels {','.join(rec.channel_names)}, "
                  f"{recs[0].source} {','.join(names)}; using the first", file=sys.stderr, flush=True)
    model = _embedding_model(args)
    if model is None:
        with warnings.catch_warnings():
            # The progress lines say it (as "warning: ..."), and the summary names the method; -q means quiet.
            warnings.simplefilter("ignore", CalibrationWarning)
            prof = _build_pca(args, recs, names, progress)
    else:
        prof = _build_model(args, recs, names, model, progress)
    return _report_build(args, recs, prof)


def _build_pca(args: argparse.Namespace, recs: list, names: list[str], progress: Callable[[str], None]) -> Any:
    """build_profile with the command line's options."""
    return build_profile(
        [r.frames for r in recs], window=args.window or 64, false_alarm_rate=args.rate,
        n_centroids=args.centroids, n_dims=args.dims, explained_variance=args.variance, rails=args.rails,
        sentinel=args.sentinel, stuck_tolerance=args.stuck_tolerance, holdout=args.holdout, seed=args.seed,
        channel_names=names, progress=progress, scoring=args.scoring, occupancy_windows=args.occupancy,
        feature_chart=args.feature_chart, folds=args.folds,
    )


def _build_model(args: argparse.Namespace, recs: list, names: list[str], model: Any,
                 progress: Callable[[str], None]) -> Any:
    """build_model_profile with the command line's options."""
    from .model_profile import build_model_profile

    if args.dims is not None:
        raise InputError("--dims sets PCA dimensions; with --model the embedding's size is the model's")
    if args.window is not None and args.window != model.window:
        raise InputError(f"--window {args.window} differs from the model's input length {model.window} "
                         f"(leave --window out with --model)")
    return build_model_profile(
        [r.frames for r in recs], model, false_alarm_rate=args.rate, n_centroids=args.centroids,
        rails=args.rails, sentinel=args.sentinel, stuck_tolerance=args.stuck_tolerance,
        holdout=DEFAULT_HOLDOUT if args.holdout is None else args.holdout,
        seed=args.seed, channel_names=names, progress=progress,
    )


def _report_build(args: argparse.Namespace, recs: list, prof: Any) -> int:
    """Save the profile and print its one-paragraph summary."""
    blob = prof.to_bytes()
    try:
        prof.save(args.output)
    except OSError as exc:
        raise _file_error("cannot write profile", args.output, exc) from None
    n_frames = sum(r.n_frames for r in recs)
    print(
        f"Profile {prof.profile_id:#010x}: {prof.n_channels} channels ({', '.join(prof.names())}), "
        f"window {prof.window} frames, {prof.n_dims} {'embedding' if prof.external_embedding else 'PCA'} dims, "
        f"{prof.n_centroids} centroids, learned from "
        f"{n_frames} frames in {len(recs)} recording(s). Thresholds in score units: instant "
        f"{_q8(prof.instant_q8)}, CUSUM k {_q8(prof.cusum_k_q8)} h {_q8(prof.cusum_h_q8)}; calibrated for "
        f"{prof.false_alarm_rate:g} false alarms per window"
        f"{f' (basis: {prof.calibration.describe()})' if prof.calibration else ''}. "
        f"Wrote {args.output} ({len(blob)} bytes)."
    )
    return EXIT_OK


def _embedding_model(args: argparse.Namespace) -> Any:
    """The --model EmbeddingModel (TensorFlow imported only here), or None without --model."""
    if args.model is None:
        given = [opt for opt, v in (("--layer", args.layer), ("--tensor", args.tensor),
                                    ("--input-scale", args.input_scale)) if v is not None]
        if given:
            raise InputError(f"{' and '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only with --model")
        return None
    from .model import DEFAULT_INPUT_SCALE, load_embedding_model

    return load_embedding_model(args.model, layer=args.layer, tensor=args.tensor,
                                input_scale=DEFAULT_INPUT_SCALE if args.input_scale is None else args.input_scale)


def profile_dict(prof: Profile, size: int) -> dict[str, Any]:
    """Everything a profile holds, as JSON-ready values (Q8 integers and their float values)."""
    names = prof.names()
    inv = np.asarray(prof.feature_inv_sigma_q24, dtype=np.float64)
    mu = np.asarray(prof.feature_mu_q8, dtype=np.int64)
    channels = []
    for c, (name, ch) in enumerate(zip(names, prof.channels)):
        channels.append({
            "index": c, "name": name, "rail_lo": ch.rail_lo, "rail_hi": ch.rail_hi, "sentinel": ch.sentinel,
            "stuck_check": ch.stuck_check, "stuck_tolerance": ch.stuck_tolerance, "max_missing": ch.max_missing,
            "max_saturated": ch.max_saturated, "ref_mean_q8": ch.ref_mean_q8, "ref_mean": ch.ref_mean,
            "ref_std_q8": ch.ref_std_q8, "ref_std": ch.ref_std,
            "feature_mean_mu": int(mu[2 * c]) / 256, "feature_mean_sigma": 2.0**24 / inv[2 * c],
            "feature_std_mu": int(mu[2 * c + 1]) / 256, "feature_std_sigma": 2.0**24 / inv[2 * c + 1],
            "std_floor": ch.std_floor if prof.log_std else None,
        })

    def threshold(value: int) -> float | None:
        return None if value == THRESHOLD_DISABLED else value / 256

    return {
        "profile_id": f"{prof.profile_id:#010x}", "size_bytes": size, "created_unix": prof.created_unix,
        "created": _utc(prof.created_unix), "window": prof.window, "n_channels": prof.n_channels,
        "n_dims": prof.n_dims, "n_centroids": prof.n_centroids,
        "mode": "external-embedding" if prof.external_embedding else "pca", "proj_shift": prof.proj_shift,
        "false_alarm_rate": prof.false_alarm_rate, "false_alarm_ppb": prof.false_alarm_ppb,
        "calibration_windows": prof.calibration_windows, "calibration_basis": _basis(prof),
        "thresholds": {
            "instant_q8": prof.instant_q8, "instant": threshold(prof.instant_q8),
            "cusum_k_q8": prof.cusum_k_q8, "cusum_k": threshold(prof.cusum_k_q8),
            "cusum_h_q8": prof.cusum_h_q8, "cusum_h": threshold(prof.cusum_h_q8),
        },
        "ext_scale_q24": prof.ext_scale_q24, "ext_zero_point": prof.ext_zero_point,
        "channels": channels,
        "feature_mu_q8": mu.tolist(), "feature_inv_sigma_q24": np.asarray(prof.feature_inv_sigma_q24).tolist(),
        "projection": None if prof.projection is None else np.asarray(prof.projection).tolist(),
        "centroids_q8": np.asarray(prof.centroids_q8).tolist(),
        "centroids": (np.asarray(prof.centroids_q8) / 256).tolist(),
        "log_std": prof.log_std,
        "centroid_offset_q8": None if prof.centroid_offset_q8 is None else np.asarray(prof.centroid_offset_q8).tolist(),
        "centroid_inv_scale_q16": None if prof.centroid_inv_scale_q16 is None
        else np.asarray(prof.centroid_inv_scale_q16).tolist(),
        "outputs": None if prof.outputs is None else {
            "n_classes": prof.outputs.n_classes, "scale": prof.outputs.scale, "zero_point": prof.outputs.zero_point,
            "prior": [float(p) for p in prof.outputs.prior], "accuracy": [float(a) for a in prof.outputs.accuracy],
        },
    }


def _basis(prof: Any) -> dict[str, Any] | None:
    """What the thresholds rest on, from the header's calibration_windows (None for profiles that predate it)."""
    n = prof.calibration_windows
    if not n or not prof.false_alarm_ppb:
        return None
    rate = prof.false_alarm_rate
    score_rate = rate * (1 - CHART_SHARE) if prof.feature_chart else rate
    if prof.occupancy_windows:
        score_rate /= 2
    lo, hi = rate_interval(n, rate)
    return {"windows": n, "instant_method": "conformal" if resolves(n, score_rate / 2) else "tail",
            "expected_rate": rate, "interval_90": [lo, hi]}


def _basis_text(prof: Any) -> str:
    b = _basis(prof)
    if b is None:
        return "not recorded"
    lo, hi = b["interval_90"]
    return (f"{b['windows']} reference windows, instant threshold by {b['instant_method']}; expected "
            f"{b['expected_rate']:g}/window (90 % interval {lo:.2g}-{hi:.2g})")


def cmd_profile_show(args: argparse.Namespace) -> int:
    prof = load_profile(args.profile)
    size = len(prof.to_bytes())
    d = profile_dict(prof, size)
    if args.json:
        _write_output("-", json.dumps(d, indent=2) + "\n")
        return EXIT_OK
    lines = [
        f"{args.profile}: tinydrift profile {d['profile_id']}, {size} bytes",
        "",
        "Header",
        *_table(["field", "value"], [
            ["created", d["created"]],
            ["window", f"{prof.window} frames"],
            ["channels", prof.n_channels],
            ["mode", d["mode"]],
            ["dims", f"{prof.n_dims}" + ("" if prof.external_embedding else f" (projection int8, shift "
                                                                          f"{prof.proj_shift})")],
            ["centroids", prof.n_centroids],
            ["std feature", "log2(std + floor)" if prof.log_std else "std"],
            ["centroid scales", "yes (distance in each centroid's own scale)" if prof.centroid_scales else "no"],
            ["occupancy test", f"over {prof.occupancy_windows} windows, threshold {_q8(prof.occupancy_threshold_q8)} "
                               "bits" if prof.occupancy_windows else "off"],
            ["feature chart", f"k {_q8(prof.chart_k_q8)}, h {_q8(prof.chart_h_q8)} (shift in sd)"
                              if prof.feature_chart else "off"],
            ["false alarms", f"{prof.false_alarm_rate:g} per window ({prof.false_alarm_ppb} ppb)"],
            ["calibration basis", _basis_text(prof)],
            *([["ext scale", f"{prof.ext_scale_q24 / 2**24:g} (q24 {prof.ext_scale_q24})"],
               ["ext zero point", prof.ext_zero_point]] if prof.external_embedding else []),
        ], align_numbers=False),
        "",
        "Thresholds (score units = q8 / 256)",
        *_table(["threshold", "q8", "score"], [
            ["instant", prof.instant_q8, _q8(prof.instant_q8)],
            ["cusum k", prof.cusum_k_q8, _q8(prof.cusum_k_q8)],
            ["cusum h", prof.cusum_h_q8, _q8(prof.cusum_h_q8)],
        ]),
        "",
        "Channels (rules, health limits per window, reference statistics in sensor counts)",
        *_table(["#", "name", "rails", "sentinel", "stuck", "max_missing", "max_saturated", "ref_mean", "ref_std"],
                [[c["index"], c["name"], f"{c['rail_lo']}:{c['rail_hi']}",
                  "-" if c["sentinel"] is None else c["sentinel"],
                  f"<= {c['stuck_tolerance']}" if c["stuck_check"] else "off",
                  c["max_missing"], c["max_saturated"], f"{c['ref_mean']:.3f}", f"{c['ref_std']:.3f}"]
                 for c in d["channels"]]),
        "",
        ("Features (window mean and log2(std + floor) per channel: reference mu and sigma; mean in sensor "
         "counts, log-std in octaves)" if prof.log_std else
         "Features (window mean and std per channel: reference mu and sigma, sensor counts)"),
        *_table(["#", "name", "mean_mu", "mean_sigma", "std_mu", "std_sigma"] + (["std_floor"] if prof.log_std else []),
                [[c["index"], c["name"], f"{c['feature_mean_mu']:.3f}", f"{c['feature_mean_sigma']:.3f}",
                  f"{c['feature_std_mu']:.3f}", f"{c['feature_std_sigma']:.3f}"]
                 + ([c["std_floor"]] if prof.log_std else []) for c in d["channels"]]),
        "",
        f"Centroids ({prof.n_centroids} x {prof.n_dims} dims, score units)",
        *_table(["#"] + [f"d{j}" for j in range(prof.n_dims)],
                [[k] + [f"{v:.3f}" for v in row] for k, row in enumerate(d["centroids"])]),
    ]
    if prof.centroid_scales:
        scales = 65536.0 / np.asarray(prof.centroid_inv_scale_q16, dtype=np.float64)
        lines += [
            "",
            "Centroid scales (per dimension, embedding units; offset added to the centroid's score)",
            *_table(["#", "offset"] + [f"d{j}" for j in range(prof.n_dims)],
                    [[k, _q8(int(prof.centroid_offset_q8[k]))] + [f"{v:.3f}" for v in row]  # type: ignore[index]
                     for k, row in enumerate(scales)]),
        ]
    if d["outputs"] is not None:
        out = d["outputs"]
        bins = len(out["accuracy"])
        lines += [
            "",
            f"Model outputs ({out['n_classes']} classes, int8 scale {out['scale']:g}, zero point {out['zero_point']})",
            *_table(["class", "reference prior"], [[k, f"{p:.3f}"] for k, p in enumerate(out["prior"])]),
            *_table(["top-1 confidence", "held-out accuracy"],
                    [[f"{b / bins:.2f}-{(b + 1) / bins:.2f}", f"{a:.3f}"] for b, a in enumerate(out["accuracy"])]),
        ]
    _write_output("-", "\n".join(lines) + "\n")
    return EXIT_OK


def cmd_profile_header(args: argparse.Namespace) -> int:
    prof = load_profile(args.profile)
    _write_output(args.output, prof.to_c_header(args.symbol))
    if args.output != "-":
        print(f"{PROG}: wrote {args.output} ({args.symbol}, profile {prof.profile_id:#010x})", file=sys.stderr)
    return EXIT_OK


_SCALAR_COLUMNS = ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
                   "stuck_mask", "saturated_mask", "missing_mask")
_CHANNEL_COLUMNS = ("z_mean", "z_std", "mean", "std", "n_missing", "n_saturated")


def score_csv(rows: np.ndarray, names: Sequence[str]) -> str:
    """The --csv output for Monitor rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(_SCALAR_COLUMNS) + [f"{col}_{n}" for n in names for col in _CHANNEL_COLUMNS])
    scalars = [rows[col].astype(int).tolist() if col == "alarm" else rows[col].tolist() for col in _SCALAR_COLUMNS]
    per_channel = [rows[col].tolist() for col in _CHANNEL_COLUMNS]
    n_channels = len(names)
    for i in range(len(rows)):
        line = [col[i] for col in scalars]
        for c in range(n_channels):
            line.extend(col[i][c] for col in per_channel)
        writer.writerow(line)
    return buf.getvalue()


def score_records(rows: np.ndarray) -> list[dict[str, Any]]:
    """The --json output for Monitor rows (per-channel values as lists in channel order)."""
    columns = {col: rows[col].tolist() for col in _SCALAR_COLUMNS + _CHANNEL_COLUMNS}
    return [{col: values[i] for col, values in columns.items()} for i in range(len(rows))]


def score_summary(rows: np.ndarray, prof: Profile, rec: Recording, names: Sequence[str],
                  profile_path: str) -> str:
    w = prof.window
    n = len(rows)
    lines = [f"{rec.source}: {rec.n_frames} frames x {rec.n_channels} channels, scored against {profile_path} "
             f"(profile {prof.profile_id:#010x}, window {w})"]
    leftover = rec.n_frames - n * w
    lines.append(f"windows: {n}" + (f" ({leftover} trailing frames ignored)" if leftover else ""))
    if n == 0:
        lines.append(f"no complete window: the stream is shorter than the profile's window of {w} frames")
        return "\n".join(lines) + "\n"
    alarm = rows["alarm"].astype(bool)
    triggered = rows["trigger"] != 0
    counts = {name: int(np.count_nonzero(rows["trigger"] & bit))
              for bit, name in TRIGGER_NAMES}
    if alarm.any():
        first = int(np.argmax(alarm))
        r = rows[first]
        top = int(r["top_channel"])
        lines.append(f"DRIFT: alarm at window {int(r['window'])} (frames {first * w}-{first * w + w - 1}), "
                     f"triggered by {_triggers(int(r['trigger']))}; alarm latched for {int(alarm.sum())} of {n} "
                     f"windows")
        lines.append(f"  top channel at the alarm: {names[top] if top < len(names) else top} "
                     f"(z of mean {float(r['z_mean'][top]):+.2f}, z of std {float(r['z_std'][top]):+.2f})")
        health = []
        for field, what in (("stuck_mask", "stuck"), ("saturated_mask", "saturated"), ("missing_mask", "missing")):
            bad = _mask_names(int(r[field]), names)
            if bad:
                health.append(f"{what}: {', '.join(bad)}")
        if health:
            lines.append(f"  sensor health at the alarm: {'; '.join(health)}")
        lines.append(f"  windows with triggers: {int(triggered.sum())} "
                     f"(instant {counts['instant']}, cusum {counts['cusum']}, health {counts['health']})")
    else:
        lines.append(f"no drift: no alarm in {n} windows")
    peak = int(np.argmax(rows["score"]))
    top = int(rows["top_channel"][peak])
    lines.append(
        f"max score {float(rows['score'][peak]):.3f} at window {int(rows['window'][peak])} "
        f"(top channel {names[top] if top < len(names) else top}); thresholds: instant {_q8(prof.instant_q8)}, "
        f"CUSUM k {_q8(prof.cusum_k_q8)} h {_q8(prof.cusum_h_q8)}; max CUSUM {float(rows['cusum'].max()):.3f}"
    )
    return "\n".join(lines) + "\n"


def cmd_score(args: argparse.Namespace) -> int:
    prof = load_profile(args.profile)
    rec = read_recording(args.stream)
    if rec.n_channels != prof.n_channels:
        raise InputError(f"{rec.source} has {rec.n_channels} channels but profile {args.profile} expects "
                         f"{prof.n_channels}")
    names = prof.channel_names if prof.channel_names and len(prof.channel_names) == prof.n_channels \
        else rec.channel_names
    model = _embedding_model(args)
    if model is not None:
        from .model_profile import check_model_for_profile, score_with_model

        check_model_for_profile(prof, model, f"profile {args.profile}")
        rows = score_with_model(prof, rec.frames, model)
    elif prof.external_embedding:
        raise InputError(f"profile {args.profile} is an external-embedding profile: pass --model (with --layer "
                         f"or --tensor) to compute the embeddings it expects")
    else:
        rows = Monitor(prof).push(rec.frames)
    if args.format == "csv":
        text = score_csv(rows, names)
    elif args.format == "json":
        text = json.dumps(score_records(rows)) + "\n"
    else:
        text = score_summary(rows, prof, rec, names, args.profile)
    _write_output(args.output, text)
    if args.fail_on_alarm and len(rows) and bool(rows["alarm"].any()):
        return EXIT_ALARM
    return EXIT_OK


# ------------------------------------------------------------------------------------------ entry point


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (use as ``sys.exit(main())``)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):  # "--rails -2048:2047" would otherwise read as an unknown option
        if argv[i] == "--rails" and _NEGATIVE_RAILS.match(argv[i + 1]):
            argv[i : i + 2] = [f"--rails={argv[i + 1]}"]
            break
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except TinyDriftError as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
