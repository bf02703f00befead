#include "segtune/data/shapes.h"

#include <cmath>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "segtune/data/batch_iterator.h"

namespace segtune::data {
namespace {

using ::testing::HasSubstr;

SegmentationSet MakeOrDie(const ShapesOptions& options) {
  absl::StatusOr<SegmentationSet> set = MakeShapes(options);
  EXPECT_TRUE(set.ok()) << set.status();
  return *std::move(set);
}

ShapesOptions SmallOptions() {
  ShapesOptions options;
  options.image_size = 32;
  options.num_classes = 4;
  options.size = 12;
  options.seed = 7;
  return options;
}

TEST(ShapesTest, HasTheRequestedShapesAndTypes) {
  const SegmentationSet set = MakeOrDie(SmallOptions());
  EXPECT_EQ(set.size(), 12);
  EXPECT_EQ(set.num_classes, 4);
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{12, 3, 32, 32}));
  EXPECT_EQ(set.masks.sizes(), (std::vector<int64_t>{12, 32, 32}));
  EXPECT_EQ(set.images.scalar_type(), torch::kFloat);
  EXPECT_EQ(set.masks.scalar_type(), torch::kLong);
  EXPECT_TRUE(set.images.is_contiguous());
  EXPECT_TRUE(set.masks.is_contiguous());
}

TEST(ShapesTest, IsDeterministicPerSeedAndSplit) {
  const ShapesOptions options = SmallOptions();
  const SegmentationSet first = MakeOrDie(options);
  const SegmentationSet second = MakeOrDie(options);
  EXPECT_TRUE(torch::equal(first.images, second.images));
  EXPECT_TRUE(torch::equal(first.masks, second.masks));

  ShapesOptions other_seed = options;
  other_seed.seed = 8;
  EXPECT_FALSE(torch::equal(first.masks, MakeOrDie(other_seed).masks));

  ShapesOptions val = options;
  val.split = Split::kVal;
  EXPECT_FALSE(torch::equal(first.masks, MakeOrDie(val).masks));
}

TEST(ShapesTest, SampleDependsOnItsIndexOnly) {
  ShapesOptions options = SmallOptions();
  options.size = 5;
  const SegmentationSet small = MakeOrDie(options);
  options.size = 12;
  const SegmentationSet large = MakeOrDie(options);
  EXPECT_TRUE(torch::equal(small.images, large.images.narrow(0, 0, 5)));
  EXPECT_TRUE(torch::equal(small.masks, large.masks.narrow(0, 0, 5)));
}

TEST(ShapesTest, MasksHoldBackgroundAndShapesOfValidClasses) {
  ShapesOptions options = SmallOptions();
  options.size = 40;
  const SegmentationSet set = MakeOrDie(options);
  EXPECT_GE(set.masks.min().item<int64_t>(), 0);
  EXPECT_LT(set.masks.max().item<int64_t>(), 4);
  std::set<int64_t> classes_seen;
  for (int64_t i = 0; i < set.size(); ++i) {
    const torch::Tensor mask = set.masks[i];
    // Background around shapes of at most 40% of the side.
    EXPECT_GT((mask == 0).sum().item<int64_t>(), 0) << "sample " << i;
    // The last shape drawn is never covered, and at 32 px it covers pixels.
    EXPECT_GT((mask > 0).sum().item<int64_t>(), 0) << "sample " << i;
    const torch::Tensor unique = std::get<0>(torch::_unique(mask));
    for (int64_t k = 0; k < unique.numel(); ++k) classes_seen.insert(unique[k].item<int64_t>());
  }
  EXPECT_EQ(classes_seen, (std::set<int64_t>{0, 1, 2, 3}));
}

TEST(ShapesTest, EachClassHasItsOwnColourAndTheImagesAreNormalized) {
  ShapesOptions options = SmallOptions();
  options.size = 40;
  const SegmentationSet set = MakeOrDie(options);
  const torch::Tensor pixels = set.images * kPixelStd + kPixelMean;  // back to [0, 1]
  EXPECT_GE(pixels.min().item<float>(), -1e-6);
  EXPECT_LE(pixels.max().item<float>(), 1 + 1e-6);
  // Hues 0, 1/3, 2/3 at saturation 0.9 and value 0.95: red, green, blue.
  const std::vector<std::vector<double>> expected = {
      {0.95, 0.095, 0.095}, {0.095, 0.95, 0.095}, {0.095, 0.095, 0.95}};
  for (int64_t c = 1; c <= 3; ++c) {
    ASSERT_GT((set.masks == c).sum().item<int64_t>(), 0) << "class " << c;
    for (int64_t channel = 0; channel < 3; ++channel) {
      const torch::Tensor channel_values = pixels.select(1, channel);
      const double mean = channel_values.masked_select(set.masks == c).mean().item<double>();
      EXPECT_NEAR(mean, expected[c - 1][channel], 0.05) << "class " << c << " channel " << channel;
    }
  }
  // The background is grey: its channels stay close to one another.
  const torch::Tensor background = set.masks == 0;
  const double red = pixels.select(1, 0).masked_select(background).mean().item<double>();
  const double green = pixels.select(1, 1).masked_select(background).mean().item<double>();
  EXPECT_NEAR(red, green, 0.05);
}

TEST(ShapesTest, RejectsBadOptionsNamingThem) {
  ShapesOptions options = SmallOptions();
  options.image_size = 4;
  EXPECT_THAT(MakeShapes(options).status().message(), HasSubstr("image_size"));
  options = SmallOptions();
  options.num_classes = 1;
  EXPECT_THAT(MakeShapes(options).status().message(), HasSubstr("num_classes"));
  options = SmallOptions();
  options.size = 0;
  EXPECT_THAT(MakeShapes(options).status().message(), HasSubstr("size"));
}

TEST(BatchIteratorTest, ShuffledEpochsArePermutationsFixedBySeedAndEpoch) {
  ShapesOptions options = SmallOptions();
  options.size = 10;
  const SegmentationSet set = MakeOrDie(options);
  BatchIterator batches(set, 4, uint64_t{3});
  EXPECT_EQ(batches.batches_per_epoch(), 3);

  batches.StartEpoch(1);
  const std::vector<int64_t> epoch1 = batches.order();
  batches.StartEpoch(2);
  const std::vector<int64_t> epoch2 = batches.order();
  EXPECT_NE(epoch1, epoch2);
  EXPECT_EQ(std::set<int64_t>(epoch1.begin(), epoch1.end()).size(), 10U);

  // A fresh iterator starting at epoch 2 sees the same order.
  BatchIterator other(set, 4, uint64_t{3});
  other.StartEpoch(2);
  EXPECT_EQ(other.order(), epoch2);

  BatchIterator other_seed(set, 4, uint64_t{4});
  other_seed.StartEpoch(2);
  EXPECT_NE(other_seed.order(), epoch2);
}

TEST(BatchIteratorTest, BatchesFollowTheOrderAndEndWithARemainder) {
  ShapesOptions options = SmallOptions();
  options.size = 10;
  const SegmentationSet set = MakeOrDie(options);
  BatchIterator batches(set, 4, uint64_t{3});
  batches.StartEpoch(5);
  const std::vector<int64_t> order = batches.order();
  std::vector<int64_t> sizes;
  int64_t position = 0;
  while (std::optional<Batch> batch = batches.Next()) {
    const int64_t count = batch->images.size(0);
    sizes.push_back(count);
    for (int64_t i = 0; i < count; ++i) {
      EXPECT_TRUE(torch::equal(batch->images[i], set.images[order[position + i]]));
      EXPECT_TRUE(torch::equal(batch->masks[i], set.masks[order[position + i]]));
    }
    position += count;
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_FALSE(batches.Next().has_value());
}

TEST(BatchIteratorTest, UnshuffledIterationKeepsDatasetOrder) {
  ShapesOptions options = SmallOptions();
  options.size = 5;
  const SegmentationSet set = MakeOrDie(options);
  BatchIterator batches(set, 2, std::nullopt);
  batches.StartEpoch(3);
  EXPECT_EQ(batches.order(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  std::optional<Batch> first = batches.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(torch::equal(first->images, set.images.narrow(0, 0, 2)));
}

}  // namespace
}  // namespace segtune::data
