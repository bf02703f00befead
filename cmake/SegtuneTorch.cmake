# Finds LibTorch and says which one the build uses.
#
# Default: Debian's CPU LibTorch (libtorch-dev, in the system path). Another
# one, typically a CUDA build, comes in through the standard CMake variables:
#   -DCMAKE_PREFIX_PATH=/opt/libtorch                      (official zip)
#   -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"  (pip torch)
# or -DTorch_DIR=<dir holding TorchConfig.cmake>. The sources are written for
# LibTorch 1.13 and 2.x (C++17, which 2.x requires); only 1.13 is built here
# (README.md, "Building against another LibTorch").

find_package(Torch 1.13 REQUIRED)

# A LibTorch built with the pre-C++11 libstdc++ ABI (the official
# "libtorch-shared-with-deps" zips without "cxx11-abi" in the name, and pip
# torch wheels before 2.7) makes every std::string in its API a different
# type from the one Debian's gRPC, protobuf and abseil use. The build would
# fail much later with pages of undefined references, so refuse it here.
# TorchConfig.cmake hands the ABI to dependents as TORCH_CXX_FLAGS and as
# the torch target's interface compile options.
get_target_property(_segtune_torch_options torch INTERFACE_COMPILE_OPTIONS)
if("${TORCH_CXX_FLAGS};${_segtune_torch_options}" MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR
    "The LibTorch in ${Torch_DIR} is built with the pre-C++11 libstdc++ ABI "
    "(-D_GLIBCXX_USE_CXX11_ABI=0), which cannot link with Debian's gRPC, protobuf "
    "and abseil. Use the cxx11-ABI LibTorch instead: the official "
    "libtorch-cxx11-abi-shared-with-deps-<version>.zip, or pip torch >= 2.7. "
    "See README.md, \"Building against another LibTorch (CUDA)\".")
endif()

# CUDA builds of LibTorch set CAFFE2_USE_CUDA (worker/metrics keys on it) and
# TORCH_CUDA_LIBRARIES, and define the torch_cuda target.
if(CAFFE2_USE_CUDA OR TORCH_CUDA_LIBRARIES OR TARGET torch_cuda)
  set(SEGTUNE_TORCH_KIND "CUDA")
else()
  set(SEGTUNE_TORCH_KIND "CPU only")
endif()
message(STATUS "segtune: LibTorch ${Torch_VERSION} (${SEGTUNE_TORCH_KIND}) from ${Torch_DIR}")

# Debian's libtorch-dev lives under /usr/lib/<multiarch>; a LibTorch given
# through CMAKE_PREFIX_PATH (a zip, pip torch, even under /usr/local) does not
# come from a Debian package (cmake/SegtunePackaging.cmake, tests/package).
if(Torch_DIR MATCHES "^/usr/lib/")
  set(SEGTUNE_TORCH_FROM_DEBIAN ON)
else()
  set(SEGTUNE_TORCH_FROM_DEBIAN OFF)
endif()
