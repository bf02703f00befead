// The only agent source that includes LibTorch headers, and the process-wide
// settings LibTorch's CPU training depends on.
#include <ATen/Parallel.h>
#include <malloc.h>
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

void ConfigureAllocator() {
  // glibc's defaults suit programs whose large blocks live long. Training
  // allocates and frees activation-sized blocks (hundreds of KiB to MiBs) on
  // every layer of every batch: with the defaults, blocks over the mmap
  // threshold (128 KiB until glibc adapts it) are mmapped and unmapped each
  // time, and free memory at the heap's top beyond the trim threshold goes
  // back to the kernel, so each batch faults its memory in again, page by
  // page, inside oneDNN's kernels. bench/train_throughput's lraspp counted
  // 274k minor page faults against 60k for the same job in Python, and 36k
  // with these settings, for 25-30% more images per second. Blocks up to 32 MiB
  // (the most glibc's adaptation would reach) now come from the heap, and
  // up to 256 MiB of free heap is kept for the next batch: a worker's
  // footprint can grow by that much per malloc arena.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace segtune::agent
