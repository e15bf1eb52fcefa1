#!/usr/bin/env bash
# HTTP "hello" targets, measured in one sitting on this machine:
#   1. `lab serve --workload hello` (one loop) against Node 20's http hello server
#      (scripts/node/hello-server.js), both driven by `lab load` with the same settings;
#   2. `lab load` against `wrk`, both driving the same `lab serve` with the same connections
#      and duration.
# Cores: every server is pinned to core 0 and every generator to core 1 (taskset), so the
# server and its load never share a core. Rounds interleave the runs so they share the noise.
#
#   scripts/compare-http.sh [--rounds 5] [--duration 5s] [--connections 64] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 duration=5s connections=64
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --quick) rounds=2 duration=2s; shift ;;
    *) echo "compare-http: unknown option $1 (--rounds R, --duration D, --connections C, --quick)" >&2; exit 2 ;;
  esac
done
for tool in node wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "compare-http: $tool is not installed (wrk: apt-get install -y wrk)" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || { echo "compare-http: needs 2 cores (one for servers, one for generators)" >&2; exit 2; }

cargo build --release --bin lab --quiet
lab=target/release/lab
out=target/compare-http
mkdir -p "$out"
: > "$out/raw.jsonl"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Starts a server pinned to core 0; sets $port and $pid (no subshell, so cleanup sees the pid).
start() {
  local log="$out/$1.log"; shift
  taskset -c 0 "$@" --port 0 > "$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    port=$(grep -o '127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && return
    sleep 0.05
  done
  echo "compare-http: server $1 did not start (see $log)" >&2; exit 2
}
start lab "$lab" serve --workload hello; lab_port=$port lab_pid=$pid
start node node scripts/node/hello-server.js; node_port=$port node_pid=$pid

# CPU seconds a process has used so far (utime + stime).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

load() { # name port server-pid
  local c0 t0 c1 t1
  c0=$(cpu_s "$3"); t0=$(date +%s.%N)
  timeout 120 taskset -c 1 "$lab" load --url "http://127.0.0.1:$2/" -c "$connections" -d "$duration" \
    --expect-body-bytes 12 --json > "$out/last.json"
  c1=$(cpu_s "$3"); t1=$(date +%s.%N)
  util=$(python3 -c "print(($c1 - $c0) / ($t1 - $t0))")
  printf '{"run":"%s","server_cpu":%s,"report":%s}\n' "$1" "$util" "$(cat "$out/last.json")" >> "$out/raw.jsonl"
}
wrk_run() { # port
  local rps
  rps=$(timeout 120 taskset -c 1 wrk -t1 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$1/" |
    awk '/Requests\/sec/ {print $2}')
  echo "{\"run\":\"wrk->lab\",\"rps\":$rps}" >> "$out/raw.jsonl"
}

for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  load "load->node" "$node_port" "$node_pid"
  load "load->lab" "$lab_port" "$lab_pid"
  wrk_run "$lab_port"
done

python3 - "$out/raw.jsonl" "$connections" "$duration" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(run, f):
    return statistics.median(f(r) for r in rows if r["run"] == run)
rps = lambda r: r["report"]["throughput_rps"]
p99 = lambda r: r["report"]["latency_us"]["p99"]
errs = lambda r: sum(r["report"]["errors"].values()) if isinstance(r["report"]["errors"], dict) else 0
lab_rps, node_rps = med("load->lab", rps), med("load->node", rps)
lab_p99, node_p99 = med("load->lab", p99), med("load->node", p99)
wrk_rps = med("wrk->lab", lambda r: r["rps"])
n = sum(1 for r in rows if r["run"] == "load->lab")
print(f"\nHTTP hello, {n} interleaved rounds, medians; servers on core 0, generators on core 1; "
      f"{sys.argv[2]} connections, {sys.argv[3]} per run\n")
print("| comparison | looplab | other | ratio | target | met |")
print("| --- | --- | --- | --- | --- | --- |")
r = lab_rps / node_rps
print(f"| req/s, lab serve vs node http (lab load) | {lab_rps:,.0f} | {node_rps:,.0f} | {r:.2f}x | >= 3x | {'yes' if r >= 3 else 'no'} |")
print(f"| p99 us, lab serve vs node http (lab load) | {lab_p99} | {node_p99} | {node_p99 / max(lab_p99, 1):.2f}x lower | lower | {'yes' if lab_p99 < node_p99 else 'no'} |")
r = lab_rps / wrk_rps
print(f"| req/s on lab serve, lab load vs wrk | {lab_rps:,.0f} | {wrk_rps:,.0f} | {r:.2f}x | >= 0.9x | {'yes' if r >= 0.9 else 'no'} |")
cpu = lambda r: r["server_cpu"]
lab_cpu, node_cpu = med("load->lab", cpu), med("load->node", cpu)
print(f"\nserver CPU while loaded (1.0 = its whole core): lab serve {lab_cpu:.2f}, node {node_cpu:.2f}")
print(f"lab serve req/s per server CPU-second: {lab_rps / lab_cpu:,.0f}; node: {node_rps / node_cpu:,.0f} "
      f"({(lab_rps / lab_cpu) / (node_rps / node_cpu):.2f}x)")
bad = [r for r in rows if "report" in r and errs(r)]
if bad:
    print(f"\nwarning: {len(bad)} run(s) had errors; see {sys.argv[1]}")
limited = [r["run"] for r in rows if "report" in r and r["report"].get("generator_limited")]
if limited:
    print(f"note: the generator was CPU-limited in {len(limited)} run(s): {sorted(set(limited))}")
PY
