# syntax=docker/dockerfile:1
# The operator and sidecar images, from one build: both run the same compiled tree (dist/) and
# share ledger/ and api/, so one build stage compiles once and two small targets name their
# entrypoint.
#   docker build --target operator -t flashguard-operator .
#   docker build --target sidecar  -t flashguard-sidecar  .
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.ts scripts/
COPY api api
COPY ledger ledger
COPY operator operator
COPY sidecar sidecar
RUN npm run build

# Production dependencies only; no install scripts are needed by them.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist dist
# The node image's unprivileged user, by number so runAsNonRoot can verify it.
USER 1000:1000

FROM runtime AS sidecar
# Checkout traffic, and /healthz /readyz /metrics.
EXPOSE 8080 9090
CMD ["node", "dist/sidecar/main.js"]

# Last, so a plain `docker build .` makes the operator.
FROM runtime AS operator
# /healthz /readyz /metrics, and the injection webhook.
EXPOSE 8081 9443
# A small young generation and slower heap growth: about 180 MB instead of 370 MB with 1,000
# FlashSales (npm run bench -- operator), for a little more GC work.
CMD ["node", "--max-semi-space-size=2", "--heap-growing-percent=30", "dist/operator/main.js"]
