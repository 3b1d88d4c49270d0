# Shepherd's container image: the gateway binary on Debian 12, run as an unprivileged user.
#
#   docker build -t shepherd .                       (or: podman build -t shepherd .)
#   docker run --rm -p 8000:8000 -v shepherd-state:/var/lib/shepherd \
#     -e OPENAI_API_KEY -e SHEPHERD_API_KEY -e SHEPHERD_MASTER_KEY shepherd
#
# The image's configuration is deploy/docker/shepherd.yaml (at /etc/shepherd/shepherd.yaml):
# mount another file there to serve other providers and models. deploy/compose.yaml and
# deploy/kubernetes/ run this image; tests/integration/deploy_files.test.mjs checks the ports,
# paths, flags and libraries named here against the binary.

# ---- build: the release preset, with the build dependencies of tools/deps.sh (less those that
# only the tests, the sanitizer and fuzz builds and the formatter need). Node and npm bundle the
# web UI (ui/build.mjs installs its pinned packages from the npm registry with npm ci).
FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev \
      libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libsqlite3-dev libpq-dev \
      libhiredis-dev nodejs npm \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole source tree, less what .dockerignore leaves out (build trees, node_modules, .git).
COPY . .
RUN cmake --preset release && cmake --build --preset release --target shepherd

# ---- runtime: the binary, the shared libraries it links and nothing else.
FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# The packages of the libraries the binary names (readelf -d: NEEDED; dpkg -S maps each file to
# its package); apt brings what those link in turn (Kerberos, LDAP and GnuTLS for libpq).
# curl is for HEALTHCHECK alone: `shepherd check` would send a chat to every model, spending
# tokens on each probe.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libc6 libgcc-s1 libstdc++6 \
      libboost-json1.81.0 libfmt9 libhiredis0.14 libpq5 libspdlog1.10 libsqlite3-0 libssl3 \
      libyaml-cpp0.7 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# A user of its own (uid 10001, numeric below so that Kubernetes' runAsNonRoot can verify it)
# and the state folder it writes: the SQLite store and the audit spool.
RUN groupadd --system --gid 10001 shepherd \
 && useradd --system --uid 10001 --gid shepherd --home-dir /var/lib/shepherd --no-create-home \
      --shell /usr/sbin/nologin shepherd \
 && install -d -o shepherd -g shepherd -m 0750 /var/lib/shepherd \
 && install -d -m 0755 /etc/shepherd
COPY --from=build /src/build/release/src/shepherd /usr/bin/shepherd
COPY deploy/docker/shepherd.yaml /etc/shepherd/shepherd.yaml
USER 10001:10001
WORKDIR /var/lib/shepherd
# The API (server.listen), the FastChat controller and the FastChat worker of the default config.
EXPOSE 8000 21001 21002
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "--max-time", "3", "--output", "/dev/null", "http://127.0.0.1:8000/health"]
ENTRYPOINT ["/usr/bin/shepherd"]
CMD ["serve", "--config", "/etc/shepherd/shepherd.yaml"]
