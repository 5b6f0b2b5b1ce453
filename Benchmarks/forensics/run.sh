#!/usr/bin/env bash
# Snapshot throughput: `mtforensics snapshot` over event logs, beside the pipeline an
# operator would otherwise run on the same files in the same run:
#   tar -c FILES | lz4 -1 > ARCHIVE   then   sha256sum FILES   then   sha256sum ARCHIVE
# (the archive, a hash of every file, a hash of the archive: what the snapshot gives,
# without its filtering by time, manifest and custody record).
#
# Usage: Benchmarks/forensics/run.sh [SIZE_MIB] [ROUNDS]     (default 1024 MiB, 3 rounds)
# Prints MiB/s of each (median round, wall clock; CPU seconds beside) and the ratio.
# Needs python3, lz4, tar, sha256sum. Writes only to a temporary folder, removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
size_mib=${1:-1024}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/logs" "$work/out"

for tool in lz4 tar sha256sum python3; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done
echo "building mtforensics (release)" >&2
(cd "$root" && swift build -c release --product mtforensics >&2)
forensics="$root/.build/release/mtforensics"

echo "generating $size_mib MiB of event logs" >&2
python3 "$here/generate-events.py" "$work/logs" $(( size_mib * 1024 * 1024 ))
bytes=$(cat "$work"/logs/events.jsonl* | wc -c)
cat > "$work/proxy.yaml" <<YAML
secrets:
  - name: bench
    secret: dd0123456789abcdef0123456789abcdef
events:
  path: $work/logs/events.jsonl
YAML
cat > "$work/artifacts.yaml" <<YAML
artifacts:
  - name: proxy-config
    kind: config
    config: proxy
    to: config/proxy.yaml
  - name: proxy-events
    kind: events
    from: proxy:events.path
    to: proxy/events.jsonl
YAML
cat "$work"/logs/events.jsonl* > /dev/null   # both start from the page cache

# Prints "WALL CPU" seconds (CPU: user + system of the command and its children).
measure() {
    local TIMEFORMAT='%R %U %S'
    local wall user sys
    read -r wall user sys < <({ time "$@" > /dev/null 2> "$work/stderr"; } 2>&1) || { cat "$work/stderr" >&2; exit 1; }
    awk -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN { printf "%s %.2f\n", w, u + s }'
}
snapshot() {
    rm -rf "$work/out" && mkdir -p "$work/out"
    "$forensics" snapshot --proxy-config "$work/proxy.yaml" --artifacts "$work/artifacts.yaml" \
        --since 2h --out "$work/out" --incident BENCH --max-bytes 8GiB
}
pipeline() {
    rm -f "$work/peer.tar.lz4"
    (cd "$work/logs" && tar -cf - events.jsonl* | lz4 -1 -B7 -BX -q > "$work/peer.tar.lz4")
    (cd "$work/logs" && sha256sum events.jsonl* > "$work/peer.sha256")
    sha256sum "$work/peer.tar.lz4" > "$work/peer.tar.lz4.sha256"
}

snapshot_runs=()
pipeline_runs=()
for round in $(seq "$rounds"); do
    snapshot_runs+=("$(measure snapshot)")
    pipeline_runs+=("$(measure pipeline)")
    echo "round $round: snapshot ${snapshot_runs[-1]}  pipeline ${pipeline_runs[-1]}  (wall s, cpu s)" >&2
done
archive=$(ls "$work"/out/*.tar.lz4)
"$forensics" verify "$archive" > /dev/null || { echo "the snapshot archive does not verify" >&2; exit 1; }
files=$("$forensics" list "$archive" | grep -c 'proxy/events' || true)
snapshot_size=$(stat -c %s "$archive")
peer_size=$(stat -c %s "$work/peer.tar.lz4")

median() { printf '%s\n' "$@" | sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
read -r swall scpu < <(median "${snapshot_runs[@]}")
read -r pwall pcpu < <(median "${pipeline_runs[@]}")
awk -v b="$bytes" -v sw="$swall" -v sc="$scpu" -v pw="$pwall" -v pc="$pcpu" -v ss="$snapshot_size" -v ps="$peer_size" -v f="$files" 'BEGIN {
    mib = b / 1048576
    printf "event logs: %.0f MiB in 5 files (%d event files in the archive)\n", mib, f
    printf "mtforensics snapshot: %6.2f s wall, %6.2f s cpu, %7.1f MiB/s, archive %.0f MiB (manifest, custody, sidecar)\n", sw, sc, mib / sw, ss / 1048576
    printf "tar|lz4 -1 + sha256sum: %4.2f s wall, %6.2f s cpu, %7.1f MiB/s, archive %.0f MiB\n", pw, pc, mib / pw, ps / 1048576
    printf "ratio (snapshot speed / pipeline speed): %.2f wall, %.2f cpu   (target >= 0.9)\n", pw / sw, pc / sc
}'
uptime
