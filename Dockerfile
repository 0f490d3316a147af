# tsbroker: a Kafka-compatible, Raft-replicated broker (docs/deploy.md).
#
#   docker build -t tsbroker .
#   docker run -p 8080:8080 -p 9092:9092 -p 9090:9090 -v tsbroker-data:/data tsbroker
#
# The base is a build argument. By default it is the official Node 24 image, whose `node` the runtime
# uses. Any other Debian (or Ubuntu) base without Node 24 works too: the build stage then fetches the
# Node 24 binary that the `node` npm package installs (its platform package node-linux-<arch>, at the
# version package-lock.json pins) and npm from the npm registry, and the runtime stage copies that one
# binary. scripts/deploy/base-image.sh builds such a base with debootstrap for machines that cannot
# pull images; `npm run test:deploy` uses it.
#
# The project runs its TypeScript directly with Node 24's type stripping, so nothing is compiled. The
# build stage installs the production dependencies (`npm ci --omit=dev`; their native parts, CRC32C,
# LZ4 and Snappy, are prebuilt napi packages, so install scripts stay off and no compiler is needed)
# and bundles the `broker` command into one file, dist/broker.mjs, with esbuild (scripts/bundle.ts):
# loading one file instead of some 400 modules is what lets a container be ready within a second. The
# runtime stage holds the dependencies, the bundle, src/ (for `broker-admin` and embedders), proto/
# and package.json.

ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS build
# Where the Node 24 binary and npm come from when the base has no Node 24; a mirror of the npm
# registry can be given instead.
ARG NPM_REGISTRY=https://registry.npmjs.org
# npm for bases without Node 24 (the npm that Node 24.9 bundles).
ARG NPM_VERSION=11.6.0
SHELL ["/bin/sh", "-eu", "-c"]
WORKDIR /app
COPY package.json package-lock.json ./
# /opt/node/bin stays empty when the base's node is 24: the runtime stage then copies nothing.
RUN mkdir -p /opt/node/bin; \
    if node --version 2>/dev/null | grep -q '^v24\.'; then \
      echo "the base's node is $(node --version): the runtime uses it"; \
    else \
      version=$(sed -n '/"node_modules\/node": {/,/}/ s/.*"version": "\([0-9.]*\)".*/\1/p' package-lock.json | head -n 1); \
      case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "no Node binary for $(uname -m)" >&2; exit 1 ;; esac; \
      echo "the base has no Node 24: node-linux-$arch@$version, as the node package installs it"; \
      if ! command -v curl >/dev/null; then \
        apt-get update; \
        apt-get install -y --no-install-recommends curl ca-certificates; \
      fi; \
      curl -fsSL --retry 3 "$NPM_REGISTRY/node-linux-$arch/-/node-linux-$arch-$version.tgz" \
        | tar -xz -C /opt/node --strip-components=1 package/bin/node; \
      mkdir -p /opt/npm; \
      curl -fsSL --retry 3 "$NPM_REGISTRY/npm/-/npm-$NPM_VERSION.tgz" | tar -xz -C /opt/npm --strip-components=1; \
      printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' > /usr/local/bin/npm; \
      chmod +x /usr/local/bin/npm; \
    fi
# npm trusts the system's certificate store as well as Node's own (a base may add a proxy's CA there).
ENV PATH=/opt/node/bin:$PATH \
    NODE_OPTIONS=--use-system-ca
RUN node --version | grep -q '^v24\.'; \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --registry="$NPM_REGISTRY"; \
    npm cache clean --force
# esbuild, at the version package-lock.json pins, outside the project: it is a development dependency,
# and only this stage runs it.
RUN version=$(sed -n '/"node_modules\/esbuild": {/,/}/ s/.*"version": "\([0-9.]*\)".*/\1/p' package-lock.json | head -n 1); \
    test -n "$version"; \
    mkdir -p /opt/esbuild; \
    npm install --prefix /opt/esbuild --ignore-scripts --no-audit --no-fund --no-update-notifier \
      --registry="$NPM_REGISTRY" "esbuild@$version"; \
    npm cache clean --force
COPY proto ./proto
COPY src ./src
COPY scripts/bundle.ts ./scripts/bundle.ts
RUN ESBUILD_DIR=/opt/esbuild node scripts/bundle.ts dist

FROM ${BASE_IMAGE}
SHELL ["/bin/sh", "-eu", "-c"]
# The only file the build stage adds outside /app: the Node 24 binary when the base lacks one.
COPY --from=build /opt/node/bin/ /usr/local/bin/
# A fixed uid and gid, so that a volume or host directory can be prepared for them (chown 10001:10001).
RUN node --version | grep -q '^v24\.'; \
    groupadd --gid 10001 tsbroker; \
    useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin tsbroker; \
    mkdir -p /data /app/.compile-cache; \
    chown 10001:10001 /data /app/.compile-cache
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY proto ./proto
COPY src ./src
COPY --from=build /app/dist ./dist
# Every setting can be given as a BROKER_* variable (config.yaml.example lists them); flags after the
# image name override them. The health check reads BROKER_METRICS_PORT, so set the metrics port by
# that variable rather than by --metrics-port. BROKER_ADVERTISE_ADDR must be a name or address that
# the other nodes and the clients can reach (docs/deploy.md); localhost only suits a lone broker
# whose clients share its network namespace.
ENV NODE_ENV=production \
    BROKER_DATA_DIR=/data \
    BROKER_BIND_ADDR=0.0.0.0 \
    BROKER_GRPC_PORT=8080 \
    BROKER_KAFKA_PORT=9092 \
    BROKER_RAFT_PORT=9080 \
    BROKER_DATA_PORT=9180 \
    BROKER_METRICS_PORT=9090
VOLUME /data
# gRPC (and the join address), Kafka, Raft, inter-broker data, HTTP /health /ready /metrics.
EXPOSE 8080 9092 9080 9180 9090
USER 10001:10001
# Node's module compile cache, filled here once by starting a broker to ready and stopping it, so that
# a container does not compile the bundle again at each start. The variable, unlike the entry file's
# own call, turns the cache on before the entry file itself is read, so even that one comes from the
# cache. Node keys the cache by uid, so it is filled as the user that runs the broker.
ENV NODE_COMPILE_CACHE=/app/.compile-cache
RUN dir=$(mktemp -d); \
    node dist/broker.mjs --data-dir "$dir/data" --grpc-port 0 --kafka-port 0 --raft-port 0 \
      --data-port 0 --metrics-port 0 > "$dir/log" 2>&1 & pid=$!; \
    for _ in $(seq 300); do grep -q '"broker ready"' "$dir/log" && break; sleep 0.1; done; \
    kill -TERM "$pid"; wait "$pid" || { cat "$dir/log"; exit 1; }; \
    grep -q '"broker ready"' "$dir/log" || { cat "$dir/log"; exit 1; }; \
    rm -rf "$dir"
# SIGTERM starts the controlled shutdown: leaderships move away (replication.controlled_shutdown_timeout,
# 15 s at most by default), every log is fsynced, the shutdown is marked clean. Give the container a
# stop grace above that: `docker stop -t 30`, Compose's stop_grace_period, Kubernetes'
# terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.BROKER_METRICS_PORT || 9090) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The bundle of src/cli/broker.ts (scripts/bundle.ts): the same command, `stop` included.
ENTRYPOINT ["node", "--max-semi-space-size=8", "--initial-heap-size=128", "--no-allocation-site-pretenuring", "--v8-pool-size=0", "dist/broker.mjs"]
