// A small U-Net (Ronneberger et al., 2015) for semantic segmentation.
//
// `depth` resolution levels; level i has base_channels * 2^i channels and two
// 3x3 conv + BatchNorm + ReLU blocks. The encoder halves the resolution with
// 2x2 max pooling between levels; the decoder doubles it with a 2x2
// transposed conv, concatenates the encoder's features of that level (the
// skip connection) and applies the level's two blocks again. A 1x1 conv maps
// to one logit per class. Input height and width must be divisible by
// 2^(depth-1).
//
// Submodule names are stable and match the Python twin
// (bench/reference/models.py): encoder<level>, up<level>, decoder<level>
// (nn.Sequential of conv, BatchNorm, ReLU, conv, BatchNorm, ReLU) and head.
//
// Parameters are initialized by LibTorch's defaults from torch's global RNG:
// seed it (and hold off other threads) around construction for
// reproducible weights.
//
// Thread-safety: as any torch::nn::Module: one thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "absl/status/status.h"
#include "segtune/models/model.h"

namespace segtune::models {

struct UNetOptions {
  explicit UNetOptions(int64_t num_classes) : num_classes_(num_classes) {}

  // InvalidArgument naming the option: num_classes in [2, 1024],
  // in_channels in [1, 64], base_channels in [1, 1024], depth in [1, 8].
  absl::Status Validate() const;

  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, base_channels) = 8;
  TORCH_ARG(int64_t, depth) = 3;
};

class UNetImpl : public SegmentationModel {
 public:
  // REQUIRES: options.Validate().ok().
  explicit UNetImpl(const UNetOptions& options);

  // [N, in_channels, H, W] images -> [N, num_classes, H, W] logits; H and W
  // divisible by 2^(depth-1).
  torch::Tensor forward(const torch::Tensor& images) override;

  const UNetOptions& options() const { return options_; }

 private:
  UNetOptions options_;
  std::vector<torch::nn::Sequential> encoders_;         // one per level
  // level i+1 -> level i; forward computes them as a 1x1 conv and a pixel
  // shuffle (faster on the CPU, same result; see unet.cc).
  std::vector<torch::nn::ConvTranspose2d> upsamplers_;
  std::vector<torch::nn::Sequential> decoders_;         // levels 0..depth-2
  torch::nn::Conv2d head_{nullptr};
};

TORCH_MODULE(UNet);

}  // namespace segtune::models
