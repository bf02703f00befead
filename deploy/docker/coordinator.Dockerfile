# segtune-coordinator image. Build from the repository root:
#   docker build -f deploy/docker/coordinator.Dockerfile -t segtune/coordinator:0.1.0 .
# The build stage has the Debian 12 packages of scripts/install-deps.sh that
# the build needs (CMake finds LibTorch even for the coordinator, which does
# not link it); the runtime stage only the shared libraries the coordinator
# links (ldd).

FROM debian:12 AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libtorch-dev \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      prometheus-cpp-dev libsqlite3-dev \
      libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev \
      libmuparser-dev libpng-dev libjpeg-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEGTUNE_BUILD_TESTS=OFF \
 && cmake --build /build --target segtune-coordinator segtune \
 && strip /build/bin/segtune-coordinator /build/bin/segtune

FROM debian:bookworm-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libabsl20220623 libc-ares2 libcivetweb1 libfmt9 libgomp1 libgrpc++1.51 libgrpc29 \
      libmuparser2v5 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 \
      libre2-9 libspdlog1.10 libsqlite3-0 libssl3 libyaml-cpp0.7 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 segtune \
 && useradd --system --uid 10001 --gid segtune --home-dir /var/lib/segtune --create-home segtune
# The CLI too, for `kubectl exec ... segtune sweeps` against 127.0.0.1.
COPY --from=build /build/bin/segtune-coordinator /build/bin/segtune /usr/local/bin/
USER 10001:10001
VOLUME /var/lib/segtune
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/segtune-coordinator"]
CMD ["--listen", "0.0.0.0:50051", "--metrics-listen", "0.0.0.0:9464", "--data-dir", "/var/lib/segtune"]
