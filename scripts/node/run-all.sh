#!/usr/bin/env bash
# Runs every Node.js twin of the runtime's micro-benches with its defaults, one after another,
# and prints their JSON lines (one per bench) on stdout. Compare with `lab bench NAME --json`,
# or run both side by side with scripts/compare-node.sh.
# Stops at the first bench that fails (each exits 2 with a reason on stderr).
set -euo pipefail
cd "$(dirname "$0")"

for bench in pool-roundtrip timers immediates ticks pbkdf2 fs-read; do
  node "$bench.js"
done
