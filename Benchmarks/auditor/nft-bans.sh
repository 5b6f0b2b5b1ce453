#!/usr/bin/env bash
# Bans per second through nftables: the auditor's real NFTablesBlocker (Benchmarks/Sources/
# auditor-bans), inside a network namespace created for each run and always deleted; the
# host's ruleset is never touched. See Benchmarks/auditor/README.md.
#
#   Benchmarks/auditor/nft-bans.sh                    # 100,000 bans, batches of 1,000 / 10,000 / 100,000
#   COUNT=20000 BATCHES="1000" Benchmarks/auditor/nft-bans.sh
#   SKIP_BUILD=1 Benchmarks/auditor/nft-bans.sh       # reuse the release build already there
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BENCHMARKS=$(dirname "$HERE")
COUNT=${COUNT:-100000}
BATCHES=${BATCHES:-"1000 10000 100000"}
REFRESHES=${REFRESHES:-1000}
CONFIGURATION=${CONFIGURATION:-release}

[[ $(id -u) == 0 ]] || { echo "nft-bans.sh: needs root (ip netns add)" >&2; exit 2; }
command -v nft >/dev/null && command -v ip >/dev/null || { echo "nft-bans.sh: needs nft and ip" >&2; exit 2; }

if [[ -z ${SKIP_BUILD:-} ]]; then
    swift build -c "$CONFIGURATION" --package-path "$BENCHMARKS" --product auditor-bans >&2
fi
BIN=$(swift build -c "$CONFIGURATION" --package-path "$BENCHMARKS" --show-bin-path)/auditor-bans

NAMESPACE=
cleanup() { if [[ -n $NAMESPACE ]]; then ip netns delete "$NAMESPACE" 2>/dev/null || true; fi; }
trap cleanup EXIT INT TERM

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nftables $(nft --version | cut -d' ' -f2), kernel $(uname -r)"
for batch in $BATCHES; do
    NAMESPACE=mtshield-bench-$$-$batch
    ip netns add "$NAMESPACE"
    ip netns exec "$NAMESPACE" ip link set lo up
    timeout 900 ip netns exec "$NAMESPACE" "$BIN" --namespace "$NAMESPACE" --count "$COUNT" --batch "$batch" --refreshes "$REFRESHES"
    ip netns delete "$NAMESPACE"
    NAMESPACE=
done
