#include "segtune/client/params.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/optim/catalog.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;

// The argument names of `algorithm` in display order: torch's constructor
// order for known algorithms, then the rest alphabetically (Json objects are
// sorted maps).
std::vector<std::string> ArgumentOrder(const Json& algorithm, const optim::AlgorithmSpec* spec) {
  std::vector<std::string> order;
  std::set<std::string> placed = {"name"};
  if (spec != nullptr) {
    for (const optim::ArgSpec& arg : spec->args) {
      if (algorithm.contains(arg.name)) {
        order.push_back(arg.name);
        placed.insert(arg.name);
      }
    }
  } else if (algorithm.contains("lr")) {
    order.push_back("lr");
    placed.insert("lr");
  }
  for (const auto& [name, value] : algorithm.items()) {
    if (placed.count(name) == 0) order.push_back(name);
  }
  return order;
}

bool IsTorchDefault(const optim::AlgorithmSpec* spec, const std::string& arg, const Json& value) {
  if (spec == nullptr) return false;
  for (const optim::ArgSpec& known : spec->args) {
    if (known.name == arg) return !known.default_value.is_null() && known.default_value == value;
  }
  return false;
}

// Summaries are for reading: a sampled 0.0021755244125068853 reads as 0.002176.
// Values that are already short (0.05, 1e-10) stay as written.
std::string FormatCompact(const Json& value) {
  std::string exact = value.dump();
  if (!value.is_number_float() || exact.size() <= 8) return exact;
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value.get<double>());
  return text;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseParams(std::string_view params_json, const std::string& trial_id) {
  Json params = Json::parse(params_json, nullptr, /*allow_exceptions=*/false);
  if (params.is_discarded() || !params.is_object()) {
    return absl::InternalError(
        absl::StrCat("trial ", trial_id, ": params_json from the server is not a JSON object"));
  }
  return params;
}

std::string FormatValue(const nlohmann::json& value) {
  // nlohmann prints doubles as the shortest text that reads back exactly.
  return value.dump();
}

std::string FormatMetric(double value) {
  if (std::isnan(value)) return "nan";
  char text[32];
  double magnitude = std::fabs(value);
  if (magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e6)) {
    std::snprintf(text, sizeof text, "%.3e", value);
  } else {
    std::snprintf(text, sizeof text, "%.4f", value);
  }
  return text;
}

std::string AlgorithmCall(const nlohmann::json& algorithm, bool is_scheduler, bool all_args) {
  if (!algorithm.is_object()) return FormatValue(algorithm);
  std::string name = algorithm.value("name", std::string("?"));
  const optim::AlgorithmSpec* spec =
      is_scheduler ? optim::ResolveScheduler(name).algorithm : optim::ResolveOptimizer(name).algorithm;
  std::vector<std::string> shown;
  for (const std::string& arg : ArgumentOrder(algorithm, spec)) {
    const Json& value = algorithm.at(arg);
    // lr is what people compare across trials, so it stays even at its default.
    if (!all_args && arg != "lr" && IsTorchDefault(spec, arg, value)) continue;
    shown.push_back(absl::StrCat(arg, "=", all_args ? FormatValue(value) : FormatCompact(value)));
  }
  return absl::StrCat(name, "(", absl::StrJoin(shown, ", "), ")");
}

std::string ParamsSummary(const nlohmann::json& params) {
  if (!params.is_object()) return FormatValue(params);
  std::string summary;
  if (auto optimizer = params.find("optimizer"); optimizer != params.end()) {
    summary = AlgorithmCall(*optimizer, /*is_scheduler=*/false, /*all_args=*/false);
  }
  if (auto scheduler = params.find("scheduler"); scheduler != params.end() && !scheduler->is_null()) {
    if (!summary.empty()) summary += " + ";
    summary += AlgorithmCall(*scheduler, /*is_scheduler=*/true, /*all_args=*/false);
  }
  for (const auto& [key, value] : params.items()) {
    if (key == "optimizer" || key == "scheduler") continue;
    if (!summary.empty()) summary += ", ";
    summary += absl::StrCat(key, "=", FormatCompact(value));
  }
  return summary;
}

std::string ParamsJsonSummary(std::string_view params_json) {
  Json params = Json::parse(params_json, nullptr, /*allow_exceptions=*/false);
  if (params.is_discarded() || !params.is_object()) return std::string(params_json);
  return ParamsSummary(params);
}

}  // namespace segtune::client
