#!/usr/bin/env bash
# Day-to-day control of the proxy that `make run` / `make start` started from RUN_DIR:
#   scripts/proxyctl.sh MTPROXY_BINARY RUN_DIR stop|status|reload|logs [N]
#
# RUN_DIR holds mtproxy.yaml (the configuration), mtproxy.pid (the running proxy's pid),
# events.jsonl (its standard output: the events when events.path is "-") and mtproxy.log
# (its standard error when started in the background).
# stop: SIGTERM, then up to STOP_TIMEOUT seconds (default 20) for the drain, then SIGKILL.
# status: exit 0 when running, 3 when not (the LSB convention), with a one-shot monitor.
# Each command also goes to the auditor beside the proxy (scripts/auditorctl.sh; MTAUDITOR
# or the mtauditor beside MTPROXY_BINARY): stop stops it after the proxy, status shows it
# (exit 1 when the proxy runs and it does not), reload reloads its rules, logs prints its log.
set -euo pipefail

mtproxy=$1
run_dir=$2
command=$3
config="$run_dir/mtproxy.yaml"
pid_file="$run_dir/mtproxy.pid"
auditorctl=$(dirname "${BASH_SOURCE[0]}")/auditorctl.sh
mtauditor=${MTAUDITOR:-$(dirname "$mtproxy")/mtauditor}

# The pid in the pid file when that process is alive and is an `mtproxy run`.
running_pid() {
    [[ -f "$pid_file" ]] || return 1
    local pid
    pid=$(tr -dc '0-9' <"$pid_file")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'mtproxy.* run ' || return 1
    echo "$pid"
}

case "$command" in
stop)
    if ! pid=$(running_pid); then
        rm -f "$pid_file"
        echo "mtproxy is not running"
        "$auditorctl" "$mtauditor" "$run_dir" stop
        exit 0
    fi
    kill -TERM "$pid"
    deadline=$((SECONDS + ${STOP_TIMEOUT:-20}))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "mtproxy (pid $pid) still running after ${STOP_TIMEOUT:-20}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
    echo "mtproxy stopped (pid $pid)"
    # After the proxy: the auditor reads the proxy's last events before it drains.
    "$auditorctl" "$mtauditor" "$run_dir" stop
    ;;
status)
    if ! pid=$(running_pid); then
        echo "mtproxy is not running${config:+ ($config)}"
        exit 3
    fi
    started=$(ps -o lstart= -p "$pid" 2>/dev/null | sed 's/  */ /g' || true)
    echo "mtproxy is running: pid $pid, started $started, config $config"
    if [[ -x "$mtproxy" ]]; then "$mtproxy" monitor --config "$config" --once || true; fi
    "$auditorctl" "$mtauditor" "$run_dir" status || exit 1
    ;;
reload)
    pid=$(running_pid) || { echo "mtproxy is not running" >&2; exit 3; }
    "$mtproxy" check-config --config "$config"
    kill -HUP "$pid"
    echo "mtproxy (pid $pid) asked to reload $config"
    if "$auditorctl" "$mtauditor" "$run_dir" status >/dev/null; then "$auditorctl" "$mtauditor" "$run_dir" reload; fi
    ;;
logs)
    "$mtproxy" logs --config "$config" --events "$run_dir/events.jsonl" -n "${4:-20}"
    "$auditorctl" "$mtauditor" "$run_dir" logs "${4:-20}"
    ;;
*)
    echo "usage: $0 MTPROXY RUN_DIR stop|status|reload|logs [N]" >&2
    exit 2
    ;;
esac
