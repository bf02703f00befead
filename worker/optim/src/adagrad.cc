#include "segtune/optim/adagrad.h"

#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

AdagradOptions::AdagradOptions(double lr) : lr_(lr) {}

void AdagradOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(initial_accumulator_value);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void AdagradOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, initial_accumulator_value);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double AdagradOptions::get_lr() const { return lr(); }

void AdagradOptions::set_lr(double lr) { this->lr(lr); }

void AdagradParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(sum);
}

void AdagradParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, sum);
}

Adagrad::Adagrad(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                 AdagradOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<AdagradOptions>(defaults)) {
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.lr_decay(), "Invalid lr_decay value: ", defaults.lr_decay());
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
  TORCH_CHECK(0 <= defaults.initial_accumulator_value(),
              "Invalid initial_accumulator_value value: ", defaults.initial_accumulator_value());
  TORCH_CHECK(0 <= defaults.eps(), "Invalid epsilon value: ", defaults.eps());
  for (const torch::optim::OptimizerParamGroup& group : param_groups_) {
    for (const torch::Tensor& param : group.params()) {
      state_[internal::StateKey(param)] = std::make_unique<AdagradParamState>(NewState(param));
    }
  }
}

Adagrad::Adagrad(std::vector<torch::Tensor> params, AdagradOptions defaults)
    : Adagrad({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

AdagradParamState Adagrad::NewState(const torch::Tensor& param) const {
  const auto& defaults = static_cast<const AdagradOptions&>(*defaults_);
  AdagradParamState state;
  state.sum(
      torch::full_like(param, defaults.initial_accumulator_value(), at::MemoryFormat::Preserve));
  return state;
}

torch::Tensor Adagrad::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const AdagradOptions&>(group.options());
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "Adagrad")) continue;
      // Parameters of groups added after construction get their state here.
      auto& state =
          internal::StateOf<AdagradParamState>(state_, param, [&] { return NewState(param); });
      state.step(internal::NextStep(state.step()));
      const torch::Tensor grad =
          internal::Gradient(param, options.maximize(), options.weight_decay(), scratch_);
      const double clr = options.lr() / (1 + (state.step() - 1) * options.lr_decay());
      state.sum().addcmul_(grad, grad, 1);
      torch::Tensor std = internal::Scratch(scratch_, 1, state.sum());
      at::sqrt_out(std, state.sum()).add_(options.eps());
      param.addcdiv_(grad, std, -clr);
    }
  }
  return loss;
}

void Adagrad::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<AdagradParamState, AdagradOptions>(archive, *this);
}

void Adagrad::load(torch::serialize::InputArchive& archive) {
  internal::Load<AdagradParamState, AdagradOptions>(archive, *this);
}

}  // namespace segtune::optim
