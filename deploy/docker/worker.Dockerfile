# syntax=docker/dockerfile:1
# segtune-worker image with CUDA. Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t segtune/worker:0.1.0 .
# Run with the NVIDIA Container Toolkit (docker run --gpus all, or the
# Kubernetes device plugin), which mounts the host's driver (libcuda.so.1).
#
# LibTorch: Debian's libtorch-dev is CPU-only, so the build takes PyTorch's
# official CUDA LibTorch zip (cxx11 ABI, like Debian's gRPC and protobuf)
# through -DCMAKE_PREFIX_PATH. Finding a CUDA LibTorch runs CMake's CUDA
# support (Caffe2's public/cuda.cmake: find_package(CUDAToolkit),
# enable_language(CUDA), CUDA::nvToolsExt, cuBLAS, cuFFT, cuRAND, NVRTC,
# cuDNN), so the build stage adds NVIDIA's Debian 12 CUDA repository and the
# toolkit packages of the zip's CUDA version. The runtime stage is Debian 12
# too: NVIDIA's nvidia/cuda images are Ubuntu-based, and a binary built
# against Debian 12's gRPC and glibc does not run there. It gets the zip's
# lib/ (which carries the CUDA runtime, cuBLAS and cuDNN under hashed names)
# and the few toolkit libraries the binary itself still names.
#
# Versions go together: LIBTORCH_CUDA is the zip's CUDA flavour (cu124 for
# CUDA 12.4) and CUDA_VERSION the toolkit of the same version: LibTorch's
# cuda.cmake checks that nvcc and the toolkit agree, and LibTorch 2.4 to 2.6
# need CUDA::nvToolsExt (libnvToolsExt), which later 12.x toolkits dropped.
ARG LIBTORCH_VERSION=2.5.1
ARG LIBTORCH_CUDA=cu124
ARG CUDA_VERSION=12.4
ARG CUDNN_PACKAGE=libcudnn9-dev-cuda-12
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/${LIBTORCH_CUDA}/libtorch-cxx11-abi-shared-with-deps-${LIBTORCH_VERSION}%2B${LIBTORCH_CUDA}.zip
ARG CUDA_REPO=https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64

FROM debian:bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG CUDA_VERSION
ARG CUDNN_PACKAGE
ARG LIBTORCH_URL
ARG CUDA_REPO
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates curl unzip \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
      prometheus-cpp-dev libsqlite3-dev \
      libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev \
      libmuparser-dev libpng-dev libjpeg-dev \
 && rm -rf /var/lib/apt/lists/*
# The toolkit pieces LibTorch's CMake files look for: nvcc (enable_language),
# the CUDA runtime and driver-API headers and libraries (the driver only as
# the stub under lib64/stubs), NVRTC, NVTX (libnvToolsExt), cuBLAS, cuFFT,
# cuRAND, and cuDNN's headers. Package names carry the version as 12-4.
RUN curl -fsSL -o /tmp/cuda-keyring.deb "$CUDA_REPO/cuda-keyring_1.1-1_all.deb" \
 && dpkg -i /tmp/cuda-keyring.deb \
 && rm /tmp/cuda-keyring.deb \
 && v="$(echo "$CUDA_VERSION" | tr . -)" \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "cuda-nvcc-$v" "cuda-cudart-dev-$v" "cuda-driver-dev-$v" "cuda-nvrtc-dev-$v" "cuda-nvtx-$v" \
      "libcublas-dev-$v" "libcufft-dev-$v" "libcurand-dev-$v" $CUDNN_PACKAGE \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL -o /tmp/libtorch.zip "$LIBTORCH_URL" \
 && unzip -q /tmp/libtorch.zip -d /opt \
 && rm /tmp/libtorch.zip
ENV PATH=/usr/local/cuda-${CUDA_VERSION}/bin:${PATH}
WORKDIR /src
COPY . .
# --as-needed: the binary records only the libraries it calls into. LibTorch's
# CMake files also hand it the toolkit's libcudart, libnvrtc, libnvToolsExt,
# cuBLAS, cuFFT, cuRAND and the driver stub; LibTorch's own libraries reach
# theirs (bundled in the zip) by themselves. Its torch target keeps
# libtorch_cuda.so with --no-as-needed, so CUDA stays registered. The
# configure step must report a CUDA LibTorch (cmake/SegtuneTorch.cmake), so
# that a CPU zip passed as LIBTORCH_URL fails here instead of giving a worker
# without GPUs.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEGTUNE_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH=/opt/libtorch \
      -DCUDAToolkit_ROOT=/usr/local/cuda-${CUDA_VERSION} \
      -DCUDA_TOOLKIT_ROOT_DIR=/usr/local/cuda-${CUDA_VERSION} \
      -DCMAKE_EXE_LINKER_FLAGS=-Wl,--as-needed \
    | tee /tmp/configure.log \
 && grep -q 'segtune: LibTorch .* (CUDA)' /tmp/configure.log
RUN cmake --build /build --target segtune-worker \
 && strip /build/bin/segtune-worker
# Stage what the runtime image needs from here: every library the binary
# resolves into the toolkit (copied under its soname), never the driver
# stub, which would shadow the host's driver; and, apart, the stub itself
# for the start-up check below.
RUN mkdir -p /stage/cuda-lib /stage/driver-stub \
 && ldd /build/bin/segtune-worker \
    | awk '$3 ~ "^/usr/local/cuda" && $3 !~ "/stubs/" && $1 !~ "^libcuda[.]so" { print $3 }' \
    | sort -u | xargs -r cp -L -t /stage/cuda-lib \
 && cp -L "/usr/local/cuda-${CUDA_VERSION}/lib64/stubs/libcuda.so" /stage/driver-stub/libcuda.so.1 \
 && ls -l /stage/cuda-lib

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
COPY --from=build /stage/cuda-lib /opt/segtune/cuda-lib
COPY --from=build /build/bin/segtune-worker /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib:/opt/segtune/cuda-lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# Refuse to produce an image that cannot start: every library must resolve
# here except the driver's, which the NVIDIA Container Toolkit mounts at run
# time; then the binary must load and parse its flags, with the driver stub
# standing in for the real libcuda.so.1 (bind-mounted, so not in any layer).
RUN --mount=type=bind,from=build,source=/stage/driver-stub,target=/tmp/driver-stub \
    missing="$(ldd /usr/local/bin/segtune-worker | grep 'not found' | grep -v '^\s*libcuda[.]so[.]1 ')"; \
    if [ -n "$missing" ]; then echo "unresolved libraries:"; echo "$missing"; exit 1; fi; \
    LD_LIBRARY_PATH="/tmp/driver-stub:$LD_LIBRARY_PATH" /usr/local/bin/segtune-worker --help >/dev/null
USER 10001:10001
WORKDIR /home/segtune
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/segtune-worker"]
# One trial slot on every GPU the container is given (--gpus all, or the GPUs
# a Kubernetes pod requests).
CMD ["--device", "all", "--metrics-listen", "0.0.0.0:9465"]
