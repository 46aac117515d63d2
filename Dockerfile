# Multi-stage build of the stopgate binary. The production image is the gateway alone: the
# simulator (`stopgate sim`, `stopgate sandbox`) is the cargo feature "sim", left out here so
# that a production gateway cannot serve a fake cloud. docker-compose.yml builds the simulator's
# image with `--build-arg FEATURES=sim`.
FROM rust:1-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY crates crates
COPY examples examples
RUN cargo build --release --locked --bin stopgate --no-default-features ${FEATURES:+--features "$FEATURES"}

FROM debian:bookworm-slim
# Real vendor endpoints are HTTPS: the system CA store is needed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/stopgate /usr/local/bin/stopgate
USER 65532:65532
EXPOSE 50051 8780
ENTRYPOINT ["/usr/local/bin/stopgate"]
CMD ["serve", "--listen", "0.0.0.0:50051"]
