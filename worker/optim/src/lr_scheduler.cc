// The formulas follow torch/optim/lr_scheduler.py (PyTorch 1.13) line by
// line, in its order of operations; comments name the torch code mirrored
// where the C++ reads differently.
#include "segtune/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lr_scheduler_internal.h"

namespace segtune::optim {
namespace internal {
namespace {

std::string Describe(double value) {
  if (!std::isfinite(value)) return absl::StrCat(value);
  return DescribeValue(nlohmann::json(value));
}

}  // namespace

absl::Status BadArgument(const char* arg, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(arg, ": ", message));
}

absl::Status CheckFinite(const char* arg, double value) {
  if (std::isfinite(value)) return absl::OkStatus();
  return BadArgument(arg, absl::StrCat("must be a finite number, got ", value));
}

absl::Status CheckInRange(const char* arg, double value, double low, double high,
                          const char* torch_message) {
  if (value >= low && value <= high) return absl::OkStatus();
  std::string message =
      absl::StrCat("must be in [", Describe(low), ", ", Describe(high), "], got ", Describe(value));
  if (torch_message != nullptr) absl::StrAppend(&message, " (torch: ", torch_message, ")");
  return BadArgument(arg, message);
}

void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) throw std::invalid_argument(std::string(status.message()));
}

void WriteInt(torch::serialize::OutputArchive& archive, const std::string& key, int64_t value) {
  archive.write(key, c10::IValue(value));
}

void WriteDouble(torch::serialize::OutputArchive& archive, const std::string& key, double value) {
  archive.write(key, c10::IValue(value));
}

void WriteDoubles(torch::serialize::OutputArchive& archive, const std::string& key,
                  const std::vector<double>& values) {
  archive.write(key, c10::IValue(values));
}

int64_t ReadInt(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  return value.toInt();
}

double ReadDouble(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  return value.toDouble();
}

std::vector<double> ReadDoubles(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  return value.toDoubleVector();
}

}  // namespace internal

using namespace internal;  // NOLINT: the schedulers' shared helpers

namespace {

// LinearLR's and PolynomialLR's closed forms divide by total_iters.
absl::Status ClosedFormDividesByZero() {
  return BadArgument("total_iters",
                     "is 0, and torch's closed form, used by step(epoch) and so when SequentialLR "
                     "switches to this scheduler, divides by it (ZeroDivisionError)");
}

// Python's a // b, which rounds towards minus infinity.
int64_t FloorDivide(int64_t a, int64_t b) {
  const int64_t quotient = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient;
}

}  // namespace

void ParamGroupEntries::ScaleLrs(double scale) {
  for (std::vector<double>* lrs : {&initial_lr, &max_lr, &min_lr}) {
    for (double& lr : *lrs) lr *= scale;
  }
}

void LRScheduler::SaveName(torch::serialize::OutputArchive& archive) const {
  archive.write("name", c10::IValue(std::string(name())));
}

void LRScheduler::LoadName(torch::serialize::InputArchive& archive) const {
  c10::IValue saved;
  archive.read("name", saved);
  TORCH_CHECK(saved.isString() && saved.toStringRef() == name(), "cannot load the state of ",
              saved.isString() ? saved.toStringRef() : std::string("something"), " into ", name());
}

EpochLRScheduler::EpochLRScheduler(torch::optim::Optimizer& optimizer,
                                   std::shared_ptr<ParamGroupEntries> entries)
    : optimizer_(optimizer),
      entries_(entries != nullptr ? std::move(entries) : std::make_shared<ParamGroupEntries>()) {}

void EpochLRScheduler::Start() {
  if (entries_->initial_lr.empty()) entries_->initial_lr = current_lrs();
  base_lrs_ = entries_->initial_lr;
  ThrowIfError(InitialStep());
}

absl::Status EpochLRScheduler::InitialStep() {
  step_count_ = 0;
  return step();
}

absl::Status EpochLRScheduler::step() { return Advance(std::nullopt); }

absl::Status EpochLRScheduler::step(int64_t epoch) { return Advance(epoch); }

absl::Status EpochLRScheduler::Advance(std::optional<int64_t> epoch) {
  ++step_count_;
  if (!epoch) {
    ++last_epoch_;
    return SetLrs(get_lr());
  }
  last_epoch_ = *epoch;
  return SetLrs(closed_form_lr());
}

absl::Status EpochLRScheduler::SetLrs(const absl::StatusOr<std::vector<double>>& lrs) {
  if (!lrs.ok()) return lrs.status();
  for (size_t i = 0; i < lrs->size(); ++i) {
    // Where torch raises ZeroDivisionError (ConstantLR with factor 0, ...),
    // the C++ arithmetic yields inf or nan instead.
    if (!std::isfinite((*lrs)[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("epoch ", last_epoch_, ": param group ", i, "'s lr would be ", (*lrs)[i]));
    }
  }
  auto& groups = optimizer_.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr((*lrs)[i]);
  last_lr_ = current_lrs();
  return absl::OkStatus();
}

absl::Status EpochLRScheduler::Rescale(double scale) {
  std::vector<double> lrs = ScaleBaseLrs(scale);
  entries_->ScaleLrs(scale);
  return SetLrs(std::move(lrs));
}

std::vector<double> EpochLRScheduler::ScaleBaseLrs(double scale) {
  for (double& base_lr : base_lrs_) base_lr *= scale;
  std::vector<double> lrs = current_lrs();
  for (double& lr : lrs) lr *= scale;
  return lrs;
}

std::vector<double> EpochLRScheduler::current_lrs() const {
  std::vector<double> lrs;
  for (const auto& group : optimizer_.param_groups()) lrs.push_back(group.options().get_lr());
  return lrs;
}

void EpochLRScheduler::save(torch::serialize::OutputArchive& archive) const {
  SaveName(archive);
  WriteInt(archive, "last_epoch", last_epoch_);
  WriteInt(archive, "_step_count", step_count_);
  WriteDoubles(archive, "base_lrs", base_lrs_);
  WriteDoubles(archive, "_last_lr", last_lr_);
}

void EpochLRScheduler::load(torch::serialize::InputArchive& archive) {
  LoadName(archive);
  last_epoch_ = ReadInt(archive, "last_epoch");
  step_count_ = ReadInt(archive, "_step_count");
  base_lrs_ = ReadDoubles(archive, "base_lrs");
  last_lr_ = ReadDoubles(archive, "_last_lr");
}

std::vector<std::string> LrLambdaVariables() {
  std::vector<std::string> variables = {"epoch"};
  for (std::string& variable : BudgetVariables()) variables.push_back(std::move(variable));
  return variables;
}

namespace {

absl::StatusOr<Expression> ParseLrLambda(const std::string& text) {
  absl::StatusOr<Expression> expression = Expression::Parse(text, LrLambdaVariables());
  if (!expression.ok()) return BadArgument("lr_lambda", std::string(expression.status().message()));
  return expression;
}

Expression ParseLrLambdaOrThrow(const LambdaLROptions& options) {
  absl::StatusOr<Expression> expression = ParseLrLambda(options.lr_lambda());
  ThrowIfError(expression.status());
  return *std::move(expression);
}

// torch's lmbda(self.last_epoch).
absl::StatusOr<double> EvaluateLrLambda(const Expression& lr_lambda, int64_t epoch,
                                        const Budget& budget) {
  absl::StatusOr<double> value =
      lr_lambda.Evaluate({{"epoch", static_cast<double>(epoch)},
                          {"epochs", static_cast<double>(budget.epochs)},
                          {"steps_per_epoch", static_cast<double>(budget.steps_per_epoch)}});
  if (!value.ok()) return BadArgument("lr_lambda", std::string(value.status().message()));
  return value;
}

}  // namespace

absl::Status LambdaLROptions::Validate() const { return ParseLrLambda(lr_lambda()).status(); }

LambdaLR::LambdaLR(torch::optim::Optimizer& optimizer, const LambdaLROptions& options,
                   std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)),
      options_(options),
      lr_lambda_(ParseLrLambdaOrThrow(options)) {
  Start();
}

absl::StatusOr<std::vector<double>> LambdaLR::get_lr() {
  absl::StatusOr<double> factor = EvaluateLrLambda(lr_lambda_, last_epoch_, options_.budget());
  if (!factor.ok()) return factor.status();
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(base_lr * *factor);
  return lrs;
}

MultiplicativeLR::MultiplicativeLR(torch::optim::Optimizer& optimizer,
                                   const MultiplicativeLROptions& options,
                                   std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)),
      options_(options),
      lr_lambda_(ParseLrLambdaOrThrow(options)) {
  Start();
}

absl::StatusOr<std::vector<double>> MultiplicativeLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ <= 0) return lrs;
  absl::StatusOr<double> factor = EvaluateLrLambda(lr_lambda_, last_epoch_, options_.budget());
  if (!factor.ok()) return factor.status();
  for (double& lr : lrs) lr *= *factor;
  return lrs;
}

absl::Status StepLROptions::Validate() const {
  // torch would divide by zero (last_epoch % step_size) at the first step.
  if (step_size() < 1) {
    return BadArgument("step_size", absl::StrCat("must be >= 1, got ", step_size()));
  }
  return CheckFinite("gamma", gamma());
}

StepLR::StepLR(torch::optim::Optimizer& optimizer, const StepLROptions& options,
               std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<std::vector<double>> StepLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0 || last_epoch_ % options_.step_size() != 0) return lrs;
  for (double& lr : lrs) lr *= options_.gamma();
  return lrs;
}

absl::StatusOr<std::vector<double>> StepLR::closed_form_lr() {
  const double decay = std::pow(
      options_.gamma(), static_cast<double>(FloorDivide(last_epoch_, options_.step_size())));
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(base_lr * decay);
  return lrs;
}

absl::Status MultiStepLROptions::Validate() const { return CheckFinite("gamma", gamma()); }

MultiStepLR::MultiStepLR(torch::optim::Optimizer& optimizer, const MultiStepLROptions& options,
                         std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<std::vector<double>> MultiStepLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  const auto& milestones = options_.milestones();
  const auto times = std::count(milestones.begin(), milestones.end(), last_epoch_);
  if (times == 0) return lrs;
  // torch: group['lr'] * self.gamma ** self.milestones[self.last_epoch]
  const double decay = std::pow(options_.gamma(), static_cast<double>(times));
  for (double& lr : lrs) lr *= decay;
  return lrs;
}

absl::StatusOr<std::vector<double>> MultiStepLR::closed_form_lr() {
  // torch: gamma ** bisect_right(sorted(milestones), last_epoch)
  const auto& milestones = options_.milestones();
  const auto passed = std::count_if(milestones.begin(), milestones.end(),
                                    [this](int64_t milestone) { return milestone <= last_epoch_; });
  const double decay = std::pow(options_.gamma(), static_cast<double>(passed));
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(base_lr * decay);
  return lrs;
}

absl::Status ConstantLROptions::Validate() const {
  return CheckInRange("factor", factor(), 0.0, 1.0,
                      "Constant multiplicative factor expected to be between 0 and 1.");
}

ConstantLR::ConstantLR(torch::optim::Optimizer& optimizer, const ConstantLROptions& options,
                       std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<std::vector<double>> ConstantLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr *= options_.factor();
  } else if (last_epoch_ == options_.total_iters()) {
    if (options_.factor() == 0.0) {
      return BadArgument("factor", absl::StrCat("is 0, and torch divides by it at epoch "
                                                "total_iters = ",
                                                last_epoch_, " (ZeroDivisionError)"));
    }
    for (double& lr : lrs) lr *= 1.0 / options_.factor();
  }
  return lrs;
}

absl::StatusOr<std::vector<double>> ConstantLR::closed_form_lr() {
  const double factor = options_.factor();
  const double reached = last_epoch_ >= options_.total_iters() ? 1.0 : 0.0;
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(base_lr * (factor + reached * (1 - factor)));
  return lrs;
}

absl::Status LinearLROptions::Validate() const {
  if (absl::Status status =
          CheckInRange("start_factor", start_factor(), 0.0, 1.0,
                       "Starting multiplicative factor expected to be between 0 and 1.");
      !status.ok()) {
    return status;
  }
  if (start_factor() == 0.0) {
    return BadArgument("start_factor",
                       "must be > 0 (torch divides by total_iters * start_factor at the first "
                       "step)");
  }
  return CheckInRange("end_factor", end_factor(), 0.0, 1.0,
                      "Ending multiplicative factor expected to be between 0 and 1.");
}

LinearLR::LinearLR(torch::optim::Optimizer& optimizer, const LinearLROptions& options,
                   std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<std::vector<double>> LinearLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  const double start = options_.start_factor();
  const double end = options_.end_factor();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr *= start;
    return lrs;
  }
  if (last_epoch_ > options_.total_iters()) return lrs;
  const double factor = 1. + (end - start) / (static_cast<double>(options_.total_iters()) * start +
                                              static_cast<double>(last_epoch_ - 1) * (end - start));
  for (double& lr : lrs) lr *= factor;
  return lrs;
}

absl::StatusOr<std::vector<double>> LinearLR::closed_form_lr() {
  const double start = options_.start_factor();
  const double end = options_.end_factor();
  const int64_t total_iters = options_.total_iters();
  if (total_iters == 0) return ClosedFormDividesByZero();
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) {
    lrs.push_back(base_lr *
                  (start + (end - start) * static_cast<double>(std::min(total_iters, last_epoch_)) /
                               static_cast<double>(total_iters)));
  }
  return lrs;
}

absl::Status ExponentialLROptions::Validate() const { return CheckFinite("gamma", gamma()); }

ExponentialLR::ExponentialLR(torch::optim::Optimizer& optimizer,
                             const ExponentialLROptions& options,
                             std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<std::vector<double>> ExponentialLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr *= options_.gamma();
  return lrs;
}

absl::StatusOr<std::vector<double>> ExponentialLR::closed_form_lr() {
  const double decay = std::pow(options_.gamma(), static_cast<double>(last_epoch_));
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(base_lr * decay);
  return lrs;
}

absl::Status PolynomialLROptions::Validate() const { return CheckFinite("power", power()); }

PolynomialLR::PolynomialLR(torch::optim::Optimizer& optimizer, const PolynomialLROptions& options,
                           std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<double> PolynomialLR::Power(double base) const {
  if (base == 0.0 && options_.power() < 0) {
    return BadArgument("power", absl::StrCat("is negative, and torch raises 0.0 to it at epoch ",
                                             last_epoch_, " (ZeroDivisionError)"));
  }
  return std::pow(base, options_.power());
}

absl::StatusOr<std::vector<double>> PolynomialLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0 || last_epoch_ > options_.total_iters()) return lrs;
  const double total_iters = static_cast<double>(options_.total_iters());
  const absl::StatusOr<double> decay =
      Power((1.0 - static_cast<double>(last_epoch_) / total_iters) /
            (1.0 - static_cast<double>(last_epoch_ - 1) / total_iters));
  if (!decay.ok()) return decay.status();
  for (double& lr : lrs) lr *= *decay;
  return lrs;
}

absl::StatusOr<std::vector<double>> PolynomialLR::closed_form_lr() {
  const int64_t total_iters = options_.total_iters();
  if (total_iters == 0) return ClosedFormDividesByZero();
  const absl::StatusOr<double> decay =
      Power(1.0 - static_cast<double>(std::min(total_iters, last_epoch_)) /
                      static_cast<double>(total_iters));
  if (!decay.ok()) return decay.status();
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(base_lr * *decay);
  return lrs;
}

}  // namespace segtune::optim
