# The paimon node as a container: a static binary (scripts/release.sh, reproducible) on
# distroless/static, run as the non-root user 65532. Build for the host or cross-build:
#   docker build -t paimon .
#   docker buildx build --platform linux/amd64,linux/arm64 -t paimon .
# Run (config and certificates mounted read-only, data in a volume; deploy/README.md):
#   docker run -v /etc/paimon:/etc/paimon:ro -v paimon-data:/var/lib/paimon -p 8443:8443 -p 7000:7000 paimon
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETARCH
ARG RELEASE=devel
ARG COMMIT=unknown
ARG SOURCE_DATE_EPOCH=0
RUN ARCHES="$TARGETARCH" RELEASE="$RELEASE" COMMIT="$COMMIT" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
	scripts/release.sh /out && cp "/out/paimon-$RELEASE-linux-$TARGETARCH" /paimon && mkdir -p /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /paimon /usr/local/bin/paimon
COPY --from=build --chown=65532:65532 /data /var/lib/paimon
USER 65532:65532
WORKDIR /var/lib/paimon
VOLUME ["/var/lib/paimon"]
EXPOSE 8443 7000
ENTRYPOINT ["/usr/local/bin/paimon"]
CMD ["serve", "-config", "/etc/paimon/paimon.toml"]
