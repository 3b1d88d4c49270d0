#!/usr/bin/env bash
# User-space instructions per proxied non-streaming request, counted by callgrind: repeatable
# whatever else the machine is doing, so small hot-path changes can be compared.
#   bench/instructions.sh [path/to/shepherd]
#   MODEL=round-robin bench/instructions.sh   through three deployments (also lowest-latency,
#                                             cheapest); compare with MODEL=single, which
#                                             renames the model the same way
#   MODEL=claude bench/instructions.sh        OpenAI in, Anthropic provider out (translated)
#   DIALECT=anthropic bench/instructions.sh   Anthropic in, OpenAI provider out (translated);
#                                             with MODEL=claude, Anthropic passthrough
# Runs Shepherd under callgrind twice (2 000 and 12 000 requests at 4 connections, against the
# mock upstream) and divides the difference by 10 000, which cancels start-up and shutdown.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/release/src/shepherd}
command -v valgrind wrk >/dev/null || { echo "needs valgrind and wrk" >&2; exit 1; }
work=$(mktemp -d)
mock_pid=
cleanup() {
  [[ -n "$mock_pid" ]] && kill "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$BIN" mock-upstream --listen 127.0.0.1:0 >"$work/mock.out" 2>&1 &
mock_pid=$!
until grep -q "listening on" "$work/mock.out" 2>/dev/null; do sleep 0.05; done
mock_port=$(sed -n 's#.*listening on http://[^:]*:\([0-9]*\).*#\1#p' "$work/mock.out")
port=$((mock_port + 1))
cat >"$work/shepherd.yaml" <<YAML
server: {listen: 127.0.0.1:$port, threads: 1}
providers:
  mock: {kind: openai, base_url: http://127.0.0.1:$mock_port/v1}
  mock2: {kind: openai, base_url: http://127.0.0.1:$mock_port/v1}
  mock3: {kind: openai, base_url: http://127.0.0.1:$mock_port/v1}
  mock-anthropic: {kind: anthropic, base_url: http://127.0.0.1:$mock_port}
models:
  claude:
    deployments: [{provider: mock-anthropic, price: {input: 15.0, output: 15.0}}]
  gpt-4.1:
    deployments: [{provider: mock, price: {input: 8.0, output: 8.0}}]
YAML
# The routing models rename (client "round-robin", upstream "gpt-4.1"), and so does "single", so
# MODEL=single is the baseline they compare with.
cat >>"$work/shepherd.yaml" <<YAML
  single:
    deployments: [{provider: mock, model: gpt-4.1, price: {input: 8.0, output: 8.0}}]
YAML
for strategy in round-robin lowest-latency cheapest; do
  cat >>"$work/shepherd.yaml" <<YAML
  $strategy:
    strategy: $strategy
    deployments:
      - {provider: mock, model: gpt-4.1, price: {input: 8.0, output: 8.0}}
      - {provider: mock2, model: gpt-4.1, price: {input: 1.0, output: 1.0}}
      - {provider: mock3, model: gpt-4.1, price: {input: 3.0, output: 3.0}}
YAML
done

count() {
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$BIN" serve \
    --config "$work/shepherd.yaml" >/dev/null 2>&1 &
  local pid=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.2; done
  local path=/v1/chat/completions
  [[ "${DIALECT:-openai}" == anthropic ]] && path=/v1/messages
  N=$1 wrk -t1 -c4 -d120s -s bench/count.lua "http://127.0.0.1:$port$path" >/dev/null
  kill -INT "$pid"
  wait "$pid" || true
  awk '/^(summary|totals):/ { print $2; exit }' "$work/cg.out"
}
small=$(count 2000)
large=$(count 12000)
echo "$BIN: $(((large - small) / 10000)) user-space instructions per request" \
  "(model ${MODEL:-gpt-4.1}, client dialect ${DIALECT:-openai})"
