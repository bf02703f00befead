// The state of a trial after an epoch, as two opaque byte strings, so that
// code without LibTorch (the agent's transport, the coordinator's storage)
// can carry and keep it.
//
// Thread-safety: a plain value.
#pragma once

#include <string>

namespace segtune::train {

struct Checkpoint {
  int epoch = 0;  // the epoch this is the state after, from 1
  // The model's state dict (parameters and buffers by their module names) in
  // the zip format of Python's torch.save: torch.load reads it, and
  // `segtune export` hands it to users as is.
  std::string weights;
  // Everything else a resumed trial needs to continue bit for bit: optimizer
  // and scheduler state, the trainer's counters. Only the trainer reads it.
  std::string training_state;
};

}  // namespace segtune::train
