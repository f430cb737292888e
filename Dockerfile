# gtt-gateway container image.
#
#   docker build -t gtt-gateway:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run --rm -p 8080:8080 \
#     -e GTT_GATEWAY_CALLBACKS__SECRET="$(openssl rand -hex 32)" \
#     -e GTT_GATEWAY_NATS__URL=nats://nats:4222 \
#     gtt-gateway:0.1.0                     # = serve, built-in defaults + environment
#   docker run ... -v ./gateway.toml:/etc/gtt-gateway/gateway.toml:ro \
#     gtt-gateway:0.1.0 --config /etc/gtt-gateway/gateway.toml serve
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) -> builder (dependencies
# cooked in their own cached layer, then the release binary) -> runtime (distroless, non-root).

# ---- toolchain with cargo-chef ------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
# make: jemalloc (the gateway's allocator) is built from C sources with configure and make.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
    && rm -rf "${CARGO_HOME}/registry"
WORKDIR /build

# ---- dependency recipe: changes only when Cargo.toml / Cargo.lock (or the target list) change ---
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- build --------------------------------------------------------------------------------------
FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
# Dependencies only: this layer stays cached until the recipe changes.
RUN cargo chef cook --profile production --locked --no-default-features --bin gtt-gateway --recipe-path recipe.json
COPY . .
# Without the default `demo` feature: no GTT sandbox, no nats-server spawning in production.
# Profile production (Cargo.toml): fat LTO, one codegen unit.
RUN cargo build --profile production --locked --no-default-features --bin gtt-gateway \
    && install -D -m 0755 target/production/gtt-gateway /out/gtt-gateway

# ---- runtime: glibc + libgcc + CA certificates, no shell, uid/gid 65532 -------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="gtt-gateway" \
      org.opencontainers.image.description="Webhook gateway: authenticated GTT EnvisionDX case callbacks, normalized to CloudEvents on NATS JetStream" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=builder /out/gtt-gateway /usr/local/bin/gtt-gateway
COPY config/example.toml /etc/gtt-gateway/example.toml

USER 65532:65532
# One port: callbacks (/v1/hooks/gtt/...), /healthz, /readyz, /metrics (server.listen).
EXPOSE 8080
# GETs http://127.0.0.1:8080/healthz; pass --url when server.listen uses another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/gtt-gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gtt-gateway"]
CMD ["serve"]
