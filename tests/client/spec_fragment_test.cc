#include "segtune/client/spec_fragment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "fixtures.h"

namespace segtune::client {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Reads YAML back the way a spec reader types plain scalars: integers, then
// floats, booleans and null; quoted scalars stay strings.
json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const YAML::Node& item : node) array.push_back(ToJson(item));
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& item : node) object[item.first.as<std::string>()] = ToJson(item.second);
      return object;
    }
    default: {
      if (node.Tag() == "!") return node.as<std::string>();
      long long integer;
      double number;
      bool boolean;
      if (YAML::convert<long long>::decode(node, integer)) return integer;
      if (YAML::convert<double>::decode(node, number)) return number;
      if (YAML::convert<bool>::decode(node, boolean)) return boolean;
      return node.as<std::string>();
    }
  }
}

json Space(const std::string& yaml) { return ToJson(YAML::Load(yaml))["search"]["space"]; }

TEST(SpecFragmentTest, ParsesBackToTheSameConfiguration) {
  json params = json::parse(testing::kSgdParams);
  auto yaml = SpecFragmentYaml({params});
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  json space = Space(*yaml);
  ASSERT_EQ(space["optimizer"].size(), 1u);
  EXPECT_EQ(space["optimizer"][0], params["optimizer"]);
  ASSERT_EQ(space["scheduler"].size(), 1u);
  EXPECT_EQ(space["scheduler"][0], params["scheduler"]);
  EXPECT_EQ(space["training.batch_size"], 16);
  EXPECT_EQ(space.size(), 3u);
}

TEST(SpecFragmentTest, ReadsLikeASpec) {
  auto yaml = SpecFragmentYaml({json::parse(testing::kSgdParams)});
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(*yaml,
            "search:\n"
            "  space:\n"
            "    optimizer:\n"
            "      - {name: SGD, lr: 0.05, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false}\n"
            "    scheduler:\n"
            "      - {name: StepLR, step_size: 3, gamma: 0.5}\n"
            "    training.batch_size: 16\n");
}

TEST(SpecFragmentTest, KeepsListArgumentsAndStringsExact) {
  json params = {
      {"optimizer", json::parse(testing::kAdamParams)["optimizer"]},
      {"scheduler", {{"name", "LambdaLR"}, {"lr_lambda", "1 / (1 + 0.3 * epoch)"}}},
      {"training.batch_size", "full"},
      {"model.tag", "16"},      // a string that looks like a number
      {"model.flag", "true"},   // and one that looks like a boolean
  };
  auto yaml = SpecFragmentYaml({params});
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  json space = Space(*yaml);
  EXPECT_EQ(space["optimizer"][0], params["optimizer"]);
  EXPECT_EQ(space["optimizer"][0]["betas"], json({0.9, 0.999}));
  EXPECT_EQ(space["scheduler"][0], params["scheduler"]);
  EXPECT_EQ(space["training.batch_size"], "full");
  EXPECT_EQ(space["model.tag"], "16");
  EXPECT_EQ(space["model.flag"], "true");
}

TEST(SpecFragmentTest, ListValuedOtherKeyStaysOneValue) {
  // A list in a spec is a grid axis, so [2, 2] must be written as one point.
  json params = {{"optimizer", {{"name", "SGD"}, {"lr", 0.1}}}, {"data.crop", {2, 2}}};
  auto yaml = SpecFragmentYaml({params});
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(Space(*yaml)["data.crop"], json::array({json::array({2, 2})}));
}

TEST(SpecFragmentTest, TopTrialsGiveDistinctValuesBestFirst) {
  json sgd = json::parse(testing::kSgdParams);
  json adam = json::parse(testing::kAdamParams);
  json sgd_small_batch = sgd;
  sgd_small_batch["training.batch_size"] = 8;
  auto yaml = SpecFragmentYaml({sgd, adam, sgd_small_batch});
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  json space = Space(*yaml);
  EXPECT_EQ(space["optimizer"], json({sgd["optimizer"], adam["optimizer"]}));
  EXPECT_EQ(space["scheduler"], json({sgd["scheduler"], adam["scheduler"]}));
  EXPECT_EQ(space["training.batch_size"], json({16, 8}));
}

TEST(SpecFragmentTest, NotesTrialsWithoutScheduler) {
  json sgd = json::parse(testing::kSgdParams);
  json constant = sgd;
  constant.erase("scheduler");
  auto yaml = SpecFragmentYaml({sgd, constant});
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_THAT(*yaml, HasSubstr("# some of these trials ran without a scheduler"));
  EXPECT_EQ(Space(*yaml)["scheduler"].size(), 1u);

  auto only_constant = SpecFragmentYaml({constant});
  ASSERT_TRUE(only_constant.ok()) << only_constant.status();
  EXPECT_FALSE(Space(*only_constant).contains("scheduler"));
}

TEST(SpecFragmentTest, RejectsMissingOrMalformedParams) {
  EXPECT_FALSE(SpecFragmentYaml({}).ok());
  EXPECT_FALSE(SpecFragmentYaml({json::array()}).ok());
  EXPECT_FALSE(SpecFragmentYaml({json({{"optimizer", 3}})}).ok());
}

}  // namespace
}  // namespace segtune::client
