# Multi-stage build of the stopgate binary (gateway, sandbox and simulator in one).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY examples examples
RUN cargo build --release --locked --bin stopgate

FROM debian:bookworm-slim
# Real vendor endpoints are HTTPS: the system CA store is needed (STACK.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/stopgate /usr/local/bin/stopgate
USER 65532:65532
EXPOSE 50051 8780
ENTRYPOINT ["/usr/local/bin/stopgate"]
CMD ["serve", "--listen", "0.0.0.0:50051"]
