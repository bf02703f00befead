# segtune-worker image with CUDA. Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t segtune/worker:0.1.0 .
# Run with the NVIDIA Container Toolkit (docker run --gpus all, or the
# Kubernetes device plugin), which mounts the host's driver.
#
# LibTorch: Debian's libtorch-dev is CPU-only, so the build uses the official
# CUDA LibTorch zip of the same version (1.13.1, cxx11 ABI like Debian's
# compilers) through -DCMAKE_PREFIX_PATH. Its "with-deps" zip carries the
# CUDA runtime, cuBLAS and cuDNN, so the runtime image is Debian 12 like the
# build: NVIDIA's nvidia/cuda images are Ubuntu-based, and a binary built
# against Debian 12's gRPC and glibc does not run there.
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu117/libtorch-cxx11-abi-shared-with-deps-1.13.1%2Bcu117.zip

FROM debian:12 AS build
ARG LIBTORCH_URL
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates curl unzip \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      prometheus-cpp-dev libsqlite3-dev \
      libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev \
      libmuparser-dev libpng-dev libjpeg-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL -o /tmp/libtorch.zip "$LIBTORCH_URL" \
 && unzip -q /tmp/libtorch.zip -d /opt \
 && rm /tmp/libtorch.zip
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEGTUNE_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH=/opt/libtorch \
 && cmake --build /build --target segtune-worker \
 && strip /build/bin/segtune-worker

FROM debian:bookworm-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libabsl20220623 libc-ares2 libcivetweb1 libfmt9 libgomp1 libgrpc++1.51 libgrpc29 \
      libmuparser2v5 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 \
      libre2-9 libspdlog1.10 libsqlite3-0 libssl3 libyaml-cpp0.7 zlib1g \
      libpng16-16 libjpeg62-turbo \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 segtune \
 && useradd --system --uid 10001 --gid segtune --home-dir /home/segtune --create-home segtune
COPY --from=build /opt/libtorch/lib /opt/libtorch/lib
COPY --from=build /build/bin/segtune-worker /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/segtune-worker"]
CMD ["--device", "cuda:0", "--metrics-listen", "0.0.0.0:9465"]
