#include "segtune/spec/spec.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <vector>

#include "parse_util.h"
#include "segtune/optim/catalog.h"
#include "space_parser.h"
#include "yaml_tree.h"

namespace segtune::spec {
namespace {

using internal::Describe;
using internal::IntRange;
using internal::Key;
using internal::Problems;
using internal::Tree;

constexpr std::size_t kMaxNameLength = 128;

const std::vector<std::string> kMetrics = {"train_loss", "val_loss", "val_miou", "val_pixel_acc"};

class SpecParser {
 public:
  SpecParser(Problems& problems, SweepSpec& spec) : problems_(problems), spec_(spec) {}

  void Parse(const Tree& root) {
    if (root.is_null()) {
      problems_.Add("", "the spec is empty");
      return;
    }
    if (!root.is_object()) {
      problems_.Add("", "must be a mapping of sections (name, objective, budget, data, model, "
                        "training, search), got " + Describe(root));
      return;
    }
    internal::CheckKeys(root,
                        "", {"name", "objective", "budget", "data", "model", "training", "search"},
                        problems_);
    ParseName(root);
    ParseObjective(Section(root, "objective"));
    ParseBudget(Section(root, "budget"));
    ParseData(Section(root, "data"));
    ParseModel(Section(root, "model"));
    ParseTraining(Section(root, "training"));
    ParseSearch(Section(root, "search"));
    CheckTrialCount();
  }

 private:
  // The section's mapping; an absent or empty section reads as {} so that its
  // defaults apply and its required keys are reported by name.
  const Tree& Section(const Tree& root, const std::string& key) {
    static const Tree kEmpty = Tree::object();
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) return kEmpty;
    if (!it->is_object()) {
      problems_.Add(key, "must be a mapping, got " + Describe(*it));
      return kEmpty;
    }
    return *it;
  }

  // The value at `key`, or nullptr when absent or null (YAML `key:`).
  static const Tree* Find(const Tree& section, const std::string& key) {
    auto it = section.find(key);
    if (it == section.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<std::int64_t> ReadInt(const Tree& section, const std::string& path,
                                      const std::string& key, IntRange range,
                                      std::optional<std::int64_t> fallback) {
    const Tree* value = Find(section, key);
    if (value == nullptr) {
      if (!fallback) problems_.Add(Key(path, key), "is required: " + internal::DescribeRange(range));
      return fallback;
    }
    if (auto problem = internal::IntRangeProblem(nlohmann::json(*value), range)) {
      problems_.Add(Key(path, key), *problem);
      return std::nullopt;
    }
    return internal::WholeNumber(*value);
  }

  // A string from `allowed`; names in `not_yet` are known but not built yet.
  std::optional<std::string> ReadChoice(const Tree& section, const std::string& path,
                                        const std::string& key,
                                        const std::vector<std::string>& allowed,
                                        const std::vector<std::string>& not_yet,
                                        std::optional<std::string> fallback) {
    const Tree* value = Find(section, key);
    if (value == nullptr) {
      if (!fallback) {
        problems_.Add(Key(path, key), "is required: one of " + internal::JoinNames(allowed));
      }
      return fallback;
    }
    std::string text = value->is_string() ? value->get<std::string>() : "";
    if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) return text;
    if (std::find(not_yet.begin(), not_yet.end(), text) != not_yet.end()) {
      problems_.Add(Key(path, key), "\"" + text + "\" is not supported yet (supported: " +
                                        internal::JoinNames(allowed) + ")");
      return std::nullopt;
    }
    std::vector<std::string> known = allowed;
    known.insert(known.end(), not_yet.begin(), not_yet.end());
    problems_.Add(Key(path, key), "must be one of " + internal::JoinNames(allowed) + ", got " +
                                      Describe(*value) + internal::DidYouMean(text, known));
    return std::nullopt;
  }

  void ParseName(const Tree& root) {
    const Tree* name = Find(root, "name");
    if (name == nullptr) {
      problems_.Add("name", "is required");
      return;
    }
    std::string text = name->is_string() ? name->get<std::string>() : "";
    bool valid = !text.empty() && text.size() <= kMaxNameLength &&
                 std::all_of(text.begin(), text.end(), [](char c) {
                   return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                          c == '-';
                 });
    if (!valid) {
      problems_.Add("name", "must be 1 to " + std::to_string(kMaxNameLength) +
                                " letters, digits, '.', '_' or '-', got " + Describe(*name));
      return;
    }
    spec_.name = text;
  }

  void ParseObjective(const Tree& section) {
    internal::CheckKeys(section, "objective", {"metric", "mode"}, problems_);
    std::optional<std::string> metric =
        ReadChoice(section, "objective", "metric", kMetrics, {}, std::nullopt);
    if (metric) spec_.objective.metric = *metric;
    // Losses go down, scores go up.
    bool is_loss = metric && (*metric == "train_loss" || *metric == "val_loss");
    std::optional<std::string> mode = ReadChoice(section, "objective", "mode", {"max", "min"}, {},
                                                 std::string(is_loss ? "min" : "max"));
    if (mode) spec_.objective.maximize = *mode == "max";
  }

  void ParseBudget(const Tree& section) {
    internal::CheckKeys(section, "budget", {"epochs", "max_trials", "parallelism"}, problems_);
    budget_valid_ = true;
    if (auto epochs = ReadInt(section, "budget", "epochs", {1, 10000}, std::nullopt)) {
      spec_.budget.epochs = static_cast<int>(*epochs);
    }
    if (auto max_trials = ReadInt(section, "budget", "max_trials", {0, kMaxGridPointsWithoutLimit}, 0)) {
      spec_.budget.max_trials = static_cast<int>(*max_trials);
    } else {
      budget_valid_ = false;
    }
    if (auto parallelism = ReadInt(section, "budget", "parallelism", {0, 10000}, 0)) {
      spec_.budget.parallelism = static_cast<int>(*parallelism);
    }
  }

  void ParseData(const Tree& section) {
    internal::CheckKeys(section, "data",
                        {"dataset", "image_size", "num_classes", "train_size", "val_size", "seed"},
                        problems_);
    spec_.data = nlohmann::json::object();
    if (auto dataset = ReadChoice(section, "data", "dataset", {"shapes"}, {"voc", "folder"},
                                  std::string("shapes"))) {
      spec_.data["dataset"] = *dataset;
    }
    image_size_ = ReadInt(section, "data", "image_size", {16, 512}, 48);
    if (image_size_) spec_.data["image_size"] = *image_size_;
    if (auto classes = ReadInt(section, "data", "num_classes", {2, 32}, 4)) {
      spec_.data["num_classes"] = *classes;
    }
    if (auto train_size = ReadInt(section, "data", "train_size", {1, 1000000}, 256)) {
      spec_.data["train_size"] = *train_size;
    }
    if (auto val_size = ReadInt(section, "data", "val_size", {1, 1000000}, 64)) {
      spec_.data["val_size"] = *val_size;
    }
    if (auto seed = ReadInt(section, "data", "seed", {0, std::nullopt}, 7)) {
      spec_.data["seed"] = *seed;
    }
  }

  void ParseModel(const Tree& section) {
    internal::CheckKeys(section, "model", {"arch", "base_channels", "depth"}, problems_);
    spec_.model = nlohmann::json::object();
    if (auto arch = ReadChoice(section, "model", "arch", {"unet"}, {}, std::string("unet"))) {
      spec_.model["arch"] = *arch;
    }
    if (auto channels =
            ReadInt(section, "model", "base_channels", internal::kBaseChannelsRange, 8)) {
      spec_.model["base_channels"] = *channels;
    }
    std::optional<std::int64_t> depth = ReadInt(section, "model", "depth", internal::kDepthRange, 3);
    if (depth) {
      spec_.model["depth"] = *depth;
      if (image_size_) {
        if (auto problem = internal::ImageSizeDepthProblem(*image_size_, *depth)) {
          problems_.Add("data.image_size", *problem);
        }
      }
    }
  }

  void ParseTraining(const Tree& section) {
    internal::CheckKeys(section, "training", {"batch_size", "seed"}, problems_);
    spec_.training = nlohmann::json::object();
    if (auto batch_size =
            ReadInt(section, "training", "batch_size", internal::kBatchSizeRange, 16)) {
      spec_.training["batch_size"] = *batch_size;
    }
    if (auto seed = ReadInt(section, "training", "seed", internal::kTrainingSeedRange, 0)) {
      spec_.training["seed"] = *seed;
    }
  }

  void ParseSearch(const Tree& section) {
    internal::CheckKeys(section, "search", {"algorithm", "seed", "space"}, problems_);
    algorithm_ = ReadChoice(section, "search", "algorithm", {"grid", "random"},
                            {"asha", "hyperband", "median", "pbt", "tpe"}, std::string("grid"));
    if (algorithm_) spec_.search.algorithm = *algorithm_;
    if (auto seed = ReadInt(section, "search", "seed", {0, std::nullopt}, 0)) {
      spec_.search.seed = static_cast<std::uint64_t>(*seed);
    }
    const Tree* space = Find(section, "space");
    if (space == nullptr) {
      problems_.Add("search.space", "is required: the optimizers (and schedulers) to search");
      return;
    }
    std::size_t problems_before = problems_.count();
    internal::SpaceContext context;
    context.image_size = image_size_;
    context.budget = ScheduleBudget();
    spec_.search.space = internal::ParseSearchSpace(*space, "search.space", context, problems_);
    space_valid_ = problems_.count() == problems_before;
  }

  // The budget of a trial with the spec's own batch size, when the sections
  // it comes from are valid.
  std::optional<optim::Budget> ScheduleBudget() const {
    auto whole = [](const nlohmann::json& section, const char* key) -> std::optional<std::int64_t> {
      if (!section.is_object() || !section.contains(key) || !section.at(key).is_number_integer()) {
        return std::nullopt;
      }
      return section.at(key).get<std::int64_t>();
    };
    std::optional<std::int64_t> train_size = whole(spec_.data, "train_size");
    std::optional<std::int64_t> batch_size = whole(spec_.training, "batch_size");
    if (spec_.budget.epochs < 1 || !train_size || !batch_size || *batch_size < 1) return std::nullopt;
    return optim::TrainingBudget(spec_.budget.epochs, *train_size, *batch_size);
  }

  // The budget must bound the number of trials.
  void CheckTrialCount() {
    if (!algorithm_ || !budget_valid_) return;
    const int max_trials = spec_.budget.max_trials;
    if (*algorithm_ == "random" && max_trials == 0) {
      problems_.Add("budget.max_trials",
                    "must be >= 1 for random search, which has no natural end");
    }
    if (*algorithm_ != "grid" || !space_valid_) return;
    std::uint64_t points = CountGridPoints(spec_.search.space);
    if (points == UINT64_MAX) {
      problems_.Add("search.space", "spans too many grid points to number (2^64 or more): use "
                                    "algorithm random");
    } else if (max_trials == 0 && points > kMaxGridPointsWithoutLimit) {
      problems_.Add("budget.max_trials",
                    "the grid has " + std::to_string(points) + " points, more than " +
                        std::to_string(kMaxGridPointsWithoutLimit) +
                        ": set max_trials to run a random subset of them");
    }
  }

  Problems& problems_;
  SweepSpec& spec_;
  std::optional<std::int64_t> image_size_;
  std::optional<std::string> algorithm_;
  bool budget_valid_ = false;
  bool space_valid_ = false;
};

}  // namespace

std::string ParseResult::ErrorText() const {
  std::string text;
  for (const SpecError& error : errors) {
    if (!text.empty()) text += "\n";
    text += error.ToString();
  }
  return text;
}

ParseResult ParseSpec(std::string_view yaml_text) {
  ParseResult result;
  Problems problems;
  if (std::optional<Tree> root = internal::LoadYaml(yaml_text, problems)) {
    SpecParser(problems, result.spec).Parse(*root);
  }
  result.errors = problems.Take();
  return result;
}

}  // namespace segtune::spec
