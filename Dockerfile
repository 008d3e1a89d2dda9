# syntax=docker/dockerfile:1
# Builds both plugins and the DigiCert simulator on Debian (glibc): a plugin
# built against musl (Alpine) does not load into Fluent Bit. Bookworm's glibc
# (2.36) is older than that of the Fluent Bit 5.1 image (Debian 13), as it must be.
ARG GO_IMAGE=golang:1.26-bookworm
ARG FLUENT_BIT_IMAGE=fluent/fluent-bit:5.1.1

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN make build BUILD=/out VERSION=${VERSION}

# The simulator, for the local stack only.
FROM debian:bookworm-slim AS digicert-sim
COPY --from=build /out/digicert-sim /usr/local/bin/digicert-sim
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/digicert-sim"]

# Fluent Bit with the plugins and the shipped configs.
FROM ${FLUENT_BIT_IMAGE} AS fluent-bit
COPY --from=build /out/in_digicert.so /out/out_secops_s3.so /fluent-bit/plugins/
COPY fluent-bit.yaml fluent-bit.conf plugins.conf plugins.yaml plugins-input.conf /fluent-bit/etc/
COPY examples /fluent-bit/etc/examples
# The base image's ENTRYPOINT is the binary; CMD holds only its arguments.
ENTRYPOINT ["/fluent-bit/bin/fluent-bit"]
CMD ["-c", "/fluent-bit/etc/fluent-bit.yaml"]
