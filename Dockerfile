# syntax=docker/dockerfile:1
# Builds both plugins and the DigiCert simulator on Debian (glibc): a plugin
# built against musl (Alpine) does not load into Fluent Bit. Bookworm's glibc
# (2.36) is older than that of the Fluent Bit 5.1 image (Debian 13), as it must be.
ARG GO_IMAGE=golang:1.26-bookworm
ARG FLUENT_BIT_IMAGE=fluent/fluent-bit:5.1.1

# The build stage runs on the build machine's platform and cross-compiles for
# the target one (docker buildx build --platform linux/amd64,linux/arm64):
# Debian's cross gcc links the cgo plugins against the target's glibc, and no
# emulation is needed. The version comes from the VERSION file.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETARCH
ARG BUILDARCH
# The cross gcc for the target, when it is not the build machine's; the
# names match the Makefile's CROSS_CC_<arch>.
RUN target=${TARGETARCH:-$(go env GOARCH)}; build=${BUILDARCH:-$(go env GOARCH)}; \
    if [ "$target" != "$build" ]; then \
      case "$target" in \
        arm64) pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
        amd64) pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
        *) echo "unsupported target architecture $target: amd64 and arm64 are built" >&2; exit 1 ;; \
      esac; \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN target=${TARGETARCH:-$(go env GOARCH)}; \
    make build-linux-$target BUILD=/build && mv /build/linux-$target /out

# The simulator, for the local stack only.
FROM debian:bookworm-slim AS digicert-sim
COPY --from=build /out/digicert-sim /usr/local/bin/digicert-sim
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/digicert-sim"]

# The container health check (the Fluent Bit image has no shell, curl or
# wget): pure Go, so it is cross-compiled for the target platform.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS healthcheck
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
COPY cmd/fb-healthcheck ./cmd/fb-healthcheck
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -o /out/fb-healthcheck ./cmd/fb-healthcheck

# The directories the shipped configs use, made here because the Fluent Bit
# image has no shell to run mkdir in.
FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS dirs
RUN mkdir -p /out/var/lib/fluent-bit/state /out/var/lib/fluent-bit/storage

# Fluent Bit with the plugins and the shipped configs.
FROM ${FLUENT_BIT_IMAGE} AS fluent-bit
COPY --from=build /out/in_digicert.so /out/out_secops_s3.so /fluent-bit/plugins/
COPY --from=healthcheck /out/fb-healthcheck /fluent-bit/bin/fb-healthcheck
COPY fluent-bit.yaml fluent-bit.conf plugins.conf plugins.yaml plugins-input.conf /fluent-bit/etc/
COPY examples /fluent-bit/etc/examples
# The official image runs as root; this one runs as an unprivileged user
# (distroless "nonroot", 65532) that owns the checkpoint and buffer
# directories, so a plain `docker run`, a fresh named volume (Docker copies
# the ownership into it) and a Kubernetes pod with runAsNonRoot all work.
COPY --from=dirs --chown=65532:65532 /out/var/lib/fluent-bit /var/lib/fluent-bit
USER 65532:65532
# Fluent Bit's HTTP server (metrics, health) as the shipped configs set it.
EXPOSE 2020
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/fluent-bit/bin/fb-healthcheck"]
# The base image's ENTRYPOINT is the binary; CMD holds only its arguments.
ENTRYPOINT ["/fluent-bit/bin/fluent-bit"]
CMD ["-c", "/fluent-bit/etc/fluent-bit.yaml"]
