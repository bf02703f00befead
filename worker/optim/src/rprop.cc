#include "segtune/optim/rprop.h"

#include <memory>
#include <utility>

#include "optimizer_util.h"

namespace segtune::optim {

RpropOptions::RpropOptions(double lr) : lr_(lr) {}

void RpropOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(etas);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step_sizes);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(maximize);
}

void RpropOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(etas_t, etas);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(step_sizes_t, step_sizes);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, maximize);
}

double RpropOptions::get_lr() const { return lr(); }

void RpropOptions::set_lr(double lr) { this->lr(lr); }

void RpropParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(prev);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step_size);
}

void RpropParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, prev);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, step_size);
}

Rprop::Rprop(std::vector<torch::optim::OptimizerParamGroup> param_groups, RpropOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<RpropOptions>(defaults)) {
  const auto [etaminus, etaplus] = defaults.etas();
  TORCH_CHECK(0 <= defaults.lr(), "Invalid learning rate: ", defaults.lr());
  TORCH_CHECK(0 < etaminus && etaminus < 1 && 1 < etaplus, "Invalid eta values: ", etaminus, ", ",
              etaplus);
}

Rprop::Rprop(std::vector<torch::Tensor> params, RpropOptions defaults)
    : Rprop({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

torch::Tensor Rprop::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = internal::EvaluateClosure(closure);
  for (torch::optim::OptimizerParamGroup& group : param_groups_) {
    const auto& options = static_cast<const RpropOptions&>(group.options());
    const auto [etaminus, etaplus] = options.etas();
    const auto [step_size_min, step_size_max] = options.step_sizes();
    for (torch::Tensor& param : group.params()) {
      if (!internal::HasGradient(param, "Rprop")) continue;
      auto& state = internal::StateOf<RpropParamState>(state_, param, [&] {
        RpropParamState created;
        created.prev(torch::zeros_like(param, at::MemoryFormat::Preserve));
        // torch's grad.new().resize_as_(grad): contiguous, whatever the
        // gradient's memory format.
        created.step_size(
            torch::empty(param.grad().sizes(), param.grad().options()).fill_(options.lr()));
        return created;
      });
      state.step(state.step() + 1);

      const torch::Tensor grad = internal::Gradient(param, options.maximize(), 0, scratch_);
      torch::Tensor& step_size = state.step_size();
      torch::Tensor& prev = state.prev();
      torch::Tensor sign = internal::Scratch(scratch_, 1, grad);
      at::mul_out(sign, grad, prev).sign_();
      // torch assigns through boolean masks (`sign[sign.gt(0)] = etaplus`);
      // masked_fill_ writes the same values.
      torch::Tensor mask = internal::Scratch(scratch_, 2, sign, torch::kBool);
      sign.masked_fill_(at::gt_out(mask, sign, 0), etaplus);
      sign.masked_fill_(at::lt_out(mask, sign, 0), etaminus);
      sign.masked_fill_(at::eq_out(mask, sign, 0), 1);

      step_size.mul_(sign).clamp_(step_size_min, step_size_max);

      // Where the gradient's sign flipped: no step, and no memory of it.
      prev.copy_(grad).masked_fill_(at::eq_out(mask, sign, etaminus), 0);
      torch::Tensor direction = internal::Scratch(scratch_, 3, prev);
      param.addcmul_(at::sign_out(direction, prev), step_size, -1);
    }
  }
  return loss;
}

void Rprop::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<RpropParamState, RpropOptions>(archive, *this);
}

void Rprop::load(torch::serialize::InputArchive& archive) {
  internal::Load<RpropParamState, RpropOptions>(archive, *this);
}

}  // namespace segtune::optim
