#!/usr/bin/env bash
# Soak: one million requests through Shepherd as it runs in production (a virtual key, metering,
# the SQLite audit log), in segments of about 100 000, with a config reload (SIGHUP) after each;
# Shepherd's resident memory and open descriptors are sampled after every segment, once its
# connections have closed. The traffic: non-streamed and streamed answers, a share failing
# upstream (a model whose only deployment answers 500 to one request in ten, without retries),
# and clients that leave in the middle of a stream.
#
#   bench/soak.sh                  one million requests (about 3 minutes here)
#   REQUESTS=200000 bench/soak.sh
#
# Verdict: after the first segment (the warm-up: pools, caches and the allocator's arenas fill),
# resident memory grows less than 5 %, and the descriptors open after each segment, less the
# upstream connections the pools keep (their number follows the load), return to the count
# after the warm-up: no client connection, file or socket is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-1000000}
SEGMENTS=${SEGMENTS:-10}
source bench/lib.sh
bench_binary

start good taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0 --threads 1
good_port=$port
start flaky taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0 --threads 1 \
  --fault status=500,fail-rate=10
flaky_port=$port
start slow taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0 --threads 1 --chunks 50 \
  --chunk-delay-ms 20
slow_port=$port

export BENCH_KEY_SECRET=soak-key-secret-$RANDOM$RANDOM
export BENCH_MASTER_KEY=soak-master-$RANDOM$RANDOM
cat >"$work/shepherd.yaml" <<YAML
server:
  listen: 127.0.0.1:0
  threads: 1
  ui_listen: "off"
  master_key: env:BENCH_MASTER_KEY
log: {access: false}
routing: {max_attempts: 1}
keys: {secret: env:BENCH_KEY_SECRET}
storage: {url: "sqlite://$work/soak.db"}
providers:
  good: {kind: openai, base_url: "http://127.0.0.1:$good_port/v1", pool: {max_idle: 64}}
  flaky: {kind: openai, base_url: "http://127.0.0.1:$flaky_port/v1", pool: {max_idle: 64}}
  slow: {kind: openai, base_url: "http://127.0.0.1:$slow_port/v1", pool: {max_idle: 64}}
models:
  gpt-4.1:
    deployments: [{provider: good, price: {input: 8.0, output: 8.0}}]
  flaky-model:
    deployments: [{provider: flaky, price: {input: 1.0, output: 1.0}}]
  slow-model:
    deployments: [{provider: slow, price: {input: 1.0, output: 1.0}}]
YAML
start shepherd taskset -c 1 "$BIN" serve --config "$work/shepherd.yaml"
shepherd_port=$port
shepherd_pid=$pid
key=$(curl -sf -H "Authorization: Bearer $BENCH_MASTER_KEY" \
  -d '{"name":"soak"}' "http://127.0.0.1:$shepherd_port/admin/keys" |
  sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')

# One request in five is streamed, one in ten goes to the flaky model.
cat >"$work/soak.lua" <<LUA
local n = 0
local bodies = {
  '{"model":"gpt-4.1","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}',
  '{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}',
  '{"model":"flaky-model","messages":[{"role":"user","content":"hi"}]}',
}
request = function()
  n = n + 1
  local body = bodies[1]
  if n % 5 == 0 then body = bodies[2] elseif n % 10 == 3 then body = bodies[3] end
  return wrk.format("POST", "/v1/chat/completions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $key"}, body)
end
LUA

# Clients that leave mid-stream: COUNT streams from the slow model, each closed after its first
# chunk.
leavers() {
  python3 - "$shepherd_port" "$key" "$1" <<'PY'
import socket, sys
port, key, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = b'{"model":"slow-model","stream":true,"messages":[{"role":"user","content":"hi"}]}'
req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    s.recv(4096)  # the head and the first events
    s.close()
PY
}

# Upstream connections open (kept idle by the pools, whose number follows the load).
pooled() {
  curl -s "http://127.0.0.1:$shepherd_port/metrics" |
    awk '/^shepherd_upstream_connections\{.*state="open"/ { n += $2 } END { print n + 0 }'
}
# Waits until Shepherd has no client connection left (the gauge on /metrics), at most 10 s, then
# for the upstream pools to trim.
settle() {
  for _ in $(seq 100); do
    open=$(curl -s "http://127.0.0.1:$shepherd_port/metrics" |
      awk '$1 == "shepherd_client_connections" { print $2 }')
    # The metrics request itself is the one connection left.
    [[ "$open" == 1 ]] && break
    sleep 0.1
  done
  # Idle upstream connections beyond a pool's max_idle close once idle for 2 s.
  sleep 2.5
}

per_segment=$((REQUESTS / SEGMENTS))
seconds=5
total=0 failed=0 segment=0
printf "%-8s %10s %10s %10s %6s %8s %6s\n" segment requests non-2xx "RSS KiB" fds upstream other
while ((total < REQUESTS)); do
  segment=$((segment + 1))
  leavers 200 &
  leavers_pid=$!
  out=$(taskset -c 0 wrk -t1 -c32 -d"${seconds}s" -s "$work/soak.lua" \
    "http://127.0.0.1:$shepherd_port")
  wait "$leavers_pid"
  done_now=$(awk '/ requests in / { print $1 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  total=$((total + done_now))
  failed=$((failed + ${non2xx:-0}))
  # The next segments aim at per_segment requests each, from this segment's rate.
  seconds=$(awk -v n="$per_segment" -v d="$done_now" -v s="$seconds" \
    'BEGIN { t = int(n * s / (d > 0 ? d : 1) + 0.5); print (t < 1 ? 1 : t) }')
  settle
  r=$(rss_kib "$shepherd_pid") f=$(fd_count "$shepherd_pid") u=$(pooled)
  o=$((f - u))
  printf "%-8s %10d %10d %10d %6d %8d %6d\n" "$segment" "$total" "$failed" "$r" "$f" "$u" "$o"
  if ((segment == 1)); then warm_rss=$r warm_other=$o; fi
  last_rss=$r last_other=$o
  max_other=$((o > ${max_other:-0} ? o : ${max_other:-0}))
  kill -HUP "$shepherd_pid"
done

growth=$(awk -v a="$last_rss" -v b="$warm_rss" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')
echo "requests: $total ($failed non-2xx: the flaky model's 500s), 200 clients left mid-stream" \
  "per segment, $segment reloads"
echo "memory after the warm-up: $warm_rss KiB, at the end: $last_rss KiB ($growth %)"
echo "descriptors besides pooled upstream connections: $warm_other after the warm-up," \
  "$last_other at the end, at most $max_other after a segment"
verdict=pass
awk -v g="$growth" 'BEGIN { exit !(g < 5) }' || verdict=fail
((max_other <= warm_other)) || verdict=fail
echo "verdict: $verdict (memory growth under 5 %; descriptors, pooled upstream connections aside," \
  "back to the warm-up count after every segment)"
[[ $verdict == pass ]]
