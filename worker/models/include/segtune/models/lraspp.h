// LR-ASPP (Howard et al., 2019, "Searching for MobileNetV3") on a light
// encoder of depthwise-separable blocks, for semantic segmentation.
//
// Encoder: `depth` stages, each halving the resolution (3x3 convs with
// stride 2 and padding 1, so a side of n becomes ceil(n / 2): any input size
// works). Stage s has base_channels * 2^s channels:
//   stage0:    3x3 conv stride 2 + BatchNorm + Hardswish;
//   stage1...: a depthwise-separable block with stride 2 (depthwise 3x3 +
//              BatchNorm + Hardswish, then pointwise 1x1 + BatchNorm +
//              Hardswish) that doubles the channels, then one with stride 1
//              that keeps them.
// Head (as torchvision's LRASPPHead): the last stage's features go through a
// 1x1 conv + BatchNorm + ReLU branch, gated by sigmoid(1x1 conv of their
// global average), upsampled bilinearly to the second stage's resolution
// (stride 4, the low-level features) and classified by a 1x1 conv; the
// low-level features get their own 1x1 classifier; the two are summed and
// upsampled bilinearly (align_corners false) to the input size.
// The head's inner width is 4x the last stage's channels, so that
// base_channels scales the whole model; parameter counts come to about 40%
// of a U-Net's of the same base_channels and depth.
//
// Submodule names are stable and match the Python twin
// (bench/reference/models.py): stage<s>.<unit> (each unit an nn.Sequential of
// conv, BatchNorm, activation) and head.cbr, head.scale,
// head.low_classifier, head.high_classifier.
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

struct LRASPPOptions {
  explicit LRASPPOptions(int64_t num_classes) : num_classes_(num_classes) {}

  // InvalidArgument naming the option: num_classes in [2, 1024],
  // in_channels in [1, 64], base_channels in [1, 1024], depth in [2, 8] (the
  // head's low-level branch reads the second stage).
  absl::Status Validate() const;

  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, base_channels) = 8;
  TORCH_ARG(int64_t, depth) = 3;
};

// The segmentation head; its own module so that its parameters are named
// head.<branch>.* as in torchvision.
class LRASPPHeadImpl : public torch::nn::Module {
 public:
  LRASPPHeadImpl(int64_t low_channels, int64_t high_channels, int64_t inter_channels,
                 int64_t num_classes);

  // Logits at the resolution of `low` (the stride-4 features), from `high`
  // (the last stage's features).
  torch::Tensor forward(const torch::Tensor& low, const torch::Tensor& high);

 private:
  torch::nn::Sequential cbr_;    // 1x1 conv + BatchNorm + ReLU
  torch::nn::Sequential scale_;  // global average pool, 1x1 conv, sigmoid
  torch::nn::Conv2d low_classifier_{nullptr};
  torch::nn::Conv2d high_classifier_{nullptr};
};

TORCH_MODULE(LRASPPHead);

class LRASPPImpl : public SegmentationModel {
 public:
  // REQUIRES: options.Validate().ok().
  explicit LRASPPImpl(const LRASPPOptions& options);

  // [N, in_channels, H, W] images -> [N, num_classes, H, W] logits.
  torch::Tensor forward(const torch::Tensor& images) override;

  const LRASPPOptions& options() const { return options_; }

 private:
  LRASPPOptions options_;
  std::vector<std::vector<torch::nn::Sequential>> stages_;  // conv units per stage
  LRASPPHead head_{nullptr};
};

TORCH_MODULE(LRASPP);

}  // namespace segtune::models
