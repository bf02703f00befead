#include "segtune/optim/adamax.h"

#include <cmath>
#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

AdamaxOptions::AdamaxOptions(double lr) : lr_(lr) {}

void AdamaxOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(betas);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void AdamaxOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(betas_t, betas);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double AdamaxOptions::get_lr() const { return lr(); }

void AdamaxOptions::set_lr(double lr) { this->lr(lr); }

void AdamaxParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_inf);
}

void AdamaxParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_inf);
}

Adamax::Adamax(std::vector<torch::optim::OptimizerParamGroup> param_groups, AdamaxOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<AdamaxOptions>(defaults)) {
  const auto [beta1, beta2] = defaults.betas();
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.eps(), "Invalid epsilon value: ", defaults.eps());
  TORCH_CHECK(0 <= beta1 && beta1 < 1, "Invalid beta parameter at index 0: ", beta1);
  TORCH_CHECK(0 <= beta2 && beta2 < 1, "Invalid beta parameter at index 1: ", beta2);
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
}

Adamax::Adamax(std::vector<torch::Tensor> params, AdamaxOptions defaults)
    : Adamax({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor Adamax::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const AdamaxOptions&>(group.options());
    const auto [beta1, beta2] = options.betas();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "Adamax")) continue;
      auto& state = internal::StateOf<AdamaxParamState>(state_, param, [&] {
        AdamaxParamState created;
        created.exp_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
        created.exp_inf(torch::zeros_like(param, at::MemoryFormat::Preserve));
        return created;
      });
      state.step(internal::NextStep(state.step()));

      const torch::Tensor grad =
          internal::Gradient(param, options.maximize(), options.weight_decay(), scratch_);
      torch::Tensor& exp_avg = state.exp_avg();
      torch::Tensor& exp_inf = state.exp_inf();
      exp_avg.mul_(beta1).add_(grad, 1 - beta1);
      // torch takes the amax over dim 0 of cat([exp_inf * beta2, |grad| + eps]);
      // the elementwise maximum of the two picks the same values (NaN
      // included) without building the stacked tensor.
      torch::Tensor norm = internal::Scratch(scratch_, 1, grad);
      at::abs_out(norm, grad).add_(options.eps());
      at::maximum_out(exp_inf, exp_inf.mul_(beta2), norm);

      const double bias_correction = 1 - std::pow(beta1, state.step());
      const double clr = options.lr() / bias_correction;
      param.addcdiv_(exp_avg, exp_inf, -clr);
    }
  }
  return loss;
}

void Adamax::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<AdamaxParamState, AdamaxOptions>(archive, *this);
}

void Adamax::load(torch::serialize::InputArchive& archive) {
  internal::Load<AdamaxParamState, AdamaxOptions>(archive, *this);
}

}  // namespace segtune::optim
