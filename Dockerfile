# azemu as a container image: the emulator on port 8443, its state in the volume /data.
#
#   docker build -t azemu .
#   docker run -d --name azemu -p 127.0.0.1:8443:8443 -v azemu:/data azemu
#
# Build arguments:
#   BASE  the runtime image: a Debian 12 with glibc and libgcc (distroless cc, or
#         debian:bookworm-slim); azemu runs as uid 65532 either way.
#   RUST  the image that compiles azemu (Debian 12 too, so the binary finds its glibc).
# Offline (no registry, no compiler): `--target prebuilt`, a BASE already loaded
# into the engine, and a built, stripped `azemu` binary in the build context, as
# tests/all/container_image.rs does. Works with BuildKit and the classic builder
# (which builds every stage before the target, hence the order below).
#
# Configuration: the AZEMU_* variables of `azemu serve --help` (`-e AZEMU_SIM_MODE=explicit`).

ARG BASE=gcr.io/distroless/cc-debian12:nonroot
ARG RUST=rust:1-bookworm

# Everything but the binary.
FROM ${BASE} AS runtime
# 0.0.0.0 inside the container, so a published port reaches it; publish on the
# host's 127.0.0.1 only (`-p 127.0.0.1:8443:8443`): the control API has no authentication.
ENV AZEMU_BIND=0.0.0.0 \
    AZEMU_PORT=8443 \
    AZEMU_DATA_DIR=/data
USER 65532:65532
EXPOSE 8443
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/azemu", "health"]
ENTRYPOINT ["/usr/local/bin/azemu"]
CMD ["serve"]

# The image from a binary built elsewhere: `./azemu` in the context. The
# classic builder builds these two stages on the way to the last one, and
# fails a COPY that matches nothing: hence the patterns, and the Dockerfile
# named too (an offline build context leaves it out with its .dockerignore,
# so /usr/local/bin holds azemu alone).
FROM scratch AS prebuilt-files
COPY Dockerfil[e] azem[u] /bin/
WORKDIR /data

FROM runtime AS prebuilt
COPY --from=prebuilt-files /bin/ /usr/local/bin/
COPY --from=prebuilt-files --chown=65532:65532 /data /data
VOLUME /data

# Compiled here (the default).
FROM ${RUST} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin azemu \
 && mkdir -p /out/data \
 && strip -o /out/azemu target/release/azemu

FROM runtime
COPY --from=build /out/azemu /usr/local/bin/azemu
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
