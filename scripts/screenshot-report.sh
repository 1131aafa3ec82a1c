#!/usr/bin/env bash
# Renders a run's report.html to a PNG with headless Chromium, to look at the page as a reviewer
# would (plots, event lanes, tables) without a desktop. One Chromium invocation per page.
#
# usage: scripts/screenshot-report.sh REPORT_HTML OUT_PNG [HEIGHT]
#
# The screenshot is the window, 1400 px wide and HEIGHT px tall (default 7000, which holds the
# longest shipped plan's whole page): a longer page is cut at the bottom.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 REPORT_HTML OUT_PNG [HEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
height=${3:-7000}
if [[ ! $height =~ ^[0-9]+$ ]] || ((height < 200 || height > 30000)); then
    echo "$0: HEIGHT must be a number of pixels from 200 to 30000, not '$height'" >&2
    exit 2
fi

if [[ ! -f $report ]]; then
    echo "$0: no such file: $report" >&2
    exit 1
fi

browser=
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$(command -v "$candidate")
        break
    fi
done
if [[ -z $browser ]]; then
    echo "$0: no Chromium found (tried chromium, chromium-browser, google-chrome);" \
        "install one, e.g. 'apt-get install -y chromium'" >&2
    exit 1
fi

abs_report=$(realpath "$report")
out_dir=$(dirname -- "$out")
mkdir -p -- "$out_dir"
abs_out="$(realpath "$out_dir")/$(basename -- "$out")"
rm -f -- "$abs_out"

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,"$height" \
    --screenshot="$abs_out" "file://$abs_report" >/dev/null 2>&1 || {
    echo "$0: $browser failed to render $abs_report" >&2
    exit 1
}

if [[ ! -f $abs_out ]]; then
    echo "$0: $browser wrote no screenshot to $abs_out" >&2
    exit 1
fi
size=$(stat -c %s -- "$abs_out")
if ((size <= 10240)); then
    echo "$0: $abs_out is only $size bytes: the page probably did not render" >&2
    exit 1
fi
echo "$abs_out: $size bytes"
