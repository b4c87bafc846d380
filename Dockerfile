# syntax=docker/dockerfile:1
# The Lattice host image: lattice-host (the entrypoint), lattice-ctl and the
# four provider binaries. Build it with ./scripts/image (docker buildx, podman
# or buildah); deploy/kubernetes runs it.
#
# Base images by their full names: podman and buildah resolve no short
# names unless registries.conf says where (Debian's does not).
#
# Multi-arch without emulation: the builder always runs on the build
# machine's platform and cross-compiles for TARGETARCH; the runtime stage has
# no RUN step, so an arm64 image builds on an amd64 machine without QEMU.

FROM --platform=$BUILDPLATFORM docker.io/library/rust:1.95-bookworm AS builder
ARG TARGETARCH
# Smaller binaries: no line tables (symbols stay, so backtraces name
# functions). For file:line in backtraces pass
#   --build-arg CARGO_PROFILE_RELEASE_DEBUG=line-tables-only --build-arg CARGO_PROFILE_RELEASE_STRIP=none
ARG CARGO_PROFILE_RELEASE_DEBUG=false
ARG CARGO_PROFILE_RELEASE_STRIP=debuginfo

# Linkers and C compilers per target (ring compiles C). On Debian these names
# also exist natively, so they hold whether or not the build crosses.
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc \
    AR_x86_64_unknown_linux_gnu=x86_64-linux-gnu-ar

# The Rust target of TARGETARCH, and a cross toolchain when it is not the
# build machine's own architecture (BUILDPLATFORM's). A builder that sets no
# TARGETARCH builds for the build machine.
RUN set -eux; \
    native=$(dpkg --print-architecture); \
    target_arch=${TARGETARCH:-$native}; \
    case "$target_arch" in \
        amd64) triple=x86_64-unknown-linux-gnu; cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
        arm64) triple=aarch64-unknown-linux-gnu; cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
        *) echo "unsupported TARGETARCH=$target_arch: build for linux/amd64 or linux/arm64" >&2; exit 1 ;; \
    esac; \
    if [ "$target_arch" != "$native" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends $cross; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    rustup target add "$triple"; \
    echo "$triple" > /rust-triple; \
    mkdir -p /out/bin /out/cache

WORKDIR /src
COPY . .
# Registry, git and target dirs are build caches: a rebuild compiles only
# what changed. The binaries are copied out of the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eux; \
    triple=$(cat /rust-triple); \
    cargo build --release --locked --target "$triple" --bins \
        -p lattice-host -p lattice-ctl \
        -p lattice-provider-keyvalue -p lattice-provider-messaging-nats \
        -p lattice-provider-http-client -p lattice-provider-http-server -p lattice-provider-blobstore; \
    for bin in lattice-host lattice-ctl lattice-provider-keyvalue lattice-provider-messaging-nats \
        lattice-provider-http-client lattice-provider-http-server lattice-provider-blobstore; do \
        cp "target/$triple/release/$bin" /out/bin/; \
    done

FROM docker.io/library/debian:bookworm-slim
# The CA bundle of Debian's ca-certificates (registries and NATS over TLS
# check against it), taken from the builder so this stage runs nothing.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/bin/ /usr/local/bin/
# Pulled artifacts and compiled components; mount a volume here (with a
# read-only root filesystem it must be one).
COPY --from=builder --chown=65532:65532 /out/cache /var/cache/lattice
ENV LATTICE_CACHE_DIR=/var/cache/lattice \
    LATTICE_ADMIN_ADDRESS=0.0.0.0:9090
VOLUME ["/var/cache/lattice"]
# /livez, /readyz, /metrics
EXPOSE 9090
# The distroless "nonroot" ids; no passwd entry is needed.
USER 65532:65532
# lattice-host drains on SIGTERM (Docker's and Kubernetes' stop signal).
ENTRYPOINT ["lattice-host"]
LABEL org.opencontainers.image.title="lattice-host" \
      org.opencontainers.image.description="Lattice: a host for WebAssembly actors, with lattice-ctl and the provider binaries" \
      org.opencontainers.image.licenses="Apache-2.0"
