#include "segtune/train/loss.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace segtune::train {
namespace {

// 1 image, 2 classes, 1 x 3 pixels; the third pixel is ignored (255).
struct TinyBatch {
  torch::Tensor logits = torch::tensor({2.0F, 0.0F, 1.0F, 0.0F, 1.0F, 5.0F}).view({1, 2, 1, 3});
  torch::Tensor masks = torch::tensor({0L, 1L, 255L}).view({1, 1, 3});
};

double NegLogSoftmax(double own, double other) {
  return -(own - std::log(std::exp(own) + std::exp(other)));
}

TEST(SegmentationLossTest, CrossEntropySkipsIgnoredPixels) {
  const TinyBatch batch;
  const SegmentationLoss loss({}, 2, 255, torch::kCPU);
  // Pixel 0: class 0 with logits (2, 0); pixel 1: class 1 with logits (0, 1).
  const double expected = (NegLogSoftmax(2, 0) + NegLogSoftmax(1, 0)) / 2;
  EXPECT_NEAR(loss.Compute(batch.logits, batch.masks).item<double>(), expected, 1e-6);
}

TEST(SegmentationLossTest, ClassWeightsWeighTheMean) {
  const TinyBatch batch;
  LossConfig config;
  config.weight = {1.0, 3.0};
  const SegmentationLoss loss(config, 2, 255, torch::kCPU);
  // torch's weighted mean: sum(w_y * nll) / sum(w_y).
  const double expected = (NegLogSoftmax(2, 0) + 3 * NegLogSoftmax(1, 0)) / 4;
  EXPECT_NEAR(loss.Compute(batch.logits, batch.masks).item<double>(), expected, 1e-6);
}

TEST(SegmentationLossTest, DiceTermByHand) {
  const TinyBatch batch;
  LossConfig config;
  config.dice_weight = 0.5;
  const SegmentationLoss loss(config, 2, 255, torch::kCPU);
  const double p0 = 1 / (1 + std::exp(-2.0));  // softmax of class 0 at pixel 0
  const double p1 = 1 / (1 + std::exp(-1.0));  // softmax of class 1 at pixel 1
  // Class 0: truth at pixel 0; predictions p0 (pixel 0) and 1 - p1 (pixel 1).
  const double dice0 = (2 * p0 + 1) / ((p0 + 1 - p1) + 1 + 1);
  // Class 1: truth at pixel 1; predictions 1 - p0 and p1.
  const double dice1 = (2 * p1 + 1) / ((1 - p0 + p1) + 1 + 1);
  const double cross_entropy = (NegLogSoftmax(2, 0) + NegLogSoftmax(1, 0)) / 2;
  const double expected = cross_entropy + 0.5 * (1 - (dice0 + dice1) / 2);
  EXPECT_NEAR(loss.Compute(batch.logits, batch.masks).item<double>(), expected, 1e-6);
}

TEST(SegmentationLossTest, LabelSmoothingMatchesTorch) {
  const TinyBatch batch;
  LossConfig config;
  config.label_smoothing = 0.2;
  const SegmentationLoss loss(config, 2, 255, torch::kCPU);
  // (1 - s) * nll + s * mean over classes of -log p_c, per pixel.
  auto smoothed = [](double own, double other) {
    return 0.8 * NegLogSoftmax(own, other) +
           0.2 * (NegLogSoftmax(own, other) + NegLogSoftmax(other, own)) / 2;
  };
  const double expected = (smoothed(2, 0) + smoothed(1, 0)) / 2;
  EXPECT_NEAR(loss.Compute(batch.logits, batch.masks).item<double>(), expected, 1e-6);
}

TEST(SegmentationLossTest, GradientsFlowToTheLogits) {
  TinyBatch batch;
  batch.logits.requires_grad_(true);
  LossConfig config;
  config.dice_weight = 1.0;
  const SegmentationLoss loss(config, 2, 255, torch::kCPU);
  loss.Compute(batch.logits, batch.masks).backward();
  ASSERT_TRUE(batch.logits.grad().defined());
  // The ignored pixel gets no gradient.
  EXPECT_EQ(batch.logits.grad().select(3, 2).abs().sum().item<double>(), 0.0);
  EXPECT_GT(batch.logits.grad().select(3, 0).abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace segtune::train
