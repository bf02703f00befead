#include "spec_fuzz_check.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "segtune/search/searcher.h"
#include "segtune/spec/search_space.h"
#include "segtune/spec/spec.h"

namespace segtune::fuzz {
namespace {

using Json = nlohmann::json;
using Ordered = nlohmann::ordered_json;
using spec::Alternative;
using spec::Domain;
using spec::ParseResult;
using spec::SearchSpace;
using spec::SpecError;
using spec::SweepSpec;

// Submit creates every trial of a grid at once; checking the first ones keeps
// each input fast while still building real trials.
constexpr int kMaxCheckedTrials = 64;

// Errors about the document as a whole, or its top-level mapping, have no
// path; every other error must say where it is.
constexpr const char* kDocumentErrors[] = {"YAML syntax error", "the spec is empty",
                                           "must be a mapping of sections", "the spec is too large",
                                           "the spec is not valid UTF-8", "the top level has"};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "spec fuzz invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

void CheckErrors(const std::vector<SpecError>& errors) {
  for (const SpecError& error : errors) {
    if (error.message.empty()) Fail("an error without a message at " + error.path);
    if (!error.path.empty()) continue;
    bool document_level = std::any_of(std::begin(kDocumentErrors), std::end(kDocumentErrors),
                                      [&](const char* prefix) {
                                        return error.message.rfind(prefix, 0) == 0;
                                      });
    if (!document_level) Fail("an error that names no path: " + error.message);
  }
}

bool SameErrors(const std::vector<SpecError>& a, const std::vector<SpecError>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const SpecError& x, const SpecError& y) {
                      return x.path == y.path && x.message == y.message;
                    });
}

// --- The normalized spec written back as YAML (JSON is YAML's flow style),
// ordered, as the order of arguments and keys is the order of the grid's axes.

Ordered DomainToJson(const Domain& domain) {
  switch (domain.kind) {
    case Domain::Kind::kFixed:
      return Ordered(domain.fixed);
    case Domain::Kind::kGrid:
      return Ordered(Json(domain.values));
    case Domain::Kind::kChoice:
      return Ordered{{"choice", Ordered(Json(domain.values))}};
    case Domain::Kind::kUniform:
    case Domain::Kind::kLogUniform:
    case Domain::Kind::kInt: {
      const char* key = domain.kind == Domain::Kind::kUniform      ? "uniform"
                        : domain.kind == Domain::Kind::kLogUniform ? "loguniform"
                                                                   : "int";
      Ordered distribution = {{key, {domain.low, domain.high}}};
      if (domain.q) distribution["q"] = *domain.q;
      return distribution;
    }
  }
  Fail("a domain of unknown kind");
}

// The alias, when one was written, so that what it implies comes back; an
// LR range test's lr is the parser's own unless the spec wrote one.
Ordered AlternativeToJson(const Alternative& alternative, bool lr_range_test) {
  Ordered written = Ordered::object();
  written["name"] = alternative.alias.empty() ? alternative.name : alternative.alias;
  for (const std::string& arg : spec::OrderedKeys(alternative.args, alternative.arg_order)) {
    bool implied_lr = lr_range_test && arg == "lr" &&
                      std::find(alternative.arg_order.begin(), alternative.arg_order.end(), arg) ==
                          alternative.arg_order.end();
    if (!implied_lr) written[arg] = DomainToJson(alternative.args.at(arg));
  }
  return written;
}

Ordered SpaceToJson(const SearchSpace& space, bool lr_range_test) {
  Ordered written = Ordered::object();
  for (const Alternative& optimizer : space.optimizers) {
    written["optimizer"].push_back(AlternativeToJson(optimizer, lr_range_test));
  }
  for (const Alternative& scheduler : space.schedulers) {
    written["scheduler"].push_back(AlternativeToJson(scheduler, lr_range_test));
  }
  for (const std::string& key : spec::OrderedKeys(space.others, space.other_order)) {
    written[key] = DomainToJson(space.others.at(key));
  }
  return written;
}

Ordered SearchToJson(const spec::Search& search) {
  const std::string& algorithm = search.algorithm;
  const bool lr_range_test = algorithm == "lr_range_test";
  Ordered written = {{"algorithm", algorithm},
                     {"seed", search.seed},
                     {"space", SpaceToJson(search.space, lr_range_test)}};
  const bool stopper = algorithm == "asha" || algorithm == "hyperband" || algorithm == "median";
  if (stopper) written["sampler"] = search.sampler;
  if (algorithm == "asha" || algorithm == "hyperband") {
    written["eta"] = search.asha.eta;
    written["min_epochs"] = search.asha.min_epochs;
    written["max_epochs"] = search.asha.max_epochs;
    written["brackets"] = search.asha.brackets;
  }
  if (algorithm == "median") {
    written["grace_epochs"] = search.median.grace_epochs;
    written["min_trials"] = search.median.min_trials;
  }
  if (algorithm == "pbt") {
    written["perturbation_interval"] = search.pbt.perturbation_interval;
    written["quantile_fraction"] = search.pbt.quantile_fraction;
    written["resample_probability"] = search.pbt.resample_probability;
  }
  if (algorithm == "tpe" || (stopper && search.sampler == "tpe")) {
    written["n_startup_trials"] = search.tpe.n_startup_trials;
    written["n_ei_candidates"] = search.tpe.n_ei_candidates;
    written["gamma"] = search.tpe.gamma;
  }
  if (lr_range_test) {
    written["min_lr"] = search.lr_range.min_lr;
    written["max_lr"] = search.lr_range.max_lr;
    written["iterations"] = search.lr_range.iterations;
    written["smoothing"] = search.lr_range.smoothing;
    written["diverge_factor"] = search.lr_range.diverge_factor;
  }
  return written;
}

// Every setting of `spec`, as a spec that must parse back to it. An LR range
// test's objective is set by the parser and is not one a spec may name.
Ordered SpecToJson(const SweepSpec& spec) {
  Ordered written = {{"name", spec.name},
                     {"budget",
                      {{"epochs", spec.budget.epochs},
                       {"max_trials", spec.budget.max_trials},
                       {"parallelism", spec.budget.parallelism}}},
                     {"data", spec.data},
                     {"model", spec.model},
                     {"training", spec.training},
                     {"search", SearchToJson(spec.search)}};
  if (spec.search.algorithm == "lr_range_test") {
    // Required, then replaced by the parser's.
    written["objective"] = {{"metric", "train_loss"}};
  } else {
    written["objective"] = {{"metric", spec.objective.metric},
                            {"mode", spec.objective.maximize ? "max" : "min"}};
  }
  return written;
}

// --- Equality of parsed specs ---

bool SameDomain(const Domain& a, const Domain& b) {
  return a.kind == b.kind && a.fixed == b.fixed && a.values == b.values && a.low == b.low &&
         a.high == b.high && a.q == b.q;
}

bool SameDomains(const std::map<std::string, Domain>& a, const std::map<std::string, Domain>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.first == y.first && SameDomain(x.second, y.second);
  });
}

bool SameAlternatives(const std::vector<Alternative>& a, const std::vector<Alternative>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const Alternative& x, const Alternative& y) {
                      return x.name == y.name && x.alias == y.alias &&
                             SameDomains(x.args, y.args) && x.arg_order == y.arg_order &&
                             x.implied_others == y.implied_others;
                    });
}

// The name of the first setting in which `a` and `b` differ, or "" when
// they are the same.
std::string SearchDifference(const spec::Search& a, const spec::Search& b) {
  const std::pair<const char*, bool> same[] = {
      {"search.algorithm", a.algorithm == b.algorithm},
      {"search.seed", a.seed == b.seed},
      {"search.sampler", a.sampler == b.sampler},
      {"search.eta", a.asha.eta == b.asha.eta},
      {"search.min_epochs", a.asha.min_epochs == b.asha.min_epochs},
      {"search.max_epochs", a.asha.max_epochs == b.asha.max_epochs},
      {"search.brackets", a.asha.brackets == b.asha.brackets},
      {"search.grace_epochs", a.median.grace_epochs == b.median.grace_epochs},
      {"search.min_trials", a.median.min_trials == b.median.min_trials},
      {"search.perturbation_interval", a.pbt.perturbation_interval == b.pbt.perturbation_interval},
      {"search.quantile_fraction", a.pbt.quantile_fraction == b.pbt.quantile_fraction},
      {"search.resample_probability", a.pbt.resample_probability == b.pbt.resample_probability},
      {"search.n_startup_trials", a.tpe.n_startup_trials == b.tpe.n_startup_trials},
      {"search.n_ei_candidates", a.tpe.n_ei_candidates == b.tpe.n_ei_candidates},
      {"search.gamma", a.tpe.gamma == b.tpe.gamma},
      {"search.min_lr", a.lr_range.min_lr == b.lr_range.min_lr},
      {"search.max_lr", a.lr_range.max_lr == b.lr_range.max_lr},
      {"search.iterations", a.lr_range.iterations == b.lr_range.iterations},
      {"search.smoothing", a.lr_range.smoothing == b.lr_range.smoothing},
      {"search.diverge_factor", a.lr_range.diverge_factor == b.lr_range.diverge_factor},
      {"search.space.optimizer", SameAlternatives(a.space.optimizers, b.space.optimizers)},
      {"search.space.scheduler", SameAlternatives(a.space.schedulers, b.space.schedulers)},
      {"search.space (other keys)",
       SameDomains(a.space.others, b.space.others) && a.space.other_order == b.space.other_order},
  };
  for (const auto& [name, equal] : same) {
    if (!equal) return name;
  }
  return "";
}

std::string SpecDifference(const SweepSpec& a, const SweepSpec& b) {
  const std::pair<const char*, bool> same[] = {
      {"name", a.name == b.name},
      {"objective", a.objective.metric == b.objective.metric &&
                        a.objective.maximize == b.objective.maximize},
      {"budget", a.budget.epochs == b.budget.epochs && a.budget.max_trials == b.budget.max_trials &&
                     a.budget.parallelism == b.budget.parallelism},
      {"data", a.data == b.data},
      {"model", a.model == b.model},
      {"training", a.training == b.training},
  };
  for (const auto& [name, equal] : same) {
    if (!equal) return name;
  }
  return SearchDifference(a.search, b.search);
}

// --- Invariants of an accepted spec ---

void CheckAcceptedBasics(const SweepSpec& spec) {
  if (spec.name.empty()) Fail("accepted without a name");
  if (spec.budget.epochs < 1) Fail("accepted with budget.epochs < 1");
  if (spec.budget.max_trials < 0 ||
      static_cast<std::uint64_t>(spec.budget.max_trials) > spec::kMaxGridPointsWithoutLimit) {
    Fail("accepted with budget.max_trials out of range");
  }
  if (spec.search.space.optimizers.empty()) Fail("accepted without an optimizer");
  if (!spec.data.is_object() || !spec.model.is_object() || !spec.training.is_object()) {
    Fail("accepted with a section that is not a mapping");
  }
}

// The accepted spec, normalized and written back, parses to the same spec:
// normalization is a fixed point, and nothing it fills in is rejected.
void CheckRoundTrip(const SweepSpec& spec) {
  std::string text;
  try {
    // ASCII only: the YAML reader decodes the escapes back.
    text = SpecToJson(spec).dump(-1, ' ', /*ensure_ascii=*/true);
  } catch (const Ordered::exception& error) {
    // The coordinator stores and sends these sections as JSON too.
    Fail(std::string("the accepted spec cannot be written as JSON: ") + error.what());
  }
  ParseResult again = spec::ParseSpec(text);
  if (!again.ok()) Fail("the normalized spec is rejected: " + again.ErrorText() + "\n" + text);
  std::string difference = SpecDifference(spec, again.spec);
  if (!difference.empty()) {
    Fail("the normalized spec parses to a different " + difference + ":\n" + text);
  }
}

// What Submit does next: a searcher, and the trials it creates at once.
void CheckTrials(const SweepSpec& spec) {
  auto searcher = search::Searcher::Create(spec);
  if (!searcher.ok()) Fail("accepted, but no searcher: " + searcher.status().ToString());
  const int total = (*searcher)->TotalTrials();
  const int max_trials = spec.budget.max_trials;
  if (spec.search.algorithm == "grid") {
    const std::uint64_t points = spec::CountGridPoints(spec.search.space);
    const std::uint64_t expected =
        max_trials > 0 ? std::min<std::uint64_t>(points, max_trials) : points;
    if (total < 0 || static_cast<std::uint64_t>(total) != expected) {
      Fail("grid search plans " + std::to_string(total) + " trials, not " +
           std::to_string(expected));
    }
  }
  if (total == 0 || total > static_cast<int>(spec::kMaxGridPointsWithoutLimit)) {
    Fail("a searcher plans " + std::to_string(total) + " trials");
  }
  // Lazy searchers (-1) create theirs as slots free up, at most max_trials.
  const int wanted = std::min(kMaxCheckedTrials, total >= 0 ? total : max_trials);
  std::vector<Json> trials = (*searcher)->Suggest(wanted);
  if (total >= 0 && static_cast<int>(trials.size()) != wanted) {
    Fail("Suggest(" + std::to_string(wanted) + ") gave " + std::to_string(trials.size()));
  }
  if (static_cast<int>(trials.size()) > wanted) Fail("Suggest gave more trials than asked for");
  for (const Json& trial : trials) {
    if (!trial.is_object() || !trial.contains("optimizer") ||
        !trial["optimizer"].value("name", Json()).is_string()) {
      Fail("a trial without an optimizer name: " + trial.dump());
    }
    // Submit stores each trial as JSON text (dump throws on what JSON
    // cannot hold); the worker must read back the same configuration.
    const std::string stored = trial.dump();
    if (Json::parse(stored) != trial) Fail("a trial changes when stored as JSON: " + stored);
  }
}

}  // namespace

void CheckSpecInput(std::string_view text) {
  ParseResult result;
  try {
    result = spec::ParseSpec(text);
    // Same input, same verdict: nothing depends on state or addresses.
    ParseResult again = spec::ParseSpec(text);
    if (!SameErrors(result.errors, again.errors)) Fail("two parses of one input disagree");
  } catch (const std::exception& error) {
    Fail(std::string("ParseSpec threw: ") + error.what());
  }
  CheckErrors(result.errors);
  if (!result.ok()) return;
  try {
    CheckAcceptedBasics(result.spec);
    CheckRoundTrip(result.spec);
    CheckTrials(result.spec);
  } catch (const std::exception& error) {
    Fail(std::string("an accepted spec made the coordinator throw: ") + error.what());
  }
}

}  // namespace segtune::fuzz
