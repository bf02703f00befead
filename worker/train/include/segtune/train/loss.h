// The training objective: pixel-wise cross-entropy (torch's
// CrossEntropyLoss: class weights, ignore_index, label smoothing), plus an
// optional soft Dice term for class imbalance.
//
//   loss = cross_entropy + dice_weight * (1 - mean over classes of Dice_c)
//   Dice_c = (2 * sum(p_c * t_c) + 1) / (sum(p_c) + sum(t_c) + 1)
// over the batch's non-ignored pixels, p = softmax(logits), t = one-hot truth.
//
// Thread-safety: immutable after construction; Compute may run on any thread.
#pragma once

#include <torch/types.h>

#include "segtune/train/trial_config.h"

namespace segtune::train {

class SegmentationLoss {
 public:
  // `device` is where the class weights live (the model's).
  SegmentationLoss(const LossConfig& config, int num_classes, int ignore_index,
                   const torch::Device& device);

  // logits [B, C, H, W] (any float type), masks [B, H, W] int64 -> scalar,
  // computed in float32 (under autocast too).
  torch::Tensor Compute(const torch::Tensor& logits, const torch::Tensor& masks) const;

 private:
  torch::Tensor SoftDice(const torch::Tensor& logits, const torch::Tensor& masks) const;

  torch::Tensor weight_;  // undefined: every class weighs 1
  double label_smoothing_;
  double dice_weight_;
  int num_classes_;
  int ignore_index_;
};

}  // namespace segtune::train
