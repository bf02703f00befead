#include "segtune/optim/rmsprop.h"

#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

RMSpropOptions::RMSpropOptions(double lr) : lr_(lr) {}

void RMSpropOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(alpha);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(centered);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void RMSpropOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, alpha);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, centered);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double RMSpropOptions::get_lr() const { return lr(); }

void RMSpropOptions::set_lr(double lr) { this->lr(lr); }

void RMSpropParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(square_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_buffer);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(grad_avg);
}

void RMSpropParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, square_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, momentum_buffer);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, grad_avg);
}

RMSprop::RMSprop(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                 RMSpropOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<RMSpropOptions>(defaults)) {
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 <= defaults.eps(), "Invalid epsilon value: ", defaults.eps());
  TORCH_CHECK(0 <= defaults.momentum(), "Invalid momentum value: ", defaults.momentum());
  TORCH_CHECK(0 <= defaults.weight_decay(),
              "Invalid weight_decay value: ", defaults.weight_decay());
  TORCH_CHECK(0 <= defaults.alpha(), "Invalid alpha value: ", defaults.alpha());
}

RMSprop::RMSprop(std::vector<torch::Tensor> params, RMSpropOptions defaults)
    : RMSprop({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor RMSprop::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const RMSpropOptions&>(group.options());
    const double alpha = options.alpha();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "RMSprop")) continue;
      auto& state = internal::StateOf<RMSpropParamState>(state_, param, [&] {
        RMSpropParamState created;
        created.square_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
        if (options.centered()) {
          created.grad_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
        }
        return created;
      });
      state.step(state.step() + 1);
      // torch creates the buffer with the state if momentum > 0 then; a
      // schedule turning momentum on later gets one here (torch would fail).
      if (options.momentum() > 0 && !state.momentum_buffer().defined()) {
        state.momentum_buffer(torch::zeros_like(param, at::MemoryFormat::Preserve));
      }

      const torch::Tensor grad =
          internal::Gradient(param, options.maximize(), options.weight_decay(), scratch_);
      torch::Tensor& square_avg = state.square_avg();
      square_avg.mul_(alpha).addcmul_(grad, grad, 1 - alpha);
      torch::Tensor avg = internal::Scratch(scratch_, 1, square_avg);
      if (options.centered()) {
        torch::Tensor& grad_avg = state.grad_avg();
        grad_avg.mul_(alpha).add_(grad, 1 - alpha);
        at::addcmul_out(avg, square_avg, grad_avg, grad_avg, -1).sqrt_();
      } else {
        at::sqrt_out(avg, square_avg);
      }
      avg.add_(options.eps());
      if (options.momentum() > 0) {
        torch::Tensor& buf = state.momentum_buffer();
        buf.mul_(options.momentum()).addcdiv_(grad, avg);
        param.add_(buf, -options.lr());
      } else {
        param.addcdiv_(grad, avg, -options.lr());
      }
    }
  }
  return loss;
}

void RMSprop::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<RMSpropParamState, RMSpropOptions>(archive, *this);
}

void RMSprop::load(torch::serialize::InputArchive& archive) {
  internal::Load<RMSpropParamState, RMSpropOptions>(archive, *this);
}

}  // namespace segtune::optim
