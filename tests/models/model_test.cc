#include "segtune/models/model.h"

#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "segtune/models/lraspp.h"
#include "segtune/models/unet.h"

namespace segtune::models {
namespace {

using ::testing::HasSubstr;

ModelSpec Spec(const std::string& arch, int64_t depth) {
  ModelSpec spec;
  spec.arch = arch;
  spec.num_classes = 3;
  spec.base_channels = 4;
  spec.depth = depth;
  return spec;
}

struct SizeCase {
  std::string arch;
  int64_t depth;
  int64_t image_size;
};

class MakeModelSizeTest : public ::testing::TestWithParam<SizeCase> {};

// Whatever CheckModel accepts, the model built runs at that size.
TEST_P(MakeModelSizeTest, OutputMatchesTheInputSize) {
  const SizeCase& param = GetParam();
  ModelSpec spec = Spec(param.arch, param.depth);
  spec.in_channels = 2;
  ASSERT_TRUE(CheckModel(spec, param.image_size).ok());
  absl::StatusOr<std::shared_ptr<SegmentationModel>> model = MakeModel(spec);
  ASSERT_TRUE(model.ok()) << model.status();
  (*model)->eval();
  const int64_t size = param.image_size;
  const torch::Tensor logits = (*model)->forward(torch::randn({2, 2, size, size}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 3, size, size}));
}

INSTANTIATE_TEST_SUITE_P(Sizes, MakeModelSizeTest,
                         ::testing::Values(SizeCase{"unet", 1, 7}, SizeCase{"unet", 3, 16},
                                           SizeCase{"unet", 3, 20}, SizeCase{"unet", 4, 24},
                                           SizeCase{"lraspp", 2, 4}, SizeCase{"lraspp", 3, 40},
                                           SizeCase{"lraspp", 3, 41}, SizeCase{"lraspp", 4, 48}),
                         [](const ::testing::TestParamInfo<SizeCase>& info) {
                           return info.param.arch + "_depth" + std::to_string(info.param.depth) +
                                  "_size" + std::to_string(info.param.image_size);
                         });

TEST(MakeModelTest, BuildsTheNamedArchitecture) {
  absl::StatusOr<std::shared_ptr<SegmentationModel>> unet = MakeModel(Spec("unet", 3));
  ASSERT_TRUE(unet.ok());
  EXPECT_NE(std::dynamic_pointer_cast<UNetImpl>(*unet), nullptr);
  absl::StatusOr<std::shared_ptr<SegmentationModel>> lraspp = MakeModel(Spec("lraspp", 3));
  ASSERT_TRUE(lraspp.ok());
  EXPECT_NE(std::dynamic_pointer_cast<LRASPPImpl>(*lraspp), nullptr);
}

TEST(MakeModelTest, SameSeedGivesSameWeights) {
  torch::manual_seed(3);
  std::shared_ptr<SegmentationModel> first = *MakeModel(Spec("lraspp", 3));
  torch::manual_seed(3);
  std::shared_ptr<SegmentationModel> second = *MakeModel(Spec("lraspp", 3));
  const auto a = first->parameters();
  const auto b = second->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

TEST(MakeModelTest, RejectsWhatCheckModelRejects) {
  EXPECT_EQ(MakeModel(Spec("fcn", 3)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MakeModel(Spec("lraspp", 1)).status().message(), HasSubstr("depth"));
  EXPECT_THAT(MakeModel(Spec("unet", 9)).status().message(), HasSubstr("depth"));
}

struct BadSpec {
  std::string name;
  ModelSpec spec;
  int64_t image_size;
  std::string message;
};

ModelSpec With(ModelSpec spec, void (*change)(ModelSpec&)) {
  change(spec);
  return spec;
}

class CheckModelErrorTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(CheckModelErrorTest, NamesTheField) {
  const absl::Status status = CheckModel(GetParam().spec, GetParam().image_size);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Fields, CheckModelErrorTest,
    ::testing::Values(
        BadSpec{"arch", Spec("fcn", 3), 32, "arch: unknown 'fcn' (expected unet or lraspp)"},
        BadSpec{"few_classes", With(Spec("unet", 3), [](ModelSpec& s) { s.num_classes = 1; }),
                32, "num_classes: must be in [2, 1024], got 1"},
        BadSpec{"many_classes",
                With(Spec("lraspp", 3), [](ModelSpec& s) { s.num_classes = 1025; }), 32,
                "num_classes: must be in [2, 1024], got 1025"},
        BadSpec{"no_channels", With(Spec("unet", 3), [](ModelSpec& s) { s.in_channels = 0; }),
                32, "in_channels: must be in [1, 64], got 0"},
        BadSpec{"many_channels",
                With(Spec("lraspp", 3), [](ModelSpec& s) { s.in_channels = 65; }), 32,
                "in_channels: must be in [1, 64], got 65"},
        BadSpec{"no_base", With(Spec("unet", 3), [](ModelSpec& s) { s.base_channels = 0; }), 32,
                "base_channels: must be in [1, 1024], got 0"},
        BadSpec{"wide_base",
                With(Spec("lraspp", 3), [](ModelSpec& s) { s.base_channels = 2048; }), 32,
                "base_channels: must be in [1, 1024], got 2048"},
        BadSpec{"unet_shallow", Spec("unet", 0), 32, "depth: must be in [1, 8], got 0"},
        BadSpec{"unet_deep", Spec("unet", 9), 512, "depth: must be in [1, 8], got 9"},
        BadSpec{"lraspp_shallow", Spec("lraspp", 1), 32, "depth: must be in [2, 8] for lraspp"},
        BadSpec{"lraspp_deep", Spec("lraspp", 9), 512, "depth: must be in [2, 8] for lraspp"},
        BadSpec{"unet_indivisible", Spec("unet", 3), 30,
                "image_size: unet with depth 3 needs a positive multiple of 4, got 30"},
        BadSpec{"unet_empty", Spec("unet", 1), 0,
                "image_size: unet with depth 1 needs a positive multiple of 1, got 0"},
        BadSpec{"lraspp_small", Spec("lraspp", 3), 7,
                "image_size: lraspp with depth 3 needs at least 8"}),
    [](const ::testing::TestParamInfo<BadSpec>& info) { return info.param.name; });

TEST(CheckModelTest, AcceptsTheBoundaries) {
  EXPECT_TRUE(CheckModel(Spec("unet", 1), 1).ok());
  EXPECT_TRUE(CheckModel(Spec("unet", 8), 128).ok());
  EXPECT_TRUE(CheckModel(Spec("lraspp", 2), 4).ok());
  EXPECT_TRUE(CheckModel(Spec("lraspp", 8), 256).ok());
  EXPECT_TRUE(CheckModel(Spec("lraspp", 3), 9).ok());
}

}  // namespace
}  // namespace segtune::models
