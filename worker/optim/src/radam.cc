#include "segtune/optim/radam.h"

#include <cmath>
#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

RAdamOptions::RAdamOptions(double lr) : lr_(lr) {}

void RAdamOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(betas);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
}

void RAdamOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(betas_t, betas);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
}

double RAdamOptions::get_lr() const { return lr(); }

void RAdamOptions::set_lr(double lr) { this->lr(lr); }

void RAdamParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg_sq);
}

void RAdamParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg_sq);
}

RAdam::RAdam(std::vector<torch::optim::OptimizerParamGroup> param_groups, RAdamOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<RAdamOptions>(defaults)) {
  const auto [beta1, beta2] = defaults.betas();
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.eps(), "Invalid epsilon value: ", defaults.eps());
  TORCH_CHECK(0 <= beta1 && beta1 < 1, "Invalid beta parameter at index 0: ", beta1);
  TORCH_CHECK(0 <= beta2 && beta2 < 1, "Invalid beta parameter at index 1: ", beta2);
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
}

RAdam::RAdam(std::vector<torch::Tensor> params, RAdamOptions defaults)
    : RAdam({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor RAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const RAdamOptions&>(group.options());
    const auto [beta1, beta2] = options.betas();
    const double lr = options.lr();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "RAdam")) continue;
      auto& state = internal::StateOf<RAdamParamState>(state_, param, [&] {
        RAdamParamState created;
        created.exp_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
        created.exp_avg_sq(torch::zeros_like(param, at::MemoryFormat::Preserve));
        return created;
      });
      state.step(internal::NextStep(state.step()));
      const double step = state.step();

      const double bias_correction1 = 1 - std::pow(beta1, step);
      const double bias_correction2 = 1 - std::pow(beta2, step);
      const torch::Tensor grad = internal::Gradient(param, false, options.weight_decay(), scratch_);

      torch::Tensor& exp_avg = state.exp_avg();
      torch::Tensor& exp_avg_sq = state.exp_avg_sq();
      exp_avg.mul_(beta1).add_(grad, 1 - beta1);
      exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

      torch::Tensor bias_corrected_exp_avg = internal::Scratch(scratch_, 1, exp_avg);
      at::div_out(bias_corrected_exp_avg, exp_avg, internal::Wrapped(bias_correction1));
      // The maximum length of the approximated SMA, and its length now.
      const double rho_inf = 2 / (1 - beta2) - 1;
      const double rho_t = rho_inf - 2 * step * std::pow(beta2, step) / bias_correction2;
      if (rho_t > 5.) {
        const double rect = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                      ((rho_inf - 4) * (rho_inf - 2) * rho_t));
        // Python's `float / tensor` is `tensor.reciprocal() * float`.
        torch::Tensor adaptive_lr = internal::Scratch(scratch_, 2, exp_avg_sq);
        at::sqrt_out(adaptive_lr, exp_avg_sq)
            .add_(options.eps())
            .reciprocal_()
            .mul_(std::sqrt(bias_correction2));
        param.add_(bias_corrected_exp_avg.mul_(lr).mul_(adaptive_lr).mul_(rect), -1.0);
      } else {
        param.add_(bias_corrected_exp_avg.mul_(lr), -1.0);
      }
    }
  }
  return loss;
}

void RAdam::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<RAdamParamState, RAdamOptions>(archive, *this);
}

void RAdam::load(torch::serialize::InputArchive& archive) {
  internal::Load<RAdamParamState, RAdamOptions>(archive, *this);
}

}  // namespace segtune::optim
