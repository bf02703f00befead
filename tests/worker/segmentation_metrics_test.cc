#include "segtune/train/segmentation_metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace segtune::train {
namespace {

TEST(ConfusionMatrixTest, MeanIoUAndPixelAccuracyByHand) {
  // rows: true class, columns: predicted class
  //   [3 1 0]
  //   [0 2 2]
  //   [0 0 0]   class 2 is never true but predicted twice
  ConfusionMatrix matrix(3);
  matrix.Add(0, 0, 3);
  matrix.Add(0, 1, 1);
  matrix.Add(1, 1, 2);
  matrix.Add(1, 2, 2);
  // IoU: class 0 = 3 / (4 + 3 - 3) = 0.75, class 1 = 2 / (4 + 3 - 2) = 0.4,
  // class 2 = 0 / (0 + 2 - 0) = 0.
  EXPECT_DOUBLE_EQ(matrix.MeanIoU(), (0.75 + 0.4 + 0.0) / 3);
  EXPECT_DOUBLE_EQ(matrix.PixelAccuracy(), 5.0 / 8.0);
}

TEST(ConfusionMatrixTest, ClassesAbsentFromTruthAndPredictionDoNotCount) {
  //   [2 0 0]
  //   [1 1 0]
  //   [0 0 0]   class 2: union 0, left out of the mean
  ConfusionMatrix matrix(3);
  matrix.AddCounts({2, 0, 0, 1, 1, 0, 0, 0, 0});
  // class 0 = 2 / (2 + 3 - 2), class 1 = 1 / (2 + 1 - 1)
  EXPECT_DOUBLE_EQ(matrix.MeanIoU(), (2.0 / 3.0 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(matrix.PixelAccuracy(), 3.0 / 4.0);
}

TEST(ConfusionMatrixTest, PerfectPrediction) {
  ConfusionMatrix matrix(2);
  matrix.AddCounts({5, 0, 0, 7});
  EXPECT_DOUBLE_EQ(matrix.MeanIoU(), 1.0);
  EXPECT_DOUBLE_EQ(matrix.PixelAccuracy(), 1.0);
}

TEST(ConfusionMatrixTest, AddCountsAccumulatesLikeAdd) {
  ConfusionMatrix by_cell(2);
  by_cell.Add(0, 1, 2);
  by_cell.Add(1, 1, 3);
  by_cell.Add(0, 1);
  ConfusionMatrix by_matrix(2);
  by_matrix.AddCounts({0, 2, 0, 3});
  by_matrix.AddCounts({0, 1, 0, 0});
  for (int t = 0; t < 2; ++t) {
    for (int p = 0; p < 2; ++p) EXPECT_EQ(by_cell.count(t, p), by_matrix.count(t, p));
  }
  EXPECT_EQ(by_matrix.count(0, 1), 3);
}

TEST(ConfusionMatrixTest, EmptyMatrixGivesZeros) {
  ConfusionMatrix matrix(4);
  EXPECT_EQ(matrix.MeanIoU(), 0.0);
  EXPECT_EQ(matrix.PixelAccuracy(), 0.0);
}

TEST(ConfusionMatrixTest, ClassIoUIsUndefinedForAbsentClasses) {
  ConfusionMatrix matrix(3);
  matrix.AddCounts({2, 0, 0, 1, 1, 0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(*matrix.ClassIoU(0), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(*matrix.ClassIoU(1), 0.5);
  EXPECT_FALSE(matrix.ClassIoU(2).has_value());
}

TEST(ConfusionCountsTest, CountsBatchPixelsSkippingTheIgnoreIndex) {
  // truth       prediction
  //   0 1 255     0 0 2
  //   2 2 1       2 1 1
  const torch::Tensor masks = torch::tensor({0L, 1L, 255L, 2L, 2L, 1L}).view({1, 2, 3});
  const torch::Tensor predictions = torch::tensor({0L, 0L, 2L, 2L, 1L, 1L}).view({1, 2, 3});
  const torch::Tensor counts = ConfusionCounts(masks, predictions, 3, 255);
  const std::vector<int64_t> expected = {1, 0, 0,   // truth 0
                                         1, 1, 0,   // truth 1
                                         0, 1, 1};  // truth 2
  ASSERT_EQ(counts.numel(), 9);
  EXPECT_EQ(std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + 9),
            expected);
  ConfusionMatrix matrix(3);
  matrix.AddCounts(expected);
  // IoU: class 0 = 1 / (1 + 2 - 1), class 1 = 1 / (2 + 2 - 1), class 2 = 1 / (2 + 1 - 1).
  EXPECT_DOUBLE_EQ(matrix.MeanIoU(), (0.5 + 1.0 / 3.0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(matrix.PixelAccuracy(), 3.0 / 5.0);
}

}  // namespace
}  // namespace segtune::train
