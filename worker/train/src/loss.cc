#include "segtune/train/loss.h"

#include <torch/nn/functional/loss.h>

namespace segtune::train {

SegmentationLoss::SegmentationLoss(const LossConfig& config, int num_classes, int ignore_index,
                                   const torch::Device& device)
    : label_smoothing_(config.label_smoothing),
      dice_weight_(config.dice_weight),
      num_classes_(num_classes),
      ignore_index_(ignore_index) {
  if (!config.weight.empty()) {
    weight_ = torch::tensor(config.weight, torch::kFloat32).to(device);
  }
}

torch::Tensor SegmentationLoss::Compute(const torch::Tensor& logits,
                                        const torch::Tensor& masks) const {
  namespace F = torch::nn::functional;
  const torch::Tensor logits32 = logits.to(torch::kFloat32);
  F::CrossEntropyFuncOptions options;
  options.ignore_index(ignore_index_).label_smoothing(label_smoothing_);
  if (weight_.defined()) options.weight(weight_);
  torch::Tensor loss = F::cross_entropy(logits32, masks, options);
  if (dice_weight_ > 0) loss = loss + dice_weight_ * SoftDice(logits32, masks);
  return loss;
}

torch::Tensor SegmentationLoss::SoftDice(const torch::Tensor& logits,
                                         const torch::Tensor& masks) const {
  // Ignored pixels count for neither prediction nor truth.
  const torch::Tensor valid = masks.ne(ignore_index_).unsqueeze(1).to(logits.scalar_type());
  const torch::Tensor probabilities = logits.softmax(1) * valid;
  const torch::Tensor truth =
      torch::one_hot(masks.masked_fill(masks.eq(ignore_index_), 0), num_classes_)
          .permute({0, 3, 1, 2})
          .to(logits.scalar_type()) *
      valid;
  const std::vector<int64_t> pixel_dims = {0, 2, 3};
  const torch::Tensor intersection = (probabilities * truth).sum(pixel_dims);
  const torch::Tensor total = probabilities.sum(pixel_dims) + truth.sum(pixel_dims);
  const torch::Tensor dice = (2 * intersection + 1) / (total + 1);
  return 1 - dice.mean();
}

}  // namespace segtune::train
