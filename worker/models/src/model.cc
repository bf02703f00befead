#include "segtune/models/model.h"

#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"
#include "segtune/models/lraspp.h"
#include "segtune/models/unet.h"

namespace segtune::models {
namespace {

UNetOptions ToUNetOptions(const ModelSpec& spec) {
  return UNetOptions(spec.num_classes)
      .in_channels(spec.in_channels)
      .base_channels(spec.base_channels)
      .depth(spec.depth);
}

LRASPPOptions ToLRASPPOptions(const ModelSpec& spec) {
  return LRASPPOptions(spec.num_classes)
      .in_channels(spec.in_channels)
      .base_channels(spec.base_channels)
      .depth(spec.depth);
}

absl::Status UnknownArch(const std::string& arch) {
  return absl::InvalidArgumentError(
      absl::StrCat("arch: unknown '", arch, "' (expected unet or lraspp)"));
}

}  // namespace

absl::Status CheckModel(const ModelSpec& spec, int64_t image_size) {
  if (spec.arch == "unet") {
    if (absl::Status status = ToUNetOptions(spec).Validate(); !status.ok()) return status;
    // Each of the depth-1 poolings halves the size exactly, so that the
    // decoder's upsampled features line up with the skip connections.
    const int64_t divisor = int64_t{1} << (spec.depth - 1);
    if (image_size < 1 || image_size % divisor != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("image_size: unet with depth ", spec.depth,
                       " needs a positive multiple of ", divisor, ", got ", image_size));
    }
    return absl::OkStatus();
  }
  if (spec.arch == "lraspp") {
    if (absl::Status status = ToLRASPPOptions(spec).Validate(); !status.ok()) return status;
    // Any size runs; below the output stride the last stages would see the
    // same single pixel, which is no use.
    const int64_t output_stride = int64_t{1} << spec.depth;
    if (image_size < output_stride) {
      return absl::InvalidArgumentError(
          absl::StrCat("image_size: lraspp with depth ", spec.depth, " needs at least ",
                       output_stride, " (its output stride), got ", image_size));
    }
    return absl::OkStatus();
  }
  return UnknownArch(spec.arch);
}

absl::StatusOr<std::shared_ptr<SegmentationModel>> MakeModel(const ModelSpec& spec) {
  try {
    if (spec.arch == "unet") {
      const UNetOptions options = ToUNetOptions(spec);
      if (absl::Status status = options.Validate(); !status.ok()) return status;
      return std::make_shared<UNetImpl>(options);
    }
    if (spec.arch == "lraspp") {
      const LRASPPOptions options = ToLRASPPOptions(spec);
      if (absl::Status status = options.Validate(); !status.ok()) return status;
      return std::make_shared<LRASPPImpl>(options);
    }
  } catch (const c10::Error& error) {
    // In range but too large to allocate (base_channels 1024 at depth 8).
    return absl::ResourceExhaustedError(
        absl::StrCat("model: cannot build ", spec.arch, ": ", error.what_without_backtrace()));
  }
  return UnknownArch(spec.arch);
}

}  // namespace segtune::models
