#include "segtune/agent/device.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace segtune::agent {

absl::StatusOr<std::string> ResolveDevice(absl::string_view flag, int cuda_device_count) {
  if (flag == "cpu") return std::string("cpu");
  if (flag == "auto") return std::string(cuda_device_count > 0 ? "cuda:0" : "cpu");

  absl::string_view index_text = flag;
  int index = 0;
  if (flag == "cuda") {
    index = 0;
  } else if (absl::ConsumePrefix(&index_text, "cuda:")) {
    // SimpleAtoi accepts a sign and surrounding spaces; a device index is plain digits.
    const bool digits_only =
        !index_text.empty() && index_text.find_first_not_of("0123456789") == absl::string_view::npos;
    if (!digits_only || !absl::SimpleAtoi(index_text, &index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--device ", flag, ": the CUDA device index must be a number, as in cuda:0"));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--device ", flag, ": expected auto, all, cpu, cuda, cuda:N or a list such as cuda:0,cuda:1"));
  }

  if (cuda_device_count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device ", flag, ": CUDA is not available on this machine (use --device cpu)"));
  }
  if (index >= cuda_device_count) {
    return absl::InvalidArgumentError(absl::StrCat("--device ", flag, ": only ", cuda_device_count,
                                                   " CUDA device(s) here (cuda:0 to cuda:",
                                                   cuda_device_count - 1, ")"));
  }
  return absl::StrCat("cuda:", index);
}

absl::StatusOr<std::vector<std::string>> ResolveDevices(absl::string_view flag, int cuda_device_count) {
  std::vector<std::string> devices;
  if (flag == "all") {
    if (cuda_device_count == 0) {
      return absl::InvalidArgumentError(
          "--device all: CUDA is not available on this machine (use --device cpu)");
    }
    for (int index = 0; index < cuda_device_count; ++index) devices.push_back(absl::StrCat("cuda:", index));
    return devices;
  }
  const std::vector<absl::string_view> items = absl::StrSplit(flag, ',');
  for (const absl::string_view item : items) {
    if (items.size() > 1 && (item == "auto" || item == "all" || item == "cpu")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--device ", flag, ": a list names CUDA devices only, as in cuda:0,cuda:1 (", item, " stands alone)"));
    }
    // Its error names the item ("--device cuda:9: ..."), which is the bad part of a list.
    absl::StatusOr<std::string> device = ResolveDevice(item, cuda_device_count);
    if (!device.ok()) return device.status();
    if (std::find(devices.begin(), devices.end(), *device) != devices.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--device ", flag, ": ", *device,
                                                     " is listed twice (use --slots-per-device N for several "
                                                     "trials on one device)"));
    }
    devices.push_back(*std::move(device));
  }
  return devices;
}

std::vector<std::string> SlotDevices(const std::vector<std::string>& devices, int slots_per_device) {
  std::vector<std::string> slot_devices;
  for (int round = 0; round < slots_per_device; ++round) {
    slot_devices.insert(slot_devices.end(), devices.begin(), devices.end());
  }
  return slot_devices;
}

}  // namespace segtune::agent
