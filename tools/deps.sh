#!/usr/bin/env bash
# Installs what Shepherd needs to build, test and benchmark, from Debian 12 packages only.
# Safe to run repeatedly: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev libfuzzer-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev openssl ca-certificates
  libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libsqlite3-dev
  libpq-dev postgresql
  googletest libgtest-dev libgmock-dev
  libhiredis-dev redis-server
  prometheus nginx-light
  systemd file dpkg-dev
  nodejs npm
  chromium
)
if [[ "${1:-}" == "--bench" ]]; then packages+=(wrk util-linux); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian's packages; any working pair will do.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}")
  missing=("${missing[@]/npm}")
fi
read -ra missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi
