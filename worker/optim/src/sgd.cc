#include "segtune/optim/sgd.h"

#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

SGDOptions::SGDOptions(double lr) : lr_(lr) {}

void SGDOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(dampening);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(nesterov);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void SGDOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, dampening);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, nesterov);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double SGDOptions::get_lr() const { return lr(); }

void SGDOptions::set_lr(double lr) { this->lr(lr); }

void SGDParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_buffer);
}

void SGDParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, momentum_buffer);
}

SGD::SGD(std::vector<torch::optim::OptimizerParamGroup> param_groups, SGDOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<SGDOptions>(defaults)) {
  // torch tests `lr < 0.0` here, not `not 0.0 <= lr` as the others do.
  TORCH_CHECK(!(defaults.lr() < 0), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(!(defaults.momentum() < 0), "Invalid momentum value: ", defaults.momentum());
  TORCH_CHECK(!(defaults.weight_decay() < 0),
              "Invalid weight_decay value: ", defaults.weight_decay());
  TORCH_CHECK(!defaults.nesterov() || (defaults.momentum() > 0 && defaults.dampening() == 0),
              "Nesterov momentum requires a momentum and zero dampening");
}

SGD::SGD(std::vector<torch::Tensor> params, SGDOptions defaults)
    : SGD({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor SGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const SGDOptions&>(group.options());
    for (torch::Tensor& param : group.params()) {
      if (!param.grad().defined()) continue;
      torch::Tensor d_p =
          internal::Gradient(param, options.maximize(), options.weight_decay(), scratch_);
      if (options.momentum() != 0) {
        auto& state =
            internal::StateOf<SGDParamState>(state_, param, [] { return SGDParamState(); });
        torch::Tensor& buf = state.momentum_buffer();
        if (!buf.defined()) {
          buf = torch::clone(d_p).detach();
        } else {
          buf.mul_(options.momentum()).add_(d_p, 1 - options.dampening());
        }
        if (options.nesterov()) {
          torch::Tensor nesterov = internal::Scratch(scratch_, internal::kGradientSlot, d_p);
          d_p = at::add_out(nesterov, d_p, buf, options.momentum());
        } else {
          d_p = buf;
        }
      }
      param.add_(d_p, -options.lr());
    }
  }
  return loss;
}

void SGD::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<SGDParamState, SGDOptions>(archive, *this);
}

void SGD::load(torch::serialize::InputArchive& archive) {
  internal::Load<SGDParamState, SGDOptions>(archive, *this);
}

}  // namespace segtune::optim
