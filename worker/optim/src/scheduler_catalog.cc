// The learning-rate schedulers of torch.optim.lr_scheduler 1.13: arguments
// in constructor order with torch's defaults, the checks its constructors
// make, and segtune's stepping arguments (`interval`, `monitor`).
#include <set>
#include <string>
#include <vector>

#include "catalog_internal.h"

namespace segtune::optim::internal {
namespace {

// The metrics a trainer reports each epoch, which ReduceLROnPlateau may watch.
const std::set<std::string> kMonitorableMetrics = {"train_loss", "val_loss", "val_miou",
                                                   "val_pixel_acc"};

void CheckStepLr(const Json& args, Problems& problems) {
  AtLeast(args, "step_size", 1, nullptr, problems);
  Positive(args, "gamma", problems);
}

void CheckMultiStepLr(const Json& args, Problems& problems) {
  auto milestones = args.find("milestones");
  if (milestones != args.end() && milestones->is_array()) {
    if (milestones->empty()) {
      problems.push_back({"milestones", "must list at least one epoch"});
    }
    for (std::size_t i = 0; i < milestones->size(); ++i) {
      std::int64_t epoch = (*milestones)[i].get<std::int64_t>();
      if (epoch < 1) {
        problems.push_back({"milestones", "must all be >= 1, got " + DescribeValue(*milestones)});
        break;
      }
      if (i > 0 && epoch <= (*milestones)[i - 1].get<std::int64_t>()) {
        problems.push_back({"milestones", "must be strictly increasing, got " + DescribeValue(*milestones)});
        break;
      }
    }
  }
  Positive(args, "gamma", problems);
}

void CheckExponentialLr(const Json& args, Problems& problems) { Positive(args, "gamma", problems); }

void CheckCosineAnnealingLr(const Json& args, Problems& problems) {
  AtLeast(args, "T_max", 1, nullptr, problems);
  NonNegative(args, "eta_min", nullptr, problems);
}

void CheckReduceLrOnPlateau(const Json& args, Problems& problems) {
  OneOf(args, "mode", {"min", "max"}, "mode is unknown", problems);
  std::optional<double> factor = Number(args, "factor");
  if (factor && *factor >= 1.0) {
    problems.push_back(
        {"factor", "must be < 1.0, got " + DescribeValue(args.at("factor")) + " (torch: Factor should be < 1.0.)"});
  }
  Positive(args, "factor", problems);
  NonNegative(args, "patience", nullptr, problems);
  NonNegative(args, "threshold", nullptr, problems);
  OneOf(args, "threshold_mode", {"rel", "abs"}, "threshold mode is unknown", problems);
  NonNegative(args, "cooldown", nullptr, problems);
  NonNegative(args, "min_lr", nullptr, problems);
  NonNegative(args, "eps", nullptr, problems);
  OneOf(args, "monitor", kMonitorableMetrics, nullptr, problems);
  // Watching a score with torch's default mode "min" would cut the learning
  // rate whenever the score improves: almost surely a forgotten `mode: max`.
  auto monitor = args.find("monitor");
  auto mode = args.find("mode");
  if (monitor != args.end() && mode != args.end() && monitor->is_string() && mode->is_string()) {
    bool is_loss = *monitor == "train_loss" || *monitor == "val_loss";
    if (kMonitorableMetrics.count(monitor->get<std::string>()) > 0 && (*mode == "min") != is_loss) {
      problems.push_back({"mode", "must be " + std::string(is_loss ? "min" : "max") +
                                      " when monitor is " + monitor->get<std::string>() +
                                      (is_loss ? " (a loss goes down)" : " (a score goes up)") +
                                      ", got " + DescribeValue(*mode)});
    }
  }
}

}  // namespace

const std::vector<Entry>& SchedulerEntries() {
  static const std::vector<Entry> kSchedulers = {
      {{"StepLR", {RequiredArg("step_size", ArgType::kInt), {"gamma", ArgType::kFloat, 0.1}}},
       CheckStepLr},
      {{"MultiStepLR",
        {RequiredArg("milestones", ArgType::kIntList), {"gamma", ArgType::kFloat, 0.1}}},
       CheckMultiStepLr},
      {{"ExponentialLR", {RequiredArg("gamma", ArgType::kFloat)}}, CheckExponentialLr},
      {{"CosineAnnealingLR",
        {RequiredArg("T_max", ArgType::kInt), {"eta_min", ArgType::kFloat, 0.0}}},
       CheckCosineAnnealingLr},
      // `monitor` is segtune's own: torch's step(metrics) takes the value from
      // the caller, and this names which reported metric the worker passes.
      {{"ReduceLROnPlateau",
        {{"mode", ArgType::kString, "min"},
         {"factor", ArgType::kFloat, 0.1},
         {"patience", ArgType::kInt, 10},
         {"threshold", ArgType::kFloat, 1e-4},
         {"threshold_mode", ArgType::kString, "rel"},
         {"cooldown", ArgType::kInt, 0},
         {"min_lr", ArgType::kFloat, 0.0},
         {"eps", ArgType::kFloat, 1e-8},
         {"monitor", ArgType::kString, "val_loss"}}},
       CheckReduceLrOnPlateau},
  };
  return kSchedulers;
}

const std::vector<Alias>& SchedulerAliases() {
  static const std::vector<Alias> kAliases = {
      {"step", "StepLR", Json::object(), Json::object()},
      {"multistep", "MultiStepLR", Json::object(), Json::object()},
      {"exponential", "ExponentialLR", Json::object(), Json::object()},
      {"exp", "ExponentialLR", Json::object(), Json::object()},
      {"cosine", "CosineAnnealingLR", Json::object(), Json::object()},
      {"plateau", "ReduceLROnPlateau", Json::object(), Json::object()},
  };
  return kAliases;
}

}  // namespace segtune::optim::internal
