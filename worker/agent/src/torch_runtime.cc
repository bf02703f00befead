// The only agent source that includes LibTorch headers.
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <exception>

#include "absl/strings/str_cat.h"
#include "segtune/agent/device.h"

namespace segtune::agent {

int CudaDeviceCount() { return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0; }

absl::Status ConfigureTorchThreads(int threads) {
  if (threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--threads ", threads, ": must be at least 1"));
  }
  try {
    at::set_num_threads(threads);
    // Throws once inter-op work has started; callers run this before training.
    at::set_num_interop_threads(1);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("cannot set LibTorch threads: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace segtune::agent
