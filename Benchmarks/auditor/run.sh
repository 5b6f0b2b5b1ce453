#!/usr/bin/env bash
# Auditor throughput: events per second through `mtauditor replay` with the shipped
# rules, over a generated log, against fail2ban-regex on the same lines in the same run.
#
# Usage: Benchmarks/auditor/run.sh [EVENTS]        (default 1000000; the peer reads at most 200000)
# Needs python3; the peer needs fail2ban (apt-get install fail2ban), and is skipped without it.
# Prints wall-clock and CPU-time rates: on a shared machine the CPU figures are the steadier.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
events=${1:-1000000}
peer_events=$(( events < 200000 ? events : 200000 ))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "generating $events events" >&2
python3 "$here/generate-events.py" "$events" "$work/events.jsonl"
head -n "$peer_events" "$work/events.jsonl" > "$work/peer.jsonl"
echo "building mtauditor (release)" >&2
(cd "$root" && swift build -c release --product mtauditor >&2)
auditor="$root/.build/release/mtauditor"

# Prints "WALL CPU" seconds of a command, its output discarded.
measure() {
    local TIMEFORMAT='%R %U'
    { time "$@" > /dev/null 2> /dev/null; } 2>&1
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

read -r wall cpu < <(measure "$auditor" replay --rules "$root/rules" "$work/events.jsonl")
echo "mtauditor replay: $events events, 10 rules: ${wall}s wall, ${cpu}s cpu:" \
     "$(rate "$events" "$wall") events/s wall, $(rate "$events" "$cpu") events/s cpu"
read -r pwall pcpu < <(measure "$auditor" replay --rules "$root/rules" "$work/peer.jsonl")

if command -v fail2ban-regex > /dev/null; then
    read -r fwall fcpu < <(measure fail2ban-regex "$work/peer.jsonl" "$here/fail2ban-filter.conf")
    echo "fail2ban-regex: $peer_events lines, 1 filter: ${fwall}s wall, ${fcpu}s cpu:" \
         "$(rate "$peer_events" "$fwall") lines/s wall, $(rate "$peer_events" "$fcpu") lines/s cpu"
    awk -v a="$pwall" -v b="$fwall" -v c="$pcpu" -v d="$fcpu" -v n="$peer_events" 'BEGIN {
        printf "ratio on the same %d lines: mtauditor is %.1fx fail2ban-regex (wall), %.1fx (cpu)\n", n, b / a, d / c }'
else
    echo "fail2ban-regex not installed: no peer figure (apt-get install fail2ban)"
fi
