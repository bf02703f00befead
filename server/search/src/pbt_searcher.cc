#include "pbt_searcher.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "reason_text.h"

namespace segtune::search::internal {
namespace {

using Json = nlohmann::json;
using Kind = spec::Domain::Kind;

// The optimizer arguments PBT explores: those with a range to move in. Grid
// lists, choices and fixed values are categorical and are copied unchanged.
bool IsContinuous(const spec::Domain& domain) {
  return domain.kind == Kind::kUniform || domain.kind == Kind::kLogUniform ||
         domain.kind == Kind::kInt;
}

// SplitMix64's output function: a bijection that spreads every input bit over
// the whole word, so nearby (trial, epoch) pairs get unrelated streams.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Each exploit decision draws from its own stream, seeded by (seed, trial,
// epoch) alone: a decision then depends only on the state it is made in, not
// on how many decisions came before it, so a searcher restored from the store
// decides exactly as one that never stopped.
std::uint64_t DecisionSeed(std::uint64_t seed, int trial_index, int epoch) {
  std::uint64_t state = Mix(seed);
  state = Mix(state ^ static_cast<std::uint64_t>(trial_index));
  return Mix(state ^ static_cast<std::uint64_t>(epoch));
}

// A fresh draw from a continuous domain, as the sampler draws it.
Json Resample(const spec::Domain& domain, Random& random) {
  switch (domain.kind) {
    case Kind::kUniform:
      return TrialBuilder::NumericValue(
          domain, domain.low + random.Uniform01() * (domain.high - domain.low));
    case Kind::kLogUniform: {
      double log_low = std::log(domain.low);
      double log_high = std::log(domain.high);
      return TrialBuilder::NumericValue(
          domain, std::exp(log_low + random.Uniform01() * (log_high - log_low)));
    }
    default: {  // kInt
      auto low = static_cast<std::int64_t>(domain.low);
      auto count = static_cast<std::uint64_t>(static_cast<std::int64_t>(domain.high) - low) + 1;
      return TrialBuilder::NumericValue(
          domain, static_cast<double>(low + static_cast<std::int64_t>(random.Below(count))));
    }
  }
}

// `value` moved back into the domain: clipped to [low, high], then rounded
// (kInt) and quantized by q like a sampled value.
Json Clip(const spec::Domain& domain, double value) {
  return TrialBuilder::NumericValue(domain, std::clamp(value, domain.low, domain.high));
}

struct Move {
  Json value;
  std::string how;  // "x0.8", "x1.2" or "resampled"
};

Move Explore(const spec::Domain& domain, double value, double resample_probability,
             Random& random) {
  if (random.Uniform01() < resample_probability) return {Resample(domain, random), "resampled"};
  const bool up = random.Below(2) == 1;
  return {Clip(domain, value * (up ? 1.2 : 0.8)), up ? "x1.2" : "x0.8"};
}



class PbtSearcher final : public Searcher {
 public:
  PbtSearcher(TrialBuilder builder, const spec::SweepSpec& spec);

  std::vector<Json> Suggest(int n) override;
  int TotalTrials() const override { return static_cast<int>(members_.size()); }
  Verdict OnEpoch(int trial_index, int epoch, double objective) override;
  void OnTrialEnd(int trial_index, TrialEnd end) override;
  void OnExploitFailed(int trial_index, int epoch) override;
  void Restore(const std::vector<TrialHistory>& trials) override;

 private:
  // A member's configuration for the epochs after `from_epoch`.
  struct Config {
    int from_epoch = 0;
    std::size_t alternative = 0;  // which of builder_.optimizers() its optimizer is
    Json params;
  };

  struct Member {
    // Ascending from_epoch: configs[0] is the initial one (from_epoch 0), then
    // one per exploit, from the epoch of the donor's checkpoint it copied.
    std::vector<Config> configs;
    std::vector<std::optional<double>> objectives;  // [epoch - 1], as reported
    bool ended = false;
    bool diverged = false;
  };

  bool IsMember(int index) const { return index >= 0 && index < static_cast<int>(members_.size()); }
  // The configuration `member` trained `epoch` with (and went on with, unless
  // it exploited at `epoch`).
  const Config& ConfigAt(int member, int epoch) const;
  bool ExploitedAt(int member, int epoch) const;
  // The members that reported `epoch`, best first.
  std::vector<int> RankAt(int epoch) const;
  // How many members the bottom (and the top) quantile holds among `ranked`.
  int QuantileSize(int ranked) const;
  // `recipient` copies `donor`'s checkpoint of `epoch` and explores; records
  // the recipient's new configuration.
  // `random` is the decision's stream (DecisionSeed), the donor already drawn.
  Verdict CopyAndExplore(int recipient, int donor, int epoch, Random& random,
                         const std::string& standing);

  TrialBuilder builder_;
  std::uint64_t seed_;
  int epochs_;
  bool maximize_;  // objectives come oriented; reasons show the metric's own values
  spec::PbtSettings settings_;
  std::vector<Member> members_;
  int suggested_ = 0;
};

PbtSearcher::PbtSearcher(TrialBuilder builder, const spec::SweepSpec& spec)
    : builder_(std::move(builder)),
      seed_(spec.search.seed),
      epochs_(spec.budget.epochs),
      maximize_(spec.objective.maximize),
      settings_(spec.search.pbt),
      members_(spec.budget.max_trials) {
  // The initial population is the trials random search makes with the same
  // seed; each member's optimizer alternative is kept because several
  // alternatives can share a torch name (SGD, momentum, nag) and exploring
  // needs the donor's domains.
  Random random(seed_);
  for (Member& member : members_) {
    const TrialChoice choice = builder_.RandomChoice(random);
    member.configs.push_back({0, choice.optimizer, builder_.Build(choice, random)});
  }
}

std::vector<Json> PbtSearcher::Suggest(int n) {
  std::vector<Json> trials;
  while (static_cast<int>(trials.size()) < n && suggested_ < TotalTrials()) {
    trials.push_back(members_[suggested_++].configs.front().params);
  }
  return trials;
}

const PbtSearcher::Config& PbtSearcher::ConfigAt(int member, int epoch) const {
  const std::vector<Config>& configs = members_[member].configs;
  auto after = std::find_if(configs.begin(), configs.end(),
                            [epoch](const Config& config) { return config.from_epoch >= epoch; });
  return *std::prev(after);  // configs[0] is from epoch 0 and epochs start at 1
}

bool PbtSearcher::ExploitedAt(int member, int epoch) const {
  const std::vector<Config>& configs = members_[member].configs;
  return std::any_of(configs.begin(), configs.end(),
                     [epoch](const Config& config) { return config.from_epoch == epoch; });
}

std::vector<int> PbtSearcher::RankAt(int epoch) const {
  struct Entry {
    int index;
    bool diverged;
    double objective;
  };
  std::vector<Entry> entries;
  for (int i = 0; i < TotalTrials(); ++i) {
    const Member& member = members_[i];
    if (static_cast<int>(member.objectives.size()) < epoch) continue;
    const std::optional<double>& objective = member.objectives[epoch - 1];
    if (!objective) continue;
    // A NaN objective ranks last among the live members, so that the order
    // stays a strict weak ordering.
    entries.push_back({i, member.diverged, std::isnan(*objective) ? -HUGE_VAL : *objective});
  }
  // Diverged members rank below every other; ties go to the lower index.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.diverged != b.diverged) return b.diverged;
    return a.objective > b.objective;
  });
  std::vector<int> ranking;
  for (const Entry& entry : entries) ranking.push_back(entry.index);
  return ranking;
}

int PbtSearcher::QuantileSize(int ranked) const {
  // ceil(fraction * ranked), but a product that should be whole can land just
  // above it (0.07 * 100 is 7.000000000000001), hence the tolerance. At most
  // half, so the top and the bottom never overlap; at least one.
  int size = static_cast<int>(std::ceil(settings_.quantile_fraction * ranked - 1e-9));
  return std::clamp(size, 1, ranked / 2);
}

Verdict PbtSearcher::OnEpoch(int trial_index, int epoch, double objective) {
  if (!IsMember(trial_index) || epoch < 1) return {};
  Member& member = members_[trial_index];
  if (static_cast<int>(member.objectives.size()) < epoch) member.objectives.resize(epoch);
  member.objectives[epoch - 1] = objective;

  // No exploit off the interval, at the last epoch (nothing would train
  // after it), for a member that ended, or for a report of an epoch at or
  // before the member's latest exploit (a retried report).
  if (member.ended || epoch % settings_.perturbation_interval != 0 || epoch >= epochs_ ||
      epoch <= member.configs.back().from_epoch) {
    return {};
  }
  const std::vector<int> ranking = RankAt(epoch);
  const int ranked = static_cast<int>(ranking.size());
  if (ranked < 2) return {};
  const int quantile = QuantileSize(ranked);
  const int rank =
      static_cast<int>(std::find(ranking.begin(), ranking.end(), trial_index) - ranking.begin());
  if (rank < ranked - quantile) return {};

  // Donors: the top quantile, less those that exploited at this epoch
  // themselves (their checkpoint of it is already a copy, and their params
  // are no longer the ones it was trained with). The recipient is live and
  // in the bottom, so no donor is the recipient or has diverged.
  std::vector<int> donors;
  for (int i = 0; i < quantile; ++i) {
    if (!ExploitedAt(ranking[i], epoch)) donors.push_back(ranking[i]);
  }
  if (donors.empty()) return {};
  Random random(DecisionSeed(seed_, trial_index, epoch));
  const int donor = donors[random.Below(donors.size())];
  auto metric = [this](double oriented) { return Significant(maximize_ ? oriented : -oriented, 4); };
  const std::string standing = Ordinal(rank + 1) + " of " + std::to_string(ranked) + " (" +
                               metric(objective) + "), copies trial " + std::to_string(donor) +
                               " (" + metric(*members_[donor].objectives[epoch - 1]) + ")";
  return CopyAndExplore(trial_index, donor, epoch, random, standing);
}

Verdict PbtSearcher::CopyAndExplore(int recipient, int donor, int epoch, Random& random,
                                    const std::string& standing) {
  const Config& source = ConfigAt(donor, epoch);
  Config config{epoch, source.alternative, source.params};
  Json& optimizer = config.params["optimizer"];
  const Block& block = builder_.optimizers()[config.alternative].block;

  Json changes = Json::object();
  Json changed_args = Json::object();  // resume["optimizer"]: every changed argument but lr
  double lr_scale = 1.0;
  std::string explored;
  for (std::size_t i = 0; i < block.keys.size(); ++i) {
    const std::string& arg = block.keys[i];
    // Params restored from the store are checked rather than trusted.
    if (!IsContinuous(block.domains[i]) || !optimizer.contains(arg) ||
        !optimizer[arg].is_number()) {
      continue;
    }
    const Json from = optimizer[arg];
    const double from_value = from.get<double>();
    // The worker scales the copied lr (and the scheduler's base lrs, which
    // the schedule has moved on from) by lr_scale; an lr of 0 cannot be
    // scaled away from 0, so it stays.
    if (arg == "lr" && from_value == 0) continue;
    Move move = Explore(block.domains[i], from_value, settings_.resample_probability, random);
    if (arg == "lr") {
      lr_scale = move.value.get<double>() / from_value;
    } else if (move.value != from) {
      changed_args[arg] = move.value;
    }
    changes["optimizer." + arg] = {{"from", from}, {"to", move.value}, {"how", move.how}};
    explored += (explored.empty() ? "" : ", ") + arg + " " + move.how;
    optimizer[arg] = std::move(move.value);
  }

  Verdict verdict;
  verdict.decision = Decision::kPause;
  verdict.reason = "pbt epoch " + std::to_string(epoch) + ": " + standing +
                   (explored.empty() ? "; no continuous optimizer argument to explore"
                                     : " and explores " + explored);
  search::Exploit& exploit = verdict.exploit.emplace();
  exploit.donor_index = donor;
  exploit.epoch = epoch;
  exploit.params = config.params;
  exploit.lineage_entry = {{"epoch", epoch}, {"donor", donor}, {"changes", std::move(changes)}};
  exploit.resume = {
      {"epoch", epoch}, {"lr_scale", lr_scale}, {"optimizer", std::move(changed_args)}};

  members_[recipient].configs.push_back(std::move(config));
  return verdict;
}

void PbtSearcher::OnTrialEnd(int trial_index, TrialEnd end) {
  if (!IsMember(trial_index)) return;
  members_[trial_index].ended = true;
  members_[trial_index].diverged = end == TrialEnd::kDiverged;
}

void PbtSearcher::OnExploitFailed(int trial_index, int epoch) {
  if (!IsMember(trial_index)) return;
  std::vector<Config>& configs = members_[trial_index].configs;
  // The store never got this configuration: drop it, as Restore would.
  if (configs.size() > 1 && configs.back().from_epoch == epoch) configs.pop_back();
}

void PbtSearcher::Restore(const std::vector<TrialHistory>& trials) {
  // One exploit from a member's lineage.
  struct Step {
    int epoch;
    int member;
    int donor;
    const Json* changes;
  };
  std::vector<Step> steps;
  for (const TrialHistory& trial : trials) {
    if (!IsMember(trial.index)) continue;
    Member& member = members_[trial.index];
    member.objectives.assign(trial.objectives.begin(), trial.objectives.end());
    using Status = TrialHistory::Status;
    member.ended = trial.status != Status::kPending && trial.status != Status::kRunning &&
                   trial.status != Status::kPaused;
    member.diverged = trial.status == Status::kDiverged;
    if (!trial.lineage.is_array()) continue;
    for (const Json& entry : trial.lineage) {
      // Entries come from CopyAndExplore; one the store mangled is skipped.
      if (!entry.is_object() || !entry.contains("epoch") || !entry["epoch"].is_number_integer() ||
          !entry.contains("donor") || !entry["donor"].is_number_integer() ||
          !entry.contains("changes") || !entry["changes"].is_object()) {
        continue;
      }
      const int epoch = entry["epoch"].get<int>();
      const int donor = entry["donor"].get<int>();
      if (epoch < 1 || !IsMember(donor) || donor == trial.index) continue;
      steps.push_back({epoch, trial.index, donor, &entry["changes"]});
    }
  }
  suggested_ = std::min(static_cast<int>(trials.size()), TotalTrials());

  // Replay the exploits in epoch order from the initial population: a
  // recipient's configuration is its donor's at that epoch, which depends only
  // on the donor's exploits at earlier epochs (a member that exploited at an
  // epoch is never a donor at it), with the changes' new values.
  std::stable_sort(steps.begin(), steps.end(),
                   [](const Step& a, const Step& b) { return a.epoch < b.epoch; });
  for (const Step& step : steps) {
    const Config& source = ConfigAt(step.donor, step.epoch);
    Config config{step.epoch, source.alternative, source.params};
    for (const auto& [path, change] : step.changes->items()) {
      constexpr std::string_view kPrefix = "optimizer.";
      if (path.compare(0, kPrefix.size(), kPrefix) != 0 || !change.is_object() ||
          !change.contains("to")) {
        continue;
      }
      config.params["optimizer"][path.substr(kPrefix.size())] = change["to"];
    }
    members_[step.member].configs.push_back(std::move(config));
  }
  // What each member runs with now is what the store has.
  for (const TrialHistory& trial : trials) {
    if (IsMember(trial.index) && trial.params.is_object()) {
      members_[trial.index].configs.back().params = trial.params;
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Searcher>> MakePbtSearcher(TrialBuilder builder,
                                                          const spec::SweepSpec& spec) {
  const spec::PbtSettings& pbt = spec.search.pbt;
  if (spec.budget.max_trials < 2) {
    return absl::InvalidArgumentError(
        "budget.max_trials: pbt needs a population of at least 2 members, got " +
        std::to_string(spec.budget.max_trials));
  }
  if (spec.budget.epochs < 1) {
    return absl::InvalidArgumentError("budget.epochs: must be >= 1, got " +
                                      std::to_string(spec.budget.epochs));
  }
  if (pbt.perturbation_interval < 1) {
    return absl::InvalidArgumentError("search.perturbation_interval: must be >= 1, got " +
                                      std::to_string(pbt.perturbation_interval));
  }
  if (!(pbt.quantile_fraction > 0 && pbt.quantile_fraction <= 0.5)) {
    return absl::InvalidArgumentError("search.quantile_fraction: must be in (0, 0.5], got " +
                                      Significant(pbt.quantile_fraction, 4));
  }
  if (!(pbt.resample_probability >= 0 && pbt.resample_probability <= 1)) {
    return absl::InvalidArgumentError("search.resample_probability: must be in [0, 1], got " +
                                      Significant(pbt.resample_probability, 4));
  }
  return std::make_unique<PbtSearcher>(std::move(builder), spec);
}

}  // namespace segtune::search::internal
