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
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinydrift.core.wording import count
from tinydrift.build.builder import (CHART_SHARE, CROSSFIT_FOLDS, DEFAULT_HOLDOUT, OCCUPANCY_AUTO, SCORINGS,
                                     CalibrationWarning, build_profile)
from tinydrift.build.calibrate import rate_interval, threshold_method
from tinydrift.cli.common import (TRIGGER_BITS, EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, c_symbol,
                                  embedding_model, file_error, fraction, health_limit_arg, int_in, make_parser, model_options,
                                  one_line, positive_int, q8_text, rails_arg, table, variance, write_output)
from tinydrift.cli.score import cmd_score
from tinydrift.core.errors import InputError, TinyDriftError
from tinydrift.core.fixed import Q8, Q24, THRESHOLD_DISABLED
from tinydrift.core.native import lib
from tinydrift.core.profile import Profile, load_profile
from tinydrift.core.recording import Recording, default_names, read_recording
from tinydrift.core.timestamps import utc_text
from tinydrift.core.version import __version__


_NEGATIVE_RAILS = re.compile(r"^-[0-9]+:-?[0-9]+$")

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
names of the first file that names them (or --channel-names) are stored in the profile, so
`profile show`, `score`, `monitor`, the telemetry store, `report` and `db export`
name the channels; data without names (.npy, or a headerless source) stores none
and shows ch0, ch1, ...

Examples:
  tinydrift profile build data/basicmotions.csv -o ref.tdp --window 10
  tinydrift profile build day1.csv day2.csv -o ref.tdp --rate 1e-4 --dims 4
  tinydrift profile build imu.npz -o ref.tdp --rails -2048:2047 --sentinel -32768
  tinydrift profile build imu.csv -o ref.tdp --sentinel -32768 --max-missing 2 --max-saturated acc_x=4,acc_y=4
  tinydrift profile build imu.npy -o ref.tdp --centroids 4 --seed 7 -q

External-embedding profile (the application's model provides the embedding,
see tinydrift.build.model; needs TensorFlow: pip install 'tinydrift[tf]'): the window
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
           (the trigger kinds below), the channel that moved most, each trigger
           kind's first window (the alarm latches at its first trigger: a later
           drift behind a glitch shows there), max score
  --csv    one row per window: window,score,dist,recon,cusum,alarm,trigger,
           nearest,top_channel,stuck_mask,saturated_mask,missing_mask, then for
           each channel z_mean_<name>,z_std_<name>,mean_<name>,std_<name>,
           n_missing_<name>,n_saturated_<name>
  --json   a list with one object per window holding the same fields;
           per-channel values are lists in channel order, and the bit fields
           are also given by name: channels, triggers, top_channel_name,
           stuck_channels, saturated_channels, missing_channels

trigger bits: {triggers}.
Masks have bit c set for channel c. Scores are exact Q8 values (multiples of 1/256).

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


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, "On-device drift monitor for TinyML: build reference profiles from in-distribution "
                           "sensor recordings, embed them in firmware, and score recordings exactly as the "
                           "device does.", _MAIN_EPILOG)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True

    profile = make_parser(PROG, "Build, inspect and export reference profiles.", _PROFILE_EPILOG, commands, "profile",
                      help="build, show or export a reference profile")
    profile_cmds = profile.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", title="subcommands")
    profile_cmds.required = True

    build = make_parser(PROG, "Learn a reference profile from in-distribution recordings and calibrate its alarm "
                          "thresholds to a target false-alarm rate.", _BUILD_EPILOG, profile_cmds, "build",
                    help="learn a profile from training recordings")
    build.add_argument("train", nargs="+", metavar="TRAIN", help="training recording(s): .csv, .npy or .npz")
    build.add_argument("-o", "--output", required=True, metavar="PROFILE", help="profile file to write (.tdp)")
    build.add_argument("--window", type=int_in(2, lib.TD_MAX_WINDOW), default=None, metavar="N",
                       help=f"frames per tumbling window, 2..{lib.TD_MAX_WINDOW} (default: 64; with --model: the "
                            "model's input length)")
    build.add_argument("--rate", type=fraction, default=1e-3, metavar="R",
                       help="target false alarms per window on in-distribution data (default: 1e-3)")
    build.add_argument("--centroids", type=int_in(1, lib.TD_MAX_CENTROIDS), default=8, metavar="K",
                       help=f"reference clusters in the embedding space, 1..{lib.TD_MAX_CENTROIDS} (default: 8)")
    build.add_argument("--scoring", choices=SCORINGS, default="mixture",
                       help="mixture: log-std features and a scale per centroid (default); centroids: one "
                            "Euclidean scale, PCA cut to --variance")
    build.add_argument("--dims", type=int_in(1, lib.TD_MAX_DIMS), default=None, metavar="N",
                       help=f"PCA dimensions, 1..{lib.TD_MAX_DIMS} (default: every feature with --scoring mixture, else enough to "
                            "explain --variance)")
    build.add_argument("--variance", type=variance, default=0.95, metavar="F",
                       help="explained variance that picks --dims with --scoring centroids (default: 0.95)")
    build.add_argument("--rails", type=rails_arg, default=None, metavar="LOW:HIGH",
                       help="saturation rails of every channel (default: -32768:32767)")
    build.add_argument("--sentinel", type=int_in(-32768, 32767), default=None, metavar="VALUE",
                       help="sample value that marks a missing reading (must lie outside the rails or on one)")
    build.add_argument("--stuck-tolerance", type=int_in(0, 65535), default=0, metavar="N",
                       help="a window whose max-min spread is <= N counts as stuck (default: 0)")
    build.add_argument("--max-missing", type=health_limit_arg, metavar="N|NAME=N,...",
                       help="missing (--sentinel) samples a window may hold before the health check fires, for every "
                            "channel or per channel by name, 0..window (default: the most in a training window, 0 "
                            "on clean data: one missing sample alarms)")
    build.add_argument("--max-saturated", type=health_limit_arg, metavar="N|NAME=N,...",
                       help="samples on a rail a window may hold before the health check fires, as --max-missing "
                            "(default: the most in a training window)")
    build.add_argument("--occupancy", type=_occupancy, default=OCCUPANCY_AUTO, metavar="N|auto|off",
                       help="test how often each centroid is the nearest over the last N windows against the "
                            "training mix (class-prior shift, new classes that look like known ones); default auto: "
                            "N is twice the longest run of one centroid within a training recording, and the test is "
                            "left out (with a message) where the data cannot calibrate it; off: no test")
    build.add_argument("--no-feature-chart", dest="feature_chart", action="store_false",
                       help="leave out the feature chart (a two-sided CUSUM per channel mean and spread, on by "
                            "default in PCA profiles; it catches small one-sensor changes the score dilutes)")
    build.add_argument("--folds", type=int_in(2, 100), default=CROSSFIT_FOLDS, metavar="K",
                       help="cross-fitted calibration: every window is scored by a model fit on the other K-1 folds "
                            f"(by recording or contiguous block; default: {CROSSFIT_FOLDS})")
    build.add_argument("--holdout", type=fraction, default=None, metavar="F",
                       help="calibrate on the last fraction F of each recording only, instead of cross-fitting "
                            f"(external-embedding profiles always hold out; default there: {DEFAULT_HOLDOUT:g})")
    build.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, metavar="N",
                       help="random seed of k-means and calibration (default: 0)")
    build.add_argument("--channel-names", metavar="A,B,...", type=lambda v: v.split(","),
                       help="channel names stored in the profile (default: the CSV header or .npz "
                            "channel_names of the first file that has them; none for unnamed data)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    model_options(build, "build an external-embedding profile whose embedding comes from this model")
    build.set_defaults(func=cmd_profile_build)

    show = make_parser(PROG, "Print a profile's header fields, thresholds, per-channel rules and health limits, "
                         "features and centroids.", _SHOW_EPILOG, profile_cmds, "show",
                   help="print a profile's contents")
    show.add_argument("profile", metavar="PROFILE", help="profile file (.tdp)")
    show.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    show.set_defaults(func=cmd_profile_show)

    header = make_parser(PROG, "Write a C header embedding the profile blob as a const array, for firmware that "
                           "compiles its profile in.", _HEADER_EPILOG, profile_cmds, "header",
                     help="export a profile as a C header")
    header.add_argument("profile", metavar="PROFILE", help="profile file (.tdp)")
    header.add_argument("-o", "--output", required=True, metavar="FILE", help="header file to write ('-': stdout)")
    header.add_argument("--symbol", type=c_symbol, default="tinydrift_profile", metavar="NAME",
                        help="C array name; NAME_SIZE and NAME_ID macros are defined too "
                             "(default: tinydrift_profile)")
    header.set_defaults(func=cmd_profile_header)

    score = make_parser(PROG, "Score a recording against a profile, window by window, with the device's arithmetic.",
                    _SCORE_EPILOG.replace("{triggers}", TRIGGER_BITS), commands, "score", help="score a recording for drift")
    score.add_argument("--profile", required=True, metavar="PROFILE", help="profile file (.tdp)")
    score.add_argument("stream", metavar="STREAM", help="recording to score: .csv, .npy or .npz")
    fmt = score.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_const", const="csv", dest="format", help="one CSV row per window")
    fmt.add_argument("--json", action="store_const", const="json", dest="format", help="JSON list, one per window")
    score.add_argument("-o", "--output", default="-", metavar="FILE", help="write the output here (default: stdout)")
    score.add_argument("--fail-on-alarm", action="store_true", help="exit with status 3 if any window alarmed")
    model_options(score, "compute each window's embedding with this model (the profile's)")
    score.set_defaults(func=cmd_score, format="summary")
    from tinydrift.cli import device as cli_device, fleet as cli_fleet, monitor as cli_monitor, store as cli_store

    cli_device.add_commands(commands)  # sim, info, upload, replay, firmware, flash, selftest
    cli_monitor.add_commands(commands)  # monitor
    cli_store.add_commands(commands)  # db export, report
    cli_fleet.add_commands(commands)  # ingest, fleet simulate
    return parser


# ------------------------------------------------------------------------------------------ output helpers


# ------------------------------------------------------------------------------------------ commands


def _read_training(paths: Sequence[str]) -> list[Recording]:
    recs = [read_recording(p) for p in paths]
    first = recs[0]
    for rec in recs[1:]:
        if rec.n_channels != first.n_channels:
            raise InputError(f"{rec.source} has {rec.n_channels} channels but {first.source} has "
                             f"{first.n_channels}; all training recordings need the same channels")
    return recs


def _occupancy(text: str) -> int | str | None:
    """--occupancy: a window count, auto or off."""
    if text in ("auto", "off"):
        return OCCUPANCY_AUTO if text == "auto" else None
    return int_in(2, lib.TD_MAX_OCCUPANCY_WINDOWS)(text)


def cmd_profile_build(args: argparse.Namespace) -> int:
    recs = _read_training(args.train)
    # the first recording that names its channels (a .npy names none); unnamed data: no names section
    named = [r for r in recs if r.channel_names != default_names(r.n_channels)]
    names: list[str] | None = args.channel_names if args.channel_names is not None else (
        named[0].channel_names if named else None)
    quiet = args.quiet

    def progress(msg: str) -> None:
        if not quiet:
            print(f"{PROG}: {msg}", file=sys.stderr, flush=True)

    for rec in named[1:]:
        if not quiet and args.channel_names is None and rec.channel_names != named[0].channel_names:
            print(f"{PROG}: warning: {rec.source} names its channels {','.join(rec.channel_names)}, "
                  f"{named[0].source} {','.join(named[0].channel_names)}; using {named[0].source}'s",
                  file=sys.stderr, flush=True)
    model = embedding_model(args)
    if model is None:
        with warnings.catch_warnings():
            # The progress lines say it (as "warning: ..."), and the summary names the method; -q means quiet.
            warnings.simplefilter("ignore", CalibrationWarning)
            prof = build_profile(
                [r.frames for r in recs], window=args.window or 64, false_alarm_rate=args.rate,
                n_centroids=args.centroids, n_dims=args.dims, explained_variance=args.variance, rails=args.rails,
                sentinel=args.sentinel, stuck_tolerance=args.stuck_tolerance, holdout=args.holdout, seed=args.seed,
                max_missing=args.max_missing, max_saturated=args.max_saturated,
                channel_names=names, progress=progress, scoring=args.scoring, occupancy_windows=args.occupancy,
                feature_chart=args.feature_chart, folds=args.folds,
            )
    else:
        from tinydrift.build.model_profile import build_model_profile

        if args.dims is not None:
            raise InputError("--dims sets PCA dimensions; with --model the embedding's size is the model's")
        if args.window is not None and args.window != model.window:
            raise InputError(f"--window {args.window} differs from the model's input length {model.window} "
                             f"(leave --window out with --model)")
        prof = build_model_profile(
            [r.frames for r in recs], model, false_alarm_rate=args.rate, n_centroids=args.centroids,
            rails=args.rails, sentinel=args.sentinel, stuck_tolerance=args.stuck_tolerance,
            max_missing=args.max_missing, max_saturated=args.max_saturated,
            holdout=DEFAULT_HOLDOUT if args.holdout is None else args.holdout,
            seed=args.seed, channel_names=names, progress=progress,
        )
    blob = prof.to_bytes()
    try:
        prof.save(args.output)
    except OSError as exc:
        raise file_error("cannot write profile", args.output, exc) from None
    n_frames = sum(r.n_frames for r in recs)
    print(
        f"Profile {prof.profile_id:#010x}: {count(prof.n_channels, 'channel')} ({', '.join(prof.names())}), "
        f"window {count(prof.window, 'frame')}, "
        f"{count(prof.n_dims, 'embedding dim' if prof.external_embedding else 'PCA dim')}, "
        f"{count(prof.n_centroids, 'centroid')}, learned from "
        f"{count(n_frames, 'frame')} in {count(len(recs), 'recording')}. Thresholds in score units: instant "
        f"{q8_text(prof.instant_q8)}, CUSUM k {q8_text(prof.cusum_k_q8)} h {q8_text(prof.cusum_h_q8)}; calibrated for "
        f"{prof.false_alarm_rate:g} false alarms per window"
        f"{f' (basis: {prof.calibration.describe()})' if prof.calibration else ''}. "
        f"Wrote {args.output} ({len(blob)} bytes)."
    )
    return EXIT_OK


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
            "feature_mean_mu": int(mu[2 * c]) / Q8, "feature_mean_sigma": Q24 / inv[2 * c],
            "feature_std_mu": int(mu[2 * c + 1]) / Q8, "feature_std_sigma": Q24 / inv[2 * c + 1],
            "std_floor": ch.std_floor if prof.log_std else None,
        })

    def threshold(value: int) -> float | None:
        return None if value == THRESHOLD_DISABLED else value / Q8

    return {
        "profile_id": f"{prof.profile_id:#010x}", "size_bytes": size, "created_unix": prof.created_unix,
        "created": utc_text(prof.created_unix), "window": prof.window, "n_channels": prof.n_channels,
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
        "centroids": (np.asarray(prof.centroids_q8) / Q8).tolist(),
        "log_std": prof.log_std,
        "centroid_offset_q8": None if prof.centroid_offset_q8 is None else np.asarray(prof.centroid_offset_q8).tolist(),
        "centroid_inv_scale_q16": None if prof.centroid_inv_scale_q16 is None
        else np.asarray(prof.centroid_inv_scale_q16).tolist(),
        "outputs": None if prof.outputs is None else {
            "n_classes": prof.outputs.n_classes, "scale": prof.outputs.scale, "zero_point": prof.outputs.zero_point,
            "prior": [float(p) for p in prof.outputs.prior], "accuracy": [float(a) for a in prof.outputs.accuracy],
        },
    }


def _basis(prof: Profile) -> dict[str, Any] | None:
    """What the thresholds rest on, from the header's calibration_windows (None for profiles that predate it)."""
    n = prof.calibration_windows
    if not n or not prof.false_alarm_ppb:
        return None
    rate = prof.false_alarm_rate
    score_rate = rate * (1 - CHART_SHARE) if prof.feature_chart else rate
    if prof.occupancy_windows:
        score_rate /= 2
    lo, hi = rate_interval(n, rate)
    return {"windows": n, "instant_method": threshold_method(n, score_rate / 2),
            "expected_rate": rate, "interval_90": [lo, hi]}


def _basis_text(prof: Profile) -> str:
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
        write_output("-", json.dumps(d, indent=2) + "\n")
        return EXIT_OK
    lines = [
        f"{args.profile}: tinydrift profile {d['profile_id']}, {size} bytes",
        "",
        "Header",
        *table(["field", "value"], [
            ["created", d["created"]],
            ["window", f"{prof.window} frames"],
            ["channels", prof.n_channels],
            ["mode", d["mode"]],
            ["dims", f"{prof.n_dims}" + ("" if prof.external_embedding else f" (projection int8, shift "
                                                                          f"{prof.proj_shift})")],
            ["centroids", prof.n_centroids],
            ["std feature", "log2(std + floor)" if prof.log_std else "std"],
            ["centroid scales", "yes (distance in each centroid's own scale)" if prof.centroid_scales else "no"],
            ["occupancy test", f"over {prof.occupancy_windows} windows, threshold {q8_text(prof.occupancy_threshold_q8)} "
                               "bits" if prof.occupancy_windows else "off"],
            ["feature chart", f"k {q8_text(prof.chart_k_q8)}, h {q8_text(prof.chart_h_q8)} (shift in sd)"
                              if prof.feature_chart else "off"],
            ["false alarms", f"{prof.false_alarm_rate:g} per window ({prof.false_alarm_ppb} ppb)"],
            ["calibration basis", _basis_text(prof)],
            *([["ext scale", f"{prof.ext_scale_q24 / 2**24:g} (q24 {prof.ext_scale_q24})"],
               ["ext zero point", prof.ext_zero_point]] if prof.external_embedding else []),
        ], align_numbers=False),
        "",
        "Thresholds (score units = q8 / 256)",
        *table(["threshold", "q8", "score"], [
            ["instant", prof.instant_q8, q8_text(prof.instant_q8)],
            ["cusum k", prof.cusum_k_q8, q8_text(prof.cusum_k_q8)],
            ["cusum h", prof.cusum_h_q8, q8_text(prof.cusum_h_q8)],
        ]),
        "",
        "Channels (rules, health limits per window, reference statistics in sensor counts)",
        *table(["#", "name", "rails", "sentinel", "stuck", "max_missing", "max_saturated", "ref_mean", "ref_std"],
                [[c["index"], c["name"], f"{c['rail_lo']}:{c['rail_hi']}",
                  "-" if c["sentinel"] is None else c["sentinel"],
                  f"<= {c['stuck_tolerance']}" if c["stuck_check"] else "off",
                  c["max_missing"], c["max_saturated"], f"{c['ref_mean']:.3f}", f"{c['ref_std']:.3f}"]
                 for c in d["channels"]]),
        "",
        ("Features (window mean and log2(std + floor) per channel: reference mu and sigma; mean in sensor "
         "counts, log-std in octaves)" if prof.log_std else
         "Features (window mean and std per channel: reference mu and sigma, sensor counts)"),
        *table(["#", "name", "mean_mu", "mean_sigma", "std_mu", "std_sigma"] + (["std_floor"] if prof.log_std else []),
                [[c["index"], c["name"], f"{c['feature_mean_mu']:.3f}", f"{c['feature_mean_sigma']:.3f}",
                  f"{c['feature_std_mu']:.3f}", f"{c['feature_std_sigma']:.3f}"]
                 + ([c["std_floor"]] if prof.log_std else []) for c in d["channels"]]),
        "",
        f"Centroids ({prof.n_centroids} x {prof.n_dims} dims, score units)",
        *table(["#"] + [f"d{j}" for j in range(prof.n_dims)],
                [[k] + [f"{v:.3f}" for v in row] for k, row in enumerate(d["centroids"])]),
    ]
    if prof.centroid_scales:
        scales = 65536.0 / np.asarray(prof.centroid_inv_scale_q16, dtype=np.float64)
        lines += [
            "",
            "Centroid scales (per dimension, embedding units; offset added to the centroid's score)",
            *table(["#", "offset"] + [f"d{j}" for j in range(prof.n_dims)],
                    [[k, q8_text(int(prof.centroid_offset_q8[k]))] + [f"{v:.3f}" for v in row]  # type: ignore[index]
                     for k, row in enumerate(scales)]),
        ]
    if d["outputs"] is not None:
        out = d["outputs"]
        bins = len(out["accuracy"])
        lines += [
            "",
            f"Model outputs ({out['n_classes']} classes, int8 scale {out['scale']:g}, zero point {out['zero_point']})",
            *table(["class", "reference prior"], [[k, f"{p:.3f}"] for k, p in enumerate(out["prior"])]),
            *table(["top-1 confidence", "held-out accuracy"],
                    [[f"{b / bins:.2f}-{(b + 1) / bins:.2f}", f"{a:.3f}"] for b, a in enumerate(out["accuracy"])]),
        ]
    write_output("-", "\n".join(lines) + "\n")
    return EXIT_OK


def cmd_profile_header(args: argparse.Namespace) -> int:
    prof = load_profile(args.profile)
    write_output(args.output, prof.to_c_header(args.symbol))
    if args.output != "-":
        print(f"{PROG}: wrote {args.output} ({args.symbol}, profile {prof.profile_id:#010x})", file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------------------------------ entry point


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
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{one_line(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
