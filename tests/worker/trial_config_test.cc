#include "segtune/train/trial_config.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace segtune::train {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

json ValidConfig() {
  return {
      {"params",
       {{"optimizer", {{"name", "SGD"}, {"lr", 0.05}}},
        {"scheduler", {{"name", "StepLR"}, {"step_size", 2}}}}},
      {"data",
       {{"dataset", "shapes"},
        {"image_size", 32},
        {"num_classes", 4},
        {"train_size", 64},
        {"val_size", 16},
        {"seed", 7}}},
      {"model", {{"arch", "unet"}, {"base_channels", 8}, {"depth", 3}}},
      {"training", {{"batch_size", 16}, {"seed", 1}}},
      {"epochs", 5},
      {"objective", {{"metric", "val_miou"}, {"mode", "max"}}},
  };
}

std::string ErrorOf(const json& config) {
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(config);
  EXPECT_FALSE(parsed.ok()) << config.dump();
  return std::string(parsed.status().message());
}

TEST(TrialConfigTest, ParsesEverySection) {
  absl::StatusOr<TrialConfig> config = ParseTrialConfig(ValidConfig());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data.dataset, "shapes");
  EXPECT_EQ(config->data.image_size, 32);
  EXPECT_EQ(config->data.num_classes, 4);
  EXPECT_EQ(config->data.train_size, 64);
  EXPECT_EQ(config->data.val_size, 16);
  EXPECT_EQ(config->data.seed, 7U);
  EXPECT_EQ(config->model.arch, "unet");
  EXPECT_EQ(config->model.base_channels, 8);
  EXPECT_EQ(config->model.depth, 3);
  EXPECT_EQ(config->training.batch_size, 16);
  EXPECT_EQ(config->training.seed, 1U);
  EXPECT_EQ(config->epochs, 5);
  EXPECT_EQ(config->optimizer["name"], "SGD");
  EXPECT_EQ(config->scheduler["name"], "StepLR");
}

TEST(TrialConfigTest, SchedulerIsOptional) {
  json config = ValidConfig();
  config["params"].erase("scheduler");
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->scheduler.is_null());
}

TEST(TrialConfigTest, DottedParamsOverrideSections) {
  json config = ValidConfig();
  config["params"]["training.batch_size"] = 8.0;  // sampled values may be floats
  config["params"]["model.base_channels"] = 4;
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->training.batch_size, 8);
  EXPECT_EQ(parsed->model.base_channels, 4);
}

TEST(TrialConfigTest, BgdTrainsOnTheWholeSetUnlessOverridden) {
  json config = ValidConfig();
  config["params"]["optimizer"] = {{"name", "bgd"}, {"lr", 0.1}};
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->training.batch_size, 0);  // the whole set, once loaded

  config["params"]["training.batch_size"] = 32;
  parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->training.batch_size, 32);
}

TEST(TrialConfigTest, ErrorsNameTheField) {
  json config = ValidConfig();
  config["data"]["image_size"] = 30;  // not divisible by 2^(3-1)
  EXPECT_THAT(ErrorOf(config), AllOf(HasSubstr("data.image_size: unet with depth 3"), HasSubstr("multiple of 4")));

  config = ValidConfig();
  config["data"]["imagesize"] = 32;
  EXPECT_THAT(ErrorOf(config), HasSubstr("data.imagesize: unknown key"));

  config = ValidConfig();
  config["data"]["dataset"] = "coco";
  EXPECT_THAT(ErrorOf(config), HasSubstr("data.dataset"));

  config = ValidConfig();
  config["data"]["dataset"] = "voc";
  EXPECT_THAT(ErrorOf(config), HasSubstr("data.root: required for dataset voc"));

  config = ValidConfig();
  config["model"]["depth"] = "three";
  EXPECT_THAT(ErrorOf(config), HasSubstr("model.depth: must be an integer"));

  config = ValidConfig();
  config["training"]["batch_size"] = 0;
  EXPECT_THAT(ErrorOf(config), HasSubstr("training.batch_size"));

  config = ValidConfig();
  config["params"].erase("optimizer");
  EXPECT_THAT(ErrorOf(config), HasSubstr("params.optimizer"));

  config = ValidConfig();
  config["params"]["training.batchsize"] = 8;
  EXPECT_THAT(ErrorOf(config), HasSubstr("params.training.batchsize: unknown parameter"));

  config = ValidConfig();
  config.erase("epochs");
  EXPECT_THAT(ErrorOf(config), HasSubstr("epochs: required"));

  config = ValidConfig();
  config.erase("model");
  EXPECT_THAT(ErrorOf(config), HasSubstr("model: required"));

  EXPECT_THAT(ErrorOf(json::array()), HasSubstr("config"));
}

TEST(TrialConfigTest, ListsEveryProblem) {
  json config = ValidConfig();
  config["data"]["num_classes"] = 1;
  config["training"]["seed"] = -1;
  EXPECT_THAT(ErrorOf(config), AllOf(HasSubstr("data.num_classes"), HasSubstr("training.seed")));
}

TEST(TrialConfigTest, DatasetDefaultsDependOnTheDataset) {
  absl::StatusOr<TrialConfig> shapes = ParseTrialConfig(ValidConfig());
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  EXPECT_EQ(shapes->data.resize, 32);
  EXPECT_FALSE(shapes->data.flip);
  EXPECT_EQ(shapes->data.mean[0], 0.5F);
  EXPECT_EQ(shapes->data.ignore_index, 255);

  json config = ValidConfig();
  config["data"]["dataset"] = "folder";
  config["data"]["root"] = "/data/cells";
  config["data"]["train_size"] = 0;
  config["data"]["resize"] = 40;
  config["data"]["val_fraction"] = 0.25;
  absl::StatusOr<TrialConfig> folder = ParseTrialConfig(config);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ(folder->data.root, "/data/cells");
  EXPECT_EQ(folder->data.train_size, 0);
  EXPECT_EQ(folder->data.resize, 40);
  EXPECT_TRUE(folder->data.flip);
  EXPECT_EQ(folder->data.mean[0], 0.485F);
  EXPECT_EQ(folder->data.std[2], 0.225F);
  EXPECT_EQ(folder->data.val_fraction, 0.25);
}

TEST(TrialConfigTest, TrainingLossAmpAndArch) {
  json config = ValidConfig();
  config["training"]["amp"] = true;
  config["training"]["loss"] = {{"weight", {1, 2, 3, 4}}, {"label_smoothing", 0.1}};
  config["params"]["training.loss.dice_weight"] = 0.5;
  config["params"]["model.arch"] = "lraspp";
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->training.amp);
  EXPECT_EQ(parsed->training.loss.weight, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(parsed->training.loss.label_smoothing, 0.1);
  EXPECT_EQ(parsed->training.loss.dice_weight, 0.5);
  EXPECT_EQ(parsed->model.arch, "lraspp");
}

TEST(TrialConfigTest, NewKeysNameTheirErrors) {
  auto error_with = [](const std::string& section, const std::string& key, const json& value) {
    json config = ValidConfig();
    config[section][key] = value;
    return ErrorOf(config);
  };
  EXPECT_THAT(error_with("data", "resize", 16), HasSubstr("data.resize: must be >= data.image_size"));
  EXPECT_THAT(error_with("data", "root", "/x"), HasSubstr("data.root: only voc and folder"));
  EXPECT_THAT(error_with("data", "ignore_index", 2), HasSubstr("data.ignore_index"));
  EXPECT_THAT(error_with("data", "mean", json::array({0.5, 0.5})), HasSubstr("data.mean"));
  EXPECT_THAT(error_with("data", "std", json::array({0.5, 0, 0.5})), HasSubstr("data.std[1]"));
  EXPECT_THAT(error_with("data", "flip", "yes"), HasSubstr("data.flip: must be true or false"));
  EXPECT_THAT(error_with("data", "val_fraction", 1.0), HasSubstr("data.val_fraction"));
  EXPECT_THAT(error_with("model", "arch", "segformer"), HasSubstr("model.arch"));
  EXPECT_THAT(error_with("training", "amp", 1), HasSubstr("training.amp"));
  EXPECT_THAT(error_with("training", "loss", json{{"weight", {1, 2}}}),
              HasSubstr("training.loss.weight: must be a list of 4 numbers"));
  EXPECT_THAT(error_with("training", "loss", json{{"label_smoothing", 1.0}}),
              HasSubstr("training.loss.label_smoothing"));
  EXPECT_THAT(error_with("training", "loss", json{{"dice", 1.0}}),
              HasSubstr("training.loss.dice: unknown key"));
  json config = ValidConfig();
  config["params"]["training.loss.focal"] = 1.0;
  EXPECT_THAT(ErrorOf(config), HasSubstr("training.loss.focal: unknown key"));
}

json LrRangeConfigJson() {
  json config = ValidConfig();
  config["epochs"] = 30;
  config["lr_range"] = {{"min_lr", 1e-6},
                        {"max_lr", 1.0},
                        {"iterations", 30},
                        {"smoothing", 0.98},
                        {"diverge_factor", 4}};
  return config;
}

TEST(TrialConfigTest, ParsesTheLrRangeSettings) {
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(ValidConfig());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->lr_range.has_value());

  parsed = ParseTrialConfig(LrRangeConfigJson());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->lr_range.has_value());
  EXPECT_EQ(parsed->lr_range->min_lr, 1e-6);
  EXPECT_EQ(parsed->lr_range->max_lr, 1.0);
  EXPECT_EQ(parsed->lr_range->iterations, 30);
  EXPECT_EQ(parsed->lr_range->smoothing, 0.98);
  EXPECT_EQ(parsed->lr_range->diverge_factor, 4.0);
}

TEST(TrialConfigTest, BadLrRangeSettingsNameTheirField) {
  auto error_with = [](const std::string& key, const json& value) {
    json config = LrRangeConfigJson();
    config["lr_range"][key] = value;
    return ErrorOf(config);
  };
  EXPECT_THAT(error_with("min_lr", 0), HasSubstr("lr_range.min_lr: must be > 0, got 0"));
  EXPECT_THAT(error_with("min_lr", "small"), HasSubstr("lr_range.min_lr: must be a number"));
  EXPECT_THAT(error_with("max_lr", 1e-7),
              HasSubstr("lr_range.max_lr: must be > lr_range.min_lr (1e-06), got 1e-07"));
  EXPECT_THAT(error_with("iterations", 1), HasSubstr("lr_range.iterations: must be in [2, 100000]"));
  EXPECT_THAT(error_with("iterations", 31),
              HasSubstr("lr_range.iterations: must equal epochs (each step is reported as one "
                        "epoch), got 31 with epochs 30"));
  EXPECT_THAT(error_with("smoothing", 1.0), HasSubstr("lr_range.smoothing: must be in [0, 1), got 1"));
  EXPECT_THAT(error_with("diverge_factor", 1), HasSubstr("lr_range.diverge_factor: must be > 1"));
  EXPECT_THAT(error_with("warmup", 3), HasSubstr("lr_range.warmup: unknown key (expected one of: "
                                                 "diverge_factor, iterations, max_lr, min_lr, "
                                                 "smoothing)"));
  json config = LrRangeConfigJson();
  config["lr_range"].erase("smoothing");
  EXPECT_THAT(ErrorOf(config), HasSubstr("lr_range.smoothing: required"));
  config["lr_range"] = 5;
  EXPECT_THAT(ErrorOf(config), HasSubstr("lr_range: must be an object, got 5"));
}

TEST(TrialConfigTest, ParsesThePbtExploit) {
  json config = ValidConfig();
  config["params"]["optimizer"] = {{"name", "momentum"}, {"lr", 0.05}};
  config["exploit"] = {{"epoch", 2}, {"lr_scale", 0.8}, {"optimizer", {{"momentum", 0.93}}}};
  absl::StatusOr<TrialConfig> parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->exploit.has_value());
  EXPECT_EQ(parsed->exploit->epoch, 2);
  EXPECT_EQ(parsed->exploit->lr_scale, 0.8);
  EXPECT_EQ(parsed->exploit->optimizer, json({{"momentum", 0.93}}));

  // lr_scale and optimizer are optional; no exploit, none parsed.
  config["exploit"] = {{"epoch", 5}};
  parsed = ParseTrialConfig(config);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->exploit->lr_scale, 1.0);
  EXPECT_EQ(parsed->exploit->optimizer, json::object());
  EXPECT_FALSE(ParseTrialConfig(ValidConfig())->exploit.has_value());
}

TEST(TrialConfigTest, BadExploitSettingsNameTheirField) {
  json config = ValidConfig();
  config["params"]["optimizer"] = {{"name", "Adam"}, {"lr", 0.01}};
  struct Bad {
    json exploit;
    std::string message;
  };
  const std::vector<Bad> cases = {
      {json::array(), "exploit: must be an object"},
      {{{"lr_scale", 2.0}}, "exploit.epoch: required"},
      {{{"epoch", 0}}, "exploit.epoch: must be in [1, 5], got 0"},
      {{{"epoch", 6}}, "exploit.epoch: must be in [1, 5], got 6"},
      {{{"epoch", 2}, {"lr_scale", 0}}, "exploit.lr_scale: must be a finite number > 0, got 0"},
      {{{"epoch", 2}, {"lr_scale", -1.5}}, "exploit.lr_scale: must be a finite number > 0"},
      {{{"epoch", 2}, {"lr_scale", "2"}}, "exploit.lr_scale: must be a finite number > 0"},
      {{{"epoch", 2}, {"optimizer", {{"momentum", 0.9}}}},
       "exploit.optimizer.momentum: unknown argument of Adam"},
      {{{"epoch", 2}, {"optimizer", {{"betas", {0.9, 1.0}}}}},
       "exploit.optimizer.betas: must both be in [0, 1)"},
      {{{"epoch", 2}, {"optimizer", {{"lr", 0.1}}}}, "exploit.optimizer.lr:"},
      {{{"epoch", 2}, {"optimizer", {{"amsgrad", true}}}}, "exploit.optimizer.amsgrad:"},
      {{{"epoch", 2}, {"optimizer", 0.5}}, "exploit.optimizer: must be a mapping"},
      {{{"epoch", 2}, {"scale", 2}}, "exploit.scale: unknown key"},
  };
  for (const Bad& bad : cases) {
    config["exploit"] = bad.exploit;
    EXPECT_THAT(ErrorOf(config), HasSubstr(bad.message)) << bad.exploit.dump();
  }
}

}  // namespace
}  // namespace segtune::train
