# syntax=docker/dockerfile:1
# The vestibule image: `docker build -t vestibule:0.1.0 .` (BuildKit, the
# default builder). Its defaults are what charts/vestibule runs.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crates.io downloads and the target folder between
# builds, so a source change rebuilds only the workspace's own crates
# without a dummy-source dependency step. The binary is copied out of the
# cache mount, which does not outlive this step. jemalloc and aws-lc build
# from C with the image's gcc and make.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vestibule \
    && cp target/release/vestibule /vestibule

# glibc and libgcc (the binary links them dynamically), CA certificates for
# upstream TLS to the system roots, and no shell. nonroot is uid 65532,
# as the chart's runAsUser.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /vestibule /vestibule
USER 65532:65532
# http2, https (the Service's 80 and 443 land here: a non-root process
# cannot bind below 1024) and the status port (probes, metrics).
EXPOSE 8080 8443 15021
ENTRYPOINT ["/vestibule"]
CMD ["serve", "--kubernetes"]
