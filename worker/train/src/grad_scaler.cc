#include "grad_scaler.h"

#include <ATen/ops/_amp_foreach_non_finite_check_and_unscale.h>
#include <ATen/ops/_amp_update_scale.h>

namespace segtune::train::internal {
namespace {

// torch.cuda.amp.GradScaler's defaults.
constexpr double kInitialScale = 65536.0;
constexpr double kGrowthFactor = 2.0;
constexpr double kBackoffFactor = 0.5;
constexpr int64_t kGrowthInterval = 2000;

}  // namespace

GradScaler::GradScaler(const torch::Device& device)
    : scale_(torch::full({1}, kInitialScale, torch::TensorOptions(torch::kFloat32).device(device))),
      growth_tracker_(torch::zeros({1}, torch::TensorOptions(torch::kInt32).device(device))),
      found_inf_(torch::zeros({1}, torch::TensorOptions(torch::kFloat32).device(device))) {}

bool GradScaler::Unscale(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> gradients;
  for (const torch::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  found_inf_.zero_();
  at::_amp_foreach_non_finite_check_and_unscale_(gradients, found_inf_, scale_.reciprocal());
  return found_inf_.item<float>() == 0.0F;
}

void GradScaler::Update() {
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, kGrowthFactor, kBackoffFactor,
                         kGrowthInterval);
}

void GradScaler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("scale", scale_, /*is_buffer=*/true);
  archive.write("growth_tracker", growth_tracker_, /*is_buffer=*/true);
}

void GradScaler::load(torch::serialize::InputArchive& archive) {
  archive.read("scale", scale_, /*is_buffer=*/true);
  archive.read("growth_tracker", growth_tracker_, /*is_buffer=*/true);
}

}  // namespace segtune::train::internal
