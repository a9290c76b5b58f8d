#!/bin/sh
# Runs every benchmark program given and writes what they print, headed by
# the machine's facts, to bench.txt at the project root (and to stdout).
# Benchmarks print "name = value unit" lines; timings live only here.
out=bench.txt
{
    echo "# moesim bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cores = $(nproc)"
    echo "cpu = $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
    echo "mem_total_gib = $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
} >"$out"
cat "$out"
status=0
for b in "$@"; do
    echo "## $(basename "$b")" | tee -a "$out"
    # A pipeline's status is tee's (sh has no pipefail): keep the benchmark's.
    { "$b" 2>&1; echo $? >"$out.rc"; } | tee -a "$out"
    [ "$(cat "$out.rc")" -ne 0 ] && status=1
done
rm -f "$out.rc"
echo "bench: figures written to $out"
exit $status
