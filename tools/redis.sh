#!/usr/bin/env bash
# A throwaway Redis server for tests, reachable only on 127.0.0.1 and keeping nothing on disk.
#
#   tools/redis.sh start DIR [PORT]  start redis-server with DIR (absent or empty) as its working
#                                    folder, on PORT or else a free port; wait until it answers
#                                    PING and print its redis:// URL on stdout (the only thing
#                                    written there; progress goes to stderr)
#   tools/redis.sh stop DIR          stop that server and remove DIR
#
# REDIS_BIN overrides where redis-server and redis-cli are.
set -euo pipefail

bin=${REDIS_BIN:-/usr/bin}
marker=.shepherd-redis

usage() {
  echo "usage: $0 start DIR [PORT] | stop DIR" >&2
  exit 2
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether the server of DIR, with the pid in its pidfile, answers PING on `port`: another server
# that took the port meanwhile does not count.
answers() {
  local dir=$1 port=$2 pid
  [[ -s "$dir/redis.pid" ]] || return 1
  pid=$(<"$dir/redis.pid")
  [[ "$("$bin/redis-cli" -h 127.0.0.1 -p "$port" PING 2>/dev/null)" == PONG ]] || return 1
  [[ "$("$bin/redis-cli" -h 127.0.0.1 -p "$port" INFO server 2>/dev/null |
    tr -d '\r' | sed -n 's/^process_id://p')" == "$pid" ]]
}

# Starts the server on `port`; fails (with the log on stderr unless the port was taken) when it
# does not answer within 10 s.
launch() {
  local dir=$1 port=$2 i
  rm -f "$dir/redis.pid" "$dir/redis.log"
  "$bin/redis-server" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2 || return 1
  for ((i = 0; i < 200; i++)); do
    if answers "$dir" "$port"; then return 0; fi
    # The server exits at once when it cannot listen; its log says why.
    if grep -q "Address already in use\|Could not create server TCP" "$dir/redis.log" 2>/dev/null; then
      return 1
    fi
    sleep 0.05
  done
  return 1
}

start() {
  local dir=$1 port=${2:-}
  if [[ -e "$dir" && -n "$(ls -A "$dir")" ]]; then
    echo "$dir is not empty" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  touch "$dir/$marker"

  if [[ -n "$port" ]]; then
    if ! launch "$dir" "$port"; then
      cat "$dir/redis.log" >&2 2>/dev/null || true
      echo "redis-server did not start on port $port" >&2
      exit 1
    fi
  else
    # A free port: probe one at random, then let the server's own bind decide; another process
    # may take the port between the two, so a start on a taken address tries another.
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
      port=$((20000 + RANDOM % 40000))
      port_in_use "$port" && continue
      if launch "$dir" "$port"; then break; fi
      if ! grep -q "Address already in use" "$dir/redis.log" 2>/dev/null; then
        cat "$dir/redis.log" >&2 2>/dev/null || true
        echo "redis-server did not start" >&2
        exit 1
      fi
      echo "port $port taken (attempt $attempt), trying another" >&2
      port=
    done
    if [[ -z "$port" ]]; then
      echo "no free port found" >&2
      exit 1
    fi
  fi
  echo "$port" >"$dir/redis.port"
  echo "redis://127.0.0.1:$port"
}

stop() {
  local dir=$1 pid i
  if [[ ! -e "$dir" ]]; then return 0; fi
  # Only a folder this script made is removed.
  if [[ ! -e "$dir/$marker" ]]; then
    echo "$dir was not made by $0; not touching it" >&2
    exit 1
  fi
  if [[ -s "$dir/redis.pid" ]]; then
    pid=$(<"$dir/redis.pid")
    # The pidfile's process is ours only while it is a redis-server.
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == redis-server* ]]; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start)
    [[ $# -eq 2 || $# -eq 3 ]] || usage
    start "$2" "${3:-}"
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
  *) usage ;;
esac
