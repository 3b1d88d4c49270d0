#!/usr/bin/env bash
# The FastChat worker path against the direct path and nginx, in one run: a client sends the
# benchmark's chat request to
#   nginx    nginx (proxy_pass) in front of the mock upstream: the yardstick
#   nginx2   nginx in front of another nginx in front of the mock: two hops of the leanest proxy,
#            the floor of any path that crosses two HTTP proxies on one core, as the worker path
#            does
#   direct   shepherd serve, OpenAI provider, to the mock
#   worker   shepherd serve, kind: fastchat provider, to `shepherd worker`, to the mock (the
#            original system's API server -> relay worker -> upstream, in Shepherd)
# Both Shepherd processes keep their audit log and metering on, as in production.
#
#   bench/fastchat.sh             three rounds of 10 s, medians
#   ROUNDS=5 DURATION=8 bench/fastchat.sh
#   BASELINE_BIN=path bench/fastchat.sh   also the worker path through another build (serve and
#                                         worker both), as target "baseline"
#
# Pinning as in DESIGN.md: everything under test (the nginx instances; serve and the worker, one
# event loop each) on core 1, wrk and the mock on core 0. CPU per request sums the processes of a
# path.
# "added p50" is the median latency at one request in flight minus the mock's own.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
source bench/lib.sh
bench_binary

start mock taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0
mock_port=$port
start_nginx "$mock_port" "$(free_port)" nginx2_back
back_port=$nginx_port back_pid=$nginx_pid
start_nginx "$back_port" "$(free_port)" nginx2
nginx2_port=$nginx_port nginx2_pid=$nginx_pid
start_nginx "$mock_port" "$(free_port)"

export BENCH_KEY=sk-bench-$RANDOM$RANDOM
# start_pair NAME BINARY DIR: `shepherd worker` in front of the mock and `serve` in front of both
# (configs and audit log in DIR); sets ${NAME}_port (serve's), ${NAME}_pid and ${NAME}_worker_pid.
start_pair() {
  local name=$1 bin=$2 dir=$3
  mkdir -p "$dir"
  cat >"$dir/worker.yaml" <<YAML
server: {threads: 1}
providers:
  mock: {kind: openai, base_url: "http://127.0.0.1:$mock_port/v1", pool: {max_idle: 128, max_connections: 20000}}
models:
  gpt-4.1: {deployments: [{provider: mock, price: {input: 8.0, output: 8.0}}]}
fastchat:
  worker: {listen: 127.0.0.1:0, controller: none, limit_concurrency: 1000}
YAML
  start "$name-worker" taskset -c 1 "$bin" worker --config "$dir/worker.yaml"
  printf -v "${name}_worker_pid" %s "$pid"
  cat >"$dir/shepherd.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 1, api_keys: [env:BENCH_KEY]}
providers:
  mock: {kind: openai, base_url: "http://127.0.0.1:$mock_port/v1", pool: {max_idle: 128, max_connections: 20000}}
  worker:
    kind: fastchat
    base_url: http://127.0.0.1:$port
    pool: {max_idle: 128, max_connections: 20000}
    fastchat: {discover: false, conv_template: chatml, target: worker}
models:
  direct: {deployments: [{provider: mock, model: gpt-4.1, price: {input: 8.0, output: 8.0}}]}
  worker: {deployments: [{provider: worker, model: gpt-4.1, price: {input: 8.0, output: 8.0}}]}
YAML
  start "$name" taskset -c 1 "$bin" serve --config "$dir/shepherd.yaml"
  printf -v "${name}_port" %s "$port"
  printf -v "${name}_pid" %s "$pid"
}
start_pair serve "$BIN" "$work"
# BASELINE_BIN=path: the worker path through another build as well, as target "baseline".
if [[ -n "${BASELINE_BIN:-}" ]]; then start_pair baseline "$BASELINE_BIN" "$work/baseline"; fi

mock_url="http://127.0.0.1:$mock_port/v1/chat/completions"
nginx_url="http://127.0.0.1:$nginx_port/v1/chat/completions"
nginx2_url="http://127.0.0.1:$nginx2_port/v1/chat/completions"
serve_url="http://127.0.0.1:$serve_port/v1/chat/completions"
baseline_url="http://127.0.0.1:${baseline_port:-0}/v1/chat/completions"

# run TARGET STREAM -> "rps cpu_us_per_request" at 32 connections.
run() {
  local url=$serve_url model=$1 pids=("$serve_pid")
  case $1 in
    nginx) url=$nginx_url model=gpt-4.1 pids=("$nginx_pid") ;;
    nginx2) url=$nginx2_url model=gpt-4.1 pids=("$nginx2_pid" "$back_pid") ;;
    worker) pids=("$serve_pid" "$serve_worker_pid") ;;
    baseline) url=$baseline_url model=worker pids=("$baseline_pid" "$baseline_worker_pid") ;;
  esac
  local before after r
  before=$(cpu_ticks "${pids[@]}")
  r=$(wrk_url "$url" 32 "$DURATION" "$2" "$model")
  after=$(cpu_ticks "${pids[@]}")
  echo "$(awk '{ print $1 }' <<<"$r") $(per_request "$before" "$after" "$(awk '{ print $4 }' <<<"$r")" | awk '{ print $3 }')"
}
# p50 TARGET -> median latency (us) at one connection.
p50() {
  case $1 in
    mock) wrk_url "$mock_url" 1 5 0 gpt-4.1 | awk '{ print $2 }' ;;
    nginx) wrk_url "$nginx_url" 1 5 0 gpt-4.1 | awk '{ print $2 }' ;;
    nginx2) wrk_url "$nginx2_url" 1 5 0 gpt-4.1 | awk '{ print $2 }' ;;
    baseline) wrk_url "$baseline_url" 1 5 0 worker | awk '{ print $2 }' ;;
    *) wrk_url "$serve_url" 1 5 0 "$1" | awk '{ print $2 }' ;;
  esac
}

targets=(nginx nginx2 direct worker)
if [[ -n "${BASELINE_BIN:-}" ]]; then targets+=(baseline); fi
echo "warm-up (3 s each)"
for t in "${targets[@]}"; do DURATION=3 run "$t" 0 >/dev/null; done

declare -A rps cpu srps scpu lat
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  lat[mock,$round]=$(p50 mock)
  for i in "${!targets[@]}"; do
    t=${targets[$(((i + round) % ${#targets[@]}))]}
    read -r rps[$t,$round] cpu[$t,$round] <<<"$(run "$t" 0)"
    if [[ $t != nginx* ]]; then read -r srps[$t,$round] scpu[$t,$round] <<<"$(run "$t" 1)"; fi
    lat[$t,$round]=$(p50 "$t")
  done
done

col() {
  local -n m=$1
  for round in $(seq "$ROUNDS"); do echo "${m[$2,$round]}"; done | median
}
added() {
  for round in $(seq "$ROUNDS"); do echo $((${lat[$1,$round]} - ${lat[mock,$round]})); done | median
}

printf '\n%-8s %10s %12s %10s %12s %12s %12s\n' target "req/s" "vs nginx" "cpu us/req" "added p50 us" \
  "stream rq/s" "stream cpu"
for t in "${targets[@]}"; do
  printf '%-8s %10s %12s %10s %12s %12s %12s\n' "$t" "$(col rps "$t")" \
    "$(ratio "$(col rps "$t")" "$(col rps nginx)")" "$(col cpu "$t")" "$(added "$t")" \
    "$([[ $t == nginx* ]] && echo - || col srps "$t")" "$([[ $t == nginx* ]] && echo - || col scpu "$t")"
done
echo
echo "medians of $ROUNDS rounds; 32 connections for req/s and CPU (the path's processes summed),"
echo "one connection for the added p50 (minus the mock's own $(col lat mock) us)"
