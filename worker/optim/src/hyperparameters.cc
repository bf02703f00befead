#include "segtune/optim/hyperparameters.h"

#include <type_traits>

#include "segtune/optim/adam.h"
#include "segtune/optim/adamax.h"
#include "segtune/optim/adamw.h"
#include "segtune/optim/nadam.h"
#include "segtune/optim/radam.h"
#include "segtune/optim/rmsprop.h"
#include "segtune/optim/sgd.h"

namespace segtune::optim {
namespace {

// `options` as a Candidate (const if `options` is), or null.
template <typename Candidate, typename Options>
auto* As(Options& options) {
  using Target = std::conditional_t<std::is_const_v<Options>, const Candidate, Candidate>;
  return dynamic_cast<Target*>(&options);
}

// Calls `visit` with `options` as the first of Candidates it is, and returns
// whether it was one of them.
template <typename... Candidates, typename Options, typename Visit>
bool VisitAs(Options& options, Visit&& visit) {
  auto visit_if = [&](auto* typed) {
    if (typed != nullptr) visit(*typed);
    return typed != nullptr;
  };
  return (visit_if(As<Candidates>(options)) || ...);
}

template <typename Options, typename Visit>
bool VisitMomentum(Options& options, Visit&& visit) {
  return VisitAs<SGDOptions, RMSpropOptions>(options, visit);
}

template <typename Options, typename Visit>
bool VisitBetas(Options& options, Visit&& visit) {
  return VisitAs<AdamOptions, AdamWOptions, AdamaxOptions, NAdamOptions, RAdamOptions>(
      options, visit);
}

}  // namespace

std::optional<double> GetMomentum(const torch::optim::OptimizerOptions& options) {
  std::optional<double> momentum;
  VisitMomentum(options, [&](const auto& typed) { momentum = typed.momentum(); });
  return momentum;
}

bool SetMomentum(torch::optim::OptimizerOptions& options, double momentum) {
  return VisitMomentum(options, [&](auto& typed) { typed.momentum(momentum); });
}

std::optional<std::tuple<double, double>> GetBetas(const torch::optim::OptimizerOptions& options) {
  std::optional<std::tuple<double, double>> betas;
  VisitBetas(options, [&](const auto& typed) { betas = typed.betas(); });
  return betas;
}

bool SetBetas(torch::optim::OptimizerOptions& options, std::tuple<double, double> betas) {
  return VisitBetas(options, [&](auto& typed) { typed.betas(betas); });
}

}  // namespace segtune::optim
