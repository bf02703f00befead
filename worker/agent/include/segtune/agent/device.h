// The worker's compute device, LibTorch thread and allocator settings, kept
// out of main.cc so that the flag parsing is testable and main stays
// Torch-free.
//
// Thread-safety: ResolveDevice and CudaDeviceCount are thread-safe;
// ConfigureTorchThreads and ConfigureAllocator must run once, before any
// training starts.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace segtune::agent {

// Turns a --device value into the device string the trainer and the
// coordinator see: "auto" -> "cuda:0" when a CUDA device exists, else "cpu";
// "cpu"; "cuda" -> "cuda:0"; "cuda:N" with N < cuda_device_count.
// InvalidArgument (naming --device) for anything else or a missing GPU.
absl::StatusOr<std::string> ResolveDevice(absl::string_view flag, int cuda_device_count);

// Turns a --device value into the worker's devices: "all" -> every CUDA
// device (InvalidArgument when there is none); a comma-separated list such as
// "cuda:0,cuda:2" -> those devices, each checked as ResolveDevice does, no
// device twice (several slots on one device is --slots-per-device); anything
// else -> the one device ResolveDevice gives.
absl::StatusOr<std::vector<std::string>> ResolveDevices(absl::string_view flag, int cuda_device_count);

// The device of each slot when every device gets `slots_per_device` slots,
// dealt round-robin: the first devices.size() slots cover each device once.
std::vector<std::string> SlotDevices(const std::vector<std::string>& devices, int slots_per_device);

// How many CUDA devices LibTorch can use here (0 for a CPU-only build).
int CudaDeviceCount();

// Sets LibTorch's intra-op threads to `threads` and its inter-op threads to 1:
// a worker runs one trial per slot, so parallelism across trials comes from
// slots, and within a trial from intra-op threads.
absl::Status ConfigureTorchThreads(int threads);

// Tunes glibc's malloc for training on the CPU: large blocks stay in the heap
// and freed memory is kept for the next batch instead of going back to the
// kernel (see torch_runtime.cc for the measurements behind it). Programs that
// train as the worker does (bench/train_throughput) call it too.
void ConfigureAllocator();

}  // namespace segtune::agent
