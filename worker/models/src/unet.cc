#include "segtune/models/unet.h"

#include <string>

#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>

#include "absl/strings/str_cat.h"
#include "ranges.h"

namespace segtune::models {
namespace {

// Two 3x3 conv + BatchNorm + ReLU blocks; padding keeps the resolution. The
// convs have no bias: BatchNorm's shift replaces it.
torch::nn::Sequential DoubleConv(int64_t in_channels, int64_t out_channels) {
  namespace nn = torch::nn;
  return nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 3).padding(1).bias(false)),
      nn::BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions().inplace(true)),
      nn::Conv2d(nn::Conv2dOptions(out_channels, out_channels, 3).padding(1).bias(false)),
      nn::BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions().inplace(true)));
}

// What `up` (a ConvTranspose2d with kernel 2 and stride 2) computes, in a
// faster way. Each input pixel alone writes its output's 2x2 block, so the
// layer is a 1x1 convolution to 4 * out channels, ordered (channel, row,
// column) as pixel_shuffle reads them, followed by pixel_shuffle(2). The
// weights and bias are up's own, rearranged: same parameters, and the same
// result up to float rounding (the sums run in another order).
// LibTorch 1.13 runs a transposed convolution on the CPU through
// slow_conv_transpose2d (matrix products and col2im, one image at a time);
// a 1x1 convolution goes to oneDNN. In bench/train_throughput (base 16,
// depth 3, 64 px, one thread) this cut the model's time per epoch from
// 3.5 s to 2.2 s.
torch::Tensor UpsampleByTwo(const torch::nn::ConvTranspose2d& up, const torch::Tensor& features) {
  const torch::Tensor& weight = up->weight;  // [in, out, 2, 2]
  const int64_t in_channels = weight.size(0);
  const int64_t out_channels = weight.size(1);
  const torch::Tensor pointwise =
      weight.permute({1, 2, 3, 0}).reshape({4 * out_channels, in_channels, 1, 1});
  return torch::pixel_shuffle(torch::conv2d(features, pointwise, up->bias.repeat_interleave(4)),
                              2);
}

}  // namespace

absl::Status UNetOptions::Validate() const {
  if (absl::Status status =
          internal::CheckCommonOptions(num_classes(), in_channels(), base_channels());
      !status.ok()) {
    return status;
  }
  return internal::CheckRange("depth", depth(), 1, 8);
}

UNetImpl::UNetImpl(const UNetOptions& options) : options_(options) {
  const int64_t depth = options.depth();
  auto channels = [&](int64_t level) { return options.base_channels() << level; };
  for (int64_t level = 0; level < depth; ++level) {
    const int64_t in = level == 0 ? options.in_channels() : channels(level - 1);
    encoders_.push_back(
        register_module(absl::StrCat("encoder", level), DoubleConv(in, channels(level))));
  }
  for (int64_t level = 0; level + 1 < depth; ++level) {
    upsamplers_.push_back(register_module(
        absl::StrCat("up", level),
        torch::nn::ConvTranspose2d(
            torch::nn::ConvTranspose2dOptions(channels(level + 1), channels(level), 2).stride(2))));
    // Input: the upsampled features concatenated with the skip, both channels(level).
    decoders_.push_back(register_module(absl::StrCat("decoder", level),
                                        DoubleConv(2 * channels(level), channels(level))));
  }
  head_ = register_module(
      "head", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels(0), options.num_classes(), 1)));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& images) {
  const size_t depth = encoders_.size();
  std::vector<torch::Tensor> skips;
  torch::Tensor features = images;
  for (size_t level = 0; level < depth; ++level) {
    if (level > 0)
      features = torch::nn::functional::max_pool2d(features,
                                                   torch::nn::functional::MaxPool2dFuncOptions(2));
    features = encoders_[level]->forward(features);
    if (level + 1 < depth) skips.push_back(features);
  }
  for (size_t level = depth - 1; level-- > 0;) {
    features = UpsampleByTwo(upsamplers_[level], features);
    features = decoders_[level]->forward(torch::cat({skips[level], features}, 1));
  }
  return head_->forward(features);
}

}  // namespace segtune::models
