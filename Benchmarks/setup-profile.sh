#!/usr/bin/env bash
# Per-set-up cost of mtproxy under a bounded set-up load, for before/after comparisons that
# do not depend on the machine's load (see README.md, "Set-up CPU, second round").
#
#   Benchmarks/setup-profile.sh callgrind N [MTPROXY]   # user-space instructions (all threads)
#   Benchmarks/setup-profile.sh strace N [MTPROXY]      # syscalls by kind (strace -f -c)
#
# Runs a fake DC and mtproxy (the benchmark's configuration: dd secret, events to a file),
# then `mtbench load` with N set-ups (plus 200 warm-up, 1 idle connection, 1 MiB of bulk).
# Per set-up = (total at N=1000 - total at N=300) / 700, so start-up and warm-up cancel.
# callgrind cannot read the release binary's DWARF: give it a copy made with
# `strip --strip-debug` (function names stay). Loopback only; every phase is bounded.
set -euo pipefail
TOOL=$1; N=$2
HERE=$(cd "$(dirname "$0")" && pwd)
MTPROXY=${3:-$(swift build -c release --package-path "$(dirname "$HERE")" --show-bin-path)/mtproxy}
MTBENCH=${MTBENCH:-$(swift build -c release --package-path "$HERE" --show-bin-path)/mtbench}
ulimit -n "$(ulimit -Hn)"
RUN=$(mktemp -d /tmp/setup-profile.XXXXXX)
dcport=$((21000 + RANDOM % 8000)); port=$((dcport + 1)); statsport=$((dcport + 2))
KEY=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
cat >"$RUN/mtproxy.yaml" <<CONF
instance: bench
listen: ["127.0.0.1:$port"]
secrets:
  - name: bench
    secret: dd$KEY
transports: [secure]
fronting:
  enabled: false
telegram:
  dcs:
    "2": "127.0.0.1:$dcport"
limits:
  max_connections: 6000
  max_connections_per_ip: 6000
events:
  path: $RUN/events.jsonl
stats:
  listen: 127.0.0.1:$statsport
CONF
"$MTBENCH" fake-dc --listen "127.0.0.1:$dcport" --encryption obfuscated2 >"$RUN/dc.out" 2>&1 &
DC=$!
case $TOOL in
    callgrind) valgrind --tool=callgrind --callgrind-out-file="$RUN/callgrind.out" "$MTPROXY" run --config "$RUN/mtproxy.yaml" --allow-root >"$RUN/mtproxy.out" 2>&1 & ;;
    strace) strace -f -c -o "$RUN/strace.out" "$MTPROXY" run --config "$RUN/mtproxy.yaml" --allow-root >"$RUN/mtproxy.out" 2>&1 & ;;
    *) echo "setup-profile.sh: TOOL is callgrind or strace" >&2; kill -KILL "$DC"; exit 2 ;;
esac
PROXY=$!
for _ in $(seq 600); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
sleep 5  # let a slow (instrumented) proxy start accepting before the warm-up
PID=$(pgrep -P "$PROXY" | head -1 || true)
[[ $TOOL == callgrind || -z $PID ]] && PID=$PROXY
"$MTBENCH" load --relay "127.0.0.1:$port" --name mtproxy --encryption obfuscated2 --secret "dd$KEY" \
    --proxy-pid "$PID" --dc-pid "$DC" --idle 1 --setups "$N" --parallel 16 \
    --bulk-connections 1 --bulk-mib 1 --bulk-rounds 1 --output "$RUN/report.json" >"$RUN/load.out" 2>&1 \
    || { echo "load failed:"; tail -5 "$RUN/load.out"; }
kill -TERM "$PROXY" "$PID" 2>/dev/null || true  # strace does not pass SIGTERM on
wait "$PROXY" || true
kill -KILL "$DC"; wait "$DC" 2>/dev/null || true
case $TOOL in
    callgrind) grep -E "^totals" "$RUN/callgrind.out" ;;
    strace) cat "$RUN/strace.out" ;;
esac
grep -E "failed connections" "$RUN/load.out" || echo "every connection completed"
echo "kept in $RUN"
