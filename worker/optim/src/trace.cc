// RunTrace: reading a case, stepping the optimizer and scheduler, recording
// the trajectory.
#include "segtune/optim/trace.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/optim/factory.h"

namespace segtune::optim {
namespace {

using nlohmann::json;

const char* const kCaseKeys[] = {"optimizer", "scheduler", "params", "grads", "metrics", "budget"};

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The shape of a number or rectangular nested list, and its values in
// row-major order.
struct Values {
  std::vector<int64_t> shape;
  std::vector<double> flat;
};

absl::Status Flatten(const json& value, const std::string& where, std::size_t depth,
                     Values& values, std::optional<std::size_t>& leaf_depth) {
  if (value.is_number()) {
    if (leaf_depth && *leaf_depth != depth) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not rectangular (numbers at different depths)"));
    }
    leaf_depth = depth;
    values.flat.push_back(value.get<double>());
    return absl::OkStatus();
  }
  if (!value.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": must be a number or a list of numbers, got ", value.dump()));
  }
  const auto size = static_cast<int64_t>(value.size());
  if (depth == values.shape.size()) {
    values.shape.push_back(size);
  } else if (values.shape[depth] != size) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": not rectangular (a list of ", size,
                                                   " where ", values.shape[depth],
                                                   " were expected)"));
  }
  if (size == 0) {
    // An empty list ends the shape here; a sibling holding numbers or
    // deeper lists would not be rectangular.
    if (leaf_depth && *leaf_depth != depth + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not rectangular (an empty list beside deeper values)"));
    }
    leaf_depth = depth + 1;
    return absl::OkStatus();
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (absl::Status status = Flatten(value[i], where, depth + 1, values, leaf_depth);
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> ParseTensor(const json& value, const std::string& where) {
  Values values;
  std::optional<std::size_t> leaf_depth;
  if (absl::Status status = Flatten(value, where, 0, values, leaf_depth); !status.ok()) {
    return status;
  }
  // A tensor of its own rather than a view, as a model's parameter is.
  return torch::tensor(values.flat, torch::dtype(torch::kFloat64)).reshape(values.shape).clone();
}

json Row(const double* data, const std::vector<int64_t>& shape, std::size_t dim,
         std::size_t& offset) {
  if (dim == shape.size()) return data[offset++];
  json list = json::array();
  for (int64_t i = 0; i < shape[dim]; ++i) list.push_back(Row(data, shape, dim + 1, offset));
  return list;
}

// The tensor as a number (0-d) or nested lists, like torch's tolist().
json ToJson(const torch::Tensor& tensor) {
  const torch::Tensor values = tensor.detach().contiguous();
  const std::vector<int64_t> shape = values.sizes().vec();
  std::size_t offset = 0;
  return Row(values.data_ptr<double>(), shape, 0, offset);
}

struct ParsedCase {
  std::vector<torch::Tensor> params;
  std::vector<std::vector<torch::Tensor>> grads;  // per step, per param
  std::optional<std::vector<double>> metrics;
  Budget budget;
};

absl::Status CheckKeys(const json& trace_case) {
  if (!trace_case.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("case: must be an object like {\"optimizer\": ..., \"params\": ..., "
                     "\"grads\": ...}, got ", trace_case.dump()));
  }
  for (const auto& [key, value] : trace_case.items()) {
    if (std::find(std::begin(kCaseKeys), std::end(kCaseKeys), key) == std::end(kCaseKeys)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "case: unknown key '", key, "' (keys: ", absl::StrJoin(kCaseKeys, ", "), ")"));
    }
  }
  for (const char* required : {"optimizer", "params", "grads"}) {
    if (!trace_case.contains(required)) {
      return absl::InvalidArgumentError(absl::StrCat(required, ": required"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseParams(const json& params, ParsedCase& parsed) {
  if (!params.is_array() || params.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params: must be a non-empty list of parameters, got ", params.dump()));
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    absl::StatusOr<torch::Tensor> tensor = ParseTensor(params[i], absl::StrCat("params[", i, "]"));
    if (!tensor.ok()) return tensor.status();
    parsed.params.push_back(tensor->requires_grad_());
  }
  return absl::OkStatus();
}

absl::Status ParseGrads(const json& grads, ParsedCase& parsed) {
  if (!grads.is_array() || grads.empty()) {
    return absl::InvalidArgumentError(
        "grads: must be a non-empty list with one entry per step");
  }
  for (std::size_t step = 0; step < grads.size(); ++step) {
    const json& step_grads = grads[step];
    const std::string where = absl::StrCat("grads[", step, "]");
    if (!step_grads.is_array() || step_grads.size() != parsed.params.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": must be a list of ", parsed.params.size(), " gradients, one per param"));
    }
    std::vector<torch::Tensor> tensors;
    for (std::size_t i = 0; i < step_grads.size(); ++i) {
      const std::string grad_where = absl::StrCat(where, "[", i, "]");
      absl::StatusOr<torch::Tensor> grad = ParseTensor(step_grads[i], grad_where);
      if (!grad.ok()) return grad.status();
      if (grad->sizes() != parsed.params[i].sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            grad_where, ": shape ", ShapeText(grad->sizes().vec()), " does not match params[", i,
            "], shape ", ShapeText(parsed.params[i].sizes().vec())));
      }
      tensors.push_back(*std::move(grad));
    }
    parsed.grads.push_back(std::move(tensors));
  }
  return absl::OkStatus();
}

absl::Status ParseMetrics(const json& trace_case, ParsedCase& parsed) {
  auto it = trace_case.find("metrics");
  if (it == trace_case.end()) return absl::OkStatus();
  if (!it->is_array() || it->size() != parsed.grads.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics: must be a list of ", parsed.grads.size(), " numbers, one per step"));
  }
  std::vector<double> metrics;
  for (std::size_t step = 0; step < it->size(); ++step) {
    if (!(*it)[step].is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics[", step, "]: must be a number, got ", (*it)[step].dump()));
    }
    metrics.push_back((*it)[step].get<double>());
  }
  parsed.metrics = std::move(metrics);
  return absl::OkStatus();
}

absl::StatusOr<std::int64_t> BudgetField(const json& budget, const char* name,
                                         std::int64_t default_value) {
  auto it = budget.find(name);
  if (it == budget.end()) return default_value;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("budget.", name, ": must be a whole number >= 1, got ", it->dump()));
  }
  return it->get<std::int64_t>();
}

absl::Status ParseBudget(const json& trace_case, ParsedCase& parsed) {
  const json budget = trace_case.value("budget", json::object());
  if (!budget.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "budget: must be an object like {\"epochs\": 10, \"steps_per_epoch\": 5}, got ",
        budget.dump()));
  }
  for (const auto& [key, value] : budget.items()) {
    if (key != "epochs" && key != "steps_per_epoch") {
      return absl::InvalidArgumentError(
          absl::StrCat("budget: unknown key '", key, "' (keys: epochs, steps_per_epoch)"));
    }
  }
  absl::StatusOr<std::int64_t> epochs =
      BudgetField(budget, "epochs", static_cast<std::int64_t>(parsed.grads.size()));
  if (!epochs.ok()) return epochs.status();
  absl::StatusOr<std::int64_t> steps_per_epoch = BudgetField(budget, "steps_per_epoch", 1);
  if (!steps_per_epoch.ok()) return steps_per_epoch.status();
  parsed.budget.epochs = *epochs;
  parsed.budget.steps_per_epoch = *steps_per_epoch;
  return absl::OkStatus();
}

absl::StatusOr<ParsedCase> Parse(const json& trace_case) {
  ParsedCase parsed;
  if (absl::Status status = CheckKeys(trace_case); !status.ok()) return status;
  if (absl::Status status = ParseParams(trace_case.at("params"), parsed); !status.ok()) {
    return status;
  }
  if (absl::Status status = ParseGrads(trace_case.at("grads"), parsed); !status.ok()) {
    return status;
  }
  if (absl::Status status = ParseMetrics(trace_case, parsed); !status.ok()) return status;
  if (absl::Status status = ParseBudget(trace_case, parsed); !status.ok()) return status;
  return parsed;
}

absl::Status CheckFinite(const torch::Tensor& values, const std::string& where) {
  if (torch::isfinite(values).all().item<bool>()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": not finite, which JSON cannot represent"));
}

// An exception's message; LibTorch's errors without their C++ backtrace.
std::string ErrorText(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) {
    return torch_error->what_without_backtrace();
  }
  return error.what();
}

// One step of the trace: gradients, optimizer step, scheduler step.
absl::Status Step(std::size_t step, ParsedCase& parsed, torch::optim::Optimizer& optimizer,
                  Scheduler* scheduler) {
  for (std::size_t i = 0; i < parsed.params.size(); ++i) {
    parsed.params[i].mutable_grad() = parsed.grads[step][i];
  }
  try {
    optimizer.step();
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat("step ", step + 1, ": optimizer: ", ErrorText(error)));
  }
  if (scheduler == nullptr) return absl::OkStatus();
  std::optional<double> metric;
  if (parsed.metrics) metric = (*parsed.metrics)[step];
  absl::Status status;
  try {
    status = scheduler->Step(metric);
  } catch (const std::exception& error) {
    status = absl::InvalidArgumentError(absl::StrCat("scheduler: ", ErrorText(error)));
  }
  if (!status.ok()) {
    // The scheduler's errors say which scheduler and argument they are about.
    return absl::InvalidArgumentError(absl::StrCat("step ", step + 1, ": ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> RunTrace(const nlohmann::json& trace_case) {
  absl::StatusOr<ParsedCase> parsed = Parse(trace_case);
  if (!parsed.ok()) return parsed.status();

  const json& optimizer_params = trace_case.at("optimizer");
  if (NeedsLossClosure(optimizer_params)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer.name: ", optimizer_params.at("name").get<std::string>(),
        " re-evaluates the loss through a closure, which a trace of fixed gradients cannot "
        "provide"));
  }
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      MakeOptimizer(optimizer_params, parsed->params);
  if (!optimizer.ok()) return optimizer.status();

  std::unique_ptr<Scheduler> scheduler;
  if (auto it = trace_case.find("scheduler"); it != trace_case.end()) {
    absl::StatusOr<std::unique_ptr<Scheduler>> made =
        MakeScheduler(*it, **optimizer, parsed->budget);
    if (!made.ok()) return made.status();
    scheduler = *std::move(made);
    if (!scheduler->monitor().empty() && !parsed->metrics) {
      return absl::InvalidArgumentError(
          "metrics: required with a scheduler that watches a metric (ReduceLROnPlateau): one "
          "number per step");
    }
  }

  json params = json::array();
  json lrs = json::array();
  for (std::size_t step = 0; step < parsed->grads.size(); ++step) {
    if (absl::Status status = Step(step, *parsed, **optimizer, scheduler.get()); !status.ok()) {
      return status;
    }
    json step_params = json::array();
    for (std::size_t i = 0; i < parsed->params.size(); ++i) {
      if (absl::Status status = CheckFinite(parsed->params[i].detach(),
                                            absl::StrCat("step ", step + 1, ": params[", i, "]"));
          !status.ok()) {
        return status;
      }
      step_params.push_back(ToJson(parsed->params[i]));
    }
    params.push_back(std::move(step_params));
    const double lr = (*optimizer)->param_groups()[0].options().get_lr();
    if (!std::isfinite(lr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("step ", step + 1, ": lr is not finite, which JSON cannot represent"));
    }
    lrs.push_back(lr);
  }
  return json{{"params", std::move(params)}, {"lr", std::move(lrs)}};
}

}  // namespace segtune::optim
