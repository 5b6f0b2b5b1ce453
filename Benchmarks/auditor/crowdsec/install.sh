#!/usr/bin/env bash
# Installs Debian's crowdsec package (1.4.6 on Debian 12) for the auditor benchmark's
# CrowdSec peer, without the two things the package does beyond installing files:
# - it registers with CrowdSec's Central API at install unless
#   /etc/crowdsec/online_api_credentials.yaml already exists (the package's README.Debian):
#   the file is written first, with a comment, when it does not exist;
# - where systemd runs, it enables and starts crowdsec.service: when this script installed
#   the package, that service is stopped and disabled (the benchmark runs its own CrowdSec,
#   with its own directories, on loopback).
# Nothing here touches a firewall; no bouncer is installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
command -v crowdsec > /dev/null && exit 0

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo > /dev/null; then
    as_root=(sudo -n)
else
    echo "crowdsec install: not root (no sudo); install crowdsec and retry" >&2
    exit 1
fi
credentials=/etc/crowdsec/online_api_credentials.yaml
if ! "${as_root[@]}" test -e "$credentials"; then
    "${as_root[@]}" mkdir -p /etc/crowdsec
    echo "# no Central API registration (mtshield benchmark)" | "${as_root[@]}" tee "$credentials" > /dev/null
fi
"$root/scripts/install-deps.sh" crowdsec
if [[ -d /run/systemd/system ]] && systemctl is-active --quiet crowdsec; then
    "${as_root[@]}" systemctl disable --now crowdsec
fi
