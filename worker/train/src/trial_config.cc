#include "segtune/train/trial_config.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/optim/catalog.h"

namespace segtune::train {
namespace {

using nlohmann::json;

// The keys of every section a params override may set.
const std::map<std::string, std::set<std::string>>& SectionKeys() {
  static const auto* const kKeys = new std::map<std::string, std::set<std::string>>{
      {"data", {"dataset", "image_size", "num_classes", "train_size", "val_size", "seed"}},
      {"model", {"arch", "base_channels", "depth"}},
      {"training", {"batch_size", "seed"}},
  };
  return *kKeys;
}

class Problems {
 public:
  void Add(const std::string& path, const std::string& message) {
    messages_.push_back(absl::StrCat(path, ": ", message));
  }
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
                                      const std::string& key, const std::string& allowed,
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
  if (value != allowed) {
    problems.Add(
        path,
        absl::StrCat("'", value, "' is not supported by this worker (supported: ", allowed, ")"));
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
  auto known = SectionKeys().find(section);
  if (known == SectionKeys().end() || known->second.count(key) == 0) {
    problems.Add(source,
                 "unknown parameter (expected optimizer, scheduler or a dotted key "
                 "of data, model or training, e.g. training.batch_size)");
    return;
  }
  if (sections[section].is_object()) sections[section][key] = value;
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

  if (sections.contains("data")) {
    const json& data = sections["data"];
    CheckKnownKeys(data, "data", problems);
    if (auto v = ReadChoice(data, "data.", "dataset", "shapes", problems)) trial.data.dataset = *v;
    if (auto v = ReadInt(data, "data.", "image_size", 8, 1024, problems)) {
      trial.data.image_size = static_cast<int>(*v);
    }
    if (auto v = ReadInt(data, "data.", "num_classes", 2, 64, problems)) {
      trial.data.num_classes = static_cast<int>(*v);
    }
    if (auto v = ReadInt(data, "data.", "train_size", 1, 1000000, problems)) {
      trial.data.train_size = *v;
    }
    if (auto v = ReadInt(data, "data.", "val_size", 1, 1000000, problems)) {
      trial.data.val_size = *v;
    }
    if (auto v = ReadInt(data, "data.", "seed", 0, std::numeric_limits<int64_t>::max(), problems)) {
      trial.data.seed = static_cast<uint64_t>(*v);
    }
  }

  if (sections.contains("model")) {
    const json& model = sections["model"];
    CheckKnownKeys(model, "model", problems);
    if (auto v = ReadChoice(model, "model.", "arch", "unet", problems)) trial.model.arch = *v;
    if (auto v = ReadInt(model, "model.", "base_channels", 1, 256, problems)) {
      trial.model.base_channels = static_cast<int>(*v);
    }
    if (auto v = ReadInt(model, "model.", "depth", 1, 8, problems)) {
      trial.model.depth = static_cast<int>(*v);
    }
  }
  if (trial.data.image_size > 0 && trial.model.depth > 0) {
    // Each of the depth-1 poolings halves the image exactly, or the decoder's
    // upsampled features would not line up with the skip connections.
    const int divisor = 1 << (trial.model.depth - 1);
    if (trial.data.image_size % divisor != 0) {
      problems.Add("data.image_size",
                   absl::StrCat("must be divisible by ", divisor, " (2^(model.depth-1)), got ",
                                trial.data.image_size));
    }
  }

  if (sections.contains("training")) {
    const json& training = sections["training"];
    CheckKnownKeys(training, "training", problems);
    auto batch_size = training.find("batch_size");
    if (batch_size != training.end() && batch_size->is_string()) {
      if (batch_size->get<std::string>() == "full") {
        trial.training.batch_size = trial.data.train_size;
      } else {
        problems.Add("training.batch_size",
                     absl::StrCat("must be an integer or \"full\", got ", batch_size->dump()));
      }
    } else if (auto v = ReadInt(training, "training.", "batch_size", 1, 1000000, problems)) {
      trial.training.batch_size = *v;
    }
    if (auto v = ReadInt(training, "training.", "seed", 0, std::numeric_limits<int64_t>::max(),
                         problems)) {
      trial.training.seed = static_cast<uint64_t>(*v);
    }
  }

  if (auto v = ReadInt(config, "", "epochs", 1, 100000, problems)) {
    trial.epochs = static_cast<int>(*v);
  }

  if (!problems.empty()) return problems.ToStatus();
  return trial;
}

}  // namespace segtune::train
