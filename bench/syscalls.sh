#!/usr/bin/env bash
# System calls per proxied request: nginx and Shepherd in front of the same mock upstream, each
# traced with `strace -c -f` during a `wrk -c32` run of the benchmark's chat request. strace slows
# both, so the counts matter here, not the times.
#   bench/syscalls.sh [path/to/shepherd]
#   DURATION=4 CONNECTIONS=32 bench/syscalls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/release/src/shepherd}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-32}
command -v strace wrk nginx >/dev/null || { echo "needs strace, wrk and nginx" >&2; exit 1; }
source bench/lib.sh

start mock taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0
mock_port=$port
export BENCH_KEY=sk-bench-$RANDOM$RANDOM
cat >"$work/shepherd.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 1, api_keys: [env:BENCH_KEY]}
providers:
  mock: {kind: openai, base_url: http://127.0.0.1:$mock_port/v1}
models:
  gpt-4.1:
    deployments: [{provider: mock, price: {input: 8.0, output: 8.0}}]
YAML
start shepherd taskset -c 1 "$BIN" serve --config "$work/shepherd.yaml"
shepherd_port=$port
shepherd_pid=$pid
start_nginx "$mock_port" "$(free_port)"

# trace NAME PID URL: warm up, then count system calls over one wrk run.
trace() {
  local name=$1 pid=$2 url=$3 traced
  wrk_url "$url" "$CONNECTIONS" 2 >/dev/null
  traced=$(pgrep -P "$pid" | head -1 || true)
  [[ -z "$traced" ]] && traced=$pid  # nginx: its worker
  strace -c -f -p "$traced" -o "$work/$name.strace" &
  local strace_pid=$!
  sleep 0.5
  local requests
  requests=$(wrk_url "$url" "$CONNECTIONS" "$DURATION" | awk '{ print $4 }')
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
  echo "$name: $requests requests"
  awk -v n="$requests" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {
      printf "  %-16s %8.3f per request\n", $NF, $4 / n }' "$work/$name.strace" | sort -k2 -nr
}
trace nginx "$nginx_pid" "http://127.0.0.1:$nginx_port/v1/chat/completions"
trace shepherd "$shepherd_pid" "http://127.0.0.1:$shepherd_port/v1/chat/completions"
