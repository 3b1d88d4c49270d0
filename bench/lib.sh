# Shared by the benchmark scripts: the binary, a temp dir, background processes cleaned up on
# exit, and wrk. Sourced from the repository root.

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Starts a command in the background and waits for its "listening on http://host:port" line;
# sets $port and $pid.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    if grep -q "listening on" "$work/$name.out" 2>/dev/null; then
      port=$(sed -n 's#.*listening on http://[^:]*:\([0-9]*\).*#\1#p' "$work/$name.out" | head -1)
      return
    fi
    sleep 0.05
  done
  echo "$name did not start:" >&2
  cat "$work/$name.err" >&2
  exit 1
}

# A port nothing listens on now (the kernel's pick, released at once).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx MOCK_PORT PORT [NAME]: nginx (bench/nginx.conf.in, one worker, pinned to core 1) in
# front of the mock (or of whatever listens on MOCK_PORT) on PORT; sets $nginx_port and $nginx_pid
# (its master) once it answers. NAME (default nginx) keeps a second instance's files apart.
start_nginx() {
  nginx_port=$2
  local dir=$work/${3:-nginx}
  mkdir -p "$dir"
  sed "s#@DIR@#$dir#g; s#@MOCK_PORT@#$1#; s#@NGINX_PORT@#$nginx_port#" \
    bench/nginx.conf.in >"$dir/nginx.conf"
  taskset -c 1 nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$nginx_port/v1/models" && return
    sleep 0.05
  done
  echo "nginx did not start:" >&2
  cat "$dir/nginx-error.log" >&2
  exit 1
}

# wrk_url URL CONNECTIONS SECONDS [STREAM] [MODEL] [DIALECT] -> "rps p50_us p99_us requests";
# exits on any non-2xx.
wrk_url() {
  local out
  out=$(STREAM=${4:-0} MODEL=${5:-gpt-4.1} DIALECT=${6:-openai} taskset -c 0 wrk -t1 -c"$2" \
    -d"$3"s --latency \
    -s bench/chat.lua "$1")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "wrk saw errors against $1:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6
    }
    /Requests\/sec/ { rps = $2 }
    / requests in / { requests = $1 }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    END { printf "%.0f %.0f %.0f %d\n", rps, p50, p99, requests }' <<<"$out"
}

# cpu_ticks PID... -> "user system": CPU time of these processes and of their child processes
# (nginx's workers), in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
  local p
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    awk '{ print $14, $15 }' "/proc/$p/stat"
  done | awk '{ u += $1; s += $2 } END { print u + 0, s + 0 }'
}
# per_request BEFORE AFTER REQUESTS -> "user_us system_us total_us" per request.
per_request() {
  awk -v b="$1" -v a="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(b, x, " "); split(a, y, " "); k = 1e6 / hz / (n > 0 ? n : 1)
    printf "%.1f %.1f %.1f\n", (y[1] - x[1]) * k, (y[2] - x[2]) * k, (y[1] + y[2] - x[1] - x[2]) * k
  }'
}

# rss_kib PID... -> resident memory (VmRSS, KiB) of these processes and their children (nginx's
# workers); fd_count PID... -> their open descriptors.
rss_kib() {
  local p total=0
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    total=$((total + $(awk '/VmRSS/ { print $2 }' "/proc/$p/status")))
  done
  echo "$total"
}
fd_count() {
  local p total=0
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    total=$((total + $(ls "/proc/$p/fd" | wc -l)))
  done
  echo "$total"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# Sets BIN: $SHEPHERD_BIN, or the release build, built (with the bench's Debian packages
# installed) when SHEPHERD_BIN is not set.
bench_binary() {
  BIN=${SHEPHERD_BIN:-build/release/src/shepherd}
  if [[ -z "${SHEPHERD_BIN:-}" ]]; then
    tools/deps.sh --bench
    cmake --preset release >/dev/null
    cmake --build --preset release --target shepherd >/dev/null
  else
    command -v wrk nginx >/dev/null || tools/deps.sh --bench
  fi
}
