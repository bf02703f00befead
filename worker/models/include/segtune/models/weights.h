// A model's weights as bytes that PyTorch in Python reads with torch.load:
// the state dict (parameters and buffers under the module's own names, e.g.
// "encoder0.1.running_mean") in torch.save's zip format. The Python twins of
// our models (bench/reference/models.py) have the same names, so
// `model.load_state_dict(torch.load(path))` works there unchanged.
//
// Thread-safety: as the module's: one thread at a time.
#pragma once

#include <string>

#include <torch/nn/module.h>

#include "absl/status/status.h"

namespace segtune::models {

// The module's state dict in the order of Python's Module.state_dict()
// (BatchNorm's num_batches_tracked included), tensors detached and on the
// CPU.
std::string SaveWeights(const torch::nn::Module& module);

// Copies weights saved by SaveWeights (or by torch.save(model.state_dict())
// in Python, from any device) into `module`, exactly. InvalidArgument naming
// the entry when a name is missing or unexpected or a shape or dtype
// differs; DataLoss when the bytes are not torch.save's zip format holding a
// dict of tensors. Everything is checked before anything is copied: the
// module is unchanged on error.
absl::Status LoadWeights(torch::nn::Module& module, const std::string& bytes);

}  // namespace segtune::models
