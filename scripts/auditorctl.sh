#!/usr/bin/env bash
# The auditor beside the proxy that `make run` / `make start` started from RUN_DIR:
#   scripts/auditorctl.sh MTAUDITOR_BINARY RUN_DIR start|stop|status|reload|logs [N]
#
# start writes RUN_DIR/mtauditor.yaml when none exists: it follows the proxy's events
# (RUN_DIR/events.jsonl, where run-proxy.sh appends the proxy's standard output), runs the
# shipped rules/, bans through the proxy's blocklist file (the proxy's `blocklist:`, else
# RUN_DIR/blocklist.txt), keeps its state in RUN_DIR/auditor/ and serves metrics on
# AUDITOR_METRICS (default 127.0.0.1:3002). Then it runs `mtauditor run` in the background,
# in a session of its own: the pid in RUN_DIR/mtauditor.pid, the log in RUN_DIR/mtauditor.log.
# stop: SIGTERM (the auditor drains: events read are decided, positions saved), up to
# STOP_TIMEOUT seconds (default 20), then SIGKILL to its whole process group.
# status: exit 0 when running, 3 when not, with its counters from /metrics.
# AUDITOR=0 makes every command a no-op (the proxy alone).
set -euo pipefail

mtauditor=$1
run_dir=$2
command=$3
config="$run_dir/mtauditor.yaml"
pid_file="$run_dir/mtauditor.pid"
log_file="$run_dir/mtauditor.log"

[[ "${AUDITOR:-1}" == 0 ]] && exit 0

# The pid in the pid file when that process is alive and is an `mtauditor run`.
running_pid() {
    [[ -f "$pid_file" ]] || return 1
    local pid
    pid=$(tr -dc '0-9' <"$pid_file")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'mtauditor.* run ' || return 1
    echo "$pid"
}

# `metrics.listen` of the configuration, host:port, or nothing.
metrics_address() {
    sed -n 's/^  listen: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$config" 2>/dev/null | head -n1
}

# GET /metrics without curl (a fresh Debian has none): bash's /dev/tcp.
metrics() {
    local address host port
    address=$(metrics_address)
    [[ -n "$address" && "$address" != null ]] || return 1
    host=${address%:*}
    port=${address##*:}
    host=${host#[}
    host=${host%]}
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$address" >&3
    timeout 5 cat <&3 || true
    exec 3<&-
}

write_config() {
    local here root events blocklist proxy_config="$run_dir/mtproxy.yaml"
    here=$(cd "$run_dir" && pwd)
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    events="$here/events.jsonl"
    blocklist=$(sed -n 's/^blocklist: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$proxy_config" 2>/dev/null | head -n1)
    if [[ -z "$blocklist" ]]; then
        blocklist="$here/blocklist.txt"
        echo "auditorctl: $proxy_config has no \`blocklist:\`; bans go to $blocklist, which the proxy enforces once" \
            "\`blocklist: $blocklist\` is added to it (then \`make restart\`)" >&2
    fi
    mkdir -p "$here/auditor"
    chmod 0700 "$here/auditor"
    (
        umask 077
        cat >"$config" <<EOF
# Written by \`make run\`; edit freely, it is not overwritten. Every key: deploy/mtauditor.example.yaml.
sources: ["$events"]
rules: "$root/rules"
state: "$here/auditor/auditor.sqlite"
blockers:
  - proxy: { path: "$blocklist" }
reports: "$here/auditor/reports"
metrics:
  listen: "${AUDITOR_METRICS:-127.0.0.1:3002}"
EOF
    )
    echo "auditorctl: wrote $config"
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$pid_file"
        echo "mtauditor is not running"
        return 0
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + ${STOP_TIMEOUT:-20}))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "mtauditor (pid $pid) still running after ${STOP_TIMEOUT:-20}s; killing it" >&2
        # Its own session and process group (setsid): an exec blocker's child goes too.
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
    echo "mtauditor stopped (pid $pid)"
}

case "$command" in
start)
    if pid=$(running_pid); then
        echo "auditorctl: mtauditor is already running (pid $pid); \`make stop\` or \`make restart\`" >&2
        exit 1
    fi
    rm -f "$pid_file"
    if [[ ! -x "$mtauditor" ]]; then
        echo "auditorctl: no mtauditor at $mtauditor (build it, or AUDITOR=0 to run the proxy alone)" >&2
        exit 1
    fi
    mkdir -p "$run_dir"
    [[ -f "$config" ]] || write_config
    "$mtauditor" check-config --config "$config" >/dev/null
    (umask 077 && touch "$log_file" "$run_dir/events.jsonl")
    log_start=$(stat -c %s "$log_file")
    # umask 022: the blocklist it writes must be readable by the proxy, which may run as nobody.
    (umask 022 && exec setsid "$mtauditor" run --config "$config" </dev/null >>"$log_file" 2>&1) &
    pid=$!
    echo "$pid" >"$pid_file"
    deadline=$((SECONDS + ${START_TIMEOUT:-30}))
    until tail -c +"$((log_start + 1))" "$log_file" | grep -q 'auditor started'; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            echo "auditorctl: mtauditor did not start; its log ($log_file):" >&2
            tail -c +"$((log_start + 1))" "$log_file" | tail -n 20 >&2
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$pid_file"
            exit 1
        fi
        sleep 0.1
    done
    echo "auditorctl: mtauditor started in the background (pid $pid, config $config, metrics $(metrics_address))"
    ;;
stop)
    stop
    ;;
status)
    if ! pid=$(running_pid); then
        echo "mtauditor is not running ($config)"
        exit 3
    fi
    echo "mtauditor is running: pid $pid, config $config"
    metrics 2>/dev/null | grep -E '^mtauditor_(events_read_total|parse_errors_total|lag_seconds|decisions_total|active_bans|alerts_total)' \
        | sed 's/^/  /' || true
    ;;
reload)
    pid=$(running_pid) || { echo "mtauditor is not running" >&2; exit 3; }
    "$mtauditor" check-config --config "$config" >/dev/null
    kill -HUP "$pid"
    echo "mtauditor (pid $pid) asked to reload its rules"
    ;;
logs)
    [[ -f "$log_file" ]] || exit 0
    echo "--- mtauditor ($log_file) ---"
    tail -n "${4:-20}" "$log_file"
    ;;
*)
    echo "usage: $0 MTAUDITOR RUN_DIR start|stop|status|reload|logs [N]" >&2
    exit 2
    ;;
esac
