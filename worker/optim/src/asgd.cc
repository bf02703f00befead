#include "segtune/optim/asgd.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {
namespace {

// torch.tensor(value): a 0-dim tensor of torch's default dtype, float32.
torch::Tensor DefaultDtypeScalar(double value) { return torch::tensor(value, torch::kFloat32); }

}  // namespace

ASGDOptions::ASGDOptions(double lr) : lr_(lr) {}

void ASGDOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lambd);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(alpha);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(t0);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void ASGDOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lambd);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, alpha);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, t0);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double ASGDOptions::get_lr() const { return lr(); }

void ASGDOptions::set_lr(double lr) { this->lr(lr); }

void ASGDParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eta);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(mu);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(ax);
}

void ASGDParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, eta);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, mu);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, ax);
}

ASGD::ASGD(std::vector<torch::optim::OptimizerParamGroup> param_groups, ASGDOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<ASGDOptions>(defaults)) {
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
}

ASGD::ASGD(std::vector<torch::Tensor> params, ASGDOptions defaults)
    : ASGD({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor ASGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const ASGDOptions&>(group.options());
    const double lr = options.lr();
    const double lambd = options.lambd();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "ASGD")) continue;
      auto& state = internal::StateOf<ASGDParamState>(state_, param, [&] {
        ASGDParamState created;
        created.eta(DefaultDtypeScalar(lr));
        created.mu(DefaultDtypeScalar(1.0));
        created.ax(torch::zeros_like(param, at::MemoryFormat::Preserve));
        return created;
      });
      state.step(internal::NextStep(state.step()));
      const double step = state.step();

      const torch::Tensor grad =
          internal::Gradient(param, options.maximize(), options.weight_decay(), scratch_);
      const double eta = state.eta().item<double>();
      param.mul_(1 - lambd * eta);  // decay term
      param.add_(grad, -eta);
      torch::Tensor& ax = state.ax();
      if (state.mu().item<double>() != 1) {
        torch::Tensor difference = internal::Scratch(scratch_, 1, param);
        ax.add_(at::sub_out(difference, param, ax).mul_(state.mu()));
      } else {
        ax.copy_(param);
      }
      state.eta().copy_(DefaultDtypeScalar(lr / std::pow(1 + lambd * lr * step, options.alpha())));
      state.mu().copy_(DefaultDtypeScalar(1 / std::max(1.0, step - options.t0())));
    }
  }
  return loss;
}

void ASGD::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<ASGDParamState, ASGDOptions>(archive, *this);
}

void ASGD::load(torch::serialize::InputArchive& archive) {
  internal::Load<ASGDParamState, ASGDOptions>(archive, *this);
}

}  // namespace segtune::optim
