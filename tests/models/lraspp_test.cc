#include "segtune/models/lraspp.h"

#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace segtune::models {
namespace {

using ::testing::HasSubstr;

// (depth, image size): sizes below, at and above the output stride, odd ones.
class LRASPPShapeTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(LRASPPShapeTest, MapsImagesToPerPixelClassLogits) {
  const auto [depth, size] = GetParam();
  LRASPPOptions options(5);
  options.base_channels(4).depth(depth);
  ASSERT_TRUE(options.Validate().ok());
  LRASPP model(options);
  const torch::Tensor images = torch::randn({2, 3, size, size + 3});
  const torch::Tensor logits = model->forward(images);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5, size, size + 3}));
  // Gradients reach every parameter, both head branches included.
  logits.sum().backward();
  for (const auto& parameter : model->named_parameters()) {
    ASSERT_TRUE(parameter.value().grad().defined()) << parameter.key();
  }
}

INSTANTIATE_TEST_SUITE_P(DepthsAndSizes, LRASPPShapeTest,
                         ::testing::Values(std::make_tuple(2, 4), std::make_tuple(2, 33),
                                           std::make_tuple(3, 40), std::make_tuple(4, 16),
                                           std::make_tuple(4, 27)));

TEST(LRASPPTest, ChannelsDoubleWithEachStage) {
  LRASPPOptions options(3);
  options.base_channels(4).depth(3);
  LRASPP model(options);
  const auto parameters = model->named_parameters();
  // stage<s>.<unit>.0 is the unit's conv.
  EXPECT_EQ(parameters["stage0.0.0.weight"].sizes(), (std::vector<int64_t>{4, 3, 3, 3}));
  // Depthwise 3x3 at stride 2, then pointwise to twice the channels.
  EXPECT_EQ(parameters["stage1.0.0.weight"].sizes(), (std::vector<int64_t>{4, 1, 3, 3}));
  EXPECT_EQ(parameters["stage1.1.0.weight"].sizes(), (std::vector<int64_t>{8, 4, 1, 1}));
  EXPECT_EQ(parameters["stage1.2.0.weight"].sizes(), (std::vector<int64_t>{8, 1, 3, 3}));
  EXPECT_EQ(parameters["stage1.3.0.weight"].sizes(), (std::vector<int64_t>{8, 8, 1, 1}));
  EXPECT_EQ(parameters["stage2.1.0.weight"].sizes(), (std::vector<int64_t>{16, 8, 1, 1}));
  // The head widens the last stage's 16 channels 4x; the low-level
  // classifier reads the second stage's 8.
  EXPECT_EQ(parameters["head.cbr.0.weight"].sizes(), (std::vector<int64_t>{64, 16, 1, 1}));
  EXPECT_EQ(parameters["head.scale.1.weight"].sizes(), (std::vector<int64_t>{64, 16, 1, 1}));
  EXPECT_EQ(parameters["head.low_classifier.weight"].sizes(), (std::vector<int64_t>{3, 8, 1, 1}));
  EXPECT_EQ(parameters["head.high_classifier.weight"].sizes(),
            (std::vector<int64_t>{3, 64, 1, 1}));
}

TEST(LRASPPTest, ValidateNamesTheBadOption) {
  EXPECT_TRUE(LRASPPOptions(3).depth(2).Validate().ok());
  EXPECT_THAT(LRASPPOptions(1).Validate().message(), HasSubstr("num_classes"));
  EXPECT_THAT(LRASPPOptions(3).in_channels(0).Validate().message(), HasSubstr("in_channels"));
  EXPECT_THAT(LRASPPOptions(3).base_channels(1025).Validate().message(),
              HasSubstr("base_channels"));
  const std::string too_shallow(LRASPPOptions(3).depth(1).Validate().message());
  EXPECT_THAT(too_shallow, HasSubstr("depth: must be in [2, 8]"));
  EXPECT_THAT(too_shallow, HasSubstr("second stage"));
  EXPECT_THAT(LRASPPOptions(3).depth(9).Validate().message(), HasSubstr("depth"));
}

}  // namespace
}  // namespace segtune::models
