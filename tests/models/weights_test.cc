#include "segtune/models/weights.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "segtune/models/model.h"

namespace segtune::models {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<SegmentationModel> Make(const std::string& arch, int seed) {
  ModelSpec spec;
  spec.arch = arch;
  spec.num_classes = 3;
  spec.base_channels = 2;
  spec.depth = arch == "unet" ? 1 : 2;
  torch::manual_seed(seed);
  return *MakeModel(spec);
}

// Train-mode passes move the BatchNorm statistics and counters away from
// their initial values, so that a copy that skipped buffers would show.
void MoveBatchNormStatistics(SegmentationModel& model) {
  torch::NoGradGuard no_grad;
  model.train();
  for (int i = 0; i < 3; ++i) model.forward(torch::randn({2, 3, 8, 8}));
}

// Every parameter and buffer, cloned.
std::vector<std::pair<std::string, torch::Tensor>> Snapshot(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& item : module.named_parameters()) {
    state.emplace_back(item.key(), item.value().clone());
  }
  for (const auto& item : module.named_buffers()) {
    state.emplace_back(item.key(), item.value().clone());
  }
  return state;
}

void ExpectSameState(const torch::nn::Module& module,
                     const std::vector<std::pair<std::string, torch::Tensor>>& expected) {
  const auto actual = Snapshot(module);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_TRUE(torch::equal(actual[i].second, expected[i].second)) << actual[i].first;
  }
}

TEST(WeightsTest, SavesThePythonStateDict) {
  std::shared_ptr<SegmentationModel> model = Make("unet", 1);
  MoveBatchNormStatistics(*model);
  const std::string bytes = SaveWeights(*model);
  const c10::impl::GenericDict saved =
      torch::pickle_load({bytes.begin(), bytes.end()}).toGenericDict();
  // Python's order: per module, its parameters, then its buffers; the
  // convs before BatchNorm have no bias and no entry.
  const std::vector<std::string> expected = {
      "encoder0.0.weight",          "encoder0.1.weight",       "encoder0.1.bias",
      "encoder0.1.running_mean",    "encoder0.1.running_var",  "encoder0.1.num_batches_tracked",
      "encoder0.3.weight",          "encoder0.4.weight",       "encoder0.4.bias",
      "encoder0.4.running_mean",    "encoder0.4.running_var",  "encoder0.4.num_batches_tracked",
      "head.weight",                "head.bias"};
  std::vector<std::string> names;
  for (const auto& item : saved) {
    names.push_back(item.key().toStringRef());
    EXPECT_FALSE(item.value().toTensor().requires_grad()) << names.back();
  }
  EXPECT_EQ(names, expected);
  EXPECT_EQ(saved.at("encoder0.1.num_batches_tracked").toTensor().item<int64_t>(), 3);
  EXPECT_TRUE(torch::equal(saved.at("head.weight").toTensor(),
                           model->named_parameters()["head.weight"]));
}

class RoundTripTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTripTest, AnotherSeedBecomesIdentical) {
  std::shared_ptr<SegmentationModel> source = Make(GetParam(), 1);
  MoveBatchNormStatistics(*source);
  std::shared_ptr<SegmentationModel> target = Make(GetParam(), 2);
  ASSERT_FALSE(torch::equal(source->parameters()[0], target->parameters()[0]));

  ASSERT_TRUE(LoadWeights(*target, SaveWeights(*source)).ok());
  ExpectSameState(*target, Snapshot(*source));
  source->eval();
  target->eval();
  const torch::Tensor images = torch::randn({2, 3, 8, 8});
  EXPECT_TRUE(torch::equal(source->forward(images), target->forward(images)));
}

INSTANTIATE_TEST_SUITE_P(Archs, RoundTripTest, ::testing::Values("unet", "lraspp"));

// Weights of another seed, edited, as torch.save bytes.
std::string EditedWeights(const std::string& arch,
                          void (*edit)(c10::impl::GenericDict& state)) {
  const std::string bytes = SaveWeights(*Make(arch, 2));
  c10::impl::GenericDict state = torch::pickle_load({bytes.begin(), bytes.end()}).toGenericDict();
  edit(state);
  const std::vector<char> edited = torch::pickle_save(state);
  return std::string(edited.begin(), edited.end());
}

struct BadWeights {
  std::string name;
  std::string bytes;
  absl::StatusCode code;
  std::string message;
};

class LoadWeightsErrorTest : public ::testing::TestWithParam<BadWeights> {};

TEST_P(LoadWeightsErrorTest, LeavesTheModuleUnchanged) {
  std::shared_ptr<SegmentationModel> model = Make("unet", 1);
  const auto before = Snapshot(*model);
  const absl::Status status = LoadWeights(*model, GetParam().bytes);
  EXPECT_EQ(status.code(), GetParam().code) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
  ExpectSameState(*model, before);
}

std::string Pickled(const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  return std::string(bytes.begin(), bytes.end());
}

c10::Dict<std::string, int64_t> OneNumber() {
  c10::Dict<std::string, int64_t> dict;
  dict.insert("head.weight", 1);
  return dict;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LoadWeightsErrorTest,
    ::testing::Values(
        BadWeights{"missing",
                   EditedWeights("unet",
                                 [](c10::impl::GenericDict& s) {
                                   static_cast<void>(s.erase("head.bias"));
                                 }),
                   absl::StatusCode::kInvalidArgument, "weights: missing 'head.bias'"},
        BadWeights{"unexpected",
                   EditedWeights("unet",
                                 [](c10::impl::GenericDict& s) {
                                   s.insert("head.scale", torch::ones({3}));
                                 }),
                   absl::StatusCode::kInvalidArgument, "weights: unexpected 'head.scale'"},
        BadWeights{"shape",
                   EditedWeights("unet",
                                 [](c10::impl::GenericDict& s) {
                                   s.insert_or_assign("head.weight", torch::ones({4, 2, 1, 1}));
                                 }),
                   absl::StatusCode::kInvalidArgument,
                   "weights: 'head.weight' has shape [4, 2, 1, 1], the model's is [3, 2, 1, 1]"},
        BadWeights{"dtype",
                   EditedWeights("unet",
                                 [](c10::impl::GenericDict& s) {
                                   s.insert_or_assign("head.bias",
                                                      torch::ones({3}, torch::kFloat64));
                                 }),
                   absl::StatusCode::kInvalidArgument,
                   "weights: 'head.bias' has dtype Double, the model's is Float"},
        BadWeights{"other_arch", SaveWeights(*Make("lraspp", 2)),
                   absl::StatusCode::kInvalidArgument, "weights: missing 'encoder0.0.weight'"},
        BadWeights{"garbage", "certainly not a zip file", absl::StatusCode::kDataLoss,
                   "weights: not a file of torch.save"},
        BadWeights{"empty", "", absl::StatusCode::kDataLoss, "weights: not a file of torch.save"},
        BadWeights{"tensor", Pickled(torch::ones({2})), absl::StatusCode::kDataLoss,
                   "weights: expected a dict of tensors, found Tensor"},
        BadWeights{"not_tensors", Pickled(OneNumber()), absl::StatusCode::kDataLoss,
                   "weights: expected a dict of tensors"}),
    [](const ::testing::TestParamInfo<BadWeights>& info) { return info.param.name; });

// The opcodes of Python's pickle (protocol 2) used below.
std::string Unicode(const std::string& text) {
  const uint32_t size = text.size();  // little-endian, as on the hosts we build for
  std::string out = "X";
  out.append(reinterpret_cast<const char*>(&size), sizeof(size));
  return out + text;
}
std::string Put(int memo) { return std::string("q") + static_cast<char>(memo); }
std::string Get(int memo) { return std::string("h") + static_cast<char>(memo); }
std::string Int(int value) { return std::string("K") + static_cast<char>(value); }

// Exactly what Python 3.11's torch 1.13 writes as data.pkl for
// torch.save(m.state_dict()) of a module with a float parameter `weight` of
// 2 elements and an int64 scalar buffer `count` (pickletools.dis of it):
// an OrderedDict filled by SETITEMS, then BUILD with its _metadata.
// `device`: where the tensors were ("cuda:0" when saved from a GPU).
std::string PythonStateDictPickle(const std::string& device) {
  const std::string ordered_dict = "ccollections\nOrderedDict\n";
  return "\x80\x02" + ordered_dict + Put(0) + ")R" + Put(1) + "(" +
         // 'weight': _rebuild_tensor_v2(storage, 0, (2,), (1,), False, OrderedDict())
         Unicode("weight") + Put(2) + "ctorch._utils\n_rebuild_tensor_v2\n" + Put(3) + "((" +
         Unicode("storage") + Put(4) + "ctorch\nFloatStorage\n" + Put(5) + Unicode("0") +
         Put(6) + Unicode(device) + Put(7) + Int(2) + "t" + Put(8) + "Q" + Int(0) + Int(2) +
         "\x85" + Put(9) + Int(1) + "\x85" + Put(10) + "\x89" + Get(0) + ")R" + Put(11) + "t" +
         Put(12) + "R" + Put(13) +
         // 'count': _rebuild_tensor_v2(storage, 0, (), (), False, OrderedDict())
         Unicode("count") + Put(14) + Get(3) + "((" + Get(4) + "ctorch\nLongStorage\n" +
         Put(15) + Unicode("1") + Put(16) + Get(7) + Int(1) + "t" + Put(17) + "Q" + Int(0) +
         "))\x89" + Get(0) + ")R" + Put(18) + "t" + Put(19) + "R" + Put(20) + "u" +
         // BUILD with {'_metadata': OrderedDict({'': {'version': 1}})}
         "}" + Put(21) + Unicode("_metadata") + Put(22) + Get(0) + ")R" + Put(23) + Unicode("") +
         Put(24) + "}" + Put(25) + Unicode("version") + Put(26) + Int(1) + "sssb.";
}

std::string PythonStateDictFile(const std::string& pickle) {
  std::string file;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    file.append(static_cast<const char*>(data), size);
    return size;
  });
  const float weight[] = {1.5f, -2.0f};
  const int64_t count = 7;
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeRecord("data/0", weight, sizeof(weight));
  writer.writeRecord("data/1", &count, sizeof(count));
  writer.writeEndOfFile();
  return file;
}

struct Tiny : torch::nn::Module {
  Tiny() {
    weight = register_parameter("weight", torch::zeros({2}));
    count = register_buffer("count", torch::zeros({}, torch::kInt64));
  }
  torch::Tensor weight;
  torch::Tensor count;
};

TEST(WeightsTest, ReadsTheOrderedDictOfPythonsStateDict) {
  Tiny tiny;
  const absl::Status status = LoadWeights(tiny, PythonStateDictFile(PythonStateDictPickle("cpu")));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(torch::equal(tiny.weight, torch::tensor({1.5f, -2.0f})));
  EXPECT_EQ(tiny.count.item<int64_t>(), 7);
  EXPECT_TRUE(tiny.weight.requires_grad());
}

// This LibTorch has no CUDA: the tensors must land on the CPU.
TEST(WeightsTest, ReadsAStateDictSavedFromAGpu) {
  Tiny tiny;
  const absl::Status status =
      LoadWeights(tiny, PythonStateDictFile(PythonStateDictPickle("cuda:0")));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(torch::equal(tiny.weight, torch::tensor({1.5f, -2.0f})));
}

TEST(WeightsTest, TruncatedPickleIsDataLoss) {
  Tiny tiny;
  std::string pickle = PythonStateDictPickle("cpu");
  pickle.pop_back();  // STOP
  const absl::Status status = LoadWeights(tiny, PythonStateDictFile(pickle));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("pickle: ends without STOP"));
  EXPECT_TRUE(torch::equal(tiny.weight, torch::zeros({2})));
}

}  // namespace
}  // namespace segtune::models
