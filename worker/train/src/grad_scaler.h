// Loss scaling for float16 mixed precision on CUDA, as torch.cuda.amp's
// GradScaler does it with its defaults: the loss is multiplied by a scale
// before backward so small float16 gradients do not flush to zero; the
// gradients are unscaled before the optimizer step; a step whose gradients
// hold inf or NaN is skipped and the scale halved; after 2000 steps without
// one the scale doubles.
//
// Thread-safety: none; one per trial.
#pragma once

#include <vector>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

namespace segtune::train::internal {

class GradScaler {
 public:
  explicit GradScaler(const torch::Device& device);

  torch::Tensor Scale(const torch::Tensor& loss) const { return loss * scale_; }

  // Unscales the gradients in place; true when they are all finite and the
  // optimizer may step.
  bool Unscale(const std::vector<torch::Tensor>& parameters);

  // Adjusts the scale after a step (taken or skipped).
  void Update();

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  torch::Tensor scale_;           // float32 [1], on the device
  torch::Tensor growth_tracker_;  // int32 [1]: finite steps since the last change
  torch::Tensor found_inf_;       // float32 [1]: 1 when the last Unscale saw inf/NaN
};

}  // namespace segtune::train::internal
