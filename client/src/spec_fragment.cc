#include "segtune/client/spec_fragment.h"

#include <algorithm>
#include <map>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "segtune/optim/catalog.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;

// Strings that a YAML reader would take for a number, a boolean or null are
// quoted so they come back as strings.
bool LooksLikeNonString(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return true;
  YAML::Node node(text);
  double as_number;
  bool as_bool;
  return YAML::convert<double>::decode(node, as_number) || YAML::convert<bool>::decode(node, as_bool);
}

void EmitValue(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      out << YAML::Null;
      break;
    case Json::value_t::boolean:
      out << value.get<bool>();
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      // yaml-cpp prints doubles with 17 digits (0.05 -> 0.050000000000000003);
      // nlohmann's shortest round-trip text reads back to the same double.
      out << value.dump();
      break;
    case Json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      if (LooksLikeNonString(text)) out << YAML::DoubleQuoted;
      out << text;
      break;
    }
    case Json::value_t::array:
      out << YAML::Flow << YAML::BeginSeq;
      for (const Json& item : value) EmitValue(out, item);
      out << YAML::EndSeq;
      break;
    case Json::value_t::object:
      out << YAML::Flow << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key << key << YAML::Value;
        EmitValue(out, item);
      }
      out << YAML::EndMap;
      break;
    default:
      out << YAML::Null;
      break;
  }
}

// An optimizer or scheduler alternative as a flow map, `name` first and the
// arguments in torch's constructor order (then any others alphabetically).
void EmitAlternative(YAML::Emitter& out, const Json& algorithm, bool is_scheduler) {
  std::string name = algorithm.value("name", std::string());
  const optim::AlgorithmSpec* spec =
      is_scheduler ? optim::ResolveScheduler(name).algorithm : optim::ResolveOptimizer(name).algorithm;
  std::vector<std::string> order;
  if (spec != nullptr) {
    for (const optim::ArgSpec& arg : spec->args) {
      if (algorithm.contains(arg.name)) order.push_back(arg.name);
    }
  }
  for (const auto& [key, value] : algorithm.items()) {
    if (key != "name" && std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
  }
  out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value;
  EmitValue(out, algorithm.at("name"));
  for (const std::string& key : order) {
    out << YAML::Key << key << YAML::Value;
    EmitValue(out, algorithm.at(key));
  }
  out << YAML::EndMap;
}

void AddDistinct(std::vector<Json>& values, const Json& value) {
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

}  // namespace

absl::StatusOr<std::string> SpecFragmentYaml(const std::vector<nlohmann::json>& params_best_first) {
  if (params_best_first.empty()) return absl::InvalidArgumentError("no trial parameters to write");

  std::vector<Json> optimizers;
  std::vector<Json> schedulers;
  bool some_without_scheduler = false;
  std::map<std::string, std::vector<Json>> others;  // dotted key -> distinct values
  for (const Json& params : params_best_first) {
    if (!params.is_object()) return absl::InvalidArgumentError("trial params must be a JSON object");
    for (const auto& [key, value] : params.items()) {
      if (key == "optimizer") {
        if (!value.is_object() || !value.contains("name")) {
          return absl::InvalidArgumentError("params.optimizer must be an object with a name");
        }
        AddDistinct(optimizers, value);
      } else if (key == "scheduler") {
        if (value.is_null()) continue;
        if (!value.is_object() || !value.contains("name")) {
          return absl::InvalidArgumentError("params.scheduler must be an object with a name");
        }
        AddDistinct(schedulers, value);
      } else {
        AddDistinct(others[key], value);
      }
    }
    if (!params.contains("scheduler") || params["scheduler"].is_null()) some_without_scheduler = true;
  }

  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "search" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "space" << YAML::Value << YAML::BeginMap;
  if (!optimizers.empty()) {
    out << YAML::Key << "optimizer" << YAML::Value << YAML::BeginSeq;
    for (const Json& optimizer : optimizers) EmitAlternative(out, optimizer, /*is_scheduler=*/false);
    out << YAML::EndSeq;
  }
  if (!schedulers.empty()) {
    if (some_without_scheduler) {
      out << YAML::Comment("some of these trials ran without a scheduler (constant lr)");
    }
    out << YAML::Key << "scheduler" << YAML::Value << YAML::BeginSeq;
    for (const Json& scheduler : schedulers) EmitAlternative(out, scheduler, /*is_scheduler=*/true);
    out << YAML::EndSeq;
  }
  for (const auto& [key, values] : others) {
    out << YAML::Key << key << YAML::Value;
    // In a spec a list is a grid axis, so a single list value is written as
    // a one-point axis ([[a, b]]) to keep it a value.
    if (values.size() == 1 && !values.front().is_array()) {
      EmitValue(out, values.front());
    } else {
      out << YAML::Flow << YAML::BeginSeq;
      for (const Json& value : values) EmitValue(out, value);
      out << YAML::EndSeq;
    }
  }
  out << YAML::EndMap << YAML::EndMap << YAML::EndMap;
  if (!out.good()) return absl::InternalError("cannot write the spec fragment: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace segtune::client
