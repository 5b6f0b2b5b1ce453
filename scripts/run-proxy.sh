#!/usr/bin/env bash
# Starts mtproxy for `make run`: creates RUN_DIR/mtproxy.yaml with a fresh secret when
# none exists, prints the proxy's links, then runs the proxy in the foreground (Ctrl-C
# stops it), or with DETACH=1 in the background (`make start`, `make restart`).
# Either way its pid is in RUN_DIR/mtproxy.pid (for `make stop`, `status`, `reload`) and
# its standard output, the events when events.path is "-", is appended to
# RUN_DIR/events.jsonl (for `make logs`); in the background its log goes to
# RUN_DIR/mtproxy.log.
# Before the proxy it starts the auditor (scripts/auditorctl.sh: RUN_DIR/mtauditor.yaml,
# written when missing, following RUN_DIR/events.jsonl and banning through the proxy's
# blocklist file), MTAUDITOR or the mtauditor beside MTPROXY_BINARY; AUDITOR=0 skips it.
# When the proxy stops, so does the auditor.
# Usage: [DETACH=1] scripts/run-proxy.sh MTPROXY_BINARY RUN_DIR PORT STATS_LISTEN
set -euo pipefail

mtproxy=$1
run_dir=$2
port=$3
stats=$4
config="$run_dir/mtproxy.yaml"
auditorctl=$(dirname "${BASH_SOURCE[0]}")/auditorctl.sh
mtauditor=${MTAUDITOR:-$(dirname "$mtproxy")/mtauditor}

mkdir -p "$run_dir"
if [[ ! -f "$config" ]]; then
    # What clients dial, for the printed links: this machine's first address.
    public_host=$(hostname -I 2>/dev/null | awk '{print $1}')
    public_host=${public_host:-127.0.0.1}
    # Its note about created: is done below, where the file gets that line.
    secret=$("$mtproxy" secret generate --server "$public_host" --port "$port" 2> >(grep -v 'created:' >&2) | grep -oiE '\b[0-9a-f]{32,}\b' | head -n1 || true)
    if [[ -z "$secret" ]]; then
        echo "run-proxy: \`mtproxy secret generate\` printed no secret" >&2
        exit 1
    fi
    umask 077
    {
        echo "# Written by \`make run\`; edit freely, it is not overwritten. Keys: README.md."
        echo "instance: $(hostname -s 2>/dev/null || echo mtproxy)"
        # Both families where the kernel has IPv6; IPv4 alone where it does not.
        if [[ -e /proc/net/if_inet6 ]]; then
            echo "listen: [\"0.0.0.0:$port\", \"[::]:$port\"]"
        else
            echo "listen: [\"0.0.0.0:$port\"]"
        fi
        echo "secrets:"
        echo "  - name: main"
        echo "    secret: $secret"
        echo "    created: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "public_host: $public_host"
        # The auditor's bans (scripts/auditorctl.sh), picked up live.
        echo "blocklist: \"$(cd "$run_dir" && pwd)/blocklist.txt\""
        echo "events:"
        echo "  path: \"-\""
        echo "stats:"
        echo "  listen: $stats"
        if [[ $(id -u) -eq 0 ]]; then
            # Started as root, the proxy binds and then drops to an unprivileged user,
            # which must still read the file to reload it on SIGHUP.
            echo "user: nobody"
        fi
    } >"$config"
    if [[ $(id -u) -eq 0 ]]; then
        chgrp nogroup "$config" && chmod 0640 "$config"
    fi
    echo "run-proxy: wrote $config with a new secret"
fi

pid_file="$run_dir/mtproxy.pid"
events_file="$run_dir/events.jsonl"
log_file="$run_dir/mtproxy.log"
if [[ -f "$pid_file" ]]; then
    old=$(tr -dc '0-9' <"$pid_file")
    if [[ -n "$old" ]] && kill -0 "$old" 2>/dev/null && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q 'mtproxy.* run '; then
        echo "run-proxy: mtproxy is already running (pid $old); \`make stop\` or \`make restart\`" >&2
        exit 1
    fi
    rm -f "$pid_file"
fi

"$mtproxy" link --config "$config"
(umask 077 && touch "$events_file" "$log_file")
if ! "$auditorctl" "$mtauditor" "$run_dir" status >/dev/null; then
    "$auditorctl" "$mtauditor" "$run_dir" start
fi

if [[ "${DETACH:-0}" == 1 ]]; then
    log_start=$(stat -c %s "$log_file")
    setsid "$mtproxy" run --config "$config" </dev/null >>"$events_file" 2>>"$log_file" &
    pid=$!
    echo "$pid" >"$pid_file"
    # Started means listening: its "proxy started" log line, or it died trying.
    deadline=$((SECONDS + ${START_TIMEOUT:-30}))
    until tail -c +"$((log_start + 1))" "$log_file" | grep -q 'proxy started'; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            echo "run-proxy: mtproxy did not start; its log ($log_file):" >&2
            tail -c +"$((log_start + 1))" "$log_file" | tail -n 20 >&2
            kill -TERM "$pid" 2>/dev/null || true
            rm -f "$pid_file"
            "$auditorctl" "$mtauditor" "$run_dir" stop >/dev/null
            exit 1
        fi
        sleep 0.1
    done
    echo "run-proxy: mtproxy started in the background (pid $pid); make status, make logs, make stop"
    exit 0
fi

"$mtproxy" run --config "$config" > >(tee -a "$events_file") &
pid=$!
echo "$pid" >"$pid_file"
# A background job of a script ignores the terminal's SIGINT: pass Ctrl-C on as SIGTERM.
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
status=0
wait "$pid" || status=$?
while kill -0 "$pid" 2>/dev/null; do
    status=0
    wait "$pid" || status=$?
done
if [[ "$(cat "$pid_file" 2>/dev/null)" == "$pid" ]]; then rm -f "$pid_file"; fi
"$auditorctl" "$mtauditor" "$run_dir" stop || true
exit "$status"
