// What our optimizers (sgd.cc, adam.cc, ...) share: running the loss closure
// as torch.optim does, finding or creating a parameter's state, scratch
// tensors, the gradient after `maximize` and weight decay, torch's float step
// counter, and loading an archive.
//
// Numbers: every optimizer calls the same ATen kernels as its
// `_single_tensor_<name>` function in torch/optim/<name>.py, in the same
// order, with the same operand kinds (a double Scalar where Python passes a
// float, a tensor where it passes a tensor), so results match PyTorch bit for
// bit. Where Python writes an intermediate result into a fresh tensor
// (`denom = exp_avg_sq.sqrt() / c`), we write it into a scratch tensor of the
// same shape, strides and dtype (`at::sqrt_out(denom, exp_avg_sq).div_(c)`):
// the same kernel computes the same values elementwise.
//
// Speed: torch allocates every intermediate result afresh. For parameters of
// megabytes each fresh allocation costs page faults (large blocks come from
// mmap, or from a heap top that free() trims), often more than the arithmetic;
// scratch tensors kept between steps avoid them.
#pragma once

#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ATen/ScalarOps.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace segtune::optim::internal {

// Optimizer::state(): keyed by the parameter's TensorImpl address printed as
// a string in LibTorch 1.13, by the address itself (void*) in newer releases.
using StateMap =
    std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

// Runs `closure` with gradients enabled, as torch.optim's step() does, and
// returns its loss; an undefined tensor without a closure.
inline torch::Tensor EvaluateClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// The key of `param`'s state in Optimizer::state(), as LibTorch's own
// optimizers and torch::optim::serialize spell it: the TensorImpl pointer
// itself, or, where the key is a string, the pointer written by operator<<
// (what 1.13's c10::guts::to_string does; newer releases dropped that helper).
// A template so that only the branch for this LibTorch's key type compiles.
template <typename Key>
Key StateKeyOf(void* impl) {
  if constexpr (std::is_same_v<Key, void*>) {
    return impl;
  } else {
    std::ostringstream key;
    key << impl;
    return key.str();
  }
}

inline StateMap::key_type StateKey(const torch::Tensor& param) {
  return StateKeyOf<StateMap::key_type>(param.unsafeGetTensorImpl());
}

// `param`'s state, created by `init()` on first use (torch's lazy state
// initialization).
template <typename ParamState, typename Init>
ParamState& StateOf(StateMap& state, const torch::Tensor& param, Init&& init) {
  StateMap::key_type key = StateKey(param);
  auto it = state.find(key);
  if (it == state.end()) {
    it = state.emplace(std::move(key), std::make_unique<ParamState>(init())).first;
  }
  return static_cast<ParamState&>(*it->second);
}

// Whether `param` takes part in this step: torch skips parameters without a
// gradient. Refuses what torch refuses (sparse gradients) and what we do not
// implement (complex parameters, which torch views as real pairs).
inline bool HasGradient(const torch::Tensor& param, const char* optimizer) {
  if (!param.grad().defined()) return false;
  TORCH_CHECK(!param.grad().is_sparse(), optimizer, " does not support sparse gradients");
  TORCH_CHECK(!param.is_complex(), optimizer, " does not support complex parameters");
  return true;
}

// A scratch tensor with the sizes and strides of `like`, and its dtype unless
// `dtype` is given, over buffer `slot` of `buffers` (kept by the optimizer
// between steps, grown to the largest parameter). Its contents are garbage;
// it is valid until the slot is asked for again. Tensors with gaps or
// overlaps between their elements get a fresh tensor, like torch's.
inline torch::Tensor Scratch(std::vector<torch::Tensor>& buffers, std::size_t slot,
                             const torch::Tensor& like,
                             std::optional<at::ScalarType> dtype = std::nullopt) {
  const torch::TensorOptions options = like.options().dtype(dtype.value_or(like.scalar_type()));
  if (!like.is_non_overlapping_and_dense()) {
    return at::empty_like(like, options, at::MemoryFormat::Preserve);
  }
  if (buffers.size() <= slot) buffers.resize(slot + 1);
  torch::Tensor& buffer = buffers[slot];
  if (!buffer.defined() || buffer.numel() < like.numel() ||
      buffer.scalar_type() != options.dtype() || buffer.device() != like.device()) {
    buffer = at::empty({like.numel()}, options);
  }
  return buffer.as_strided(like.sizes(), like.strides());
}

// The scratch slot of the gradient after `maximize` and weight decay; the
// optimizers number their other temporaries from 1.
constexpr std::size_t kGradientSlot = 0;

// A Python float operand of a tensor op (`x / 2.0`) as torch passes it to the
// kernel: a wrapped-number tensor. For the out= forms of ops whose
// Scalar out= overload would allocate and copy.
inline torch::Tensor Wrapped(double value) { return at::native::wrapped_scalar_tensor(value); }

// torch's `grad = grad if not maximize else -grad` followed by
// `if weight_decay != 0: grad = grad.add(param, alpha=weight_decay)`.
inline torch::Tensor Gradient(const torch::Tensor& param, bool maximize, double weight_decay,
                              std::vector<torch::Tensor>& scratch) {
  const torch::Tensor& grad = param.grad();
  if (!maximize && weight_decay == 0) return grad;
  torch::Tensor result = Scratch(scratch, kGradientSlot, grad);
  if (!maximize) return at::add_out(result, grad, param, weight_decay);
  at::neg_out(result, grad);
  if (weight_decay != 0) result.add_(param, weight_decay);
  return result;
}

// torch counts steps in a float32 tensor (`state['step'] = torch.tensor(0.)`,
// `step_t += 1`, `step = step_t.item()`); so do we, in a double holding a
// float32 value, so that the count stops where torch's does (2^24).
inline double NextStep(double step) { return static_cast<float>(step) + 1.0f; }

// The moment updates and the parameter update that _single_tensor_adam and
// _single_tensor_adamw share (their non-capturable branch), after the weight
// decay; `state` is an AdamParamState or an AdamWParamState.
template <typename ParamState, typename Options>
void AdamUpdate(torch::Tensor& param, const torch::Tensor& grad, ParamState& state,
                const Options& options, std::vector<torch::Tensor>& scratch) {
  const auto [beta1, beta2] = options.betas();
  torch::Tensor& exp_avg = state.exp_avg();
  torch::Tensor& exp_avg_sq = state.exp_avg_sq();
  exp_avg.mul_(beta1).add_(grad, 1 - beta1);
  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

  const double step = state.step();
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  const double step_size = options.lr() / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);

  torch::Tensor denom = Scratch(scratch, 1, exp_avg_sq);
  if (options.amsgrad()) {
    torch::Tensor& max_exp_avg_sq = state.max_exp_avg_sq();
    at::maximum_out(max_exp_avg_sq, max_exp_avg_sq, exp_avg_sq);
    at::sqrt_out(denom, max_exp_avg_sq);
  } else {
    at::sqrt_out(denom, exp_avg_sq);
  }
  denom.div_(bias_correction2_sqrt).add_(options.eps());
  param.addcdiv_(exp_avg, denom, -step_size);
}

// The state Adam and AdamW create on a parameter's first step.
template <typename ParamState>
ParamState NewAdamState(const torch::Tensor& param, bool amsgrad) {
  ParamState state;
  state.exp_avg(torch::zeros_like(param, at::MemoryFormat::Preserve));
  state.exp_avg_sq(torch::zeros_like(param, at::MemoryFormat::Preserve));
  if (amsgrad) state.max_exp_avg_sq(torch::zeros_like(param, at::MemoryFormat::Preserve));
  return state;
}

// Loads what Optimizer::save() wrote: each parameter's state, like
// LibTorch's load(), and also each param group's options, as torch's
// load_state_dict() does (a scheduler may have changed the lr since the
// optimizer was built).
template <typename ParamState, typename Options>
void Load(torch::serialize::InputArchive& archive, torch::optim::Optimizer& optimizer) {
  torch::optim::serialize<ParamState, Options>(archive, optimizer);
  torch::serialize::InputArchive groups;
  archive.read("param_groups", groups);
  for (std::size_t i = 0; i < optimizer.param_groups().size(); ++i) {
    torch::serialize::InputArchive group;
    groups.read("param_groups/" + std::to_string(i), group);
    torch::serialize::InputArchive saved;
    group.read("options", saved);
    Options options(0);
    options.serialize(saved);
    static_cast<Options&>(optimizer.param_groups()[i].options()) = options;
  }
}

}  // namespace segtune::optim::internal
