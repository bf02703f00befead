# A stand-in for LibTorch 1.12's TorchConfig.cmake: only what cmake/SegtuneTorch.cmake reads.
add_library(torch INTERFACE IMPORTED)
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")
set_property(TARGET torch PROPERTY INTERFACE_COMPILE_OPTIONS "${TORCH_CXX_FLAGS}")
set(Torch_FOUND TRUE)
