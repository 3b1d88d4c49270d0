#!/usr/bin/env bash
# Memory per open stream: STREAMS (default 10 000) concurrent slow streams (30 chunks, one per
# second, from the same mock) held open through nginx (one worker) and through Shepherd (one
# event-loop thread), one after the other in one run; each proxy's resident memory (nginx: master
# and worker) is sampled every second while the streams are open and its peak reported, with the
# resident memory before the streams and the descriptors open at the peak.
#
#   bench/streams.sh                 10 000 streams each
#   STREAMS=1000 bench/streams.sh
#   SLOW_READERS=1000 bench/streams.sh
#                                    also: that many Shepherd clients that stop reading their
#                                    stream (a long, fast one); Shepherd's memory with them open
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-10000}
SLOW_READERS=${SLOW_READERS:-0}
source bench/lib.sh
bench_binary

start slowmock taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0 --threads 1 --chunks 30 \
  --chunk-delay-ms 1000
slow_port=$port

cat >"$work/shepherd.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 1, ui_listen: off, timeouts: {request: 120s}}
log: {access: false}
providers:
  slow:
    kind: openai
    base_url: http://127.0.0.1:$slow_port/v1
    pool: {max_idle: 128, max_connections: 20000}
models:
  slow-model:
    deployments: [{provider: slow, price: {input: 1.0, output: 1.0}}]
YAML
start shepherd taskset -c 1 "$BIN" serve --config "$work/shepherd.yaml"
shepherd_port=$port
shepherd_pid=$pid
start_nginx "$slow_port" "$(free_port)"

body='{"model":"slow-model","stream":true,"messages":[{"role":"user","content":"hi"}]}'
cat >"$work/slow.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

# hold NAME PORT PID...: STREAMS streams through PORT for 25 s; prints the figures.
hold() {
  local name=$1 port=$2
  shift 2
  local before peak=0 open=0 rss
  before=$(rss_kib "$@")
  taskset -c 0 wrk -t1 -c"$STREAMS" -d25s --timeout 60s -s "$work/slow.lua" \
    "http://127.0.0.1:$port/v1/chat/completions" >"$work/$name-streams.out" 2>&1 &
  local wrk_pid=$!
  for _ in $(seq 20); do
    sleep 1
    rss=$(rss_kib "$@")
    if ((rss > peak)); then
      peak=$rss
      open=$(fd_count "$@")
    fi
  done
  wait "$wrk_pid" || true
  printf "%-9s %6d streams: RSS before %7d KiB, peak %7d KiB (%4d MiB), %6.1f KiB per stream; %d fds at the peak\n" \
    "$name" "$STREAMS" "$before" "$peak" "$((peak / 1024))" \
    "$(awk -v a="$peak" -v b="$before" -v n="$STREAMS" 'BEGIN { print (a - b) / n }')" "$open"
}

hold nginx "$nginx_port" "$nginx_pid"
hold shepherd "$shepherd_port" "$shepherd_pid"

if ((SLOW_READERS > 0)); then
  # Clients that send a request for a long, fast stream and never read: Shepherd's writes stop
  # when the socket buffers fill, it stops reading the upstream (TCP paces the upstream), and the
  # stream is cut when a write has waited server.timeouts.request.
  start fastmock taskset -c 0 "$BIN" mock-upstream --listen 127.0.0.1:0 --threads 1 \
    --chunks 100000
  cat >"$work/readers.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 1, ui_listen: off, timeouts: {request: 30s}}
log: {access: false}
providers:
  fast: {kind: openai, base_url: "http://127.0.0.1:$port/v1", pool: {max_connections: 20000}}
models:
  long-model: {deployments: [{provider: fast}]}
YAML
  start readers taskset -c 1 "$BIN" serve --config "$work/readers.yaml"
  readers_pid=$pid
  before=$(rss_kib "$readers_pid")
  python3 - "$port" "$SLOW_READERS" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
body = b'{"model":"long-model","stream":true,"messages":[{"role":"user","content":"hi"}]}'
req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % len(body)) + body
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(req)
    socks.append(s)
time.sleep(20)
PY
  readers=$!
  peak=0
  for _ in $(seq 15); do
    sleep 1
    rss=$(rss_kib "$readers_pid")
    ((rss > peak)) && peak=$rss
  done
  kill "$readers" 2>/dev/null || true
  printf "slow readers %d: Shepherd RSS before %d KiB, peak %d KiB (%d MiB), %.1f KiB per reader\n" \
    "$SLOW_READERS" "$before" "$peak" "$((peak / 1024))" \
    "$(awk -v a="$peak" -v b="$before" -v n="$SLOW_READERS" 'BEGIN { print (a - b) / n }')"
fi
