# status-reconciler image: the CLI as ENTRYPOINT, e.g.
#   podman run --rm --read-only --tmpfs /tmp -v ./jobs:/jobs:ro -e DATABASE_URL=... IMAGE run --jobs /jobs
#
# The base is the official Node LTS slim image pinned to a full release, node:22.23.3-bookworm-slim;
# in production pin its digest too (@sha256:..., from `docker buildx imagetools inspect`).
# test/container/smoke.sh reads NODE_VERSION to build the same base tag.
ARG NODE_VERSION=22.23.3

# 1. Build: every dependency, including the compiler.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs tsc only; no install script of a dev dependency runs.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only (none of them has an install script or a native part).
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

# 3. Runtime: node_modules, dist/ and migrations/, owned by root and read-only to the process.
FROM node:${NODE_VERSION}-bookworm-slim
LABEL org.opencontainers.image.title="status-reconciler" \
  org.opencontainers.image.description="Collapses consecutive duplicate statuses in PostgreSQL history tables" \
  org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
# package.json stays: its "type": "module" makes dist/*.js ES modules.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY migrations ./migrations
# uid:gid of the base image's "node" user, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# /metrics and /healthz of `serve` (METRICS_PORT).
EXPOSE 9464
# Exec form: node is PID 1 and receives SIGTERM itself (npm or a shell would not forward it);
# the CLI handles SIGTERM/SIGINT, so no init process is needed. Nothing is written outside /tmp.
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["help"]
