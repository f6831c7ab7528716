#!/usr/bin/env bash
# Run every `python -m kronbench ...` line of the given job files on one GPU, P at a time (small models share it).
# Usage: scripts/gpu/run_jobs.sh P jobs1.sh [jobs2.sh ...]; logs under $OUT/logs, records where each line's
# output_dir says (the job files here pass output_dir=results: the committed records).
# EXTRA="key=value ..." is appended to every command (e.g. train.num_workers=0 when many jobs share the CPUs);
# JOB_TIMEOUT (seconds) stops a job that runs too long (it then leaves no completed record).
P=${1:?parallelism}; shift
mkdir -p "${OUT:-/tmp/out}/logs"
grep -h '^python' "$@" | nl -nrz -w3 | while read -r n cmd; do
  echo "$n|$cmd"
done | xargs -P "$P" -d '\n' -I{} bash -c 'n="${1%%|*}"; cmd="${1#*|}"; log="${OUT:-/tmp/out}/logs/job$n.log"; echo "$cmd" > "$log"; eval "timeout ${JOB_TIMEOUT:-100000} $cmd ${EXTRA:-}" >> "$log" 2>&1; echo "job$n rc=$? $(tail -c 300 "$log" | tr "\n" " " | grep -o "record: .*" | head -c 200)"' _ {}
