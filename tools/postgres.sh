#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, reachable only on 127.0.0.1.
#
#   tools/postgres.sh start DIR   initdb into DIR (absent or empty), start the server on a free
#                                 port, create the role `shepherd` with a random password and the
#                                 database `shepherd` it owns; print the server's postgres:// URL
#                                 on stdout (the only thing written there; progress goes to stderr)
#   tools/postgres.sh stop DIR    stop that server (fast shutdown) and remove DIR
#
# TCP connections must give the password (scram-sha-256); the Unix socket, in DIR and reachable
# only by DIR's owner, trusts its peer so that this script can create the role. initdb refuses to
# run as root: as root, DIR is handed to the `postgres` system user and every server command runs
# as that user. PG_BIN overrides where the server binaries are.
set -euo pipefail

bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
marker=.shepherd-postgres

usage() {
  echo "usage: $0 start DIR | stop DIR" >&2
  exit 2
}

as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local dir=$1
  if [[ -e "$dir" && -n "$(ls -A "$dir")" ]]; then
    echo "$dir is not empty" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  touch "$dir/$marker"
  chmod 700 "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$dir"; fi
  cd "$dir"

  local password
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "initdb into $dir/data" >&2
  as_server_user "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C --no-sync \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }

  # A free port: probe one at random, then let the server's own bind decide; another process may
  # take the port between the two, so a failed start on a taken address tries another.
  local port attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if as_server_user "$bin/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" \
      >&2; then
      break
    fi
    if ! grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null; then
      cat "$dir/server.log" >&2 || true
      exit 1
    fi
    echo "port $port taken (attempt $attempt), trying another" >&2
    port=
  done
  if [[ -z "$port" ]]; then
    echo "no free port found" >&2
    exit 1
  fi

  as_server_user "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE shepherd LOGIN PASSWORD '$password'" >&2
  as_server_user "$bin/createdb" -h "$dir" -p "$port" -U postgres -O shepherd shepherd >&2
  echo "postgres://shepherd:$password@127.0.0.1:$port/shepherd"
}

stop() {
  local dir=$1
  if [[ ! -e "$dir" ]]; then return 0; fi
  # Only a folder this script made is removed.
  if [[ ! -e "$dir/$marker" ]]; then
    echo "$dir was not made by $0; not touching it" >&2
    exit 1
  fi
  cd "$dir"
  if [[ -e "$dir/data/postmaster.pid" ]]; then
    as_server_user "$bin/pg_ctl" stop -w -D "$dir/data" -m fast >&2 || true
  fi
  cd /
  rm -rf "$dir"
}

[[ $# -eq 2 ]] || usage
case "$1" in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
