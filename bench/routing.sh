#!/usr/bin/env bash
# Routing overhead: one model with a single deployment against models with three deployments
# under round-robin, lowest-latency and cheapest, same load, in one run.
#
#   bench/routing.sh               three rounds of 10 s per model, medians
#   ROUNDS=7 DURATION=6 bench/routing.sh
#   MODEL=round-robin bench/instructions.sh   the repeatable comparison (instructions/request)
#
# Pinning as in bench/run.sh: Shepherd (one event-loop thread) on core 1; wrk and the three mock
# upstreams on core 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
source bench/lib.sh
bench_binary

mock_ports=()
for i in 1 2 3; do
  start "mock$i" taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0
  mock_ports+=("$port")
done

export BENCH_KEY=sk-bench-$RANDOM$RANDOM
{
  cat <<YAML
server:
  listen: 127.0.0.1:0
  threads: 1
  api_keys: [env:BENCH_KEY]
providers:
YAML
  for i in 0 1 2; do
    cat <<YAML
  p$i:
    base_url: http://127.0.0.1:${mock_ports[$i]}/v1
    pool: {max_idle: 128, max_connections: 20000}
YAML
  done
  three="[{provider: p0, model: gpt-4.1, price: {input: 8, output: 8}},
                  {provider: p1, model: gpt-4.1, price: {input: 1, output: 1}},
                  {provider: p2, model: gpt-4.1, price: {input: 3, output: 3}}]"
  cat <<YAML
models:
  single:
    deployments: [{provider: p0, model: gpt-4.1}]
  round-robin:
    strategy: round-robin
    deployments: $three
  lowest-latency:
    strategy: lowest-latency
    deployments: $three
  cheapest:
    strategy: cheapest
    deployments: $three
YAML
} >"$work/shepherd.yaml"
start shepherd taskset -c 1 "$BIN" serve --config "$work/shepherd.yaml"
url="http://127.0.0.1:$port/v1/chat/completions"

models=(single round-robin lowest-latency cheapest)
echo "warm-up (3 s each)"
for m in "${models[@]}"; do wrk_url "$url" 32 3 0 "$m" >/dev/null; done

declare -A results
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  # The order rotates every round, so drift within a round favours no model.
  for i in $(seq 0 $((${#models[@]} - 1))); do
    m=${models[$(((i + round) % ${#models[@]}))]}
    results[$m,$round]=$(wrk_url "$url" 32 "$DURATION" 0 "$m")
  done
done

col() {
  for round in $(seq "$ROUNDS"); do awk -v f="$2" '{ print $f }' <<<"${results[$1,$round]}"; done |
    median
}

printf '\n%-16s %10s %10s %10s %8s\n' model "req/s" "p50 us" "p99 us" ratio
base=$(col single 1)
for m in "${models[@]}"; do
  printf '%-16s %10s %10s %10s %8s\n' "$m" "$(col "$m" 1)" "$(col "$m" 2)" "$(col "$m" 3)" \
    "$(ratio "$(col "$m" 1)" "$base")"
done
echo
echo "ratio = throughput / single-deployment throughput (medians of $ROUNDS rounds, 32 connections)"
