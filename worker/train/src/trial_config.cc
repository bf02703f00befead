#include "segtune/train/trial_config.h"

#include <cmath>
#include <limits>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/models/model.h"
#include "segtune/optim/catalog.h"
#include "segtune/optim/exploit.h"

namespace segtune::train {
namespace {

using nlohmann::json;

// The keys of every section a params override may set.
const std::map<std::string, std::set<std::string>>& SectionKeys() {
  static const auto* const kKeys = new std::map<std::string, std::set<std::string>>{
      {"data",
       {"dataset", "root", "image_size", "resize", "num_classes", "train_size", "val_size", "seed",
        "flip", "ignore_index", "mean", "std", "val_fraction"}},
      {"model", {"arch", "base_channels", "depth"}},
      {"training", {"batch_size", "seed", "amp", "loss"}},
  };
  return *kKeys;
}

class Problems {
 public:
  void Add(const std::string& path, const std::string& message) {
    messages_.push_back(absl::StrCat(path, ": ", message));
  }
  // A problem whose message names its field itself.
  void Add(const absl::Status& status) { messages_.emplace_back(status.message()); }
  bool empty() const { return messages_.empty(); }
  absl::Status ToStatus() const {
    return absl::InvalidArgumentError(absl::StrJoin(messages_, "; "));
  }

 private:
  std::vector<std::string> messages_;
};

std::optional<int64_t> WholeNumber(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  // Sampled or quantized values may arrive as 16.0.
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::floor(number) == number && std::abs(number) <= 9007199254740992.0) {
      return static_cast<int64_t>(number);
    }
  }
  return std::nullopt;
}

// Reads section[key] as a whole number in [low, high].
std::optional<int64_t> ReadInt(const json& section, const std::string& path_prefix,
                               const std::string& key, int64_t low, int64_t high,
                               Problems& problems) {
  const std::string path = path_prefix + key;
  auto it = section.find(key);
  if (it == section.end()) {
    problems.Add(path, "required");
    return std::nullopt;
  }
  const std::optional<int64_t> value = WholeNumber(*it);
  if (!value) {
    problems.Add(path, absl::StrCat("must be an integer, got ", it->dump()));
    return std::nullopt;
  }
  if (*value < low || *value > high) {
    problems.Add(path, absl::StrCat("must be in [", low, ", ", high, "], got ", *value));
    return std::nullopt;
  }
  return value;
}

// Reads section[key] as one of `allowed`.
std::optional<std::string> ReadChoice(const json& section, const std::string& path_prefix,
                                      const std::string& key, const std::set<std::string>& allowed,
                                      Problems& problems) {
  const std::string path = path_prefix + key;
  auto it = section.find(key);
  if (it == section.end()) {
    problems.Add(path, "required");
    return std::nullopt;
  }
  if (!it->is_string()) {
    problems.Add(path, absl::StrCat("must be a string, got ", it->dump()));
    return std::nullopt;
  }
  const std::string value = it->get<std::string>();
  if (allowed.count(value) == 0) {
    problems.Add(path, absl::StrCat("'", value, "' is not supported by this worker (supported: ",
                                    absl::StrJoin(allowed, ", "), ")"));
    return std::nullopt;
  }
  return value;
}

// Sets sections[section][key] from a dotted params key like "training.batch_size".
void ApplyOverride(const std::string& dotted, const json& value, const std::string& source,
                   json& sections, Problems& problems) {
  const size_t dot = dotted.find('.');
  const std::string section = dot == std::string::npos ? dotted : dotted.substr(0, dot);
  const std::string key = dot == std::string::npos ? "" : dotted.substr(dot + 1);
  const size_t inner_dot = key.find('.');
  const std::string top_key = key.substr(0, inner_dot);
  auto known = SectionKeys().find(section);
  if (known == SectionKeys().end() || known->second.count(top_key) == 0 ||
      (inner_dot != std::string::npos && top_key != "loss")) {
    problems.Add(source,
                 "unknown parameter (expected optimizer, scheduler or a dotted key "
                 "of data, model or training, e.g. training.batch_size)");
    return;
  }
  if (!sections[section].is_object()) return;
  if (inner_dot == std::string::npos) {
    sections[section][key] = value;
    return;
  }
  // training.loss.<key>: one level deeper.
  json& loss = sections[section][top_key];
  if (loss.is_null()) loss = json::object();
  if (loss.is_object()) loss[key.substr(inner_dot + 1)] = value;
}

void CheckKnownKeys(const json& section, const std::string& name, Problems& problems) {
  const std::set<std::string>& keys = SectionKeys().at(name);
  for (const auto& [key, value] : section.items()) {
    if (keys.count(key) == 0) {
      problems.Add(absl::StrCat(name, ".", key),
                   absl::StrCat("unknown key (expected one of: ", absl::StrJoin(keys, ", "), ")"));
    }
  }
}

// Reads section[key] as a whole number in [low, high], or `fallback` when absent.
std::optional<int64_t> ReadOptionalInt(const json& section, const std::string& path_prefix,
                                       const std::string& key, int64_t low, int64_t high,
                                       int64_t fallback, Problems& problems) {
  if (!section.contains(key)) return fallback;
  return ReadInt(section, path_prefix, key, low, high, problems);
}

std::optional<bool> ReadOptionalBool(const json& section, const std::string& path,
                                     const std::string& key, bool fallback, Problems& problems) {
  auto it = section.find(key);
  if (it == section.end()) return fallback;
  if (!it->is_boolean()) {
    problems.Add(path + key, absl::StrCat("must be true or false, got ", it->dump()));
    return std::nullopt;
  }
  return it->get<bool>();
}

// A number in [low, high) (or [low, high] when `high_inclusive`), or `fallback` when absent.
std::optional<double> ReadOptionalDouble(const json& section, const std::string& path,
                                         const std::string& key, double low, double high,
                                         bool high_inclusive, double fallback,
                                         Problems& problems) {
  auto it = section.find(key);
  if (it == section.end()) return fallback;
  if (!it->is_number()) {
    problems.Add(path + key, absl::StrCat("must be a number, got ", it->dump()));
    return std::nullopt;
  }
  const double value = it->get<double>();
  const bool above = high_inclusive ? value > high : value >= high;
  if (!std::isfinite(value) || value < low || above) {
    problems.Add(path + key, absl::StrCat("must be in [", low, ", ", high, high_inclusive ? "]" : ")",
                                          ", got ", it->dump()));
    return std::nullopt;
  }
  return value;
}

// A list of `count` numbers, each > low_exclusive.
std::optional<std::vector<double>> ReadNumbers(const json& value, const std::string& path,
                                               size_t count, double low_exclusive,
                                               Problems& problems) {
  if (!value.is_array() || value.size() != count) {
    problems.Add(path, absl::StrCat("must be a list of ", count, " numbers, got ", value.dump()));
    return std::nullopt;
  }
  std::vector<double> numbers;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_number() || !std::isfinite(value[i].get<double>()) ||
        value[i].get<double>() <= low_exclusive) {
      problems.Add(absl::StrCat(path, "[", i, "]"),
                   absl::StrCat("must be a number > ", low_exclusive, ", got ", value[i].dump()));
      return std::nullopt;
    }
    numbers.push_back(value[i].get<double>());
  }
  return numbers;
}

// data.mean / data.std: three per-channel numbers.
std::optional<std::array<float, 3>> ReadChannels(const json& data, const std::string& key,
                                                 std::array<float, 3> fallback, double low_exclusive,
                                                 Problems& problems) {
  if (!data.contains(key)) return fallback;
  std::optional<std::vector<double>> numbers =
      ReadNumbers(data.at(key), "data." + key, 3, low_exclusive, problems);
  if (!numbers) return std::nullopt;
  return std::array<float, 3>{static_cast<float>((*numbers)[0]), static_cast<float>((*numbers)[1]),
                              static_cast<float>((*numbers)[2])};
}

// ImageNet's statistics, which pretrained-style normalization of real photos uses.
constexpr std::array<float, 3> kImageNetMean = {0.485F, 0.456F, 0.406F};
constexpr std::array<float, 3> kImageNetStd = {0.229F, 0.224F, 0.225F};

void ParseData(const json& data, DataConfig& out, Problems& problems) {
  CheckKnownKeys(data, "data", problems);
  if (auto v = ReadChoice(data, "data.", "dataset", {"shapes", "voc", "folder"}, problems)) {
    out.dataset = *v;
  }
  const bool synthetic = out.dataset == "shapes";
  auto root = data.find("root");
  if (!synthetic && !out.dataset.empty()) {
    if (root == data.end() || !root->is_string() || root->get<std::string>().empty()) {
      problems.Add("data.root", absl::StrCat("required for dataset ", out.dataset,
                                             " (the dataset directory)"));
    } else {
      out.root = root->get<std::string>();
    }
  } else if (root != data.end() && synthetic) {
    problems.Add("data.root", "only voc and folder datasets read files");
  }
  if (auto v = ReadInt(data, "data.", "image_size", 8, 1024, problems)) out.image_size = *v;
  if (auto v = ReadOptionalInt(data, "data.", "resize", 8, 4096, out.image_size, problems)) {
    out.resize = static_cast<int>(*v);
    if (out.image_size > 0 && out.resize < out.image_size) {
      problems.Add("data.resize", absl::StrCat("must be >= data.image_size (", out.image_size,
                                               ") to crop from, got ", out.resize));
    }
    if (synthetic && out.image_size > 0 && out.resize != out.image_size) {
      problems.Add("data.resize", "shapes are generated at data.image_size; resize does not apply");
    }
  }
  if (auto v = ReadInt(data, "data.", "num_classes", 2, 255, problems)) {
    out.num_classes = static_cast<int>(*v);
  }
  const int64_t min_size = synthetic ? 1 : 0;
  if (auto v = ReadInt(data, "data.", "train_size", min_size, 1000000, problems)) {
    out.train_size = *v;
  }
  if (auto v = ReadInt(data, "data.", "val_size", min_size, 1000000, problems)) out.val_size = *v;
  if (auto v = ReadInt(data, "data.", "seed", 0, std::numeric_limits<int64_t>::max(), problems)) {
    out.seed = static_cast<uint64_t>(*v);
  }
  if (auto v = ReadOptionalBool(data, "data.", "flip", !synthetic, problems)) out.flip = *v;
  if (auto v = ReadOptionalInt(data, "data.", "ignore_index", 0, 255, 255, problems)) {
    out.ignore_index = static_cast<int>(*v);
    if (out.num_classes > 0 && out.ignore_index < out.num_classes) {
      problems.Add("data.ignore_index",
                   absl::StrCat("must not be a class index (num_classes ", out.num_classes,
                                "), got ", out.ignore_index));
    }
  }
  if (auto v = ReadChannels(data, "mean", synthetic ? std::array<float, 3>{0.5F, 0.5F, 0.5F}
                                                     : kImageNetMean,
                            -1.0, problems)) {
    out.mean = *v;
  }
  if (auto v = ReadChannels(data, "std", synthetic ? std::array<float, 3>{0.25F, 0.25F, 0.25F}
                                                    : kImageNetStd,
                            0.0, problems)) {
    out.std = *v;
  }
  if (auto v = ReadOptionalDouble(data, "data.", "val_fraction", 0.0, 1.0, false, 0.2, problems)) {
    if (*v <= 0.0) {
      problems.Add("data.val_fraction", "must be in (0, 1)");
    } else {
      out.val_fraction = *v;
    }
  }
}

void ParseModel(const json& model, ModelConfig& out, Problems& problems) {
  CheckKnownKeys(model, "model", problems);
  if (auto v = ReadChoice(model, "model.", "arch", {"unet", "lraspp"}, problems)) out.arch = *v;
  if (auto v = ReadInt(model, "model.", "base_channels", 1, 256, problems)) {
    out.base_channels = static_cast<int>(*v);
  }
  if (auto v = ReadInt(model, "model.", "depth", 1, 8, problems)) out.depth = static_cast<int>(*v);
}

void ParseLoss(const json& loss, int num_classes, LossConfig& out, Problems& problems) {
  if (!loss.is_object()) {
    problems.Add("training.loss", absl::StrCat("must be a mapping, got ", loss.dump()));
    return;
  }
  for (const auto& [key, value] : loss.items()) {
    if (key != "weight" && key != "label_smoothing" && key != "dice_weight") {
      problems.Add("training.loss." + key,
                   "unknown key (expected one of: dice_weight, label_smoothing, weight)");
    }
  }
  if (auto weight = loss.find("weight"); weight != loss.end() && !weight->is_null()) {
    if (num_classes > 0) {
      if (auto v = ReadNumbers(*weight, "training.loss.weight", static_cast<size_t>(num_classes),
                               0.0, problems)) {
        out.weight = *v;
      }
    }
  }
  if (auto v = ReadOptionalDouble(loss, "training.loss.", "label_smoothing", 0.0, 1.0, false, 0.0,
                                  problems)) {
    out.label_smoothing = *v;
  }
  if (auto v = ReadOptionalDouble(loss, "training.loss.", "dice_weight", 0.0, 1000.0, true, 0.0,
                                  problems)) {
    out.dice_weight = *v;
  }
}

void ParseTraining(const json& training, const DataConfig& data, TrainingConfig& out,
                   Problems& problems) {
  CheckKnownKeys(training, "training", problems);
  auto batch_size = training.find("batch_size");
  if (batch_size != training.end() && batch_size->is_string()) {
    if (batch_size->get<std::string>() == "full") {
      out.batch_size = 0;
    } else {
      problems.Add("training.batch_size",
                   absl::StrCat("must be an integer or \"full\", got ", batch_size->dump()));
    }
  } else if (auto v = ReadInt(training, "training.", "batch_size", 1, 1000000, problems)) {
    out.batch_size = *v;
  }
  if (auto v = ReadInt(training, "training.", "seed", 0, std::numeric_limits<int64_t>::max(),
                       problems)) {
    out.seed = static_cast<uint64_t>(*v);
  }
  if (auto v = ReadOptionalBool(training, "training.", "amp", false, problems)) out.amp = *v;
  if (auto loss = training.find("loss"); loss != training.end() && !loss->is_null()) {
    ParseLoss(*loss, data.num_classes, out.loss, problems);
  }
}

// A required finite number lr_range.<key>.
std::optional<double> ReadLrRangeNumber(const json& lr_range, const std::string& key,
                                        Problems& problems) {
  auto it = lr_range.find(key);
  if (it == lr_range.end()) {
    problems.Add("lr_range." + key, "required");
    return std::nullopt;
  }
  if (!it->is_number() || !std::isfinite(it->get<double>())) {
    problems.Add("lr_range." + key, absl::StrCat("must be a number, got ", it->dump()));
    return std::nullopt;
  }
  return it->get<double>();
}

// Every key is required: the coordinator fills the spec's defaults in.
void ParseLrRange(const json& lr_range, LrRangeConfig& out, Problems& problems) {
  if (!lr_range.is_object()) {
    problems.Add("lr_range", absl::StrCat("must be an object, got ", lr_range.dump()));
    return;
  }
  static const auto* const kKeys =
      new std::set<std::string>{"diverge_factor", "iterations", "max_lr", "min_lr", "smoothing"};
  for (const auto& [key, value] : lr_range.items()) {
    if (kKeys->count(key) == 0) {
      problems.Add("lr_range." + key, absl::StrCat("unknown key (expected one of: ",
                                                   absl::StrJoin(*kKeys, ", "), ")"));
    }
  }
  if (auto v = ReadLrRangeNumber(lr_range, "min_lr", problems)) {
    if (*v <= 0) {
      problems.Add("lr_range.min_lr", absl::StrCat("must be > 0, got ", *v));
    } else {
      out.min_lr = *v;
    }
  }
  if (auto v = ReadLrRangeNumber(lr_range, "max_lr", problems)) {
    if (*v <= out.min_lr) {
      problems.Add("lr_range.max_lr",
                   absl::StrCat("must be > lr_range.min_lr (", out.min_lr, "), got ", *v));
    } else {
      out.max_lr = *v;
    }
  }
  // Two steps at least: the ramp's exponent is step / (iterations - 1).
  if (auto v = ReadInt(lr_range, "lr_range.", "iterations", 2, 100000, problems)) {
    out.iterations = static_cast<int>(*v);
  }
  if (auto v = ReadLrRangeNumber(lr_range, "smoothing", problems)) {
    if (*v < 0 || *v >= 1) {
      problems.Add("lr_range.smoothing", absl::StrCat("must be in [0, 1), got ", *v));
    } else {
      out.smoothing = *v;
    }
  }
  if (auto v = ReadLrRangeNumber(lr_range, "diverge_factor", problems)) {
    if (*v <= 1) {
      problems.Add("lr_range.diverge_factor", absl::StrCat("must be > 1, got ", *v));
    } else {
      out.diverge_factor = *v;
    }
  }
}

// The trial's own optimizer params tell which arguments exploit.optimizer
// may set, and the values they must go with.
void ParseExploit(const json& exploit, const json& optimizer_params, int epochs,
                  ExploitConfig& out, Problems& problems) {
  if (!exploit.is_object()) {
    problems.Add("exploit", absl::StrCat("must be an object, got ", exploit.dump()));
    return;
  }
  for (const auto& [key, value] : exploit.items()) {
    if (key != "epoch" && key != "lr_scale" && key != "optimizer") {
      problems.Add("exploit." + key, "unknown key (expected one of: epoch, lr_scale, optimizer)");
    }
  }
  if (auto v = ReadInt(exploit, "exploit.", "epoch", 1, epochs > 0 ? epochs : 100000, problems)) {
    out.epoch = static_cast<int>(*v);
  }
  if (auto scale = exploit.find("lr_scale"); scale != exploit.end()) {
    if (!scale->is_number() || !std::isfinite(scale->get<double>()) ||
        scale->get<double>() <= 0) {
      problems.Add("exploit.lr_scale",
                   absl::StrCat("must be a finite number > 0, got ", scale->dump()));
    } else {
      out.lr_scale = scale->get<double>();
    }
  }
  if (auto args = exploit.find("optimizer"); args != exploit.end()) {
    if (absl::Status status =
            optim::CheckHyperparameters(optimizer_params, *args, "exploit.optimizer");
        !status.ok()) {
      problems.Add(status);
    } else {
      out.optimizer = *args;
    }
  }
}

}  // namespace

absl::StatusOr<TrialConfig> ParseTrialConfig(const nlohmann::json& config) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: must be a JSON object, got ", config.type_name()));
  }
  Problems problems;
  TrialConfig trial;

  json sections = json::object();
  for (const auto& [name, keys] : SectionKeys()) {
    auto it = config.find(name);
    if (it == config.end()) {
      problems.Add(name, "required section");
    } else if (!it->is_object()) {
      problems.Add(name, absl::StrCat("must be an object, got ", it->type_name()));
    } else {
      sections[name] = *it;
    }
  }

  auto params = config.find("params");
  if (params == config.end() || !params->is_object()) {
    problems.Add("params", "required object with at least params.optimizer");
  } else {
    auto optimizer = params->find("optimizer");
    if (optimizer == params->end() || optimizer->is_null()) {
      problems.Add("params.optimizer", "required");
    } else {
      trial.optimizer = *optimizer;
      // What an alias implies (bgd: the whole training set per batch) comes
      // first, so that explicit overrides below win.
      if (optimizer->is_object() && optimizer->contains("name") &&
          (*optimizer)["name"].is_string()) {
        const optim::Resolved resolved =
            optim::ResolveOptimizer((*optimizer)["name"].get<std::string>());
        for (const auto& [dotted, value] : resolved.implied_others.items()) {
          ApplyOverride(dotted, value, "params.optimizer.name", sections, problems);
        }
      }
    }
    auto scheduler = params->find("scheduler");
    if (scheduler != params->end()) trial.scheduler = *scheduler;
    for (const auto& [key, value] : params->items()) {
      if (key == "optimizer" || key == "scheduler") continue;
      ApplyOverride(key, value, "params." + key, sections, problems);
    }
  }

  if (sections.contains("data")) ParseData(sections["data"], trial.data, problems);
  if (sections.contains("model")) ParseModel(sections["model"], trial.model, problems);
  if (sections.contains("training")) {
    ParseTraining(sections["training"], trial.data, trial.training, problems);
  }
  if (trial.data.image_size > 0 && !trial.model.arch.empty() && trial.model.base_channels > 0 &&
      trial.model.depth > 0) {
    models::ModelSpec spec;
    spec.arch = trial.model.arch;
    spec.num_classes = trial.data.num_classes > 0 ? trial.data.num_classes : 2;
    spec.base_channels = trial.model.base_channels;
    spec.depth = trial.model.depth;
    if (absl::Status status = models::CheckModel(spec, trial.data.image_size); !status.ok()) {
      // CheckModel names its field ("depth: ...", "image_size: ..."); the
      // config has image_size in data and the rest in model.
      const std::string message(status.message());
      const size_t colon = message.find(": ");
      const std::string field = colon == std::string::npos ? "" : message.substr(0, colon);
      const std::string section = field == "image_size" ? "data" : "model";
      problems.Add(field.empty() ? section : absl::StrCat(section, ".", field),
                   colon == std::string::npos ? message : message.substr(colon + 2));
    }
  }

  if (auto v = ReadInt(config, "", "epochs", 1, 100000, problems)) {
    trial.epochs = static_cast<int>(*v);
  }
  if (auto lr_range = config.find("lr_range"); lr_range != config.end()) {
    LrRangeConfig range;
    ParseLrRange(*lr_range, range, problems);
    // The coordinator counts each step as an epoch.
    if (range.iterations > 0 && trial.epochs > 0 && range.iterations != trial.epochs) {
      problems.Add("lr_range.iterations",
                   absl::StrCat("must equal epochs (each step is reported as one epoch), got ",
                                range.iterations, " with epochs ", trial.epochs));
    }
    trial.lr_range = range;
  }

  if (auto exploit = config.find("exploit"); exploit != config.end()) {
    ExploitConfig parsed;
    ParseExploit(*exploit, trial.optimizer, trial.epochs, parsed, problems);
    if (trial.lr_range) {
      problems.Add("exploit", "an LR range test (lr_range) does not continue from checkpoints");
    }
    trial.exploit = parsed;
  }

  if (!problems.empty()) return problems.ToStatus();
  return trial;
}

}  // namespace segtune::train
