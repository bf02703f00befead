#include "space_parser.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <vector>

#include "segtune/optim/catalog.h"

namespace segtune::spec::internal {
namespace {

using Json = nlohmann::json;

enum class AlgorithmKind { kOptimizer, kScheduler };

// The keys of search.space besides optimizer and scheduler: dotted paths into
// the trial configuration, with the type and the check of the settings they
// vary.
struct OtherKey {
  std::string path;
  optim::ArgType type;  // kInt, kFloat, kBool or kString
  // nullopt when a concrete value is valid, else the message.
  std::function<std::optional<std::string>(const Json&)> problem;
};

std::function<std::optional<std::string>(const Json&)> InRange(IntRange range) {
  return [range](const Json& value) { return IntRangeProblem(value, range); };
}

std::function<std::optional<std::string>(const Json&)> InRange(NumberRange range) {
  return [range](const Json& value) { return NumberRangeProblem(value, range); };
}

std::optional<std::string> BoolProblem(const Json& value) {
  if (value.is_boolean()) return std::nullopt;
  return "must be true or false, got " + Describe(value);
}

std::optional<std::string> ArchitectureProblem(const Json& value) {
  const std::vector<std::string>& names = Architectures();
  std::string text = value.is_string() ? value.get<std::string>() : "";
  if (std::find(names.begin(), names.end(), text) != names.end()) return std::nullopt;
  return "must be one of " + JoinNames(names) + ", got " + Describe(value) +
         DidYouMean(text, names);
}

const std::vector<OtherKey>& OtherKeys() {
  static const std::vector<OtherKey> kOtherKeys = {
      {"training.batch_size", optim::ArgType::kInt, InRange(kBatchSizeRange)},
      {"training.seed", optim::ArgType::kInt, InRange(kTrainingSeedRange)},
      {"training.loss.label_smoothing", optim::ArgType::kFloat, InRange(kLabelSmoothingRange)},
      {"training.loss.dice_weight", optim::ArgType::kFloat, InRange(kDiceWeightRange)},
      {"model.arch", optim::ArgType::kString, ArchitectureProblem},
      {"model.base_channels", optim::ArgType::kInt, InRange(kBaseChannelsRange)},
      {"model.depth", optim::ArgType::kInt, InRange(kDepthRange)},
      {"data.flip", optim::ArgType::kBool, BoolProblem},
  };
  return kOtherKeys;
}

// An alternative's concrete values are checked in every combination (the
// catalog has checks that span arguments, like nesterov needing momentum);
// beyond this many combinations each value is checked with the other
// arguments at their first value instead.
constexpr std::uint64_t kMaxCheckedCombinations = 4096;

const char* DistributionKey(Domain::Kind kind) {
  switch (kind) {
    case Domain::Kind::kUniform:
      return "uniform";
    case Domain::Kind::kLogUniform:
      return "loguniform";
    case Domain::Kind::kInt:
      return "int";
    case Domain::Kind::kChoice:
      return "choice";
    case Domain::Kind::kFixed:
    case Domain::Kind::kGrid:
      break;
  }
  return "";
}

std::string TypeDescription(optim::ArgType type) {
  switch (type) {
    case optim::ArgType::kFloat:
      return "a number";
    case optim::ArgType::kInt:
      return "an integer";
    case optim::ArgType::kBool:
      return "true or false";
    case optim::ArgType::kFloatPair:
      return "a list of 2 numbers";
    case optim::ArgType::kIntList:
      return "a list of integers";
    case optim::ArgType::kString:
      return "a string";
    case optim::ArgType::kSchedulerList:
      return "a list of schedulers";
  }
  return "a value";
}

bool IsMultipleOf(double value, double step) {
  double ratio = value / step;
  return std::fabs(ratio - std::round(ratio)) <= 1e-9 * std::max(1.0, std::fabs(ratio));
}

class SpaceParser {
 public:
  SpaceParser(const SpaceContext& context, Problems& problems)
      : context_(context), problems_(problems) {}

  SearchSpace Parse(const Tree& space, const std::string& path) {
    SearchSpace result;
    if (!space.is_object()) {
      problems_.Add(path,
                    "must be a mapping with optimizer (and optionally scheduler and other keys), "
                    "got " + Describe(space));
      return result;
    }
    std::vector<std::string> known = {"optimizer", "scheduler"};
    for (const OtherKey& other : OtherKeys()) known.push_back(other.path);
    CheckKeys(space, path, known, problems_);

    for (const auto& [key, value] : space.items()) {
      if (value.is_null()) continue;  // as if absent
      if (key == "optimizer") {
        result.optimizers = ParseAlternatives(value, Key(path, key), AlgorithmKind::kOptimizer);
      } else if (key == "scheduler") {
        result.schedulers = ParseAlternatives(value, Key(path, key), AlgorithmKind::kScheduler);
      } else {
        for (const OtherKey& other : OtherKeys()) {
          if (other.path == key) ParseOther(value, Key(path, key), other, result);
        }
      }
    }
    if (!space.contains("optimizer") || space.at("optimizer").is_null()) {
      problems_.Add(Key(path, "optimizer"), "is required: list at least one optimizer");
    }
    return result;
  }

 private:
  std::vector<Alternative> ParseAlternatives(const Tree& value, const std::string& path,
                                             AlgorithmKind kind) {
    std::vector<Alternative> alternatives;
    if (value.is_object()) {
      if (auto alternative = ParseAlternative(value, path, kind)) {
        alternatives.push_back(std::move(*alternative));
      }
    } else if (value.is_array()) {
      if (value.empty()) {
        problems_.Add(path, kind == AlgorithmKind::kOptimizer
                                ? "is empty: list at least one optimizer"
                                : "is empty: list at least one scheduler, or leave scheduler out "
                                  "for a constant learning rate");
      }
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (auto alternative = ParseAlternative(value[i], Index(path, i), kind)) {
          alternatives.push_back(std::move(*alternative));
        }
      }
    } else {
      problems_.Add(path, "must be a list of alternatives, or one mapping with a name and "
                          "arguments, got " + Describe(value));
    }
    return alternatives;
  }

  std::optional<Alternative> ParseAlternative(const Tree& value, const std::string& path,
                                              AlgorithmKind kind) {
    const char* what = kind == AlgorithmKind::kOptimizer ? "optimizer" : "scheduler";
    if (!value.is_object()) {
      problems_.Add(path, std::string("must be a mapping with the ") + what +
                              "'s name and arguments, got " + Describe(value));
      return std::nullopt;
    }
    if (!value.contains("name")) {
      problems_.Add(path, kind == AlgorithmKind::kOptimizer
                              ? "needs a name, e.g. {name: SGD, lr: 0.1}"
                              : "needs a name, e.g. {name: StepLR, step_size: 3}");
      return std::nullopt;
    }
    const Tree& name = value.at("name");
    if (!name.is_string()) {
      problems_.Add(Key(path, "name"), "must be a string, got " + Describe(name));
      return std::nullopt;
    }
    const std::string written = name.get<std::string>();
    optim::Resolved resolved = kind == AlgorithmKind::kOptimizer
                                   ? optim::ResolveOptimizer(written)
                                   : optim::ResolveScheduler(written);
    if (resolved.algorithm == nullptr) {
      std::vector<std::string> names = kind == AlgorithmKind::kOptimizer
                                           ? optim::OptimizerNames()
                                           : optim::SchedulerNames();
      std::string suggestion = DidYouMean(written, names);
      if (suggestion.empty()) suggestion = " (supported: " + JoinNames(names) + ")";
      problems_.Add(Key(path, "name"),
                    std::string("unknown ") + what + " \"" + written + "\"" + suggestion);
      return std::nullopt;
    }
    const optim::AlgorithmSpec& algorithm = *resolved.algorithm;
    CheckImpliedOthers(resolved.implied_others, written, Key(path, "name"));

    Alternative alternative;
    alternative.name = algorithm.name;
    if (written != algorithm.name) alternative.alias = written;
    alternative.implied_others = resolved.implied_others;
    // The alias's arguments come first; the alternative's own override them.
    for (const auto& [arg, implied] : resolved.implied_args.items()) {
      Domain fixed;
      fixed.fixed = implied;
      alternative.args[arg] = fixed;
      alternative.arg_order.push_back(arg);
    }

    std::vector<std::string> arg_names;
    for (const optim::ArgSpec& arg : algorithm.args) arg_names.push_back(arg.name);
    std::set<std::string> broken_args;
    for (const auto& [key, arg_value] : value.items()) {
      if (key == "name") continue;
      // C++17 lambdas cannot capture a structured binding (clang rejects it).
      auto arg = std::find_if(algorithm.args.begin(), algorithm.args.end(),
                              [&name = key](const optim::ArgSpec& spec) {
                                return spec.name == name;
                              });
      if (arg == algorithm.args.end()) {
        std::string suggestion = DidYouMean(key, arg_names);
        if (suggestion.empty()) suggestion = " (arguments: " + JoinNames(arg_names) + ")";
        problems_.Add(Key(path, key), "unknown argument of " + algorithm.name + suggestion);
        continue;
      }
      std::optional<Domain> domain = ParseDomain(arg_value, Key(path, key), arg->type);
      if (!domain) {
        broken_args.insert(key);
        continue;
      }
      if (alternative.args.count(key) == 0) alternative.arg_order.push_back(key);
      alternative.args[key] = std::move(*domain);
    }
    CheckArgumentValues(alternative, algorithm, path, broken_args);
    return alternative;
  }

  // `bgd`'s batch is data.train_size images: the trial carries that number,
  // so it must be one.
  void CheckImpliedOthers(const Json& implied_others, const std::string& alias,
                          const std::string& path) {
    for (const auto& [key, value] : implied_others.items()) {
      if (value == "full" && context_.train_size == 0) {
        problems_.Add(path, alias + " sets " + key +
                                " to data.train_size, which is 0 here (all of the dataset, a "
                                "number only the worker knows): set data.train_size");
      }
    }
  }

  std::optional<Domain> ParseDomain(const Tree& value, const std::string& path,
                                    optim::ArgType type) {
    if (value.is_object()) return ParseDistribution(value, path, type);
    Domain domain;
    if (value.is_array()) {
      // For list-typed arguments (betas, milestones, schedulers) a list of
      // numbers (or of scheduler mappings) is the fixed value and a list of
      // lists is a grid axis.
      bool list_typed = type == optim::ArgType::kFloatPair || type == optim::ArgType::kIntList ||
                        type == optim::ArgType::kSchedulerList;
      auto lists = static_cast<std::size_t>(
          std::count_if(value.begin(), value.end(), [](const Tree& v) { return v.is_array(); }));
      if (!list_typed || lists > 0) {
        if (value.empty()) {
          problems_.Add(path, "is an empty list: give at least one value");
          return std::nullopt;
        }
        if (list_typed && lists != value.size()) {
          problems_.Add(path, "mixes lists and single values: write one list for a fixed value, "
                              "or a list of lists for a grid axis");
          return std::nullopt;
        }
        domain.kind = Domain::Kind::kGrid;
        for (const Tree& element : value) domain.values.push_back(Json(element));
        return domain;
      }
    }
    domain.kind = Domain::Kind::kFixed;
    domain.fixed = Json(value);
    return domain;
  }

  std::optional<Domain> ParseDistribution(const Tree& value, const std::string& path,
                                          optim::ArgType type) {
    const std::vector<std::string> kinds = {"uniform", "loguniform", "int", "choice"};
    std::vector<std::string> known = kinds;
    known.push_back("q");
    std::size_t problems_before = problems_.count();
    CheckKeys(value, path, known, problems_);
    std::vector<std::string> present;
    for (const std::string& kind : kinds) {
      if (value.contains(kind)) present.push_back(kind);
    }
    if (present.size() != 1) {
      if (present.empty()) {
        problems_.Add(path, "a distribution needs one of uniform, loguniform, int, choice");
      } else {
        problems_.Add(path, "gives more than one distribution (" + JoinNames(present) + ")");
      }
      return std::nullopt;
    }
    const std::string& kind = present.front();
    const std::string body_path = Key(path, kind);
    const std::string q_path = Key(path, "q");
    const Tree& body = value.at(kind);
    const Tree* q = value.contains("q") ? &value.at("q") : nullptr;

    Domain domain;
    if (kind == "choice") {
      if (q != nullptr) problems_.Add(q_path, "applies only to uniform, loguniform and int");
      if (!body.is_array() || body.empty()) {
        problems_.Add(body_path, "must be a non-empty list of values, got " + Describe(body));
      }
      if (problems_.count() != problems_before) return std::nullopt;
      domain.kind = Domain::Kind::kChoice;
      for (const Tree& element : body) domain.values.push_back(Json(element));
      return domain;
    }

    domain.kind = kind == "uniform"      ? Domain::Kind::kUniform
                  : kind == "loguniform" ? Domain::Kind::kLogUniform
                                         : Domain::Kind::kInt;
    if (type != optim::ArgType::kFloat && type != optim::ArgType::kInt) {
      problems_.Add(body_path, "needs a numeric argument, but this one takes " +
                                   TypeDescription(type) + ": use a list or {choice: [...]}");
      return std::nullopt;
    }
    if (!body.is_array() || body.size() != 2 || !body[0].is_number() || !body[1].is_number()) {
      problems_.Add(body_path, "must be [low, high] with two numbers, got " + Describe(body));
      return std::nullopt;
    }
    if (domain.kind == Domain::Kind::kInt && (!WholeNumber(body[0]) || !WholeNumber(body[1]))) {
      problems_.Add(body_path, "low and high must be integers, got " + Describe(body));
      return std::nullopt;
    }
    domain.low = body[0].get<double>();
    domain.high = body[1].get<double>();
    if (domain.low > domain.high) {
      problems_.Add(body_path, "low must be <= high, got " + Describe(body));
    }
    if (domain.kind == Domain::Kind::kLogUniform && domain.low <= 0) {
      problems_.Add(body_path, "low must be > 0, got " + Describe(body[0]));
    }
    if (q != nullptr) {
      if (!q->is_number() || q->get<double>() <= 0) {
        problems_.Add(q_path, "must be a number > 0, got " + Describe(*q));
        return std::nullopt;
      }
      domain.q = q->get<double>();
      if (domain.kind == Domain::Kind::kInt && !WholeNumber(*q)) {
        problems_.Add(q_path, "must be a whole number for an int distribution, got " + Describe(*q));
      } else if (!IsMultipleOf(domain.low, *domain.q) || !IsMultipleOf(domain.high, *domain.q)) {
        // Bounds on the q lattice keep every quantized sample within them.
        problems_.Add(q_path, "low and high must be multiples of q, got " + Describe(body) +
                                  " and q " + Describe(*q));
      }
    }
    bool whole_steps = domain.q && std::floor(*domain.q) == *domain.q;
    if (type == optim::ArgType::kInt && domain.kind != Domain::Kind::kInt && !whole_steps) {
      problems_.Add(body_path, "gives fractional values, but this argument takes an integer: use "
                               "{int: [low, high]} or a whole-number q");
    }
    if (problems_.count() != problems_before) return std::nullopt;
    return domain;
  }

  // Checks every concrete value of the alternative with the catalog, naming
  // where the spec wrote the offending value.
  void CheckArgumentValues(const Alternative& alternative, const optim::AlgorithmSpec& algorithm,
                           const std::string& path, const std::set<std::string>& broken_args) {
    std::vector<std::string> names = OrderedKeys(alternative.args, alternative.arg_order);
    std::vector<std::vector<Candidate>> candidates;
    std::uint64_t combinations = 1;
    for (const std::string& name : names) {
      candidates.push_back(Candidates(alternative.args.at(name), Key(path, name)));
      combinations = std::min<std::uint64_t>(combinations * candidates.back().size(),
                                             kMaxCheckedCombinations + 1);
    }

    std::set<std::string> reported;
    auto check = [&](const std::vector<std::size_t>& picks) {
      Json args = Json::object();
      for (std::size_t i = 0; i < names.size(); ++i) args[names[i]] = candidates[i][picks[i]].value;
      std::vector<optim::ArgProblem> problems;
      if (context_.budget) {
        // Values written as budget expressions are checked at their values.
        optim::Completed resolved = optim::ResolveBudget(algorithm, args, *context_.budget);
        args = std::move(resolved.args);
        problems = std::move(resolved.problems);
      }
      optim::Completed completed = optim::CompleteArgs(algorithm, args);
      problems.insert(problems.end(), completed.problems.begin(), completed.problems.end());
      for (const optim::ArgProblem& problem : problems) {
        // A value that did not parse was reported where it was written.
        if (broken_args.count(problem.arg) > 0) continue;
        std::string where = problem.arg.empty() ? path : Key(path, problem.arg);
        auto named = std::find(names.begin(), names.end(), problem.arg);
        if (named != names.end()) where = candidates[named - names.begin()][picks[named - names.begin()]].path;
        if (reported.insert(where + "\n" + problem.message).second) {
          problems_.Add(where, problem.message);
        }
      }
    };

    std::vector<std::size_t> picks(names.size(), 0);
    if (combinations <= kMaxCheckedCombinations) {
      // Every combination, counting through the candidates like an odometer.
      while (true) {
        check(picks);
        std::size_t digit = picks.size();
        while (digit > 0 && ++picks[digit - 1] == candidates[digit - 1].size()) {
          picks[digit - 1] = 0;
          --digit;
        }
        if (digit == 0) break;
      }
    } else {
      check(picks);
      for (std::size_t i = 0; i < names.size(); ++i) {
        for (std::size_t j = 1; j < candidates[i].size(); ++j) {
          picks[i] = j;
          check(picks);
        }
        picks[i] = 0;
      }
    }
  }

  void ParseOther(const Tree& value, const std::string& path, const OtherKey& key,
                  SearchSpace& space) {
    std::optional<Domain> domain = ParseDomain(value, path, key.type);
    if (!domain) return;
    for (const Candidate& candidate : Candidates(*domain, path)) {
      if (std::optional<std::string> problem = key.problem(candidate.value)) {
        problems_.Add(candidate.path, *problem);
      }
    }
    if (key.type == optim::ArgType::kInt) {
      // Trials carry integer settings as integers, even when written 16.0.
      auto canonical = [](Json& value) {
        if (std::optional<std::int64_t> whole = WholeNumber(value)) value = *whole;
      };
      canonical(domain->fixed);
      for (Json& value : domain->values) canonical(value);
    }
    space.others[key.path] = std::move(*domain);
    space.other_order.push_back(key.path);
  }

  const SpaceContext& context_;
  Problems& problems_;
};

}  // namespace

std::vector<Candidate> Candidates(const Domain& domain, const std::string& path) {
  std::vector<Candidate> candidates;
  switch (domain.kind) {
    case Domain::Kind::kFixed:
      candidates.push_back({domain.fixed, path});
      break;
    case Domain::Kind::kGrid:
      for (std::size_t i = 0; i < domain.values.size(); ++i) {
        candidates.push_back({domain.values[i], Index(path, i)});
      }
      break;
    case Domain::Kind::kChoice:
      for (std::size_t i = 0; i < domain.values.size(); ++i) {
        candidates.push_back({domain.values[i], Index(Key(path, "choice"), i)});
      }
      break;
    case Domain::Kind::kUniform:
    case Domain::Kind::kLogUniform:
    case Domain::Kind::kInt: {
      std::string bounds = Key(path, DistributionKey(domain.kind));
      auto bound = [&](double value) {
        // Past 2^53 a double holds no exact integer (and past 2^63 the cast
        // is undefined): such a bound stays a double, which the integer
        // range checks reject.
        if (domain.kind == Domain::Kind::kInt && std::fabs(value) <= 9007199254740992.0) {
          return Json(static_cast<std::int64_t>(value));
        }
        return Json(value);
      };
      candidates.push_back({bound(domain.low), Index(bounds, 0)});
      candidates.push_back({bound(domain.high), Index(bounds, 1)});
      break;
    }
  }
  return candidates;
}

SearchSpace ParseSearchSpace(const Tree& space, const std::string& path,
                             const SpaceContext& context, Problems& problems) {
  return SpaceParser(context, problems).Parse(space, path);
}

}  // namespace segtune::spec::internal
