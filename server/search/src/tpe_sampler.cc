#include "tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace segtune::search::internal {
namespace {

using Json = nlohmann::json;
using Kind = spec::Domain::Kind;

constexpr double kWorst = -std::numeric_limits<double>::infinity();
// Random draws tried for a point no trial has taken yet.
constexpr int kRandomDraws = 64;
constexpr double kPi = 3.14159265358979323846;
// The prior's weight in every density, the same as one observation's.
constexpr double kPriorWeight = 1.0;

// The seed of suggestion k's generator: splitmix64 of (seed, k), so that
// nearby seeds and indices give unrelated streams.
std::uint64_t SuggestionSeed(std::uint64_t seed, std::uint64_t k) {
  std::uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Box-Muller; 1 - U lies in (0, 1], so the logarithm is finite.
double StandardNormal(Random& random) {
  double radius = std::sqrt(-2 * std::log(1 - random.Uniform01()));
  return radius * std::cos(2 * kPi * random.Uniform01());
}

// P(a <= Z <= b) for a standard normal Z, from the nearer tail so that it
// stays accurate far from the mean.
double NormalMass(double a, double b) {
  const double scale = 1 / std::sqrt(2.0);
  if (a > 0) return 0.5 * (std::erfc(a * scale) - std::erfc(b * scale));
  if (b < 0) return 0.5 * (std::erfc(-b * scale) - std::erfc(-a * scale));
  return 1 - 0.5 * std::erfc(-a * scale) - 0.5 * std::erfc(b * scale);
}

double LogSumExp(const std::vector<double>& terms) {
  double top = *std::max_element(terms.begin(), terms.end());
  double sum = 0;
  for (double term : terms) sum += std::exp(term - top);
  return top + std::log(sum);
}

// How TPE sees one domain.
struct Param {
  enum class Type { kFixed, kCategorical, kNumeric };
  Type type = Type::kFixed;
  std::size_t categories = 0;  // kCategorical
  // kNumeric:
  bool log = false;       // modelled in log space (loguniform)
  double step = 0;        // > 0: values are the multiples of step in [low, high]
  double low = 0;
  double high = 0;        // lowered by the lr cap
  bool cappable = false;  // uniform or loguniform: the lr cap applies

  // The coordinate TPE models a value by.
  double Coordinate(double value) const {
    value = std::clamp(value, low, high);
    return log ? std::log(value) : value;
  }
  // The multiples of step allowed: [first_step, last_step] * step. The
  // bounds of a spec are multiples of q; a cap need not be.
  double first_step() const { return std::ceil(low / step - 1e-9); }
  double last_step() const { return std::floor(high / step + 1e-9); }
  // The coordinates values come from: each multiple of step owns the
  // coordinates that round to it, so a linear range reaches half a step past
  // the first and last ones.
  std::pair<double, double> Range() const {
    if (step > 0 && !log) return {first_step() * step - step / 2, last_step() * step + step / 2};
    return {Coordinate(low), Coordinate(high)};
  }
  // The value at coordinate x: on the steps, within the bounds.
  double ValueAt(double x) const {
    double value = log ? std::exp(x) : x;
    if (step > 0) return std::clamp(std::round(value / step), first_step(), last_step()) * step;
    return std::clamp(value, low, high);
  }
  // The coordinates that give `value` (on the steps).
  std::pair<double, double> Interval(double value) const {
    double lower = value - step / 2;
    double upper = value + step / 2;
    if (log) return {std::log(std::max(lower, low)), std::log(std::min(upper, high))};
    return {lower, upper};
  }
};

Param MakeParam(const spec::Domain& domain) {
  Param param;
  switch (domain.kind) {
    case Kind::kFixed:
      break;
    case Kind::kGrid:
    case Kind::kChoice:
      param.type = Param::Type::kCategorical;
      param.categories = domain.values.size();
      break;
    case Kind::kUniform:
    case Kind::kLogUniform:
    case Kind::kInt:
      param.type = Param::Type::kNumeric;
      param.log = domain.kind == Kind::kLogUniform;
      param.step = domain.q ? *domain.q : domain.kind == Kind::kInt ? 1.0 : 0.0;
      param.low = domain.low;
      param.high = domain.high;
      param.cappable = domain.kind != Kind::kInt;
      break;
  }
  return param;
}

Param CategoricalParam(std::size_t categories) {
  Param param;
  param.type = Param::Type::kCategorical;
  param.categories = categories;
  return param;
}

// A value drawn uniformly (in log space for loguniform): category index or
// numeric value.
double UniformValue(const Param& param, Random& random) {
  if (param.type == Param::Type::kCategorical) {
    return static_cast<double>(random.Below(param.categories));
  }
  if (param.type == Param::Type::kFixed) return 0;
  auto [lower, upper] = param.Range();
  return param.ValueAt(lower + random.Uniform01() * (upper - lower));
}

// The density TPE fits to one categorical or numeric param from a set of
// observed values: smoothed counts, or a truncated Gaussian mixture over the
// param's coordinates (see tpe_sampler.h).
class Parzen {
 public:
  Parzen(const Param& param, const std::vector<double>& observed) : param_(&param) {
    if (param.type == Param::Type::kCategorical) {
      FitCategorical(observed);
    } else {
      FitNumeric(observed);
    }
  }

  // A value: a category index, or a numeric value on the param's steps.
  double Sample(Random& random) const {
    if (param_->type == Param::Type::kCategorical) {
      double u = random.Uniform01();
      for (std::size_t c = 0; c + 1 < probabilities_.size(); ++c) {
        if (u < probabilities_[c]) return static_cast<double>(c);
        u -= probabilities_[c];
      }
      return static_cast<double>(probabilities_.size() - 1);
    }
    if (components_.empty()) return param_->ValueAt(lower_);
    const Component& component = components_[random.Below(components_.size())];
    // Every component keeps at least a third of its mass inside the range
    // (its mean lies inside, its sigma is at most the range's width), so a
    // hundred rejections in a row do not happen; its mean is a fine answer
    // if they ever did.
    for (int attempt = 0; attempt < 100; ++attempt) {
      double x = component.mean + component.sigma * StandardNormal(random);
      if (x >= lower_ && x <= upper_) return param_->ValueAt(x);
    }
    return param_->ValueAt(component.mean);
  }

  double LogLikelihood(double value) const {
    if (param_->type == Param::Type::kCategorical) {
      return std::log(probabilities_.at(static_cast<std::size_t>(value)));
    }
    if (components_.empty()) return 0;  // a single possible value
    if (param_->step > 0) {
      // The probability of the interval that rounds to `value`.
      auto [a, b] = param_->Interval(value);
      double mass = 0;
      for (const Component& c : components_) {
        mass += NormalMass((a - c.mean) / c.sigma, (b - c.mean) / c.sigma) / c.mass;
      }
      return std::log(std::max(mass / components_.size(), 1e-300));
    }
    double x = param_->Coordinate(value);
    std::vector<double> terms;
    terms.reserve(components_.size());
    for (const Component& c : components_) {
      double z = (x - c.mean) / c.sigma;
      terms.push_back(-0.5 * z * z - std::log(c.sigma * c.mass * std::sqrt(2 * kPi)));
    }
    return LogSumExp(terms) - std::log(static_cast<double>(components_.size()));
  }

 private:
  struct Component {
    double mean;
    double sigma;
    double mass;  // of the untruncated Gaussian inside [lower_, upper_]
  };

  void FitCategorical(const std::vector<double>& observed) {
    const double categories = static_cast<double>(param_->categories);
    probabilities_.assign(param_->categories, kPriorWeight / categories);
    for (double value : observed) probabilities_.at(static_cast<std::size_t>(value)) += 1;
    for (double& p : probabilities_) p /= observed.size() + kPriorWeight;
  }

  void FitNumeric(const std::vector<double>& observed) {
    std::tie(lower_, upper_) = param_->Range();
    const double width = upper_ - lower_;
    if (!(width > 0)) return;  // one possible value: nothing to model

    std::vector<double> means;
    means.reserve(observed.size());
    for (double value : observed) {
      means.push_back(std::clamp(param_->Coordinate(value), lower_, upper_));
    }
    std::sort(means.begin(), means.end());
    const double n = static_cast<double>(means.size());
    const double min_sigma = width / std::min(100.0, n + 1);
    for (std::size_t i = 0; i < means.size(); ++i) {
      double left = means[i] - (i > 0 ? means[i - 1] : lower_);
      double right = (i + 1 < means.size() ? means[i + 1] : upper_) - means[i];
      AddComponent(means[i], std::clamp(std::max(left, right), min_sigma, width));
    }
    AddComponent((lower_ + upper_) / 2, width);  // the prior
  }

  void AddComponent(double mean, double sigma) {
    double mass = NormalMass((lower_ - mean) / sigma, (upper_ - mean) / sigma);
    components_.push_back({mean, sigma, mass});
  }

  const Param* param_;
  std::vector<double> probabilities_;  // categorical
  double lower_ = 0;                   // numeric: the coordinate range
  double upper_ = 0;
  std::vector<Component> components_;  // numeric; equal weights
};

// One trial mapped onto the space. Argument values are category indices
// (grid, choice), numeric values, or 0 for fixed ones; nullopt: the dimension
// does not exist for this trial (an other key its optimizer's alias sets).
using Args = std::vector<std::optional<double>>;
struct Point {
  std::size_t optimizer = 0;
  Args optimizer_args;
  std::optional<std::size_t> scheduler;
  Args scheduler_args;
  Args others;
};

// l(x) and g(x) of one dimension.
struct Densities {
  Parzen good;
  Parzen bad;
  double LogRatio(double value) const {
    return good.LogLikelihood(value) - bad.LogLikelihood(value);
  }
};
// Per domain of a block; nullopt for fixed domains.
using BlockModel = std::vector<std::optional<Densities>>;

struct Model {
  std::optional<Densities> optimizer;
  std::vector<BlockModel> optimizers;
  std::optional<Densities> scheduler;
  std::vector<BlockModel> schedulers;
  BlockModel others;
};

class TpeSampler final : public Sampler {
 public:
  TpeSampler(TrialBuilder builder, const spec::SweepSpec& spec)
      : builder_(std::move(builder)),
        seed_(spec.search.seed),
        max_trials_(spec.budget.max_trials),
        startup_trials_(spec.search.tpe.n_startup_trials),
        candidates_(std::max(spec.search.tpe.n_ei_candidates, 1)),
        gamma_(spec.search.tpe.gamma),
        optimizer_choice_(CategoricalParam(builder_.optimizers().size())),
        scheduler_choice_(CategoricalParam(builder_.schedulers().size())) {
    ResetParams();
  }

  std::vector<Json> Suggest(int n) override;
  int TotalTrials() const override { return -1; }
  void Observe(int trial_index, int epoch, double objective) override;
  void OnTrialEnd(int trial_index, TrialEnd end) override;
  void Restore(const std::vector<TrialHistory>& trials) override;

 private:
  struct Trial {
    std::optional<Point> point;      // nullopt: its params are not in the space
    std::vector<double> objectives;  // epochs 1..n, NaN as -infinity
    std::optional<TrialEnd> end;
  };

  void ResetParams();
  bool ImpliedByOptimizer(std::size_t optimizer, std::size_t other) const {
    return builder_.optimizers()[optimizer].implied_others.contains(builder_.others().keys[other]);
  }

  // Trials that count as observations, best first.
  std::vector<const Trial*> RankedObservations() const;
  // A point is `taken` when its params equal those of a trial made before:
  // training is deterministic, so it would only repeat that trial's epochs.
  // Both avoid taken points while untaken ones are easy to find.
  Point RandomPoint(Random& random) const;
  Point ModelPoint(const std::vector<const Trial*>& ranked, Random& random) const;
  bool Taken(const Point& point) const { return made_.count(builder_.BuildFromValues(ToValues(point)).dump()) > 0; }
  Model Fit(const std::vector<const Trial*>& good, const std::vector<const Trial*>& bad) const;
  TrialValues ToValues(const Point& point) const;

  std::optional<Point> Decode(const Json& params) const;
  // Lowers the lr bound of a diverged trial's optimizer alternative.
  void CapLearningRate(const Point& point);

  TrialBuilder builder_;
  std::uint64_t seed_;
  int max_trials_;
  int startup_trials_;
  int candidates_;
  double gamma_;

  Param optimizer_choice_;
  Param scheduler_choice_;
  std::vector<std::vector<Param>> optimizer_params_;  // per alternative, per domain
  std::vector<std::vector<Param>> scheduler_params_;
  std::vector<Param> other_params_;

  std::map<int, Trial> trials_;  // by index
  std::set<std::string> made_;   // the params of every trial made, serialized
  int suggested_ = 0;
};

void TpeSampler::ResetParams() {
  auto params_of = [](const Block& block) {
    std::vector<Param> params;
    for (const spec::Domain& domain : block.domains) params.push_back(MakeParam(domain));
    return params;
  };
  optimizer_params_.clear();
  for (const auto& alternative : builder_.optimizers()) {
    optimizer_params_.push_back(params_of(alternative.block));
  }
  scheduler_params_.clear();
  for (const auto& alternative : builder_.schedulers()) {
    scheduler_params_.push_back(params_of(alternative.block));
  }
  other_params_ = params_of(builder_.others());
}

std::vector<Json> TpeSampler::Suggest(int n) {
  std::vector<Json> suggestions;
  while (static_cast<int>(suggestions.size()) < n && suggested_ < max_trials_) {
    Random random(SuggestionSeed(seed_, static_cast<std::uint64_t>(suggested_)));
    std::vector<const Trial*> ranked = RankedObservations();
    Point point;
    if (suggested_ >= startup_trials_ && !ranked.empty()) point = ModelPoint(ranked, random);
    // Random draws (at start-up, or when every candidate of l(x) was taken)
    // find an untaken point unless the space is nearly used up.
    const bool modelled = suggested_ >= startup_trials_ && !ranked.empty();
    for (int draw = 0; (!modelled || Taken(point)) && draw < kRandomDraws; ++draw) {
      point = RandomPoint(random);
      if (!Taken(point)) break;
    }
    Json params = builder_.BuildFromValues(ToValues(point));
    made_.insert(params.dump());
    // Decoded as Restore will decode it, so both see the same point.
    trials_[suggested_].point = Decode(params);
    ++suggested_;
    suggestions.push_back(std::move(params));
  }
  return suggestions;
}

void TpeSampler::Observe(int trial_index, int epoch, double objective) {
  if (epoch < 1) return;
  std::vector<double>& objectives = trials_[trial_index].objectives;
  // In epoch order; a repeated epoch (a retried attempt) replaces the old
  // value and the old attempt's later epochs.
  const double value = std::isnan(objective) ? kWorst : objective;
  objectives.resize(epoch, value);
  objectives[epoch - 1] = value;
}

void TpeSampler::OnTrialEnd(int trial_index, TrialEnd end) {
  Trial& trial = trials_[trial_index];
  trial.end = end;
  if (end == TrialEnd::kDiverged && trial.point) CapLearningRate(*trial.point);
}

void TpeSampler::Restore(const std::vector<TrialHistory>& trials) {
  trials_.clear();
  ResetParams();
  suggested_ = 0;
  made_.clear();
  for (const TrialHistory& history : trials) {
    Trial& trial = trials_[history.index];
    trial.point = Decode(history.params);
    made_.insert(history.params.dump());
    for (double objective : history.objectives) {
      trial.objectives.push_back(std::isnan(objective) ? kWorst : objective);
    }
    using Status = TrialHistory::Status;
    switch (history.status) {
      case Status::kPending:
      case Status::kRunning:
      case Status::kPaused:
        break;
      case Status::kCompleted:
        trial.end = TrialEnd::kCompleted;
        break;
      case Status::kStopped:
        trial.end = TrialEnd::kStopped;
        break;
      case Status::kFailed:
        trial.end = TrialEnd::kFailed;
        break;
      case Status::kDiverged:
        trial.end = TrialEnd::kDiverged;
        if (trial.point) CapLearningRate(*trial.point);
        break;
      case Status::kCancelled:
        trial.end = TrialEnd::kCancelled;
        break;
    }
    suggested_ = std::max(suggested_, history.index + 1);
  }
}

std::vector<const TpeSampler::Trial*> TpeSampler::RankedObservations() const {
  struct Ranked {
    bool trained;  // completed or stopped, rather than diverged or failed
    std::size_t epochs;
    double best;
    int index;
    const Trial* trial;
  };
  std::vector<Ranked> ranked;
  for (const auto& [index, trial] : trials_) {
    // Ended trials, and trials under way that reported epochs (running, or
    // paused in an asha rung): what they showed so far, ranked by how far
    // they got. Both come from the store alone, so a restart sees the same.
    if (!trial.point || (trial.end && *trial.end == TrialEnd::kCancelled)) continue;
    if (!trial.end && trial.objectives.empty()) continue;
    bool trained = !trial.end || *trial.end == TrialEnd::kCompleted || *trial.end == TrialEnd::kStopped;
    double best = kWorst;
    for (double objective : trial.objectives) best = std::max(best, objective);
    ranked.push_back({trained, trial.objectives.size(), best, index, &trial});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.trained != b.trained) return a.trained;
    if (a.epochs != b.epochs) return a.epochs > b.epochs;
    if (a.best != b.best) return a.best > b.best;
    return a.index < b.index;
  });
  std::vector<const Trial*> trials;
  for (const Ranked& r : ranked) trials.push_back(r.trial);
  return trials;
}

Point TpeSampler::RandomPoint(Random& random) const {
  auto draw = [&random](const std::vector<Param>& params) {
    Args args;
    for (const Param& param : params) args.push_back(UniformValue(param, random));
    return args;
  };
  Point point;
  point.optimizer = static_cast<std::size_t>(UniformValue(optimizer_choice_, random));
  point.optimizer_args = draw(optimizer_params_[point.optimizer]);
  if (!scheduler_params_.empty()) {
    point.scheduler = static_cast<std::size_t>(UniformValue(scheduler_choice_, random));
    point.scheduler_args = draw(scheduler_params_[*point.scheduler]);
  }
  point.others = draw(other_params_);
  return point;
}

Model TpeSampler::Fit(const std::vector<const Trial*>& good,
                      const std::vector<const Trial*>& bad) const {
  // The densities of `param` over the values `select` finds in each group
  // (nullopt where a trial lacks the dimension).
  auto fit = [&good, &bad](const Param& param, auto select) {
    auto values = [&select](const std::vector<const Trial*>& trials) {
      std::vector<double> found;
      for (const Trial* trial : trials) {
        if (std::optional<double> value = select(*trial->point)) found.push_back(*value);
      }
      return found;
    };
    return Densities{Parzen(param, values(good)), Parzen(param, values(bad))};
  };
  // The densities of every domain of a block; `args` picks the block's
  // values out of a point, or null when the point has another alternative.
  auto fit_block = [&fit](const std::vector<Param>& params, auto args) {
    BlockModel model;
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i].type == Param::Type::kFixed) {
        model.emplace_back();
        continue;
      }
      model.emplace_back(fit(params[i], [&args, i](const Point& point) -> std::optional<double> {
        const Args* values = args(point);
        return values ? (*values)[i] : std::nullopt;
      }));
    }
    return model;
  };

  Model model;
  model.optimizer = fit(optimizer_choice_, [](const Point& point) -> std::optional<double> {
    return static_cast<double>(point.optimizer);
  });
  for (std::size_t a = 0; a < optimizer_params_.size(); ++a) {
    model.optimizers.push_back(fit_block(optimizer_params_[a], [a](const Point& point) {
      return point.optimizer == a ? &point.optimizer_args : nullptr;
    }));
  }
  if (!scheduler_params_.empty()) {
    model.scheduler = fit(scheduler_choice_, [](const Point& point) -> std::optional<double> {
      if (!point.scheduler) return std::nullopt;
      return static_cast<double>(*point.scheduler);
    });
    for (std::size_t s = 0; s < scheduler_params_.size(); ++s) {
      model.schedulers.push_back(fit_block(scheduler_params_[s], [s](const Point& point) {
        return point.scheduler == s ? &point.scheduler_args : nullptr;
      }));
    }
  }
  model.others = fit_block(other_params_, [](const Point& point) { return &point.others; });
  return model;
}

Point TpeSampler::ModelPoint(const std::vector<const Trial*>& ranked, Random& random) const {
  // ceil(gamma * n), forgiving the rounding error of gamma * n itself.
  auto good_count = static_cast<std::size_t>(std::ceil(gamma_ * ranked.size() - 1e-9));
  good_count = std::clamp<std::size_t>(good_count, 1, ranked.size());
  const std::vector<const Trial*> good(ranked.begin(), ranked.begin() + good_count);
  const std::vector<const Trial*> bad(ranked.begin() + good_count, ranked.end());
  const Model model = Fit(good, bad);

  // Draws a block's values from l, adding their log-ratios to `score`;
  // `exists(i)` says whether domain i is a dimension of this candidate.
  auto draw_block = [&random](const BlockModel& block, double& score, auto exists) {
    Args args;
    for (std::size_t i = 0; i < block.size(); ++i) {
      if (!block[i]) {
        args.push_back(0.0);  // fixed
        continue;
      }
      double value = block[i]->good.Sample(random);
      if (exists(i)) score += block[i]->LogRatio(value);
      args.push_back(value);
    }
    return args;
  };
  auto always = [](std::size_t) { return true; };

  Point best;
  double best_score = kWorst;
  bool best_taken = false;
  for (int candidate = 0; candidate < candidates_; ++candidate) {
    Point point;
    double score = 0;
    double optimizer = model.optimizer->good.Sample(random);
    score += model.optimizer->LogRatio(optimizer);
    point.optimizer = static_cast<std::size_t>(optimizer);
    point.optimizer_args = draw_block(model.optimizers[point.optimizer], score, always);
    if (model.scheduler) {
      double scheduler = model.scheduler->good.Sample(random);
      score += model.scheduler->LogRatio(scheduler);
      point.scheduler = static_cast<std::size_t>(scheduler);
      point.scheduler_args = draw_block(model.schedulers[*point.scheduler], score, always);
    }
    // An other key the optimizer's alias sets is drawn (Build needs a value)
    // but is no dimension of this candidate.
    point.others = draw_block(model.others, score, [this, &point](std::size_t i) {
      return !ImpliedByOptimizer(point.optimizer, i);
    });
    // Taken candidates lose to any untaken one; among themselves the best wins.
    const bool taken = Taken(point);
    if (candidate == 0 || (best_taken && !taken) || (taken == best_taken && score > best_score)) {
      best = std::move(point);
      best_score = score;
      best_taken = taken;
    }
  }
  return best;
}

TrialValues TpeSampler::ToValues(const Point& point) const {
  auto values_of = [](const Block& block, const Args& args) {
    std::vector<Json> values;
    for (std::size_t i = 0; i < block.domains.size(); ++i) {
      const spec::Domain& domain = block.domains[i];
      switch (domain.kind) {
        case Kind::kFixed:
          values.push_back(domain.fixed);
          break;
        case Kind::kGrid:
        case Kind::kChoice:
          values.push_back(domain.values.at(static_cast<std::size_t>(*args[i])));
          break;
        case Kind::kUniform:
        case Kind::kLogUniform:
        case Kind::kInt:
          values.push_back(TrialBuilder::NumericValue(domain, *args[i]));
          break;
      }
    }
    return values;
  };
  TrialValues values;
  values.optimizer = point.optimizer;
  values.optimizer_args = values_of(builder_.optimizers()[point.optimizer].block, point.optimizer_args);
  values.scheduler = point.scheduler;
  if (point.scheduler) {
    values.scheduler_args =
        values_of(builder_.schedulers()[*point.scheduler].block, point.scheduler_args);
  }
  values.others = values_of(builder_.others(), point.others);
  return values;
}

// The values of `block`'s domains in `object` (a trial's optimizer, scheduler
// or whole params) as Point holds them, or nullopt when one is missing or
// outside its domain. Domains `skip` names are left out (nullopt) unchecked.
template <typename Skip>
std::optional<Args> DecodeBlock(const Block& block, const Json& object, Skip skip) {
  if (!object.is_object()) return std::nullopt;
  Args args;
  for (std::size_t i = 0; i < block.keys.size(); ++i) {
    if (skip(i)) {
      args.emplace_back();
      continue;
    }
    auto found = object.find(block.keys[i]);
    if (found == object.end()) return std::nullopt;
    const spec::Domain& domain = block.domains[i];
    switch (domain.kind) {
      case Kind::kFixed:
        if (*found != domain.fixed) return std::nullopt;
        args.push_back(0.0);
        break;
      case Kind::kGrid:
      case Kind::kChoice: {
        auto value = std::find(domain.values.begin(), domain.values.end(), *found);
        if (value == domain.values.end()) return std::nullopt;
        args.push_back(static_cast<double>(value - domain.values.begin()));
        break;
      }
      case Kind::kUniform:
      case Kind::kLogUniform:
      case Kind::kInt: {
        if (!found->is_number()) return std::nullopt;
        double value = found->get<double>();
        double tolerance = 1e-9 * (std::abs(domain.low) + std::abs(domain.high));
        if (!(value >= domain.low - tolerance && value <= domain.high + tolerance)) {
          return std::nullopt;
        }
        args.push_back(value);
        break;
      }
    }
  }
  return args;
}

// The JSON values of `block`'s keys in `object`, for rebuilding a trial.
std::vector<Json> RawValues(const Block& block, const Json& object) {
  std::vector<Json> values;
  for (const std::string& key : block.keys) values.push_back(object.at(key));
  return values;
}

std::optional<Point> TpeSampler::Decode(const Json& params) const {
  if (!params.is_object()) return std::nullopt;
  auto never = [](std::size_t) { return false; };
  // Alternatives whose domains hold the trial's values. Several can (SGD
  // and its momentum alias both hold SGD's params); the exact rebuild below
  // tells them apart.
  std::vector<std::pair<std::size_t, Args>> optimizers;
  const Json optimizer_params = params.value("optimizer", Json());
  for (std::size_t a = 0; a < builder_.optimizers().size(); ++a) {
    if (std::optional<Args> args = DecodeBlock(builder_.optimizers()[a].block, optimizer_params, never)) {
      optimizers.emplace_back(a, *std::move(args));
    }
  }
  std::vector<std::pair<std::optional<std::size_t>, Args>> schedulers;
  const Json scheduler_params = params.value("scheduler", Json());
  if (builder_.schedulers().empty()) {
    if (params.contains("scheduler")) return std::nullopt;
    schedulers.emplace_back(std::nullopt, Args{});
  }
  for (std::size_t s = 0; s < builder_.schedulers().size(); ++s) {
    if (std::optional<Args> args = DecodeBlock(builder_.schedulers()[s].block, scheduler_params, never)) {
      schedulers.emplace_back(s, *std::move(args));
    }
  }

  for (auto& [optimizer, optimizer_args] : optimizers) {
    std::optional<Args> others = DecodeBlock(
        builder_.others(), params,
        [this, optimizer = optimizer](std::size_t i) { return ImpliedByOptimizer(optimizer, i); });
    if (!others) continue;
    for (auto& [scheduler, scheduler_args] : schedulers) {
      TrialValues values;
      values.optimizer = optimizer;
      values.optimizer_args = RawValues(builder_.optimizers()[optimizer].block, optimizer_params);
      values.scheduler = scheduler;
      if (scheduler) {
        values.scheduler_args = RawValues(builder_.schedulers()[*scheduler].block, scheduler_params);
      }
      values.others = RawValues(builder_.others(), params);
      if (builder_.BuildFromValues(values) != params) continue;
      return Point{optimizer, optimizer_args, scheduler, scheduler_args, *others};
    }
  }
  return std::nullopt;
}

void TpeSampler::CapLearningRate(const Point& point) {
  const Block& block = builder_.optimizers()[point.optimizer].block;
  auto lr = std::find(block.keys.begin(), block.keys.end(), "lr");
  if (lr == block.keys.end()) return;
  const auto i = static_cast<std::size_t>(lr - block.keys.begin());
  Param& param = optimizer_params_[point.optimizer][i];
  if (param.type != Param::Type::kNumeric || !param.cappable || !point.optimizer_args[i]) return;
  param.high = std::max(param.low, std::min(param.high, *point.optimizer_args[i]));
}

}  // namespace

std::unique_ptr<Sampler> MakeTpeSampler(TrialBuilder builder, const spec::SweepSpec& spec) {
  return std::make_unique<TpeSampler>(std::move(builder), spec);
}

}  // namespace segtune::search::internal
