#include "segtune/models/unet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace segtune::models {
namespace {

using ::testing::HasSubstr;

class UNetDepthTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(UNetDepthTest, MapsImagesToPerPixelClassLogits) {
  UNetOptions options(5);
  options.base_channels(4).depth(GetParam());
  ASSERT_TRUE(options.Validate().ok());
  UNet model(options);
  const torch::Tensor images = torch::randn({2, 3, 16, 16});
  const torch::Tensor logits = model->forward(images);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5, 16, 16}));
  // Gradients reach the first layer through every level.
  logits.sum().backward();
  for (const auto& parameter : model->named_parameters()) {
    ASSERT_TRUE(parameter.value().grad().defined()) << parameter.key();
  }
}

INSTANTIATE_TEST_SUITE_P(Depths, UNetDepthTest, ::testing::Values(1, 2, 3, 4));

TEST(UNetTest, ChannelsDoubleWithEachLevel) {
  UNetOptions options(3);
  options.base_channels(4).depth(3);
  UNet model(options);
  const auto parameters = model->named_parameters();
  // encoder<level>.0 is the first 3x3 conv of the level.
  EXPECT_EQ(parameters["encoder0.0.weight"].sizes(), (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(parameters["encoder1.0.weight"].sizes(), (std::vector<int64_t>{8, 4, 3, 3}));
  EXPECT_EQ(parameters["encoder2.0.weight"].sizes(), (std::vector<int64_t>{16, 8, 3, 3}));
  // decoder1 sees the upsampled level-2 features and the level-1 skip.
  EXPECT_EQ(parameters["decoder1.0.weight"].sizes(), (std::vector<int64_t>{8, 16, 3, 3}));
  EXPECT_EQ(parameters["head.weight"].sizes(), (std::vector<int64_t>{3, 4, 1, 1}));
}

TEST(UNetTest, SameSeedGivesSameWeights) {
  UNetOptions options(3);
  torch::manual_seed(11);
  UNet first(options);
  torch::manual_seed(11);
  UNet second(options);
  const auto a = first->parameters();
  const auto b = second->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

TEST(UNetTest, ValidateNamesTheBadOption) {
  EXPECT_TRUE(UNetOptions(3).Validate().ok());
  EXPECT_THAT(UNetOptions(1).Validate().message(), HasSubstr("num_classes"));
  EXPECT_THAT(UNetOptions(1025).Validate().message(), HasSubstr("num_classes"));
  EXPECT_THAT(UNetOptions(3).in_channels(65).Validate().message(), HasSubstr("in_channels"));
  EXPECT_THAT(UNetOptions(3).depth(0).Validate().message(), HasSubstr("depth"));
  EXPECT_THAT(UNetOptions(3).depth(9).Validate().message(), HasSubstr("depth"));
  EXPECT_THAT(UNetOptions(3).base_channels(0).Validate().message(), HasSubstr("base_channels"));
}

}  // namespace
}  // namespace segtune::models
