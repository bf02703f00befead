#include "trial_builder.h"

#include <charconv>
#include <cmath>

#include "absl/status/status.h"

namespace segtune::search::internal {
namespace {

using Json = nlohmann::json;

// Quantized values print as the user would write them: 3 * 0.05 is 0.15, not
// 0.15000000000000002. Fifteen significant digits hold any decimal a spec can
// sensibly give.
double Tidy(double value) {
  char text[32];
  auto written = std::to_chars(text, text + sizeof(text), value, std::chars_format::general, 15);
  double tidy = value;
  std::from_chars(text, written.ptr, tidy);
  return tidy;
}

Json Quantize(double value, const std::optional<double>& q) {
  if (!q) return value;
  double quantized = std::round(value / *q) * *q;
  // A whole-number step over whole-number bounds gives whole numbers:
  // keep them integers so integer settings stay integers.
  if (std::floor(*q) == *q) return static_cast<std::int64_t>(quantized);
  return Tidy(quantized);
}

// The value a domain takes in one trial.
Json ValueOf(const spec::Domain& domain, std::uint64_t grid_index, Random& random) {
  switch (domain.kind) {
    case spec::Domain::Kind::kFixed:
      return domain.fixed;
    case spec::Domain::Kind::kGrid:
      return domain.values.at(grid_index);
    case spec::Domain::Kind::kChoice:
      return domain.values.at(random.Below(domain.values.size()));
    case spec::Domain::Kind::kUniform:
      return TrialBuilder::NumericValue(
          domain, domain.low + random.Uniform01() * (domain.high - domain.low));
    case spec::Domain::Kind::kLogUniform: {
      double log_low = std::log(domain.low);
      double log_high = std::log(domain.high);
      return TrialBuilder::NumericValue(
          domain, std::exp(log_low + random.Uniform01() * (log_high - log_low)));
    }
    case spec::Domain::Kind::kInt: {
      auto low = static_cast<std::int64_t>(domain.low);
      auto count = static_cast<std::uint64_t>(static_cast<std::int64_t>(domain.high) - low) + 1;
      auto value = low + static_cast<std::int64_t>(random.Below(count));
      return TrialBuilder::NumericValue(domain, static_cast<double>(value));
    }
  }
  return nullptr;
}

// The values of every domain of `block`, in block order.
std::vector<Json> BlockValues(const Block& block, const AxisPicks& axes, Random& random) {
  std::vector<Json> values;
  values.reserve(block.domains.size());
  for (std::size_t i = 0; i < block.domains.size(); ++i) {
    values.push_back(ValueOf(block.domains[i], axes[i], random));
  }
  return values;
}

Block MakeBlock(const std::map<std::string, spec::Domain>& domains,
                const std::vector<std::string>& order) {
  Block block;
  block.keys = spec::OrderedKeys(domains, order);
  for (const std::string& key : block.keys) {
    const spec::Domain& domain = domains.at(key);
    block.domains.push_back(domain);
    if (domain.kind == spec::Domain::Kind::kGrid) block.grid_points *= domain.values.size();
  }
  return block;
}

absl::StatusOr<TrialBuilder::AlternativeBlock> MakeAlternative(
    const spec::Alternative& alternative, bool is_optimizer, const Json& data) {
  TrialBuilder::AlternativeBlock block;
  optim::Resolved resolved = is_optimizer ? optim::ResolveOptimizer(alternative.name)
                                          : optim::ResolveScheduler(alternative.name);
  if (resolved.algorithm == nullptr) {
    return absl::InvalidArgumentError(std::string("unknown ") +
                                      (is_optimizer ? "optimizer" : "scheduler") + " \"" +
                                      alternative.name + "\"");
  }
  block.name = resolved.algorithm->name;
  block.algorithm = resolved.algorithm;
  block.block = MakeBlock(alternative.args, alternative.arg_order);
  block.implied_others = alternative.implied_others;
  for (auto& [key, value] : block.implied_others.items()) {
    if (value != "full") continue;
    // "full": the batch is the whole training set (bgd).
    auto train_size = data.find("train_size");
    if (train_size == data.end() || !train_size->is_number_integer()) {
      return absl::InvalidArgumentError(alternative.alias + " sets " + key +
                                        " to the training set size, but data.train_size is "
                                        "not an integer");
    }
    value = *train_size;
  }
  return block;
}

}  // namespace

std::uint64_t Random::Below(std::uint64_t n) {
  // Accept only draws from the top multiple-of-n part of the 2^64 range, so
  // that x % n is exactly uniform. threshold = 2^64 mod n.
  const std::uint64_t threshold = (0 - n) % n;
  while (true) {
    std::uint64_t x = engine_();
    if (x >= threshold) return x % n;
  }
}

absl::StatusOr<TrialBuilder> TrialBuilder::Create(const spec::SweepSpec& spec) {
  const spec::SearchSpace& space = spec.search.space;
  if (space.optimizers.empty()) {
    return absl::InvalidArgumentError("the search space has no optimizer");
  }
  TrialBuilder builder;
  for (const spec::Alternative& alternative : space.optimizers) {
    absl::StatusOr<AlternativeBlock> block = MakeAlternative(alternative, true, spec.data);
    if (!block.ok()) return block.status();
    builder.optimizers_.push_back(*std::move(block));
  }
  for (const spec::Alternative& alternative : space.schedulers) {
    absl::StatusOr<AlternativeBlock> block = MakeAlternative(alternative, false, spec.data);
    if (!block.ok()) return block.status();
    builder.schedulers_.push_back(*std::move(block));
  }
  builder.others_ = MakeBlock(space.others, space.other_order);
  return builder;
}

Json TrialBuilder::Build(const TrialChoice& choice, Random& random) const {
  // Sampled in this order: optimizer arguments, scheduler arguments, other keys.
  TrialValues values;
  values.optimizer = choice.optimizer;
  values.optimizer_args =
      BlockValues(optimizers_.at(choice.optimizer).block, choice.optimizer_axes, random);
  values.scheduler = choice.scheduler;
  if (choice.scheduler) {
    values.scheduler_args =
        BlockValues(schedulers_.at(*choice.scheduler).block, choice.scheduler_axes, random);
  }
  values.others = BlockValues(others_, choice.other_axes, random);
  return BuildFromValues(values);
}

Json TrialBuilder::BuildFromValues(const TrialValues& values) const {
  auto build_algorithm = [](const AlternativeBlock& alternative, const std::vector<Json>& values) {
    Json args = Json::object();
    for (std::size_t i = 0; i < alternative.block.keys.size(); ++i) {
      args[alternative.block.keys[i]] = values.at(i);
    }
    // Validation checked every value the space can produce, so this finds no
    // problems; if it did, the worker's own CompleteArgs would fail the trial
    // with them, which is where such a trial belongs.
    Json completed = optim::CompleteArgs(*alternative.algorithm, args).args;
    completed["name"] = alternative.name;
    return completed;
  };

  Json params = Json::object();
  const AlternativeBlock& optimizer = optimizers_.at(values.optimizer);
  params["optimizer"] = build_algorithm(optimizer, values.optimizer_args);
  if (values.scheduler) {
    params["scheduler"] = build_algorithm(schedulers_.at(*values.scheduler), values.scheduler_args);
  }
  for (std::size_t i = 0; i < others_.keys.size(); ++i) params[others_.keys[i]] = values.others.at(i);
  // What the optimizer's alias implies (bgd's batch size) wins over the space.
  for (const auto& [key, value] : optimizer.implied_others.items()) params[key] = value;
  return params;
}

Json TrialBuilder::NumericValue(const spec::Domain& domain, double x) {
  if (domain.kind == spec::Domain::Kind::kInt) {
    auto value = static_cast<std::int64_t>(std::llround(x));
    if (!domain.q) return value;
    return Quantize(static_cast<double>(value), domain.q);
  }
  return Quantize(x, domain.q);
}

TrialChoice TrialBuilder::RandomChoice(Random& random) const {
  TrialChoice choice;
  choice.optimizer = random.Below(optimizers_.size());
  choice.optimizer_axes = RandomAxes(optimizers_[choice.optimizer].block, random);
  if (!schedulers_.empty()) {
    choice.scheduler = random.Below(schedulers_.size());
    choice.scheduler_axes = RandomAxes(schedulers_[*choice.scheduler].block, random);
  }
  choice.other_axes = RandomAxes(others_, random);
  return choice;
}

AxisPicks TrialBuilder::RandomAxes(const Block& block, Random& random) {
  AxisPicks axes(block.domains.size(), 0);
  for (std::size_t i = 0; i < block.domains.size(); ++i) {
    if (block.domains[i].kind == spec::Domain::Kind::kGrid) {
      axes[i] = random.Below(block.domains[i].values.size());
    }
  }
  return axes;
}

AxisPicks TrialBuilder::DecodeAxes(const Block& block, std::uint64_t point) {
  AxisPicks axes(block.domains.size(), 0);
  for (std::size_t i = block.domains.size(); i-- > 0;) {
    if (block.domains[i].kind != spec::Domain::Kind::kGrid) continue;
    std::uint64_t size = block.domains[i].values.size();
    axes[i] = point % size;
    point /= size;
  }
  return axes;
}

}  // namespace segtune::search::internal
