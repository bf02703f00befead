// The prefetching Loader on a hand-made SampleSet whose pixels say where they
// come from: red = y * 12 + x, green = 10 * sample, blue = 200, so every
// batch pixel can be traced back to its sample, position and flip.
#include "segtune/data/loader.h"

#include <cmath>
#include <set>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace segtune::data {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSide = 12;

// Mask: class (x + sample) % 3, except 255 (ignore) on the diagonal.
SampleSet TracedSet(int64_t count) {
  SampleSet set;
  set.num_classes = 3;
  set.ignore_index = 255;
  set.images = torch::empty({count, kSide, kSide, 3}, torch::kByte);
  set.masks = torch::empty({count, kSide, kSide}, torch::kByte);
  auto images = set.images.accessor<uint8_t, 4>();
  auto masks = set.masks.accessor<uint8_t, 3>();
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t y = 0; y < kSide; ++y) {
      for (int64_t x = 0; x < kSide; ++x) {
        images[n][y][x][0] = static_cast<uint8_t>(y * kSide + x);
        images[n][y][x][1] = static_cast<uint8_t>(10 * n);
        images[n][y][x][2] = 200;
        masks[n][y][x] = x == y ? 255 : static_cast<uint8_t>((x + n) % 3);
      }
    }
    set.sources.push_back("sample " + std::to_string(n));
  }
  return set;
}

// The bytes a normalized batch image came from, [S, S, 3] int.
torch::Tensor Bytes(const torch::Tensor& image, const LoaderOptions& options) {
  const torch::Tensor mean = torch::tensor({options.mean[0], options.mean[1], options.mean[2]});
  const torch::Tensor std = torch::tensor({options.std[0], options.std[1], options.std[2]});
  return ((image.permute({1, 2, 0}) * std + mean) * 255).round().to(torch::kInt);
}

struct Traced {
  int64_t sample = 0;
  int64_t top = 0;
  int64_t left = 0;
  bool flip = false;
};

// Where batch element `i` came from, checked pixel by pixel against the set,
// mask included: the mask is cropped and flipped with the image.
Traced Trace(const SampleSet& set, const Batch& batch, int64_t i, const LoaderOptions& options) {
  const int64_t size = options.crop_size;
  const torch::Tensor bytes = Bytes(batch.images[i], options);
  Traced traced;
  traced.sample = bytes[0][0][1].item<int>() / 10;
  const int corner = bytes[0][0][0].item<int>();
  traced.flip = size > 1 && bytes[0][1][0].item<int>() == corner - 1;
  traced.top = corner / kSide;
  traced.left = corner % kSide - (traced.flip ? size - 1 : 0);
  torch::Tensor image = set.images[traced.sample]
                            .narrow(0, traced.top, size)
                            .narrow(1, traced.left, size)
                            .to(torch::kInt);
  torch::Tensor mask = set.masks[traced.sample]
                           .narrow(0, traced.top, size)
                           .narrow(1, traced.left, size)
                           .to(torch::kLong);
  if (traced.flip) {
    image = image.flip({1});
    mask = mask.flip({1});
  }
  EXPECT_TRUE(torch::equal(bytes, image)) << "batch element " << i;
  EXPECT_TRUE(torch::equal(batch.masks[i], mask)) << "batch element " << i;
  return traced;
}

std::vector<Batch> Epoch(Loader& loader, int64_t epoch) {
  loader.StartEpoch(epoch);
  std::vector<Batch> batches;
  while (std::optional<Batch> batch = loader.Next()) batches.push_back(*std::move(batch));
  return batches;
}

bool Same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i].images, b[i].images) || !torch::equal(a[i].masks, b[i].masks)) {
      return false;
    }
  }
  return true;
}

LoaderOptions TrainOptions() {
  LoaderOptions options;
  options.batch_size = 4;
  options.shuffle_seed = 11;
  options.crop_size = 8;
  options.flip = true;
  return options;
}

TEST(LoaderTest, BatchesHaveTheDocumentedShapesTypesAndValues) {
  const SampleSet set = TracedSet(6);
  LoaderOptions options;
  options.batch_size = 4;
  options.crop_size = 12;
  options.mean = {0.1F, 0.5F, 0.9F};
  options.std = {0.2F, 0.25F, 0.5F};
  Loader loader(set, options);
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  const std::vector<Batch> batches = Epoch(loader, 1);
  ASSERT_EQ(batches.size(), 2U);
  EXPECT_EQ(batches[0].images.sizes(), (std::vector<int64_t>{4, 3, 12, 12}));
  EXPECT_EQ(batches[0].masks.sizes(), (std::vector<int64_t>{4, 12, 12}));
  EXPECT_EQ(batches[1].images.sizes(), (std::vector<int64_t>{2, 3, 12, 12}));
  EXPECT_EQ(batches[0].images.scalar_type(), torch::kFloat);
  EXPECT_EQ(batches[0].masks.scalar_type(), torch::kLong);
  EXPECT_TRUE(batches[0].images.is_contiguous());
  EXPECT_TRUE(batches[0].masks.is_contiguous());
  EXPECT_TRUE(batches[0].images.device().is_cpu());
  // Sample 1, pixel (y=2, x=3): bytes 27, 10, 200.
  const torch::Tensor pixel = batches[0].images[1].select(2, 3).select(1, 2);
  EXPECT_FLOAT_EQ(pixel[0].item<float>(), (27 / 255.0F - 0.1F) / 0.2F);
  EXPECT_FLOAT_EQ(pixel[1].item<float>(), (10 / 255.0F - 0.5F) / 0.25F);
  EXPECT_FLOAT_EQ(pixel[2].item<float>(), (200 / 255.0F - 0.9F) / 0.5F);
  // The whole set, in order, uncropped.
  const torch::Tensor all = torch::cat({batches[0].images, batches[1].images});
  const torch::Tensor stats = torch::tensor({0.1F, 0.5F, 0.9F}).view({1, 3, 1, 1});
  const torch::Tensor spread = torch::tensor({0.2F, 0.25F, 0.5F}).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::equal(((all * spread + stats) * 255).round().to(torch::kByte),
                           set.images.permute({0, 3, 1, 2})));
}

TEST(LoaderTest, EvaluationIsDatasetOrderCentreCropNoFlip) {
  const SampleSet set = TracedSet(5);
  LoaderOptions options;
  options.batch_size = 2;
  options.crop_size = 7;
  options.flip = true;  // ignored without a shuffle seed
  Loader loader(set, options);
  for (int64_t epoch : {1, 4}) {
    int64_t expected_sample = 0;
    for (const Batch& batch : Epoch(loader, epoch)) {
      for (int64_t i = 0; i < batch.images.size(0); ++i) {
        const Traced traced = Trace(set, batch, i, options);
        EXPECT_EQ(traced.sample, expected_sample++);
        EXPECT_EQ(traced.top, 2);  // (12 - 7) / 2
        EXPECT_EQ(traced.left, 2);
        EXPECT_FALSE(traced.flip);
      }
    }
    EXPECT_EQ(expected_sample, 5);
  }
}

TEST(LoaderTest, TrainingEpochsArePermutationsOfRandomCropsAndFlips) {
  const SampleSet set = TracedSet(10);
  const LoaderOptions options = TrainOptions();
  Loader loader(set, options);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  std::set<std::pair<int64_t, int64_t>> offsets;
  int flipped = 0;
  int total = 0;
  std::vector<std::vector<int64_t>> orders;
  for (int64_t epoch = 1; epoch <= 4; ++epoch) {
    std::vector<int64_t> order;
    for (const Batch& batch : Epoch(loader, epoch)) {
      for (int64_t i = 0; i < batch.images.size(0); ++i) {
        const Traced traced = Trace(set, batch, i, options);
        order.push_back(traced.sample);
        offsets.emplace(traced.top, traced.left);
        flipped += traced.flip ? 1 : 0;
        ++total;
      }
    }
    EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 10U) << "epoch " << epoch;
    orders.push_back(order);
  }
  EXPECT_NE(orders[0], orders[1]);
  // 40 crops over 25 possible offsets, about half of them flipped.
  EXPECT_GT(offsets.size(), 10U);
  EXPECT_GT(flipped, 5);
  EXPECT_LT(flipped, total - 5);
}

TEST(LoaderTest, NoFlipsUnlessAskedButTheSameCrops) {
  const SampleSet set = TracedSet(10);
  LoaderOptions options = TrainOptions();
  Loader flipping(set, options);
  options.flip = false;
  Loader plain(set, options);
  const std::vector<Batch> with_flips = Epoch(flipping, 2);
  const std::vector<Batch> without = Epoch(plain, 2);
  ASSERT_EQ(with_flips.size(), without.size());
  for (size_t b = 0; b < without.size(); ++b) {
    for (int64_t i = 0; i < without[b].images.size(0); ++i) {
      const Traced unflipped = Trace(set, without[b], i, options);
      const Traced maybe_flipped = Trace(set, with_flips[b], i, options);
      EXPECT_FALSE(unflipped.flip);
      EXPECT_EQ(unflipped.sample, maybe_flipped.sample);
      EXPECT_EQ(unflipped.top, maybe_flipped.top);
      EXPECT_EQ(unflipped.left, maybe_flipped.left);
    }
  }
}

TEST(LoaderTest, EpochsDependOnSeedAndEpochOnly) {
  const SampleSet set = TracedSet(10);
  LoaderOptions options = TrainOptions();
  Loader first(set, options);
  const std::vector<Batch> first_epoch1 = Epoch(first, 1);
  const std::vector<Batch> first_epoch3 = Epoch(first, 3);
  EXPECT_FALSE(Same(first_epoch1, first_epoch3));

  // Straight to epoch 3, with another prefetch depth: the same tensors.
  options.prefetch_batches = 1;
  Loader second(set, options);
  EXPECT_TRUE(Same(Epoch(second, 3), first_epoch3));
  EXPECT_TRUE(Same(Epoch(second, 1), first_epoch1));

  options.shuffle_seed = 12;
  Loader other_seed(set, options);
  EXPECT_FALSE(Same(Epoch(other_seed, 3), first_epoch3));
}

TEST(LoaderTest, StartEpochMidEpochStartsAfresh) {
  const SampleSet set = TracedSet(10);
  LoaderOptions options = TrainOptions();
  options.prefetch_batches = 3;
  Loader reference(set, options);
  const std::vector<Batch> epoch2 = Epoch(reference, 2);

  Loader loader(set, options);
  loader.StartEpoch(5);
  ASSERT_TRUE(loader.Next().has_value());  // the rest of epoch 5 is left queued
  EXPECT_TRUE(Same(Epoch(loader, 2), epoch2));
  loader.StartEpoch(2);
  ASSERT_TRUE(loader.Next().has_value());
  EXPECT_TRUE(Same(Epoch(loader, 2), epoch2));
}

TEST(LoaderTest, EndOfEpochAndBeforeTheFirstEpochGiveNothing) {
  const SampleSet set = TracedSet(3);
  LoaderOptions options = TrainOptions();
  Loader loader(set, options);
  EXPECT_FALSE(loader.Next().has_value());
  loader.StartEpoch(1);
  ASSERT_TRUE(loader.Next().has_value());
  EXPECT_FALSE(loader.Next().has_value());
  EXPECT_FALSE(loader.Next().has_value());
}

TEST(LoaderTest, IgnoreIndexPassesThroughAsIs) {
  SampleSet set = TracedSet(2);
  set.ignore_index = 250;
  set.masks[1][3][4] = 250;
  LoaderOptions options;
  options.batch_size = 2;
  options.crop_size = kSide;
  Loader loader(set, options);
  loader.StartEpoch(1);
  const std::optional<Batch> batch = loader.Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->masks[0][5][5].item<int64_t>(), 255);  // the diagonal
  EXPECT_EQ(batch->masks[1][3][4].item<int64_t>(), 250);
  EXPECT_TRUE(torch::equal(batch->masks, set.masks.to(torch::kLong)));
}

TEST(LoaderTest, DestroyingMidEpochDoesNotWaitForTheConsumer) {
  const SampleSet set = TracedSet(40);
  LoaderOptions options = TrainOptions();
  options.batch_size = 2;
  { Loader never_started(set, options); }
  {
    Loader just_started(set, options);
    just_started.StartEpoch(1);
  }
  {
    Loader part_consumed(set, options);
    part_consumed.StartEpoch(1);
    ASSERT_TRUE(part_consumed.Next().has_value());
    part_consumed.StartEpoch(2);
    ASSERT_TRUE(part_consumed.Next().has_value());
  }
}

TEST(LoaderTest, WaitSecondsCountsTimeSpentWaitingForTheProducer) {
  SampleSet set;
  set.num_classes = 2;
  set.images = torch::zeros({64, 128, 128, 3}, torch::kByte);
  set.masks = torch::zeros({64, 128, 128}, torch::kByte);
  LoaderOptions options;
  options.batch_size = 32;
  options.crop_size = 128;
  Loader loader(set, options);
  EXPECT_EQ(loader.wait_seconds(), 0);
  // The first batch cannot be ready the moment its epoch starts.
  loader.StartEpoch(1);
  ASSERT_TRUE(loader.Next().has_value());
  const double waited = loader.wait_seconds();
  EXPECT_GT(waited, 0);
  EXPECT_LT(waited, 10);
}

TEST(LoaderTest, RejectsACropLargerThanTheStoredImages) {
  const SampleSet set = TracedSet(2);
  LoaderOptions options;
  options.crop_size = kSide + 1;
  try {
    Loader loader(set, options);
    ADD_FAILURE() << "a 13-pixel crop of 12-pixel images was accepted";
  } catch (const c10::Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("crop_size"));
  }
}

TEST(LoaderTest, ChannelsLastBatchesHoldTheSameValues) {
  const SampleSet set = TracedSet(10);
  const LoaderOptions planar = TrainOptions();
  LoaderOptions interleaved = planar;
  interleaved.memory_format = at::MemoryFormat::ChannelsLast;
  Loader a(set, planar);
  Loader b(set, interleaved);
  a.StartEpoch(2);
  b.StartEpoch(2);
  int batches = 0;
  while (std::optional<Batch> x = a.Next()) {
    std::optional<Batch> y = b.Next();
    ASSERT_TRUE(y.has_value());
    EXPECT_TRUE(y->images.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(at::equal(x->images, y->images));
    EXPECT_TRUE(at::equal(x->masks, y->masks));
    ++batches;
  }
  EXPECT_EQ(batches, 3);
  EXPECT_FALSE(b.Next().has_value());
}

}  // namespace
}  // namespace segtune::data
