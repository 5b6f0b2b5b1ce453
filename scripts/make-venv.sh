#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment for the end-to-end tests.
# Usage: scripts/make-venv.sh VENV_DIR REQUIREMENTS_FILE
# Reinstalls only when the requirements file changed since the last install.
set -euo pipefail

venv=$1
requirements=$2
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi

# Debian's own interpreter, the one python3-venv belongs to.
python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3)

echo "make-venv: installing test dependencies into $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --use-pep517 -r "$requirements"
echo "$wanted" >"$stamp"
