#!/usr/bin/env bash
# mtshield relay benchmark: mtproxy beside alexbers' mtprotoproxy and a plain nginx stream
# relay (the floor), over the same load, on loopback. See Benchmarks/README.md.
#
#   Benchmarks/run.sh                      # all three relays, full load (about 3-5 minutes)
#   RELAYS="nginx mtproxy" Benchmarks/run.sh
#   IDLE=1000 SETUPS=1000 BULK_MIB=32 Benchmarks/run.sh   # a quick look
#   SKIP_BUILD=1 Benchmarks/run.sh         # reuse the release builds already there
#   MODE=faketls Benchmarks/run.sh         # the proxies in fake-TLS mode (ee secrets)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RELAYS=${RELAYS:-"nginx mtprotoproxy mtproxy"}
IDLE=${IDLE:-5000}
SETUPS=${SETUPS:-5000}
PARALLEL=${PARALLEL:-16}
BULK_CONNECTIONS=${BULK_CONNECTIONS:-8}
BULK_MIB=${BULK_MIB:-128}
BULK_ROUNDS=${BULK_ROUNDS:-3}
# obfuscated2: the proxies with a dd secret (target mtproxy/nginx <= 1.25);
# faketls: an ee secret, the clients speak fake TLS around obfuscated2 (target <= 1.4).
MODE=${MODE:-obfuscated2}
TLS_DOMAIN=www.example.com
case $MODE in
    obfuscated2) FLOOR_TARGET=1.25 ;;
    faketls) FLOOR_TARGET=1.4 ;;
    *) echo "run.sh: MODE is obfuscated2 or faketls, not $MODE" >&2; exit 2 ;;
esac
MTPROTOPROXY_VERSION=1.0.6

log() { printf '== %s\n' "$*" >&2; }

# ---- prerequisites ---------------------------------------------------------------------
if [[ ! -x /usr/sbin/nginx || ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]]; then
    log "installing nginx-light and libnginx-mod-stream"
    apt-get update -qq && apt-get install -y -qq nginx-light libnginx-mod-stream >/dev/null
fi
VENV=$HERE/.venv
if [[ ! -x $VENV/bin/mtprotoproxy.py ]]; then
    log "creating $VENV with mtprotoproxy $MTPROTOPROXY_VERSION"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "mtprotoproxy==$MTPROTOPROXY_VERSION" cryptography
fi

# Every connection of the idle phase holds one descriptor in the client and the fake DC,
# two in the relay.
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 2 * IDLE + 1000 )); then
    echo "run.sh: open-file limit $(ulimit -n) is too low for IDLE=$IDLE" >&2
    exit 1
fi

if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building mtproxy and mtbench (release)"
    swift build -c release --package-path "$ROOT" --product mtproxy >&2
    swift build -c release --package-path "$HERE" --product mtbench >&2
fi
MTPROXY=$(swift build -c release --package-path "$ROOT" --show-bin-path)/mtproxy
MTBENCH=$(swift build -c release --package-path "$HERE" --show-bin-path)/mtbench

# ---- run folder, processes, cleanup ----------------------------------------------------
RUN=$(mktemp -d /tmp/mtbench.XXXXXX)
STARTED=()
stop() {  # stop PID...: SIGTERM, then SIGKILL after 5 s; only processes this script started
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        forget "$pid"
    done
}
forget() {
    local kept=() started
    for started in "${STARTED[@]}"; do [[ $started != "$1" ]] && kept+=("$started"); done
    STARTED=("${kept[@]}")
}
cleanup() {
    (( ${#STARTED[@]} )) && stop "${STARTED[@]}"
    rm -rf "$RUN"
}
trap cleanup EXIT

free_port() {  # a port below the ephemeral range that nothing listens on
    local port
    while :; do
        port=$(( 20000 + RANDOM % 10000 ))
        ss -Hltn "sport = :$port" | grep -q . || { echo "$port"; return; }
    done
}
wait_listening() {  # wait_listening PORT PID NAME: up to 20 s
    for _ in $(seq 200); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        kill -0 "$2" 2>/dev/null || { echo "$3 exited before listening" >&2; return 1; }
        sleep 0.1
    done
    echo "$3 did not listen on $1 within 20 s" >&2
    return 1
}

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
SECRET_KEY=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
DOMAIN_HEX=$(printf %s "$TLS_DOMAIN" | od -An -tx1 | tr -d ' \n')
if [[ $MODE == faketls ]]; then
    CLIENT_SECRET=ee$SECRET_KEY$DOMAIN_HEX
else
    CLIENT_SECRET=dd$SECRET_KEY
fi

# ---- the relays --------------------------------------------------------------------------
start_nginx() {  # start_nginx PORT DC_PORT -> sets RELAY_PID (the worker)
    cat >"$RUN/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes 1;
worker_rlimit_nofile $(ulimit -n);
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log warn;
events { worker_connections $(( 2 * IDLE + 1000 )); }
stream {
    server {
        listen 127.0.0.1:$1 backlog=4096;
        proxy_pass 127.0.0.1:$2;
    }
}
CONF
    nginx -p "$RUN" -c "$RUN/nginx.conf" >"$RUN/nginx.out" 2>&1 &
    local master=$!
    STARTED+=("$master")
    wait_listening "$1" "$master" nginx || return 1
    RELAY_PID=$(pgrep -P "$master" | head -1)
    RELAY_STOP=$master
}

start_mtprotoproxy() {
    cat >"$RUN/mtprotoproxy-config.py" <<CONF
PORT = $1
USERS = {"bench": "$SECRET_KEY"}
SECURE_ONLY = $([[ $MODE == faketls ]] && echo False || echo True)
TLS_ONLY = $([[ $MODE == faketls ]] && echo True || echo False)
TLS_DOMAIN = "$TLS_DOMAIN"
FAST_MODE = True
MASK = False
LISTEN_ADDR_IPV4 = "127.0.0.1"
LISTEN_ADDR_IPV6 = ""
STATS_PRINT_PERIOD = 3600
CONF
    "$VENV/bin/python3" "$HERE/mtprotoproxy_launcher.py" "$VENV/bin/mtprotoproxy.py" \
        "$RUN/mtprotoproxy-config.py" 127.0.0.1 "$2" >"$RUN/mtprotoproxy.out" 2>&1 &
    RELAY_PID=$!
    RELAY_STOP=$RELAY_PID
    STARTED+=("$RELAY_PID")
    wait_listening "$1" "$RELAY_PID" mtprotoproxy
}

start_mtproxy() {
    local stats_port
    stats_port=$(free_port)
    cat >"$RUN/mtproxy.yaml" <<CONF
instance: bench
listen: ["127.0.0.1:$1"]
secrets:
  - name: bench
    secret: $CLIENT_SECRET
transports: [$([[ $MODE == faketls ]] && echo faketls || echo secure)]
fronting:
  enabled: false
telegram:
  dcs:
    "1": "127.0.0.1:$2"
    "2": "127.0.0.1:$2"
    "3": "127.0.0.1:$2"
    "4": "127.0.0.1:$2"
    "5": "127.0.0.1:$2"
limits:
  max_connections: $(( IDLE + 1000 ))
  max_connections_per_ip: $(( IDLE + 1000 ))
events:
  path: $RUN/mtproxy-events.jsonl
stats:
  listen: 127.0.0.1:$stats_port
CONF
    "$MTPROXY" run --config "$RUN/mtproxy.yaml" --allow-root >"$RUN/mtproxy.out" 2>&1 &
    RELAY_PID=$!
    RELAY_STOP=$RELAY_PID
    STARTED+=("$RELAY_PID")
    wait_listening "$1" "$RELAY_PID" mtproxy
}

REPORTS=()
for relay in $RELAYS; do
    case $relay in
        nginx) encryption=plain ;;
        mtprotoproxy | mtproxy) encryption=obfuscated2 ;;
        *) echo "run.sh: unknown relay $relay" >&2; exit 2 ;;
    esac
    dc_port=$(free_port)
    relay_port=$(free_port)
    "$MTBENCH" fake-dc --listen "127.0.0.1:$dc_port" --encryption "$encryption" >"$RUN/dc-$relay.out" 2>&1 &
    dc_pid=$!
    STARTED+=("$dc_pid")
    wait_listening "$dc_port" "$dc_pid" "fake DC"

    log "$relay"
    if ! "start_$relay" "$relay_port" "$dc_port"; then
        log "$relay did not start; its row stays pending. Its output:"
        tail -20 "$RUN/$relay.out" >&2 || true
        stop "$dc_pid"
        continue
    fi
    if "$MTBENCH" load --relay "127.0.0.1:$relay_port" --name "$relay" --encryption "$encryption" \
        --secret "$([[ $relay == nginx ]] && echo "dd$SECRET_KEY" || echo "$CLIENT_SECRET")" --proxy-pid "$RELAY_PID" --dc-pid "$dc_pid" \
        --idle "$IDLE" --setups "$SETUPS" --parallel "$PARALLEL" \
        --bulk-connections "$BULK_CONNECTIONS" --bulk-mib "$BULK_MIB" --bulk-rounds "$BULK_ROUNDS" --output "$RUN/$relay.json"; then
        REPORTS+=("$RUN/$relay.json")
    else
        log "$relay: the load failed; its row stays pending. Relay output:"
        tail -20 "$RUN/$relay.out" >&2 || true
    fi
    stop "$RELAY_STOP" "$dc_pid"
    sed 's/^/   /' "$RUN/dc-$relay.out" >&2
done

echo
echo "machine: $(nproc) cores; load average at start $LOAD_AT_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mode: $MODE (nginx relays the same load in clear: the floor)"
echo "load: $IDLE idle, $SETUPS setups ($PARALLEL in flight), $BULK_CONNECTIONS bulk connections x $BULK_MIB MiB each way, $BULK_ROUNDS rounds"
echo
"$MTBENCH" table --floor-target "$FLOOR_TARGET" "${REPORTS[@]}"
if [[ -n ${KEEP_REPORTS:-} ]]; then
    mkdir -p "$KEEP_REPORTS" && cp "${REPORTS[@]}" "$KEEP_REPORTS/"
fi
