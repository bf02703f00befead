#include "segtune/models/lraspp.h"

#include <utility>

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/functional.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/pooling.h>

#include "absl/strings/str_cat.h"
#include "ranges.h"

namespace segtune::models {
namespace {

namespace nn = torch::nn;

// LibTorch has no Hardswish module; a Functional takes its place (and its
// index in the Sequential, as Python's parameterless nn.Hardswish does).
nn::Functional Hardswish() {
  return nn::Functional([](const torch::Tensor& x) { return torch::hardswish(x); });
}

// Conv + BatchNorm + Hardswish. The conv has no bias: BatchNorm's shift
// replaces it. groups == in_channels makes it depthwise.
nn::Sequential ConvUnit(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                        int64_t stride, int64_t groups) {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, kernel_size)
                                       .stride(stride)
                                       .padding(kernel_size / 2)
                                       .groups(groups)
                                       .bias(false)),
                        nn::BatchNorm2d(out_channels), Hardswish());
}

// Depthwise 3x3 (with `stride`), then pointwise 1x1 to out_channels.
void AppendSeparableBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                          std::vector<nn::Sequential>& units) {
  units.push_back(ConvUnit(in_channels, in_channels, 3, stride, in_channels));
  units.push_back(ConvUnit(in_channels, out_channels, 1, 1, 1));
}

torch::Tensor ResizeBilinear(const torch::Tensor& features, const torch::Tensor& like) {
  return nn::functional::interpolate(
      features, nn::functional::InterpolateFuncOptions()
                    .size(std::vector<int64_t>{like.size(-2), like.size(-1)})
                    .mode(torch::kBilinear)
                    .align_corners(false));
}

}  // namespace

absl::Status LRASPPOptions::Validate() const {
  if (absl::Status status =
          internal::CheckCommonOptions(num_classes(), in_channels(), base_channels());
      !status.ok()) {
    return status;
  }
  return internal::CheckRange(
      "depth", depth(), 2, 8,
      " for lraspp (its head reads the stride-4 features of the second stage)");
}

LRASPPHeadImpl::LRASPPHeadImpl(int64_t low_channels, int64_t high_channels,
                               int64_t inter_channels, int64_t num_classes) {
  cbr_ = register_module(
      "cbr", nn::Sequential(
                 nn::Conv2d(nn::Conv2dOptions(high_channels, inter_channels, 1).bias(false)),
                 nn::BatchNorm2d(inter_channels), nn::ReLU(nn::ReLUOptions().inplace(true))));
  scale_ = register_module(
      "scale",
      nn::Sequential(nn::AdaptiveAvgPool2d(1),
                     nn::Conv2d(nn::Conv2dOptions(high_channels, inter_channels, 1).bias(false)),
                     nn::Sigmoid()));
  low_classifier_ = register_module(
      "low_classifier", nn::Conv2d(nn::Conv2dOptions(low_channels, num_classes, 1)));
  high_classifier_ = register_module(
      "high_classifier", nn::Conv2d(nn::Conv2dOptions(inter_channels, num_classes, 1)));
}

torch::Tensor LRASPPHeadImpl::forward(const torch::Tensor& low, const torch::Tensor& high) {
  torch::Tensor gated = cbr_->forward(high) * scale_->forward(high);
  return low_classifier_->forward(low) +
         high_classifier_->forward(ResizeBilinear(gated, low));
}

LRASPPImpl::LRASPPImpl(const LRASPPOptions& options) : options_(options) {
  auto channels = [&](int64_t stage) { return options.base_channels() << stage; };
  for (int64_t stage = 0; stage < options.depth(); ++stage) {
    std::vector<nn::Sequential> units;
    if (stage == 0) {
      units.push_back(ConvUnit(options.in_channels(), channels(0), 3, 2, 1));
    } else {
      AppendSeparableBlock(channels(stage - 1), channels(stage), 2, units);
      AppendSeparableBlock(channels(stage), channels(stage), 1, units);
    }
    // A Sequential cannot hold Sequentials; the ModuleList gives the same
    // names (stage<s>.<unit>.<layer>).
    nn::ModuleList list;
    for (const nn::Sequential& unit : units) list->push_back(unit);
    register_module(absl::StrCat("stage", stage), list);
    stages_.push_back(std::move(units));
  }
  const int64_t high_channels = channels(options.depth() - 1);
  head_ = register_module("head", LRASPPHead(channels(1), high_channels, 4 * high_channels,
                                             options.num_classes()));
}

torch::Tensor LRASPPImpl::forward(const torch::Tensor& images) {
  torch::Tensor low;  // stride 4: the second stage's output
  torch::Tensor features = images;
  for (size_t stage = 0; stage < stages_.size(); ++stage) {
    for (torch::nn::Sequential& unit : stages_[stage]) features = unit->forward(features);
    if (stage == 1) low = features;
  }
  return ResizeBilinear(head_->forward(low, features), images);
}

}  // namespace segtune::models
