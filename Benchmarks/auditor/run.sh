#!/usr/bin/env bash
# Auditor throughput and memory: events per second through `mtauditor replay` with the
# shipped rules over a generated log, beside fail2ban-regex on the same lines in the same
# run; then resident memory per tracked source; then CrowdSec on the same lines and the
# same distinct-source logs (crowdsec/peer.py).
#
# Usage: [RUNS=3] Benchmarks/auditor/run.sh [EVENTS] [SOURCES] [PEER_LINES]
#   defaults: 10000000 events from 200000 client addresses; fail2ban-regex reads the
#   first PEER_LINES (default 1000000) lines, as it is too slow for the whole log: its
#   rate is compared with mtauditor's rate on the same prefix and on the whole log.
# Needs python3; the peers need fail2ban (apt-get install fail2ban) and CrowdSec
# (Benchmarks/auditor/crowdsec/install.sh), each skipped without it. CROWDSEC_LATENCY=N
# also times N of CrowdSec's detections to a decision (default 0: not run).
# Prints wall-clock and CPU-time rates: on a shared machine the CPU figures are the
# steadier, and the load average is printed beside them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
events=${1:-10000000}
sources=${2:-200000}
peer_events=${3:-1000000}
peer_events=$(( events < peer_events ? events : peer_events ))
work=${BENCH_WORK:-$(mktemp -d)}
[ -n "${BENCH_WORK:-}" ] || trap 'rm -rf "$work"' EXIT

if [ ! -s "$work/events-$events-$sources.jsonl" ]; then
    echo "generating $events events from $sources sources" >&2
    python3 "$here/generate-events.py" "$events" "$work/events-$events-$sources.jsonl" "$sources"
fi
log="$work/events-$events-$sources.jsonl"
head -n "$peer_events" "$log" > "$work/peer.jsonl"
echo "building mtauditor (release)" >&2
(cd "$root" && swift build -c release --product mtauditor >&2)
auditor="$root/.build/release/mtauditor"

# Prints "WALL CPU MAXRSS_KB" of a command (CPU = user + system), its output discarded.
measure() {
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > /dev/null 2> /dev/null || true
    awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/time"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
echo "load: $(uptime | sed 's/.*load average/load average/')"

# RUNS replays of the whole log (default 3): this machine's speed varies from run to run
# (a shared host), so each run is printed, then the fastest and the median.
cpus=()
for run in $(seq "${RUNS:-3}"); do
    read -r wall cpu _ < <(measure taskset -c 0 "$auditor" replay --rules "$root/rules" "$log")
    cpus+=("$cpu")
    echo "mtauditor replay: $events events, $(ls "$root"/rules/*.yaml | wc -l) rules, one core, run $run: ${wall}s wall, ${cpu}s cpu:" \
         "$(rate "$events" "$wall") events/s wall, $(rate "$events" "$cpu") events/s cpu"
done
read -r cpu median < <(printf '%s\n' "${cpus[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)] }')
echo "mtauditor replay over ${#cpus[@]} runs: fastest ${cpu}s cpu ($(rate "$events" "$cpu") events/s), median ${median}s cpu ($(rate "$events" "$median") events/s)"
read -r pwall pcpu _ < <(measure taskset -c 0 "$auditor" replay --rules "$root/rules" "$work/peer.jsonl")
echo "mtauditor replay: first $peer_events lines: ${pwall}s wall, ${pcpu}s cpu:" \
     "$(rate "$peer_events" "$pwall") events/s wall, $(rate "$peer_events" "$pcpu") events/s cpu"

if command -v fail2ban-regex > /dev/null; then
    read -r fwall fcpu _ < <(measure taskset -c 0 fail2ban-regex "$work/peer.jsonl" "$here/fail2ban-filter.conf")
    echo "fail2ban-regex: first $peer_events lines, 1 filter: ${fwall}s wall, ${fcpu}s cpu:" \
         "$(rate "$peer_events" "$fwall") lines/s wall, $(rate "$peer_events" "$fcpu") lines/s cpu"
    awk -v a="$pwall" -v b="$fwall" -v c="$pcpu" -v d="$fcpu" -v n="$peer_events" -v e="$events" -v w="$wall" -v u="$cpu" 'BEGIN {
        printf "ratio on the same %d lines: mtauditor is %.1fx fail2ban-regex (wall), %.1fx (cpu)\n", n, b / a, d / c
        printf "ratio of rates, mtauditor over all %d events vs fail2ban-regex over its %d: %.1fx (wall), %.1fx (cpu)\n", e, n, (e / w) / (n / b), (e / u) / (n / d) }'
else
    echo "fail2ban-regex not installed: no peer figure (apt-get install fail2ban)"
fi
echo "load: $(uptime | sed 's/.*load average/load average/')"

# Memory per tracked source: peak RSS with SOURCES distinct sources held by the rules,
# minus peak RSS over as many events that no rule counts, divided by SOURCES.
for shape in idle failures connections; do
    python3 "$here/generate-events.py" --distinct "$sources" "$work/distinct-$shape.jsonl" "$shape"
done
read -r _ _ idle < <(measure "$auditor" replay --rules "$root/rules" "$work/distinct-idle.jsonl")
for shape in failures connections; do
    read -r _ _ held < <(measure "$auditor" replay --rules "$root/rules" "$work/distinct-$shape.jsonl")
    awk -v h="$held" -v i="$idle" -v n="$sources" -v s="$shape" 'BEGIN {
        printf "memory per tracked source (%s, %d sources): peak RSS %.1f MiB - baseline %.1f MiB = %.0f bytes per source\n",
               s, n, h / 1024, i / 1024, (h - i) * 1024 / n }'
done

# CrowdSec: a check that it detects what the rule detects, its rate over the same first
# PEER_LINES lines beside mtauditor's, its memory per tracked source on the same logs.
python3 "$here/crowdsec/peer.py" --auditor "$auditor" --rules "$root/rules" --work "$work" \
    --distinct "$work/distinct-failures.jsonl" "$work/distinct-idle.jsonl" \
    --latency "${CROWDSEC_LATENCY:-0}" "$work/peer.jsonl"
