#!/usr/bin/env bash
# Benchmark: the mock upstream directly, nginx (proxy_pass) in front of it, and Shepherd in
# front of the same mock, loaded with wrk at the same settings, in one run. Shepherd is loaded
# on four paths: OpenAI in and out (passthrough, the headline), Anthropic in and out
# (passthrough), OpenAI in with an Anthropic provider out (oa>anth) and Anthropic in with an
# OpenAI provider out (anth>oa), the translated paths.
#
# "shepherd" (and every other Shepherd target) runs as in production: a virtual key, metering
# and the SQLite audit log on. Target "plain" is the same config with them off (a static key,
# no audit log), to show what governance costs per request.
#
#   bench/run.sh                 five rounds, medians (about 7 minutes)
#   ROUNDS=1 bench/run.sh        one quick round
#   BASELINE_BIN=path bench/run.sh
#                                also load another Shepherd binary (an earlier commit's release
#                                build) with the same config, as target "baseline"
#
# Pinning as in DESIGN.md: the proxy under test on core 1, wrk and the mock on core 0.
# Shepherd runs with one event-loop thread, nginx with one worker.
#
# CPU per request: the proxy's user and system CPU time (/proc/PID/stat, nginx's master and
# worker together) over each 32-connection run, divided by the requests wrk completed in it
# (non-streamed, and streamed). On two cores the load generator saturates near nginx's throughput, so this,
# not requests/s, shows what each request costs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
source bench/lib.sh
bench_binary

start mock taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0
mock_port=$port
mock_pid=$pid

export BENCH_KEY_SECRET=bench-key-secret-$RANDOM$RANDOM$RANDOM
# providers_and_models: the part both configs share.
providers_and_models() {
  cat <<YAML
providers:
  mock:
    kind: openai
    base_url: http://127.0.0.1:$mock_port/v1
    pool: {max_idle: 128, max_connections: 20000}
  mock-anthropic:
    kind: anthropic
    base_url: http://127.0.0.1:$mock_port
    pool: {max_idle: 128, max_connections: 20000}
models:
  gpt-4.1:
    deployments: [{provider: mock, price: {input: 8.0, output: 8.0}}]
  claude-sonnet-4.5:
    deployments: [{provider: mock-anthropic, price: {input: 15.0, output: 15.0}}]
YAML
}
{
  printf 'server:\n  listen: 127.0.0.1:0\n  threads: 1\n'
  printf 'keys: {secret: env:BENCH_KEY_SECRET}\nstorage: {url: sqlite://bench.db}\n'
  providers_and_models
} >"$work/shepherd.yaml"
# A virtual key with generous limits (checked on every request, never reached).
BENCH_KEY=$("$BIN" keys create --config "$work/shepherd.yaml" --name bench --rpm 100000000 \
  --budget-usd 1000000 --budget-period month 2>/dev/null |
  sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')
export BENCH_KEY
[[ -n $BENCH_KEY ]] || { echo "could not create the bench's virtual key" >&2; exit 1; }
{
  printf 'server:\n  listen: 127.0.0.1:0\n  threads: 1\n  api_keys: [env:BENCH_KEY]\n'
  printf 'audit: {enabled: false}\nstorage: {url: sqlite://plain.db}\n'
  providers_and_models
} >"$work/plain.yaml"
start shepherd taskset -c 1 "$BIN" serve --config "$work/shepherd.yaml"
shepherd_port=$port
shepherd_pid=$pid
start plain taskset -c 1 "$BIN" serve --config "$work/plain.yaml"
plain_port=$port
plain_pid=$pid
if [[ -n "${BASELINE_BIN:-}" ]]; then
  start baseline taskset -c 1 "$BASELINE_BIN" serve --config "$work/shepherd.yaml"
  baseline_port=$port
  baseline_pid=$pid
fi

start_nginx "$mock_port" "$(free_port)"

declare -A url=(
  [direct]="http://127.0.0.1:$mock_port/v1/chat/completions"
  [nginx]="http://127.0.0.1:$nginx_port/v1/chat/completions"
  [shepherd]="http://127.0.0.1:$shepherd_port/v1/chat/completions"
  [plain]="http://127.0.0.1:$plain_port/v1/chat/completions"
)
declare -A pid_of=([direct]=$mock_pid [nginx]=$nginx_pid [shepherd]=$shepherd_pid
  [plain]=$plain_pid)
declare -A model_of dialect_of
targets=(direct nginx shepherd plain)
# The other dialect pairs, on the same Shepherd process (loaded one at a time).
messages_url="http://127.0.0.1:$shepherd_port/v1/messages"
url[anth]=$messages_url model_of[anth]=claude-sonnet-4.5 dialect_of[anth]=anthropic
url[oa\>anth]=${url[shepherd]} model_of[oa\>anth]=claude-sonnet-4.5
url[anth\>oa]=$messages_url dialect_of[anth\>oa]=anthropic
for t in anth 'oa>anth' 'anth>oa'; do pid_of[$t]=$shepherd_pid; done
targets+=(anth 'oa>anth' 'anth>oa')
if [[ -n "${BASELINE_BIN:-}" ]]; then
  url[baseline]="http://127.0.0.1:$baseline_port/v1/chat/completions"
  pid_of[baseline]=$baseline_pid
  targets+=(baseline)
fi

# wrk_run TARGET CONNECTIONS SECONDS [STREAM] -> "rps p50_us p99_us requests"
wrk_run() {
  wrk_url "${url[$1]}" "$2" "$3" "${4:-0}" "${model_of[$1]:-gpt-4.1}" "${dialect_of[$1]:-openai}"
}

echo "warm-up (5 s each)"
for t in "${targets[@]}"; do wrk_run "$t" 32 5 >/dev/null; done

declare -A results cpu cpu_stream
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  for t in "${targets[@]}"; do
    before=$(cpu_ticks "${pid_of[$t]}")
    results[$t,c32,$round]=$(wrk_run "$t" 32 "$DURATION")
    after=$(cpu_ticks "${pid_of[$t]}")
    cpu[$t,$round]=$(per_request "$before" "$after" "$(awk '{ print $4 }' <<<"${results[$t,c32,$round]}")")
    results[$t,c1,$round]=$(wrk_run "$t" 1 5)
    before=$(cpu_ticks "${pid_of[$t]}")
    results[$t,stream,$round]=$(wrk_run "$t" 32 "$DURATION" 1)
    after=$(cpu_ticks "${pid_of[$t]}")
    cpu_stream[$t,$round]=$(per_request "$before" "$after" "$(awk '{ print $4 }' <<<"${results[$t,stream,$round]}")")
  done
done

# col TARGET KIND FIELD(1=rps,2=p50,3=p99) -> median over rounds
col() {
  for round in $(seq "$ROUNDS"); do
    awk -v f="$3" '{ print $f }' <<<"${results[$1,$2,$round]}"
  done | median
}

printf '\n%-10s %-28s %10s %10s %10s\n' target run "req/s" "p50 us" "p99 us"
for kind in c32 c1 stream; do
  case $kind in
    c32) label="non-stream, 32 connections" ;;
    c1) label="non-stream, 1 connection" ;;
    stream) label="stream, 32 connections" ;;
  esac
  for t in "${targets[@]}"; do
    printf '%-10s %-28s %10s %10s %10s\n' "$t" "$label" "$(col "$t" "$kind" 1)" \
      "$(col "$t" "$kind" 2)" "$(col "$t" "$kind" 3)"
  done
done

# cpu_col TARGET FIELD(1=user,2=system,3=total) [TABLE] -> median over rounds, microseconds per
# request, of the non-streamed runs (or of the streamed ones with TABLE=cpu_stream)
cpu_col() {
  local -n table=${3:-cpu}
  for round in $(seq "$ROUNDS"); do
    awk -v f="$2" '{ print $f }' <<<"${table[$1,$round]}"
  done | median
}
echo
echo "CPU per request, non-stream c32 (the proxy process; medians of $ROUNDS rounds):"
printf '%-10s %12s %12s %12s %10s\n' target "user us" "system us" "total us" "vs nginx"
for t in "${targets[@]}"; do
  [[ $t == direct ]] && label="direct (mock)" || label=$t
  printf '%-10s %12s %12s %12s %10s\n' "$label" "$(cpu_col "$t" 1)" "$(cpu_col "$t" 2)" \
    "$(cpu_col "$t" 3)" "$(ratio "$(cpu_col "$t" 3)" "$(cpu_col nginx 3)")"
done

echo
echo "CPU per streamed request, stream c32 (medians of $ROUNDS rounds):"
printf '%-10s %12s %12s %12s %10s\n' target "user us" "system us" "total us" "vs nginx"
for t in "${targets[@]}"; do
  [[ $t == direct ]] && continue
  printf '%-10s %12s %12s %12s %10s\n' "$t" "$(cpu_col "$t" 1 cpu_stream)" \
    "$(cpu_col "$t" 2 cpu_stream)" "$(cpu_col "$t" 3 cpu_stream)" \
    "$(ratio "$(cpu_col "$t" 3 cpu_stream)" "$(cpu_col nginx 3 cpu_stream)")"
done

# Translation's cost: each translated path against both passthroughs it sits between, the
# client's dialect (same answer to the client) and the provider's (same upstream stream). Total
# CPU, and user CPU alone (translation runs in user space; system time follows the events'
# framing, which differs between dialects).
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", a - b }'; }
echo
echo "translation cost (CPU per request over a passthrough; total us, user us in brackets):"
for pair in 'oa>anth shepherd' 'oa>anth anth' 'anth>oa anth' 'anth>oa shepherd'; do
  read -r t base <<<"$pair"
  echo "  $t over $base: non-stream $(diff_us "$(cpu_col "$t" 3)" "$(cpu_col "$base" 3)")" \
    "($(diff_us "$(cpu_col "$t" 1)" "$(cpu_col "$base" 1)")), stream" \
    "$(diff_us "$(cpu_col "$t" 3 cpu_stream)" "$(cpu_col "$base" 3 cpu_stream)")" \
    "($(diff_us "$(cpu_col "$t" 1 cpu_stream)" "$(cpu_col "$base" 1 cpu_stream)")), stream total" \
    "x$(ratio "$(cpu_col "$t" 3 cpu_stream)" "$(cpu_col "$base" 3 cpu_stream)")"
done

echo
echo "governance's cost (virtual key, metering and SQLite audit on, over plain):" \
  "non-stream $(diff_us "$(cpu_col shepherd 3)" "$(cpu_col plain 3)") us" \
  "x$(ratio "$(cpu_col shepherd 3)" "$(cpu_col plain 3)"), stream" \
  "$(diff_us "$(cpu_col shepherd 3 cpu_stream)" "$(cpu_col plain 3 cpu_stream)") us" \
  "x$(ratio "$(cpu_col shepherd 3 cpu_stream)" "$(cpu_col plain 3 cpu_stream)")"

added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", a - b }'; }
d50=$(col direct c1 2) d99=$(col direct c1 3)
n50=$(col nginx c1 2) n99=$(col nginx c1 3)
s50=$(col shepherd c1 2) s99=$(col shepherd c1 3)
echo
echo "throughput ratio shepherd/nginx, non-stream c32: $(ratio "$(col shepherd c32 1)" "$(col nginx c32 1)")"
echo "throughput ratio shepherd/nginx, stream c32:     $(ratio "$(col shepherd stream 1)" "$(col nginx stream 1)")"
echo "added latency at 1 connection (minus direct), p50: nginx $(added "$n50" "$d50") us, shepherd $(added "$s50" "$d50") us"
echo "added latency at 1 connection (minus direct), p99: nginx $(added "$n99" "$d99") us, shepherd $(added "$s99" "$d99") us"
for t in anth 'oa>anth' 'anth>oa'; do
  echo "added latency at 1 connection (minus direct), $t: p50 $(added "$(col "$t" c1 2)" "$d50") us," \
    "p99 $(added "$(col "$t" c1 3)" "$d99") us"
done

# Time to the first byte of a streamed answer, median of 200 sequential requests with curl.
ttfb() {
  local body='{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  for _ in $(seq 200); do
    taskset -c 0 curl -s -o /dev/null -w '%{time_starttransfer}\n' -H "Authorization: Bearer $BENCH_KEY" \
      -H 'Content-Type: application/json' -d "$body" "${url[$1]}"
  done | awk '{ print $1 * 1e6 }' | median
}
dt=$(ttfb direct) nt=$(ttfb nginx) st=$(ttfb shepherd)
echo "stream first byte, median of 200: direct ${dt} us, nginx ${nt} us, shepherd ${st} us;" \
  "overhead: nginx $(added "$nt" "$dt") us, shepherd $(added "$st" "$dt") us"

