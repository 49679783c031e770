#!/bin/sh
# Run one fuzz target for a while; fail on any crash, leak, timeout or sanitizer report.
# Usage: fuzz/run.sh NAME SECONDS COMMAND...
#   NAME     target name: seeds in fuzz/corpus/NAME (read only), the growing corpus in build/fuzz/corpus/NAME
#   COMMAND  the libFuzzer binary (or `python fuzz/fuzz_host.py`) with its own options
# A crashing input is left in build/fuzz/crashes/NAME/ and its path printed with the command that replays it.
# Prints one summary line: runs, exec/s, coverage, new corpus entries, crashes.
set -u
name=$1
seconds=$2
shift 2
work=build/fuzz/corpus/$name
crashes=build/fuzz/crashes/$name
log=build/fuzz/$name.log
mkdir -p "$work" "$crashes"
rm -f "$crashes"/*
start=$(date +%s)
"$@" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "fuzz/corpus/$name" >"$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
# CPU seconds the fuzzer used (user + system, from the shell's `times`): on a shared machine exec/s per CPU
# second says more about the target than exec/s per wall second.
times >"$log.times"
cpu=$(tail -1 "$log.times" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); n += a[1] * 60 + a[2] } printf "%.1f", n }')
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
found=$(find "$crashes" -type f | wc -l)
per_cpu=$(awk -v r="${runs:-0}" -v c="$cpu" 'BEGIN { if (c > 0) printf "%d", r / c; else printf "0" }')
echo "fuzz $name: ${runs:-?} runs in ${elapsed} s (${cpu} CPU s), ${rate:-?} exec/s, ${per_cpu} exec per CPU s, coverage ${cov:-?} edges (${ft:-?} features), corpus $(ls "$work" | wc -l) files, crashes: $found"
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 >&2
    for f in "$crashes"/*; do
        [ -f "$f" ] || continue
        echo "fuzz $name: error: crashing input saved: $f" >&2
        echo "fuzz $name: replay it with: $* $f" >&2
    done
    echo "fuzz $name: error: failed (exit $rc), full log: $log" >&2
    exit 1
fi
