#!/usr/bin/env bash
# Starts mtproxy for `make run`: creates RUN_DIR/mtproxy.yaml with a fresh secret when
# none exists, prints the proxy's links, then runs the proxy in the foreground.
# Usage: scripts/run-proxy.sh MTPROXY_BINARY RUN_DIR PORT STATS_LISTEN
set -euo pipefail

mtproxy=$1
run_dir=$2
port=$3
stats=$4
config="$run_dir/mtproxy.yaml"

mkdir -p "$run_dir"
if [[ ! -f "$config" ]]; then
    # What clients dial, for the printed links: this machine's first address.
    public_host=$(hostname -I 2>/dev/null | awk '{print $1}')
    public_host=${public_host:-127.0.0.1}
    secret=$("$mtproxy" secret generate --server "$public_host" --port "$port" | grep -oiE '\b[0-9a-f]{32,}\b' | head -n1 || true)
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
        echo "public_host: $public_host"
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

"$mtproxy" link --config "$config"
exec "$mtproxy" run --config "$config"
