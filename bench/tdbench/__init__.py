"""tdbench (make bench): tinydrift against peer detectors on the bundled real recording, speed, footprint, telemetry link.

Writes docs/benchmarks.md (tables, PNG plots under docs/img/) and prints the headline rows.

Detection quality. Streams are built from the held-out test cases of data/basicmotions.npz
(40 recordings of 10 s at 10 Hz, 4 classes; the training split builds the profile and the
peers' reference statistics). Every scenario has a known change point at a window boundary;
each is repeated with seeded random case orderings, change points and drifted channels:

    control        all 40 test cases in random order, no drift
    gain / offset / stuck / dropout / noise
                   all 40 cases shuffled (400 windows), change at a random window in [150, 250],
                   the drift applied to one random channel from there to the end
    unseen class   profile and peers trained on 3 classes; 15-30 test cases of those classes,
                   then the 10 test cases of the 4th (each class takes that role in turn)
    prior shift    20-33 cases mixing all classes, then only one class (the rest of its cases)

Detectors see the same windows (10 frames = 1 s):
    tinydrift      build_profile(training split, window 10, rate 1e-3, sentinel -32768, rails
                   +-32767), pushed window by window, alarm acknowledged (reset) after each trigger
    z-test         per channel z of the window mean against the training windows' mean and sd,
                   two-sided, Bonferroni over the channels
    Mahalanobis    of the window's (mean, std) per channel against the training windows;
                   threshold: quantile of the training windows' distances
    ADWIN, PH      river's ADWIN (clock=1) and PageHinkley, one per channel, fed the window
                   mean standardized by the training windows; alarm when any channel fires

Two settings: "as configured" (tinydrift and the z-test at 1e-3 false alarms per window,
Mahalanobis at the 1-1e-3 quantile, river's defaults) and "tuned" (each peer's threshold set
on the control streams so that it raises no more false alarms there than tinydrift did:

Usage: PYTHONPATH=bench python -m tdbench [--repeats 40] [--seed 0] [--quick] [--no-speed] [--no-link]
                                          [--no-device] [--out docs/benchmarks.md] [--img docs/img]
Needs the optional peers and the report's templating: pip install '.[bench]' (river, jinja2). Runs in about
2-4 minutes on 2 cores. The report's prose is in tdbench/templates (one template per section).
"""
