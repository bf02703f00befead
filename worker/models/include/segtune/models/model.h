// The segmentation networks a trial may train, behind one interface, and the
// factory that builds one from the trial's model section.
//
//   unet:   U-Net (unet.h); base_channels at the first level, doubling per
//           level; depth levels. Input size divisible by 2^(depth-1).
//   lraspp: LR-ASPP head (Howard et al., 2019, "Searching for MobileNetV3")
//           on a light encoder of depthwise-separable blocks (lraspp.h);
//           base_channels at the first stage, doubling per stage; depth
//           stride-2 stages (output stride 2^depth), depth >= 2 because the
//           head reads the second stage. Any input size (odd ones too) of
//           at least 2^depth.
//
// bench/reference/models.py holds PyTorch twins of both: same state_dict
// names, shapes and forward computation (weights.h moves weights across).
//
// Parameters are initialized by LibTorch's defaults from torch's global RNG:
// seed it (and hold off other threads) around MakeModel for reproducible
// weights.
//
// Thread-safety: MakeModel is safe from any thread except for the global RNG
// note above; a model is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace segtune::models {

class SegmentationModel : public torch::nn::Module {
 public:
  // [N, in_channels, H, W] images -> [N, num_classes, H, W] logits.
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
};

struct ModelSpec {
  std::string arch = "unet";  // unet | lraspp
  int64_t num_classes = 4;
  int64_t in_channels = 3;
  int64_t base_channels = 8;
  int64_t depth = 3;
};

// InvalidArgument naming the field ("arch: unknown 'x' (expected unet or
// lraspp)", "depth: must be in [1, 8], got 9", "image_size: ...") when
// `spec` cannot be built, or cannot take image_size x image_size inputs.
// Ranges: num_classes [2, 1024], in_channels [1, 64], base_channels
// [1, 1024], depth [1, 8] (unet) or [2, 8] (lraspp).
absl::Status CheckModel(const ModelSpec& spec, int64_t image_size);

// The model, in training mode on the CPU. InvalidArgument as CheckModel's
// (less the image size); ResourceExhausted when the parameters cannot be
// allocated.
absl::StatusOr<std::shared_ptr<SegmentationModel>> MakeModel(const ModelSpec& spec);

}  // namespace segtune::models
