// Turns choices in a search space into trial params (see searcher.h): picks
// grid values, samples distributions, fills torch defaults in with the optim
// catalog. Internal to segtune_search.
//
// Thread-safety: TrialBuilder is immutable after Create; Random is not
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/optim/catalog.h"
#include "segtune/spec/spec.h"

namespace segtune::search::internal {

// Random numbers that are the same on every platform: mt19937_64's output is
// fixed by the standard, and these conversions use only integer arithmetic and
// exact scaling (std::uniform_*_distribution are implementation-defined).
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1), on the 2^-53 grid.
  double Uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n), n >= 1, without modulo bias.
  std::uint64_t Below(std::uint64_t n);

 private:
  std::mt19937_64 engine_;
};

// The domains of one alternative (or of the space's other keys) in grid order.
struct Block {
  std::vector<std::string> keys;
  std::vector<spec::Domain> domains;
  std::uint64_t grid_points = 1;  // product of the sizes of the kGrid domains
};

// For each domain of a block, the index of its grid value (ignored for domains
// that are not kGrid).
using AxisPicks = std::vector<std::uint64_t>;

// Which alternatives and grid values one trial takes.
struct TrialChoice {
  std::size_t optimizer = 0;
  AxisPicks optimizer_axes;
  std::optional<std::size_t> scheduler;  // nullopt: the space has no scheduler
  AxisPicks scheduler_axes;
  AxisPicks other_axes;
};

// Every value of one trial, already chosen: for samplers that pick values
// themselves (tpe) instead of grid indices and random draws. Each vector holds
// one value per domain of its block, in block order (Block::keys), each a
// value the domain can take.
struct TrialValues {
  std::size_t optimizer = 0;
  std::vector<nlohmann::json> optimizer_args;
  std::optional<std::size_t> scheduler;  // nullopt: the space has no scheduler
  std::vector<nlohmann::json> scheduler_args;
  std::vector<nlohmann::json> others;
};

class TrialBuilder {
 public:
  struct AlternativeBlock {
    std::string name;                           // canonical torch name
    const optim::AlgorithmSpec* algorithm = nullptr;
    Block block;
    nlohmann::json implied_others;              // "full" already resolved
  };

  // Fails on a spec that validation would have rejected (unknown names, no
  // optimizer, bgd without data.train_size).
  static absl::StatusOr<TrialBuilder> Create(const spec::SweepSpec& spec);

  const std::vector<AlternativeBlock>& optimizers() const { return optimizers_; }
  const std::vector<AlternativeBlock>& schedulers() const { return schedulers_; }
  const Block& others() const { return others_; }

  // The params of one trial. Distributions and choices are sampled from
  // `random` in order: optimizer arguments, scheduler arguments, other keys,
  // each in grid order.
  nlohmann::json Build(const TrialChoice& choice, Random& random) const;

  // The params of one trial from values chosen by the caller: the same shape
  // as Build's (Build is this after picking and sampling the values).
  nlohmann::json BuildFromValues(const TrialValues& values) const;

  // The value a numeric domain (kUniform, kLogUniform, kInt) takes at `x`,
  // as Build gives it: rounded to a whole number for kInt, then quantized by
  // q. No clamping: `x` must lie within the domain.
  static nlohmann::json NumericValue(const spec::Domain& domain, double x);

  // For random search: a uniformly drawn index for every kGrid domain of `block`.
  static AxisPicks RandomAxes(const Block& block, Random& random);
  // For random search: an optimizer alternative, a scheduler alternative
  // (if any) and the other keys' grid values, each drawn uniformly in that
  // order (Build then samples the distributions).
  TrialChoice RandomChoice(Random& random) const;

  // For grid search: the axis indices of grid point `point` (< block.grid_points),
  // the first key varying slowest.
  static AxisPicks DecodeAxes(const Block& block, std::uint64_t point);

 private:
  TrialBuilder() = default;

  std::vector<AlternativeBlock> optimizers_;
  std::vector<AlternativeBlock> schedulers_;
  Block others_;
};

}  // namespace segtune::search::internal
