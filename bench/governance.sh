#!/usr/bin/env bash
# Where governance's CPU goes: three Shepherd processes in front of one mock, loaded in turn with
# wrk (32 connections), each round in the same order; prints CPU per request of each thread
# (/proc/PID/task/*/stat), so the audit writer's share shows apart from the event loop's.
#
#   plain     a static key, no audit log
#   key       a virtual key with an rpm limit and a monthly budget, no audit log
#   governed  the virtual key and the SQLite audit log (bench/run.sh's "shepherd")
#
#   bench/governance.sh                 three rounds of 8 s per process
#   ROUNDS=5 DURATION=10 bench/governance.sh
#
# Pinning as in bench/run.sh: Shepherd on core 1 (all its threads), wrk and the mock on core 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
source bench/lib.sh
bench_binary

start mock taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0
mock_port=$port
export BENCH_KEY_SECRET=bench-key-secret-$RANDOM$RANDOM$RANDOM
config() { # config HEAD-LINES...: the server section's extra lines, then the shared rest
  printf 'server:\n  listen: 127.0.0.1:0\n  threads: 1\n'
  printf '%s\n' "$@"
  cat <<YAML
providers:
  mock:
    kind: openai
    base_url: http://127.0.0.1:$mock_port/v1
    pool: {max_idle: 128, max_connections: 20000}
models:
  gpt-4.1:
    deployments: [{provider: mock, price: {input: 8.0, output: 8.0}}]
YAML
}
config 'keys: {secret: env:BENCH_KEY_SECRET}' 'storage: {url: sqlite://governed.db}' \
  >"$work/governed.yaml"
config 'keys: {secret: env:BENCH_KEY_SECRET}' 'audit: {enabled: false}' \
  'storage: {url: sqlite://governed.db}' >"$work/key.yaml"
config '  api_keys: [env:BENCH_KEY]' 'audit: {enabled: false}' 'storage: {url: sqlite://plain.db}' \
  >"$work/plain.yaml"
BENCH_KEY=$("$BIN" keys create --config "$work/governed.yaml" --name bench --rpm 100000000 \
  --budget-usd 1000000 --budget-period month 2>/dev/null |
  sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')
export BENCH_KEY
[[ -n $BENCH_KEY ]] || { echo "could not create the bench's virtual key" >&2; exit 1; }

targets=(plain key governed)
declare -A port_of pid_of
for t in "${targets[@]}"; do
  start "$t" taskset -c 1 "$BIN" serve --config "$work/$t.yaml"
  port_of[$t]=$port
  pid_of[$t]=$pid
done

# thread_ticks PID -> "tid name ticks" per thread (user + system clock ticks), sorted by tid
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(awk '{ print $14 + $15 }' "$t/stat")"
  done | sort
}

echo "warm-up (3 s each)"
for t in "${targets[@]}"; do
  wrk_url "http://127.0.0.1:${port_of[$t]}/v1/chat/completions" 32 3 >/dev/null
done
declare -A loop writer
hz=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for t in "${targets[@]}"; do
    before=$(thread_ticks "${pid_of[$t]}")
    r=$(wrk_url "http://127.0.0.1:${port_of[$t]}/v1/chat/completions" 32 "$DURATION")
    after=$(thread_ticks "${pid_of[$t]}")
    n=$(awk '{ print $4 }' <<<"$r")
    # Per-thread deltas, summed by thread name: the event loop is "shepherd", the audit writer
    # "audit-writer"; other threads (the store's query thread) go with the loop.
    read -r l w < <(join <(echo "$before") <(echo "$after") |
      awk -v n="$n" -v hz="$hz" '{ d = ($5 - $3) * 1e6 / hz / n
        if ($2 == "audit-writer") w += d; else l += d } END { printf "%.2f %.2f\n", l, w }')
    loop[$t,$round]=$l
    writer[$t,$round]=$w
  done
done

printf '\nCPU per request, non-stream c32 (medians of %s rounds of %s s):\n' "$ROUNDS" "$DURATION"
printf '%-10s %12s %14s %10s %10s\n' target "loop us" "audit writer" "total us" "vs plain"
for t in "${targets[@]}"; do
  l=$(for r in $(seq "$ROUNDS"); do echo "${loop[$t,$r]}"; done | median)
  w=$(for r in $(seq "$ROUNDS"); do echo "${writer[$t,$r]}"; done | median)
  total=$(for r in $(seq "$ROUNDS"); do
    awk -v a="${loop[$t,$r]}" -v b="${writer[$t,$r]}" 'BEGIN { print a + b }'
  done | median)
  [[ $t == plain ]] && base=$total
  printf '%-10s %12s %14s %10s %10s\n' "$t" "$l" "$w" "$total" "$(ratio "$total" "$base")"
done
