#!/usr/bin/env bash
# Measures each micro-bench on looplab (`lab bench NAME --json`) and on Node
# (`node scripts/node/NAME.js`) in one sitting: for R rounds, every selected bench runs once on
# each runtime, looplab then Node, with the same parameters, so both share the machine's noise.
# Prints a Markdown table of the medians, the ratio (looplab speed / Node speed: > 1 means
# looplab is faster; for pbkdf2 node_ms / looplab_ms) and the target. Every raw JSON line goes to
# target/compare-node/raw.jsonl.
#
#   scripts/compare-node.sh [--rounds 5] [--benches pool-roundtrip,timers,...] [--quick]
#
# --quick uses smaller N (and fewer pbkdf2 runs) so the whole run takes well under a minute.
# Builds the release `lab` first (a no-op when it is up to date). Each run is killed after
# 120 s and the whole comparison stops after 20 minutes; any failed run stops it (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=pool-roundtrip,timers,immediates,ticks,pbkdf2,fs-read
rounds=5
benches=$ALL
quick=0
RUN_LIMIT=120
TOTAL_LIMIT=1200

die() { echo "compare-node.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive integer"; rounds=$2; shift 2 ;;
    --benches) [ -n "${2:-}" ] || die "--benches needs a comma-separated list (of $ALL)"; benches=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (options: --rounds R, --benches a,b, --quick)" ;;
  esac
done
IFS=, read -ra selected <<<"$benches"
for b in "${selected[@]}"; do [[ ",$ALL," == *",$b,"* ]] || die "unknown bench '$b' (benches: $ALL)"; done

command -v node >/dev/null 2>&1 || die "node not found on PATH (Node.js 20 is needed for the comparison)"
command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH (used to parse the results)"
if command -v cargo >/dev/null 2>&1; then
  cargo build --release --bin lab --quiet || die "cargo build --release --bin lab failed"
fi
[ -x target/release/lab ] || die "target/release/lab is missing and cargo is not on PATH"

# The same flags go to both runtimes.
params() {
  local n
  case "$1" in
    pool-roundtrip) n=$((quick ? 50000 : 200000)); echo "--n $n --inflight 1024 --pool 4" ;;
    timers | immediates | ticks) n=$((quick ? 200000 : 1000000)); echo "--n $n" ;;
    pbkdf2) echo "--iterations 100000 --keylen 64 --runs $((quick ? 3 : 7))" ;;
    fs-read) n=$((quick ? 500 : 2000)); echo "--n $n --size 65536 --concurrency 16 --pool 4" ;;
  esac
}

out=target/compare-node
mkdir -p "$out"
raw=$out/raw.jsonl
: >"$raw"

# run LABEL CMD...: appends the command's JSON line to raw.jsonl, within the time limits.
run() {
  local label=$1 left line
  shift
  left=$((TOTAL_LIMIT - SECONDS))
  [ "$left" -gt 0 ] || die "gave up: the comparison took over $TOTAL_LIMIT s (partial results in $raw)"
  line=$(timeout -k 5 "$((left < RUN_LIMIT ? left : RUN_LIMIT))" "$@") || die "$label failed or timed out: $*"
  [ "$(printf '%s\n' "$line" | wc -l)" -eq 1 ] && [ "${line:0:1}" = "{" ] || die "$label printed no single JSON line: $*"
  printf '%s\n' "$line" >>"$raw"
}

for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds: ${selected[*]}" >&2
  for b in "${selected[@]}"; do
    read -ra flags <<<"$(params "$b")"
    run "looplab $b" target/release/lab bench "$b" --json "${flags[@]}"
    run "node $b" node "scripts/node/$b.js" "${flags[@]}"
  done
done

python3 - "$raw" "${selected[@]}" <<'EOF'
import json, statistics, sys

raw, benches = sys.argv[1], sys.argv[2:]
rows = [json.loads(line) for line in open(raw)]
TARGETS = {"pool-roundtrip": 3.0, "timers": 3.0, "immediates": 3.0, "ticks": 3.0, "pbkdf2": 1 / 1.1}
TARGET_TEXT = {3.0: ">= 3x", 1 / 1.1: ">= 1/1.1 (time <= 1.1x node)"}

def values(bench, runtime, key):
    return [r[key] for r in rows if r["bench"] == bench and r["runtime"] == runtime]

def params_text(bench):
    lab = [r["params"] for r in rows if r["bench"] == bench and r["runtime"] == "looplab"]
    node = [r["params"] for r in rows if r["bench"] == bench and r["runtime"] == "node"]
    if any(p != lab[0] for p in lab + node):
        sys.exit(f"compare-node.sh: {bench}: the two runtimes reported different params: {lab[0]} vs {node[0]}")
    return " ".join(f"{k}={v}" for k, v in node[0].items())

def row(name, params, lab, node, ratio, target):
    met = "-" if target is None else ("yes" if ratio >= target else "**no**")
    target_text = "report only" if target is None else TARGET_TEXT[target]
    print(f"| {name} | {params} | {lab} | {node} | {ratio:.2f}x | {target_text} | {met} |")

rounds = len(values(benches[0], "node", "bench"))
node_version = next(r["node"] for r in rows if r["runtime"] == "node")
print(f"\nlooplab vs Node {node_version}, median of {rounds} interleaved rounds (raw: {raw})\n")
print("| bench | params | looplab | node | ratio | target | met |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for b in benches:
    params = params_text(b)
    if b == "pbkdf2":
        for key, name, target in (("ms", "pbkdf2 (sync)", TARGETS[b]), ("async_ms", "pbkdf2 (async)", None)):
            lab, node = statistics.median(values(b, "looplab", key)), statistics.median(values(b, "node", key))
            row(name, params, f"{lab:.2f} ms", f"{node:.2f} ms", node / lab, target)
    else:
        lab, node = statistics.median(values(b, "looplab", "ops_per_s")), statistics.median(values(b, "node", "ops_per_s"))
        row(b, params, f"{lab:,.0f} ops/s", f"{node:,.0f} ops/s", lab / node, TARGETS.get(b))
EOF
