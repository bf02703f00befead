#include "segtune/agent/device.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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
        absl::StrCat("--device ", flag, ": expected auto, cpu, cuda or cuda:N"));
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

}  // namespace segtune::agent
