#include "segtune/optim/adadelta.h"

#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

AdadeltaOptions::AdadeltaOptions(double lr) : lr_(lr) {}

void AdadeltaOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(rho);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void AdadeltaOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, rho);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double AdadeltaOptions::get_lr() const { return lr(); }

void AdadeltaOptions::set_lr(double lr) { this->lr(lr); }

void AdadeltaParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(square_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(acc_delta);
}

void AdadeltaParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, square_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, acc_delta);
}

Adadelta::Adadelta(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                   AdadeltaOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<AdadeltaOptions>(defaults)) {
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.rho() && defaults.rho() <= 1, "Invalid rho value: ", defaults.rho());
  TORCH_CHECK(0 <= defaults.eps(), "Invalid epsilon value: ", defaults.eps());
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
}

Adadelta::Adadelta(std::vector<torch::Tensor> params, AdadeltaOptions defaults)
    : Adadelta({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor Adadelta::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const AdadeltaOptions&>(group.options());
    const double rho = options.rho();
    const double eps = options.eps();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "Adadelta")) continue;
      auto& state = internal::StateOf<AdadeltaParamState>(state_, param, [&] {
        AdadeltaParamState created;
        created.square_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
        created.acc_delta(torch::zeros_like(param, at::MemoryFormat::Preserve));
        return created;
      });
      state.step(state.step() + 1);

      const torch::Tensor grad =
          internal::Gradient(param, options.maximize(), options.weight_decay(), scratch_);
      torch::Tensor& square_avg = state.square_avg();
      torch::Tensor& acc_delta = state.acc_delta();
      square_avg.mul_(rho).addcmul_(grad, grad, 1 - rho);
      torch::Tensor std = internal::Scratch(scratch_, 1, square_avg);
      at::add_out(std, square_avg, internal::Wrapped(eps)).sqrt_();
      torch::Tensor delta = internal::Scratch(scratch_, 2, acc_delta);
      at::add_out(delta, acc_delta, internal::Wrapped(eps)).sqrt_().div_(std).mul_(grad);
      acc_delta.mul_(rho).addcmul_(delta, delta, 1 - rho);
      param.add_(delta, -options.lr());
    }
  }
  return loss;
}

void Adadelta::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<AdadeltaParamState, AdadeltaOptions>(archive, *this);
}

void Adadelta::load(torch::serialize::InputArchive& archive) {
  internal::Load<AdadeltaParamState, AdadeltaOptions>(archive, *this);
}

}  // namespace segtune::optim
