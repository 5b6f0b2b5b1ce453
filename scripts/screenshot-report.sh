#!/usr/bin/env bash
# Renders alert reports as a browser shows them: replays a scenario's events with
# `--reports`, checks every HTML page parses (html.parser, and its <svg> as XML) and that
# it fetches nothing, then screenshots each page with headless Chromium when one is
# installed (apt-get install chromium). The PNGs are left in OUT for a person to look at.
#
# Usage: scripts/screenshot-report.sh [MTAUDITOR] [OUT] [SCENARIO_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
auditor=${1:-$root/.build/debug/mtauditor}
out=${2:-$(mktemp -d)}
scenario=${3:-$root/Tests/AuditorTests/Scenarios/anomaly-cold-start}
mkdir -p "$out"
"$auditor" replay --rules "$scenario/rules" --reports "$out/reports" "$scenario/events.jsonl" > /dev/null

python3 - "$out/reports" <<'PY'
import glob, html.parser, sys, xml.etree.ElementTree as ET

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.external = [], []
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") or "url(" in (value or ""):
                self.external.append((tag, name, value))

pages = sorted(glob.glob(sys.argv[1] + "/*.html"))
assert pages, "no report written"
for path in pages:
    text = open(path, encoding="utf-8").read()
    page = Page()
    page.feed(text)
    page.close()
    assert "svg" in page.tags, f"{path}: no <svg>"
    assert not page.external, f"{path}: external resources {page.external}"
    assert "script" not in page.tags and "link" not in page.tags, f"{path}: script or link"
    svg = text[text.index("<svg"):text.index("</svg>") + 6]
    ET.fromstring(svg)
    print(f"ok {path}: {len(page.tags)} elements, svg parses")
PY

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "no Chromium here: pages validated, not rendered (apt-get install chromium)"
    exit 0
fi
for page in "$out"/reports/*.html; do
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1100 \
        --screenshot="${page%.html}.png" "file://$page" > /dev/null 2>&1
    echo "screenshot ${page%.html}.png"
done
