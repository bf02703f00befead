#include "curve_model.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace segtune::simulate::internal {
namespace {

using Json = nlohmann::json;

constexpr double kPi = 3.14159265358979323846;

// Noise streams: each quantity draws from its own, so adding one leaves the
// others' values as they were.
enum Stream : uint64_t {
  kTrainLossNoise = 1,
  kValLossNoise = 2,
  kMiouNoise = 3,
  kPixelAccNoise = 4,
  kClassOffset = 10,
  kQualityOffset = 11,
  kDivergence = 20,
  kRangeTestNoise = 30,
};

// A standard normal draw, cut at +-3 so no single epoch looks absurd.
double Normal(uint64_t key, uint64_t stream, uint64_t index) {
  const double u1 = 1.0 - Uniform(key, stream, 2 * index);  // (0, 1]: log is finite
  const double u2 = Uniform(key, stream, 2 * index + 1);
  return std::clamp(std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2), -3.0, 3.0);
}

// Per-optimizer constants: the lr (times momentum's gain) each makes the
// fastest progress at on small segmentation nets, how fast it gets there
// relative to SGD with momentum, and how its final mIoU compares. Rough
// folklore, not measurements: they make the curves differ plausibly.
struct OptimizerTraits {
  double reference_lr;
  double efficiency;
  double ceiling;
};

const OptimizerTraits& TraitsOf(const std::string& name) {
  static const auto* const kTraits = new std::map<std::string, OptimizerTraits>{
      {"SGD", {0.5, 0.85, 0.0}},        {"ASGD", {0.5, 0.85, 0.0}},
      {"Adam", {3e-3, 1.1, -0.01}},     {"AdamW", {3e-3, 1.1, 0.0}},
      {"NAdam", {3e-3, 1.1, -0.01}},    {"RAdam", {3e-3, 1.05, -0.005}},
      {"Adamax", {6e-3, 1.0, -0.01}},   {"RMSprop", {2e-3, 1.0, -0.015}},
      {"Adagrad", {0.05, 0.85, -0.02}}, {"Adadelta", {1.0, 0.8, -0.02}},
      {"Rprop", {0.01, 0.5, -0.05}},    {"LBFGS", {1.0, 0.7, -0.03}},
  };
  static const OptimizerTraits kUnknown{1e-2, 0.8, -0.02};
  const auto it = kTraits->find(name);
  return it == kTraits->end() ? kUnknown : it->second;
}

absl::StatusOr<OptimizerModel> ParseOptimizer(const Json& optimizer) {
  if (!optimizer.is_object() || !optimizer.contains("name") || !optimizer["name"].is_string()) {
    return absl::InvalidArgumentError("params.optimizer: must be a mapping with a name");
  }
  const std::string given = optimizer["name"].get<std::string>();
  const optim::Resolved resolved = optim::ResolveOptimizer(given);
  if (resolved.algorithm == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("params.optimizer.name: unknown '", given, "'"));
  }
  Json args = resolved.implied_args;
  for (const auto& [key, value] : optimizer.items()) {
    if (key != "name") args[key] = value;
  }
  const optim::Completed completed = optim::CompleteArgs(*resolved.algorithm, args);
  if (!completed.problems.empty()) {
    const optim::ArgProblem& problem = completed.problems.front();
    return absl::InvalidArgumentError(
        absl::StrCat("params.optimizer.", problem.arg, ": ", problem.message));
  }
  OptimizerModel model;
  model.name = resolved.algorithm->name;
  model.lr = completed.args.at("lr").get<double>();
  const OptimizerTraits& traits = TraitsOf(model.name);
  model.reference_lr = traits.reference_lr;
  model.efficiency = traits.efficiency;
  model.ceiling = traits.ceiling;
  const double momentum = completed.args.value("momentum", 0.0);
  if (momentum > 0 && momentum < 1) {
    model.momentum_gain = 1 / (1 - momentum);
    if (model.name == "SGD") {
      model.efficiency = completed.args.value("nesterov", false) ? 1.05 : 1.0;
      model.ceiling += 0.01;
    }
  }
  // A little weight decay helps the final mIoU, much of it hurts; AdamW's
  // is decoupled and scaled by its lr, so its default 0.01 is mild.
  double weight_decay = completed.args.value("weight_decay", 0.0);
  if (model.name == "AdamW") weight_decay *= 0.1;
  if (weight_decay > 0 && weight_decay <= 1e-3) model.ceiling += 0.015;
  model.ceiling -= std::min(0.3, 10 * std::max(0.0, weight_decay - 1e-3));
  return model;
}

// Sets a dotted override ("training.batch_size") in `config`.
void SetDotted(Json& config, const std::string& path, const Json& value) {
  config[Json::json_pointer("/" + absl::StrReplaceAll(path, {{".", "/"}}))] = value;
}

absl::StatusOr<int64_t> ReadInt(const Json& config, const std::string& path, int64_t min,
                                int64_t max) {
  const Json::json_pointer pointer("/" + absl::StrReplaceAll(path, {{".", "/"}}));
  if (!config.contains(pointer)) return absl::InvalidArgumentError(absl::StrCat(path, ": missing"));
  const Json& value = config.at(pointer);
  if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": must be a whole number in ", min, "..",
                                                   max, ", got ", value.dump()));
  }
  return value.get<int64_t>();
}

absl::StatusOr<double> ReadDouble(const Json& section, const std::string& section_name,
                                  const char* key, double fallback) {
  if (!section.contains(key)) return fallback;
  if (!section[key].is_number() || !std::isfinite(section[key].get<double>())) {
    return absl::InvalidArgumentError(absl::StrCat(section_name, ".", key, ": must be a number"));
  }
  return section[key].get<double>();
}

absl::StatusOr<LrRangeModel> ParseLrRange(const Json& range) {
  LrRangeModel model;
  for (auto [key, field] : {std::pair{"min_lr", &model.min_lr}, std::pair{"max_lr", &model.max_lr},
                            std::pair{"smoothing", &model.smoothing},
                            std::pair{"diverge_factor", &model.diverge_factor}}) {
    absl::StatusOr<double> value = ReadDouble(range, "lr_range", key, std::nan(""));
    if (!value.ok()) return value.status();
    if (std::isnan(*value)) return absl::InvalidArgumentError(absl::StrCat("lr_range.", key, ": missing"));
    *field = *value;
  }
  if (!(model.min_lr > 0 && model.max_lr > model.min_lr)) {
    return absl::InvalidArgumentError("lr_range: needs 0 < min_lr < max_lr");
  }
  absl::StatusOr<int64_t> iterations = ReadInt(Json{{"lr_range", range}}, "lr_range.iterations", 2, 100000);
  if (!iterations.ok()) return iterations.status();
  model.iterations = static_cast<int>(*iterations);
  return model;
}

absl::StatusOr<ExploitModel> ParseExploit(const Json& exploit, const Json& optimizer, int epochs) {
  ExploitModel model;
  absl::StatusOr<int64_t> epoch = ReadInt(Json{{"exploit", exploit}}, "exploit.epoch", 1, epochs);
  if (!epoch.ok()) return epoch.status();
  model.epoch = static_cast<int>(*epoch);
  absl::StatusOr<double> scale = ReadDouble(exploit, "exploit", "lr_scale", 1.0);
  if (!scale.ok()) return scale.status();
  if (*scale <= 0) return absl::InvalidArgumentError("exploit.lr_scale: must be > 0");
  model.lr_scale = *scale;
  Json merged = optimizer;
  const Json overrides = exploit.value("optimizer", Json::object());
  for (const auto& [key, value] : overrides.items()) merged[key] = value;
  absl::StatusOr<OptimizerModel> parsed = ParseOptimizer(merged);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("exploit: ", parsed.status().message()));
  }
  model.optimizer = *std::move(parsed);
  return model;
}

// The asymptotic mIoU of the configuration at an lr ratio: capacity sets
// the base, the optimizer and weight decay move it, a trial-specific offset
// (its seed) varies it by +-0.015, and an lr too large lowers it.
double Quality(const SimConfig& config, const OptimizerModel& optimizer, double ratio) {
  const double model = 0.45 + 0.4 * (1 - std::exp(-config.capacity / 32)) + (config.lraspp ? 0.03 : 0);
  const double offset = 0.03 * (Uniform(config.key, kQualityOffset, 0) - 0.5);
  const double ceiling = std::clamp(model + optimizer.ceiling + offset, 0.05, 0.97);
  const double excess = std::max(0.0, std::log(std::max(ratio, 1e-300)));
  return ceiling * std::exp(-0.1 * excess * excess);
}

// How noisy an epoch at `ratio` is: lrs above the sweet spot bounce.
double NoiseScale(double ratio) {
  return 0.01 + 0.04 * std::max(0.0, std::log(std::max(ratio, 1e-300)));
}

}  // namespace

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t hash = 1469598103934665603ull;
  for (const unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return hash;
}

double Uniform(uint64_t key, uint64_t stream, uint64_t index) {
  // splitmix64's finalizer over the three inputs mixed together.
  uint64_t z = key ^ (stream * 0x9E3779B97F4A7C15ull) ^ ((index + 1) * 0xD1B54A32D192ED03ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

absl::StatusOr<SimConfig> ParseSimConfig(const Json& given) {
  if (!given.is_object()) return absl::InvalidArgumentError("config: must be a mapping");
  SimConfig sim;
  sim.key = Fnv1a(given.dump());
  Json config = given;
  const Json params = config.value("params", Json::object());
  if (!params.is_object() || !params.contains("optimizer")) {
    return absl::InvalidArgumentError("params.optimizer: missing");
  }
  // As the trainer: the overrides an optimizer alias implies first, then
  // the explicit ones, which win.
  if (params["optimizer"].is_object() && params["optimizer"].contains("name") &&
      params["optimizer"]["name"].is_string()) {
    const optim::Resolved resolved = optim::ResolveOptimizer(params["optimizer"]["name"].get<std::string>());
    for (const auto& [path, value] : resolved.implied_others.items()) SetDotted(config, path, value);
  }
  for (const auto& [path, value] : params.items()) {
    if (path.find('.') != std::string::npos) SetDotted(config, path, value);
  }
  absl::StatusOr<OptimizerModel> optimizer = ParseOptimizer(params["optimizer"]);
  if (!optimizer.ok()) return optimizer.status();
  sim.optimizer = *std::move(optimizer);
  sim.scheduler = params.value("scheduler", Json());

  absl::StatusOr<int64_t> epochs = ReadInt(config, "epochs", 1, 100000);
  absl::StatusOr<int64_t> classes = ReadInt(config, "data.num_classes", 2, 255);
  absl::StatusOr<int64_t> train_size = ReadInt(config, "data.train_size", 0, 1000000);
  absl::StatusOr<int64_t> base_channels = ReadInt(config, "model.base_channels", 1, 256);
  absl::StatusOr<int64_t> depth = ReadInt(config, "model.depth", 1, 8);
  for (const absl::StatusOr<int64_t>* value : {&epochs, &classes, &train_size, &base_channels, &depth}) {
    if (!value->ok()) return value->status();
  }
  sim.epochs = static_cast<int>(*epochs);
  sim.num_classes = static_cast<int>(*classes);
  sim.train_size = *train_size == 0 ? kAssumedTrainSize : *train_size;
  sim.capacity = static_cast<double>(*base_channels) * std::pow(2.0, static_cast<double>(*depth - 1));
  sim.lraspp = config.value(Json::json_pointer("/model/arch"), Json("unet")) == "lraspp";
  const Json batch_size = config.value(Json::json_pointer("/training/batch_size"), Json());
  if (batch_size == "full") {
    sim.batch_size = sim.train_size;
  } else {
    absl::StatusOr<int64_t> size = ReadInt(config, "training.batch_size", 1, 1000000000);
    if (!size.ok()) return absl::InvalidArgumentError(absl::StrCat(size.status().message(), " or \"full\""));
    sim.batch_size = *size;
  }
  sim.budget = optim::TrainingBudget(sim.epochs, sim.train_size, sim.batch_size);
  sim.batches_per_epoch = static_cast<int>(sim.budget.steps_per_epoch);

  if (config.contains("lr_range") && !config["lr_range"].is_null()) {
    absl::StatusOr<LrRangeModel> range = ParseLrRange(config["lr_range"]);
    if (!range.ok()) return range.status();
    sim.lr_range = *range;
  }
  if (config.contains("exploit") && !config["exploit"].is_null()) {
    absl::StatusOr<ExploitModel> exploit = ParseExploit(config["exploit"], params["optimizer"], sim.epochs);
    if (!exploit.ok()) return exploit.status();
    sim.exploit = *std::move(exploit);
  }
  return sim;
}

double LrRatio(const OptimizerModel& optimizer, double lr) {
  return lr * optimizer.momentum_gain / optimizer.reference_lr;
}

double StepProgress(const SimConfig& config, const OptimizerModel& optimizer, double lr) {
  const double ratio = LrRatio(optimizer, lr);
  // Below the sweet spot progress is proportional to the lr (the integrated
  // lr); above it, it falls off as a log-normal: steps overshoot.
  const double log_ratio = std::log(std::max(ratio, 1e-300));
  const double speed = ratio <= 1 ? ratio : std::exp(-log_ratio * log_ratio / 2);
  // More steps per epoch make more progress per epoch, with diminishing
  // returns; a full batch (bgd) is slow. At the sweet spot with 8 steps per
  // epoch the loss's distance to its floor shrinks by e every 2 epochs.
  const double batches = static_cast<double>(config.batches_per_epoch);
  const double per_epoch = 0.5 * std::clamp(std::sqrt(batches / 8), 0.5, 3.0);
  return optimizer.efficiency * speed * per_epoch / batches;
}

double DivergenceRatio(const SimConfig& config) {
  return 6 * std::exp(0.4 * Normal(config.key, kDivergence, 0));
}

std::map<std::string, double> EpochMetrics(const SimConfig& config, const OptimizerModel& optimizer,
                                           int epoch, double progress, double ratio) {
  const uint64_t index = static_cast<uint64_t>(epoch);
  const double uniform_guess = std::log(static_cast<double>(config.num_classes));
  const double quality = Quality(config, optimizer, ratio);
  const double noise = NoiseScale(ratio);
  const double learned = 1 - std::exp(-progress);  // 0 untrained .. 1 converged
  const double floor = 0.05 + 0.5 * (1 - quality);
  const double train_loss = (floor + (uniform_guess - floor) * std::exp(-progress)) *
                            (1 + noise * Normal(config.key, kTrainLossNoise, index));
  // Validation: a slightly higher floor, and overfitting that grows as the
  // model learns, more on small training sets.
  const double overfit = 0.1 * learned * learned * std::sqrt(64.0 / static_cast<double>(config.train_size));
  const double val_floor = 1.1 * floor;
  const double val_loss = (val_floor + (uniform_guess - val_floor) * std::exp(-progress) + overfit) *
                          (1 + noise * Normal(config.key, kValLossNoise, index));
  const double chance = 0.3 / config.num_classes;
  const double miou = std::clamp(chance + (quality - chance) * std::pow(learned, 1.5) +
                                     0.5 * noise * Normal(config.key, kMiouNoise, index),
                                 0.0, 1.0);
  const double pixel_acc = std::clamp(
      0.55 + 0.45 * std::sqrt(miou) + 0.2 * noise * Normal(config.key, kPixelAccNoise, index), 0.0, 1.0);
  std::map<std::string, double> metrics = {{"train_loss", train_loss},
                                           {"val_loss", val_loss},
                                           {"val_miou", miou},
                                           {"val_pixel_acc", pixel_acc}};
  // Per-class IoUs around the mean, fixed per trial and class, averaging
  // to val_miou exactly and staying in [0, 1].
  std::vector<double> offsets(static_cast<size_t>(config.num_classes));
  double mean = 0;
  for (size_t c = 0; c < offsets.size(); ++c) {
    offsets[c] = Uniform(config.key, kClassOffset, c) * 2 - 1;
    mean += offsets[c] / static_cast<double>(offsets.size());
  }
  double largest = 0;
  for (double& offset : offsets) {
    offset -= mean;
    largest = std::max(largest, std::abs(offset));
  }
  const double spread = 0.5 * std::min(miou, 1 - miou) / std::max(largest, 1e-12);
  for (size_t c = 0; c < offsets.size(); ++c) {
    metrics[absl::StrCat("val_iou_", c)] = std::clamp(miou + offsets[c] * spread, 0.0, 1.0);
  }
  return metrics;
}

double RangeTestLoss(const SimConfig& config, int step, double progress, double ratio) {
  const double uniform_guess = std::log(static_cast<double>(config.num_classes));
  const double floor = 0.05 + 0.5 * (1 - Quality(config, config.optimizer, 1.0));
  // Past the sweet spot the loss climbs, steeply as the divergence point nears.
  const double excess = std::max(0.0, std::log(std::max(ratio, 1e-300))) /
                        std::log(DivergenceRatio(config));
  const double explode = 1 + 4 * std::pow(excess, 4);
  return (floor + (uniform_guess - floor) * std::exp(-progress)) * explode *
         (1 + NoiseScale(ratio) * Normal(config.key, kRangeTestNoise, static_cast<uint64_t>(step)));
}

}  // namespace segtune::simulate::internal
