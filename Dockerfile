# Tomori image: the binary on Debian slim with PostgreSQL's server package, so that the embedded
# database works with no other container; a DATABASE_URL points it elsewhere instead.
#
#   docker build --build-arg TOMORI_GIT_REV=$(git rev-parse --short=12 HEAD) -t tomori .
#   docker run -d --name tomori -v tomori-data:/data -e TOMORI_DISCORD__TOKEN=... \
#       -e TOMORI_SECRET_V1=... tomori
#
# Build stage: the workspace, compiled once with the lock file as committed.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
ARG TOMORI_GIT_REV=unknown
ENV TOMORI_GIT_REV=${TOMORI_GIT_REV}
RUN cargo build --release --locked -p tomori \
    && install -m 0755 target/release/tomori /usr/local/bin/tomori

# Run stage: no compiler, no sources; a fixed non-root user (PostgreSQL refuses root).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tomori \
    && useradd --system --uid 10001 --gid tomori --home-dir /data --shell /usr/sbin/nologin tomori \
    && mkdir -p /data && chown tomori:tomori /data
COPY --from=build /usr/local/bin/tomori /usr/local/bin/tomori
COPY contrib/docker/entrypoint.sh /usr/local/bin/tomori-entrypoint
USER tomori:tomori
WORKDIR /data
ENV TOMORI_DATA_DIR=/data
# Health and metrics (tomori-web) on every interface of the container, so the engine's health
# check and a scraper on the container network reach it; publish the port privately, if at all.
ENV TOMORI_WEB__LISTEN=0.0.0.0:9100
VOLUME ["/data"]
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/tomori", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tomori-entrypoint"]
CMD ["run"]
