#!/usr/bin/env bash
# Renders a results folder's report.html to a PNG screenshot with headless Chromium, so the
# report can be looked at without a desktop (CI artefacts, reviews, a person over SSH).
#
#   scripts/screenshot-report.sh DIR [OUT.png]
#
# DIR is a results folder with report.html (`lab report DIR` writes it); OUT defaults to
# DIR/report-screenshot.png. Needs Chromium: `apt-get install -y chromium` on Debian.
# The window is 1400 px wide and 5000 px tall (the top of a long report); set HEIGHT to change.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: scripts/screenshot-report.sh DIR [OUT.png]" >&2
  exit 2
fi
dir=$1
html="$dir/report.html"
if [ ! -f "$html" ]; then
  echo "screenshot-report: $html does not exist; render it first with \`lab report $dir\`" >&2
  exit 2
fi
out=${2:-$dir/report-screenshot.png}
browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then
    browser=$candidate
    break
  fi
done
if [ -z "$browser" ]; then
  echo "screenshot-report: no Chromium found; install it with \`apt-get install -y chromium\`" >&2
  exit 2
fi
abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
case "$out" in
  /*) abs_out=$out ;;
  *) abs_out=$(pwd)/$out ;;
esac
# A profile of its own, so a running browser or a stale lock does not interfere.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --disable-gpu --no-sandbox --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1400,"${HEIGHT:-5000}" \
  --screenshot="$abs_out" "file://$abs_html" >/dev/null 2>&1
if [ ! -s "$abs_out" ]; then
  echo "screenshot-report: $browser wrote no screenshot to $abs_out" >&2
  exit 2
fi
echo "screenshot: $abs_out"
