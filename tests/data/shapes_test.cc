// The synthetic `shapes` dataset, loaded through LoadSplit.
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "segtune/data/dataset.h"

namespace segtune::data {
namespace {

SampleSet LoadOrDie(const DatasetOptions& options, Split split = Split::kTrain) {
  absl::StatusOr<SampleSet> set = LoadSplit(options, split);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : SampleSet{};
}

DatasetOptions SmallOptions() {
  DatasetOptions options;
  options.dataset = "shapes";
  options.load_size = 32;
  options.num_classes = 4;
  options.train_size = 12;
  options.val_size = 5;
  options.seed = 7;
  return options;
}

TEST(ShapesTest, HasTheRequestedShapesTypesAndSources) {
  const SampleSet set = LoadOrDie(SmallOptions());
  EXPECT_EQ(set.size(), 12);
  EXPECT_EQ(set.num_classes, 4);
  EXPECT_EQ(set.ignore_index, 255);
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{12, 32, 32, 3}));
  EXPECT_EQ(set.masks.sizes(), (std::vector<int64_t>{12, 32, 32}));
  EXPECT_EQ(set.images.scalar_type(), torch::kByte);
  EXPECT_EQ(set.masks.scalar_type(), torch::kByte);
  EXPECT_TRUE(set.images.is_contiguous());
  EXPECT_TRUE(set.masks.is_contiguous());
  ASSERT_EQ(set.sources.size(), 12U);
  EXPECT_EQ(set.sources[0], "shapes train #0");
  EXPECT_EQ(set.sources[11], "shapes train #11");

  const SampleSet val = LoadOrDie(SmallOptions(), Split::kVal);
  EXPECT_EQ(val.size(), 5);
  EXPECT_EQ(val.sources[4], "shapes val #4");
}

TEST(ShapesTest, IsDeterministicPerSeedAndSplit) {
  const DatasetOptions options = SmallOptions();
  const SampleSet first = LoadOrDie(options);
  const SampleSet second = LoadOrDie(options);
  EXPECT_TRUE(torch::equal(first.images, second.images));
  EXPECT_TRUE(torch::equal(first.masks, second.masks));

  DatasetOptions other_seed = options;
  other_seed.seed = 8;
  EXPECT_FALSE(torch::equal(first.masks, LoadOrDie(other_seed).masks));

  DatasetOptions val = options;
  val.val_size = options.train_size;
  EXPECT_FALSE(torch::equal(first.masks, LoadOrDie(val, Split::kVal).masks));
}

TEST(ShapesTest, SampleDependsOnItsIndexOnly) {
  DatasetOptions options = SmallOptions();
  options.train_size = 5;
  const SampleSet small = LoadOrDie(options);
  options.train_size = 12;
  const SampleSet large = LoadOrDie(options);
  EXPECT_TRUE(torch::equal(small.images, large.images.narrow(0, 0, 5)));
  EXPECT_TRUE(torch::equal(small.masks, large.masks.narrow(0, 0, 5)));
}

TEST(ShapesTest, MasksHoldBackgroundAndShapesOfValidClasses) {
  DatasetOptions options = SmallOptions();
  options.train_size = 40;
  const SampleSet set = LoadOrDie(options);
  const torch::Tensor masks = set.masks.to(torch::kLong);
  EXPECT_LT(masks.max().item<int64_t>(), 4);
  std::set<int64_t> classes_seen;
  for (int64_t i = 0; i < set.size(); ++i) {
    const torch::Tensor mask = masks[i];
    // Background around shapes of at most 40% of the side.
    EXPECT_GT((mask == 0).sum().item<int64_t>(), 0) << "sample " << i;
    // The last shape drawn is never covered, and at 32 px it covers pixels.
    EXPECT_GT((mask > 0).sum().item<int64_t>(), 0) << "sample " << i;
    const torch::Tensor unique = std::get<0>(torch::_unique(mask));
    for (int64_t k = 0; k < unique.numel(); ++k) classes_seen.insert(unique[k].item<int64_t>());
  }
  EXPECT_EQ(classes_seen, (std::set<int64_t>{0, 1, 2, 3}));
}

TEST(ShapesTest, EachClassHasItsOwnColour) {
  DatasetOptions options = SmallOptions();
  options.train_size = 40;
  const SampleSet set = LoadOrDie(options);
  const torch::Tensor pixels = set.images.to(torch::kFloat) / 255;
  // Hues 0, 1/3, 2/3 at saturation 0.9 and value 0.95: red, green, blue.
  const std::vector<std::vector<double>> expected = {
      {0.95, 0.095, 0.095}, {0.095, 0.95, 0.095}, {0.095, 0.095, 0.95}};
  for (int64_t c = 1; c <= 3; ++c) {
    const torch::Tensor where = set.masks == c;
    ASSERT_GT(where.sum().item<int64_t>(), 0) << "class " << c;
    for (int64_t channel = 0; channel < 3; ++channel) {
      const torch::Tensor channel_values = pixels.select(3, channel);
      const double mean = channel_values.masked_select(where).mean().item<double>();
      EXPECT_NEAR(mean, expected[c - 1][channel], 0.05) << "class " << c << " channel " << channel;
    }
  }
  // The background is grey: its channels stay close to one another.
  const torch::Tensor background = set.masks == 0;
  const double red = pixels.select(3, 0).masked_select(background).mean().item<double>();
  const double green = pixels.select(3, 1).masked_select(background).mean().item<double>();
  EXPECT_NEAR(red, green, 0.05);
}

TEST(ShapesTest, ReportsProgressOnce) {
  DatasetOptions options = SmallOptions();
  std::vector<std::pair<int64_t, int64_t>> calls;
  options.on_progress = [&calls](int64_t done, int64_t total) { calls.emplace_back(done, total); };
  LoadOrDie(options);
  EXPECT_EQ(calls, (std::vector<std::pair<int64_t, int64_t>>{{12, 12}}));
}

}  // namespace
}  // namespace segtune::data
