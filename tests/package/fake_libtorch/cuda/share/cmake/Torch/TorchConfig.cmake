# A stand-in for a C++11-ABI CUDA LibTorch zip's TorchConfig.cmake: only what cmake/SegtuneTorch.cmake reads.
add_library(torch INTERFACE IMPORTED)
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")
set_property(TARGET torch PROPERTY INTERFACE_COMPILE_OPTIONS "${TORCH_CXX_FLAGS}")
set(TORCH_CUDA_LIBRARIES "${CMAKE_CURRENT_LIST_DIR}/../../../lib/libc10_cuda.so")
set(Torch_FOUND TRUE)
