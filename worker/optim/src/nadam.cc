#include "segtune/optim/nadam.h"

#include <cmath>
#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

NAdamOptions::NAdamOptions(double lr) : lr_(lr) {}

void NAdamOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(betas);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_decay);
}

void NAdamOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(betas_t, betas);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum_decay);
}

double NAdamOptions::get_lr() const { return lr(); }

void NAdamOptions::set_lr(double lr) { this->lr(lr); }

void NAdamParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(mu_product);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg_sq);
}

void NAdamParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, mu_product);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg_sq);
}

NAdam::NAdam(std::vector<torch::optim::OptimizerParamGroup> param_groups, NAdamOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<NAdamOptions>(defaults)) {
  const auto [beta1, beta2] = defaults.betas();
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.eps(), "Invalid epsilon value: ", defaults.eps());
  TORCH_CHECK(0 <= beta1 && beta1 < 1, "Invalid beta parameter at index 0: ", beta1);
  TORCH_CHECK(0 <= beta2 && beta2 < 1, "Invalid beta parameter at index 1: ", beta2);
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
  TORCH_CHECK(0 <= defaults.momentum_decay(),
              "Invalid momentum_decay value: ", defaults.momentum_decay());
}

NAdam::NAdam(std::vector<torch::Tensor> params, NAdamOptions defaults)
    : NAdam({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor NAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const NAdamOptions&>(group.options());
    const auto [beta1, beta2] = options.betas();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "NAdam")) continue;
      auto& state = internal::StateOf<NAdamParamState>(state_, param, [&] {
        NAdamParamState created;
        created.mu_product(torch::tensor(1.0, torch::kFloat32));
        created.exp_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
        created.exp_avg_sq(torch::zeros_like(param, at::MemoryFormat::Preserve));
        return created;
      });
      state.step(internal::NextStep(state.step()));
      const double step = state.step();

      const double bias_correction2 = 1 - std::pow(beta2, step);
      const torch::Tensor grad = internal::Gradient(param, false, options.weight_decay(), scratch_);

      // The momentum cache mu^t and mu^{t+1}.
      const double mu = beta1 * (1. - 0.5 * std::pow(0.96, step * options.momentum_decay()));
      const double mu_next =
          beta1 * (1. - 0.5 * std::pow(0.96, (step + 1) * options.momentum_decay()));
      torch::Tensor& mu_product = state.mu_product();
      mu_product.mul_(mu);
      const torch::Tensor mu_product_next = mu_product * mu * mu_next;

      torch::Tensor& exp_avg = state.exp_avg();
      torch::Tensor& exp_avg_sq = state.exp_avg_sq();
      exp_avg.mul_(beta1).add_(grad, 1 - beta1);
      exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

      torch::Tensor denom = internal::Scratch(scratch_, 1, exp_avg_sq);
      at::div_out(denom, exp_avg_sq, internal::Wrapped(bias_correction2))
          .sqrt_()
          .add_(options.eps());
      const double lr = options.lr();
      param.addcdiv_(grad, denom, -lr * (1. - mu) / (1. - mu_product.item<double>()));
      param.addcdiv_(exp_avg, denom, -lr * mu_next / (1. - mu_product_next.item<double>()));
    }
  }
  return loss;
}

void NAdam::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<NAdamParamState, NAdamOptions>(archive, *this);
}

void NAdam::load(torch::serialize::InputArchive& archive) {
  internal::Load<NAdamParamState, NAdamOptions>(archive, *this);
}

}  // namespace segtune::optim
