#include "segtune/spec/spec.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
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
    lr_range_test_ = IsLrRangeTest(root);
    ParseBudget(Section(root, "budget"));
    ParseData(Section(root, "data"));
    ParseModel(Section(root, "model"));
    ParseTraining(Section(root, "training"));
    ParseSearch(Section(root, "search"));
    CheckModelFits();
    CheckTrialCount();
  }

 private:
  // The section's mapping; an absent or empty section reads as {} so that its
  // defaults apply and its required keys are reported by name.
  const Tree& Section(const Tree& root, const std::string& key) { return Section(root, key, key); }
  const Tree& Section(const Tree& parent, const std::string& key, const std::string& path) {
    static const Tree kEmpty = Tree::object();
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return kEmpty;
    if (!it->is_object()) {
      problems_.Add(path, "must be a mapping, got " + Describe(*it));
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
    internal::CheckKeys(section, "budget", {"epochs", "max_trials", "parallelism", "max_retries"}, problems_);
    budget_valid_ = true;
    // An LR range test counts steps, not epochs (search.iterations).
    std::optional<std::int64_t> no_epochs;
    if (lr_range_test_) no_epochs = 1;
    if (auto epochs = ReadInt(section, "budget", "epochs", {1, 10000}, no_epochs)) {
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
    if (auto max_retries = ReadInt(section, "budget", "max_retries", {0, kMaxMaxRetries}, kDefaultMaxRetries)) {
      spec_.budget.max_retries = static_cast<int>(*max_retries);
    }
  }

  std::optional<double> ReadNumber(const Tree& section, const std::string& path,
                                   const std::string& key, internal::NumberRange range,
                                   double fallback) {
    const Tree* value = Find(section, key);
    if (value == nullptr) return fallback;
    if (auto problem = internal::NumberRangeProblem(nlohmann::json(*value), range)) {
      problems_.Add(Key(path, key), *problem);
      return std::nullopt;
    }
    return value->get<double>();
  }

  std::optional<bool> ReadBool(const Tree& section, const std::string& path,
                               const std::string& key, bool fallback) {
    const Tree* value = Find(section, key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) {
      problems_.Add(Key(path, key), "must be true or false, got " + Describe(*value));
      return std::nullopt;
    }
    return value->get<bool>();
  }

  // A list of `count` numbers, each within `range`; nullopt after reporting
  // the problem.
  std::optional<std::vector<double>> ReadNumbers(const Tree& value, const std::string& path,
                                                 std::size_t count, internal::NumberRange range,
                                                 const std::string& what) {
    if (!value.is_array() || value.size() != count) {
      problems_.Add(path, "must be a list of " + std::to_string(count) + " numbers (" + what +
                              "), got " + Describe(value));
      return std::nullopt;
    }
    std::vector<double> numbers;
    bool valid = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (auto problem = internal::NumberRangeProblem(nlohmann::json(value[i]), range)) {
        problems_.Add(internal::Index(path, i), *problem);
        valid = false;
      } else {
        numbers.push_back(value[i].get<double>());
      }
    }
    if (!valid) return std::nullopt;
    return numbers;
  }

  // data.mean or data.std: one number per RGB channel, on pixel values
  // scaled to [0, 1].
  void ReadChannels(const Tree& section, const std::string& key, internal::NumberRange range,
                    const std::vector<double>& fallback) {
    const Tree* value = Find(section, key);
    if (value == nullptr) {
      spec_.data[key] = fallback;
    } else if (auto numbers = ReadNumbers(*value, Key("data", key), 3, range, "red, green, blue")) {
      spec_.data[key] = *numbers;
    }
  }

  void ParseData(const Tree& section) {
    internal::CheckKeys(section, "data",
                        {"dataset", "root", "image_size", "resize", "num_classes", "train_size",
                         "val_size", "seed", "flip", "ignore_index", "mean", "std",
                         "val_fraction"},
                        problems_);
    spec_.data = nlohmann::json::object();
    std::optional<std::string> dataset = ReadChoice(section, "data", "dataset",
                                                    {"shapes", "voc", "folder"}, {},
                                                    std::string("shapes"));
    if (dataset) spec_.data["dataset"] = *dataset;
    // With an unknown dataset, only the checks that hold for every dataset
    // apply, so that its error is not followed by misleading ones.
    const bool shapes = dataset == "shapes";
    const bool files = dataset == "voc" || dataset == "folder";

    ParseDataRoot(section, dataset);
    image_size_ = ReadInt(section, "data", "image_size", {16, 512}, 48);
    if (image_size_) spec_.data["image_size"] = *image_size_;
    ParseDataResize(section, dataset);
    std::optional<std::int64_t> classes = ReadInt(section, "data", "num_classes", {2, 255}, 4);
    if (classes) spec_.data["num_classes"] = *classes;
    num_classes_ = classes;

    // shapes generates exactly this many samples; voc and folder read at most
    // this many, and 0 means all of them.
    const internal::IntRange size_range{shapes ? 1 : 0, 1000000};
    if (auto train_size = ReadInt(section, "data", "train_size", size_range, files ? 0 : 256)) {
      spec_.data["train_size"] = *train_size;
    }
    if (auto val_size = ReadInt(section, "data", "val_size", size_range, files ? 0 : 64)) {
      spec_.data["val_size"] = *val_size;
    }
    if (auto seed = ReadInt(section, "data", "seed", {0, std::nullopt}, 7)) {
      spec_.data["seed"] = *seed;
    }
    // Random horizontal flips: on for photos, off for shapes, as on the worker.
    if (auto flip = ReadBool(section, "data", "flip", !shapes)) spec_.data["flip"] = *flip;
    if (auto ignore = ReadInt(section, "data", "ignore_index", {0, 255}, 255)) {
      if (classes && *ignore < *classes) {
        problems_.Add("data.ignore_index",
                      "must not be a class index: must be >= data.num_classes (" +
                          std::to_string(*classes) + "), got " + std::to_string(*ignore));
      } else {
        spec_.data["ignore_index"] = *ignore;
      }
    }
    // The worker's normalization defaults: 0.5 / 0.25 for shapes, ImageNet's
    // statistics for photos.
    ReadChannels(section, "mean", {0, true, 1, true},
                 shapes ? std::vector<double>{0.5, 0.5, 0.5}
                        : std::vector<double>{0.485, 0.456, 0.406});
    ReadChannels(section, "std", {0, false, 1, true},
                 shapes ? std::vector<double>{0.25, 0.25, 0.25}
                        : std::vector<double>{0.229, 0.224, 0.225});
    ParseValFraction(section, dataset);
  }

  // voc and folder read their files from data.root on the worker machines;
  // shapes are generated.
  void ParseDataRoot(const Tree& section, const std::optional<std::string>& dataset) {
    const Tree* root = Find(section, "root");
    if (dataset == "shapes") {
      if (root != nullptr) {
        problems_.Add("data.root", "applies only to the voc and folder datasets; shapes are "
                                   "generated");
      }
    } else if (dataset) {
      if (root == nullptr) {
        problems_.Add("data.root", "is required for dataset " + *dataset +
                                       ": the dataset directory on the worker machines");
      } else if (!root->is_string() || root->get<std::string>().empty()) {
        problems_.Add("data.root", "must be a non-empty path, got " + Describe(*root));
      } else {
        spec_.data["root"] = root->get<std::string>();
      }
    }
  }

  // The size voc and folder images are stored at before random crops of
  // image_size; the default, image_size, means no crops.
  void ParseDataResize(const Tree& section, const std::optional<std::string>& dataset) {
    const Tree* resize = Find(section, "resize");
    if (dataset == "shapes") {
      if (resize != nullptr) {
        problems_.Add("data.resize", "applies only to the voc and folder datasets; shapes are "
                                     "generated at data.image_size");
      }
      return;
    }
    if (resize == nullptr) {
      if (dataset && image_size_) spec_.data["resize"] = *image_size_;
      return;
    }
    std::optional<std::int64_t> size = ReadInt(section, "data", "resize", {16, 4096}, std::nullopt);
    if (!size) return;
    if (image_size_ && *size < *image_size_) {
      problems_.Add("data.resize", "must be >= data.image_size (" + std::to_string(*image_size_) +
                                       ") to crop from, got " + std::to_string(*size));
      return;
    }
    if (dataset) spec_.data["resize"] = *size;
  }

  // folder has no split lists, so it holds out this fraction for validation.
  void ParseValFraction(const Tree& section, const std::optional<std::string>& dataset) {
    if (dataset != "folder") {
      if (dataset && Find(section, "val_fraction") != nullptr) {
        problems_.Add("data.val_fraction",
                      "applies only to the folder dataset (shapes generates its validation "
                      "set, voc lists it)");
      }
      return;
    }
    if (auto fraction = ReadNumber(section, "data", "val_fraction", {0, false, 1, false}, 0.2)) {
      spec_.data["val_fraction"] = *fraction;
    }
  }

  void ParseModel(const Tree& section) {
    internal::CheckKeys(section, "model", {"arch", "base_channels", "depth"}, problems_);
    spec_.model = nlohmann::json::object();
    arch_ = ReadChoice(section, "model", "arch", internal::Architectures(), {},
                       std::string("unet"));
    if (arch_) spec_.model["arch"] = *arch_;
    if (auto channels =
            ReadInt(section, "model", "base_channels", internal::kBaseChannelsRange, 8)) {
      spec_.model["base_channels"] = *channels;
    }
    depth_ = ReadInt(section, "model", "depth", internal::kDepthRange, 3);
    if (depth_) spec_.model["depth"] = *depth_;
  }

  void ParseTraining(const Tree& section) {
    internal::CheckKeys(section, "training", {"batch_size", "seed", "amp", "loss"}, problems_);
    spec_.training = nlohmann::json::object();
    if (auto batch_size =
            ReadInt(section, "training", "batch_size", internal::kBatchSizeRange, 16)) {
      spec_.training["batch_size"] = *batch_size;
    }
    if (auto seed = ReadInt(section, "training", "seed", internal::kTrainingSeedRange, 0)) {
      spec_.training["seed"] = *seed;
    }
    if (auto amp = ReadBool(section, "training", "amp", false)) spec_.training["amp"] = *amp;
    ParseLoss(Section(section, "loss", "training.loss"));
  }

  void ParseLoss(const Tree& section) {
    internal::CheckKeys(section, "training.loss", {"weight", "label_smoothing", "dice_weight"},
                        problems_);
    nlohmann::json loss = nlohmann::json::object();
    if (const Tree* weight = Find(section, "weight")) {
      if (num_classes_) {
        if (auto weights = ReadNumbers(*weight, "training.loss.weight",
                                       static_cast<std::size_t>(*num_classes_),
                                       {0, false, 1e6, true}, "one per class of data.num_classes")) {
          loss["weight"] = *weights;
        }
      }
    }
    if (auto smoothing = ReadNumber(section, "training.loss", "label_smoothing",
                                    internal::kLabelSmoothingRange, 0.0)) {
      loss["label_smoothing"] = *smoothing;
    }
    if (auto dice = ReadNumber(section, "training.loss", "dice_weight",
                               internal::kDiceWeightRange, 0.0)) {
      loss["dice_weight"] = *dice;
    }
    spec_.training["loss"] = std::move(loss);
  }

  static bool IsLrRangeTest(const Tree& root) {
    auto search = root.find("search");
    if (search == root.end() || !search->is_object()) return false;
    auto algorithm = search->find("algorithm");
    return algorithm != search->end() && algorithm->is_string() &&
           algorithm->get<std::string>() == "lr_range_test";
  }

  void ParseSearch(const Tree& section) {
    algorithm_ = ReadChoice(section, "search", "algorithm",
                            {"grid", "random", "asha", "hyperband", "median", "pbt", "tpe",
                             "lr_range_test"},
                            {}, std::string("grid"));
    CheckSearchKeys(section);
    if (algorithm_) spec_.search.algorithm = *algorithm_;
    if (auto seed = ReadInt(section, "search", "seed", {0, std::nullopt}, 0)) {
      spec_.search.seed = static_cast<std::uint64_t>(*seed);
    }
    if (algorithm_) ParseAlgorithmSettings(section, *algorithm_);
    const Tree* space = Find(section, "space");
    if (space == nullptr) {
      problems_.Add("search.space", "is required: the optimizers (and schedulers) to search");
      return;
    }
    std::size_t problems_before = problems_.count();
    internal::SpaceContext context;
    if (spec_.data.contains("train_size")) {
      context.train_size = spec_.data.at("train_size").get<std::int64_t>();
    }
    context.budget = ScheduleBudget();
    spec_.search.space = internal::ParseSearchSpace(*space, "search.space", context, problems_);
    space_valid_ = problems_.count() == problems_before;
    if (space->is_object()) space_ = &*space;
    if (algorithm_ == "lr_range_test") SetUpLrRangeTest();
  }

  // The keys of `search` that the algorithm in use reads; the keys of other
  // algorithms are named as such rather than as unknown.
  void CheckSearchKeys(const Tree& section) {
    static const std::map<std::string, std::vector<std::string>> kKeysOf = {
        {"asha", {"eta", "min_epochs", "max_epochs", "brackets", "sampler"}},
        {"hyperband", {"eta", "min_epochs", "max_epochs", "brackets", "sampler"}},
        {"median", {"grace_epochs", "min_trials", "sampler"}},
        {"pbt", {"perturbation_interval", "quantile_fraction", "resample_probability"}},
        {"tpe", {"n_startup_trials", "n_ei_candidates", "gamma"}},
        {"lr_range_test", {"min_lr", "max_lr", "iterations", "smoothing", "diverge_factor"}},
    };
    std::vector<std::string> known = {"algorithm", "seed", "space"};
    for (const auto& [algorithm, keys] : kKeysOf) known.insert(known.end(), keys.begin(), keys.end());
    std::sort(known.begin(), known.end());
    known.erase(std::unique(known.begin(), known.end()), known.end());
    internal::CheckKeys(section, "search", known, problems_);
    if (!algorithm_) return;

    std::vector<std::string> usable = {"algorithm", "seed", "space"};
    auto add = [&](const std::string& algorithm) {
      auto keys = kKeysOf.find(algorithm);
      if (keys != kKeysOf.end()) usable.insert(usable.end(), keys->second.begin(), keys->second.end());
    };
    add(*algorithm_);
    // The settings of a tpe sampler sit beside the stopper's.
    const Tree* sampler = Find(section, "sampler");
    if (sampler != nullptr && sampler->is_string() && sampler->get<std::string>() == "tpe") add("tpe");
    for (auto it = section.begin(); it != section.end(); ++it) {
      const std::string& key = it.key();
      if (std::find(known.begin(), known.end(), key) == known.end()) continue;  // reported above
      if (std::find(usable.begin(), usable.end(), key) != usable.end()) continue;
      std::vector<std::string> owners;
      for (const auto& [algorithm, keys] : kKeysOf) {
        if (std::find(keys.begin(), keys.end(), key) != keys.end()) owners.push_back(algorithm);
      }
      problems_.Add(Key("search", key), "is a setting of algorithm " + internal::JoinNames(owners) +
                                            ", not of " + *algorithm_);
    }
  }

  void ParseAlgorithmSettings(const Tree& section, const std::string& algorithm) {
    Search& search = spec_.search;
    const int epochs = spec_.budget.epochs;
    if (algorithm == "asha" || algorithm == "hyperband" || algorithm == "median") {
      ParseSampler(section);
    }
    if (algorithm == "tpe") ParseTpe(section);
    if (algorithm == "asha" || algorithm == "hyperband") ParseAsha(section, algorithm == "hyperband");
    if (algorithm == "median") {
      const std::int64_t last = std::max(1, epochs);
      if (auto grace = ReadInt(section, "search", "grace_epochs", {1, last}, 1)) {
        search.median.grace_epochs = static_cast<int>(*grace);
      }
      if (auto min_trials = ReadInt(section, "search", "min_trials", {1, 10000}, 3)) {
        search.median.min_trials = static_cast<int>(*min_trials);
      }
    }
    if (algorithm == "pbt") {
      if (epochs >= 2) {
        if (auto interval = ReadInt(section, "search", "perturbation_interval", {1, epochs - 1}, 1)) {
          search.pbt.perturbation_interval = static_cast<int>(*interval);
        }
      } else if (budget_valid_ && epochs == 1) {
        problems_.Add("budget.epochs", "must be >= 2 for pbt, which perturbs between epochs");
      }
      if (auto fraction = ReadNumber(section, "search", "quantile_fraction", {0, false, 0.5, true}, 0.25)) {
        search.pbt.quantile_fraction = *fraction;
      }
      if (auto probability = ReadNumber(section, "search", "resample_probability", {0, true, 1, true}, 0.25)) {
        search.pbt.resample_probability = *probability;
      }
    }
    if (algorithm == "lr_range_test") ParseLrRange(section);
  }

  void ParseSampler(const Tree& section) {
    std::optional<std::string> sampler =
        ReadChoice(section, "search", "sampler", {"grid", "random", "tpe"}, {}, std::string("random"));
    if (!sampler) return;
    spec_.search.sampler = *sampler;
    if (*sampler == "tpe") ParseTpe(section);
  }

  void ParseTpe(const Tree& section) {
    TpeSettings& tpe = spec_.search.tpe;
    if (auto startup = ReadInt(section, "search", "n_startup_trials", {1, 10000}, 5)) {
      tpe.n_startup_trials = static_cast<int>(*startup);
    }
    if (auto candidates = ReadInt(section, "search", "n_ei_candidates", {1, 10000}, 24)) {
      tpe.n_ei_candidates = static_cast<int>(*candidates);
    }
    if (auto gamma = ReadNumber(section, "search", "gamma", {0, false, 1, false}, 0.25)) tpe.gamma = *gamma;
  }

  // Rungs sit at min_epochs * eta^k below max_epochs; every bracket needs one.
  void ParseAsha(const Tree& section, bool hyperband) {
    AshaSettings& asha = spec_.search.asha;
    const int epochs = spec_.budget.epochs;
    if (epochs < 1) return;  // budget.epochs is reported already
    auto eta = ReadInt(section, "search", "eta", {2, 100}, 3);
    auto max_epochs = ReadInt(section, "search", "max_epochs", {1, epochs}, epochs);
    auto min_epochs = ReadInt(section, "search", "min_epochs", {1, epochs}, 1);
    if (!eta || !max_epochs || !min_epochs) return;
    asha.eta = static_cast<int>(*eta);
    asha.max_epochs = static_cast<int>(*max_epochs);
    asha.min_epochs = static_cast<int>(*min_epochs);
    if (asha.min_epochs >= asha.max_epochs) {
      problems_.Add("search.min_epochs", "must be < max_epochs (" + std::to_string(asha.max_epochs) +
                                             ") for a rung to exist, got " + std::to_string(asha.min_epochs));
      return;
    }
    // The brackets whose first rung min_epochs * eta^s is below max_epochs.
    int possible = 0;
    for (std::int64_t first = asha.min_epochs; first < asha.max_epochs; first *= asha.eta) ++possible;
    auto brackets = ReadInt(section, "search", "brackets", {1, possible}, hyperband ? possible : 1);
    if (brackets) asha.brackets = static_cast<int>(*brackets);
  }

  void ParseLrRange(const Tree& section) {
    LrRangeSettings& range = spec_.search.lr_range;
    auto min_lr = ReadNumber(section, "search", "min_lr", {0, false, 1e6, true}, 1e-7);
    auto max_lr = ReadNumber(section, "search", "max_lr", {0, false, 1e6, true}, 10.0);
    if (min_lr && max_lr) {
      range.min_lr = *min_lr;
      range.max_lr = *max_lr;
      if (*max_lr <= *min_lr) problems_.Add("search.max_lr", "must be greater than min_lr");
    }
    if (auto iterations = ReadInt(section, "search", "iterations", {5, 10000}, 100)) {
      range.iterations = static_cast<int>(*iterations);
    }
    if (auto smoothing = ReadNumber(section, "search", "smoothing", {0, true, 1, false}, 0.98)) {
      range.smoothing = *smoothing;
    }
    if (auto factor = ReadNumber(section, "search", "diverge_factor", {1, false, 1e6, true}, 4.0)) {
      range.diverge_factor = *factor;
    }
  }

  // An LR range test sets the lr itself, step by step, and judges the loss:
  // each step is an "epoch", the lr in the space and the schedulers do not
  // apply, and the objective is the smoothed training loss.
  void SetUpLrRangeTest() {
    spec_.budget.epochs = spec_.search.lr_range.iterations;
    spec_.objective = Objective{"smoothed_loss", false};
    spec_.search.space.schedulers.clear();
    for (Alternative& optimizer : spec_.search.space.optimizers) {
      Domain start;
      start.fixed = spec_.search.lr_range.min_lr;
      optimizer.args["lr"] = start;
    }
  }

  // The model settings a trial uses come from the space when it varies them,
  // else from the model section: the values to check, with where they were
  // written. Empty when the setting is invalid (already reported).
  std::vector<internal::Candidate> ModelCandidates(const std::string& key,
                                                   const std::optional<nlohmann::json>& fixed) {
    const std::string dotted = "model." + key;
    std::vector<internal::Candidate> candidates;
    if (space_ != nullptr && space_->contains(dotted) && !space_->at(dotted).is_null()) {
      const SearchSpace& space = spec_.search.space;
      if (space.others.count(dotted) == 0) return candidates;
      candidates = internal::Candidates(space.others.at(dotted), Key("search.space", dotted));
    } else if (fixed) {
      candidates.push_back({*fixed, dotted});
    }
    return candidates;
  }

  // Every architecture and depth a trial can get must fit data.image_size;
  // both bounds of a depth distribution suffice, as the depth checks are
  // monotone (lraspp's minimum, unet's divisibility by 2^(depth - 1)).
  void CheckModelFits() {
    std::optional<nlohmann::json> arch, depth;
    if (arch_) arch = *arch_;
    if (depth_) depth = *depth_;
    auto valid_arch = [](const internal::Candidate& c) {
      const std::vector<std::string>& names = internal::Architectures();
      return c.value.is_string() &&
             std::find(names.begin(), names.end(), c.value.get<std::string>()) != names.end();
    };
    auto valid_depth = [](const internal::Candidate& c) {
      return !internal::IntRangeProblem(c.value, internal::kDepthRange);
    };
    std::set<std::string> reported;
    for (const internal::Candidate& a : ModelCandidates("arch", arch)) {
      if (!valid_arch(a)) continue;
      const std::string name = a.value.get<std::string>();
      for (const internal::Candidate& d : ModelCandidates("depth", depth)) {
        // Without a valid image size only lraspp's rule can be checked.
        if (!valid_depth(d) || (name == "unet" && !image_size_)) continue;
        std::optional<std::string> problem =
            internal::ModelProblem(name, *internal::WholeNumber(d.value), image_size_.value_or(0));
        if (!problem) continue;
        // Both from the sections: the unet rule is about the image size.
        std::string where = d.path == "model.depth" && name == "unet" && a.path == "model.arch"
                                ? "data.image_size"
                                : d.path;
        if (a.path != "model.arch") *problem += "; " + a.path + " chooses " + name;
        if (reported.insert(where + "\n" + *problem).second) problems_.Add(where, *problem);
      }
    }
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
    // train_size 0 reads all of a voc or folder dataset: only the worker
    // knows how many batches that makes.
    if (spec_.budget.epochs < 1 || !train_size || *train_size < 1 || !batch_size ||
        *batch_size < 1) {
      return std::nullopt;
    }
    return optim::TrainingBudget(spec_.budget.epochs, *train_size, *batch_size);
  }

  // The budget must bound the number of trials.
  void CheckTrialCount() {
    if (!algorithm_ || !budget_valid_) return;
    const int max_trials = spec_.budget.max_trials;
    const bool grid = *algorithm_ == "grid" || *algorithm_ == "lr_range_test" ||
                      ((*algorithm_ == "asha" || *algorithm_ == "hyperband" || *algorithm_ == "median") &&
                       spec_.search.sampler == "grid");
    if (!grid && max_trials == 0) {
      const std::string what = *algorithm_ == "pbt" ? "pbt's population size" : "the number of trials";
      problems_.Add("budget.max_trials", "must be >= 1 for " + *algorithm_ + " search" +
                                             ": it is " + what + " (only grid sampling has a natural end)");
    }
    if (*algorithm_ == "pbt" && max_trials == 1) {
      problems_.Add("budget.max_trials", "must be >= 2 for pbt: members copy each other");
    }
    if (!grid || !space_valid_) return;
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
  std::optional<std::int64_t> num_classes_;
  std::optional<std::string> arch_;
  std::optional<std::int64_t> depth_;
  const Tree* space_ = nullptr;  // search.space, when a mapping; lives as long as Parse's root
  std::optional<std::string> algorithm_;
  bool lr_range_test_ = false;  // search.algorithm is lr_range_test
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
