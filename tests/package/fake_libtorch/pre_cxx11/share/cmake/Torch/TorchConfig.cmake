# A stand-in for a pre-C++11-ABI LibTorch zip (libtorch-shared-with-deps)'s TorchConfig.cmake: only what cmake/SegtuneTorch.cmake reads.
add_library(torch INTERFACE IMPORTED)
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")
set_property(TARGET torch PROPERTY INTERFACE_COMPILE_OPTIONS "${TORCH_CXX_FLAGS}")
set(Torch_FOUND TRUE)
