// Mini-batches over an in-memory SegmentationSet.
//
// Shuffled iteration draws each epoch's order from (seed, epoch) alone, so an
// epoch has the same batches however many epochs ran before it (a replayed
// or resumed trial sees exactly what the first run saw). The last batch of
// an epoch may be smaller than batch_size.
//
// Thread-safety: none; an iterator belongs to one thread. The set must
// outlive the iterator.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "segtune/data/shapes.h"

namespace segtune::data {

struct Batch {
  at::Tensor images;  // [B, 3, H, W]
  at::Tensor masks;   // [B, H, W]
};

class BatchIterator {
 public:
  // REQUIRES: batch_size >= 1 and set.size() >= 1. `shuffle_seed` empty:
  // dataset order every epoch (for evaluation).
  BatchIterator(const SegmentationSet& set, int64_t batch_size,
                std::optional<uint64_t> shuffle_seed);

  // Rewinds to the first batch of `epoch` (from 1), in that epoch's order.
  void StartEpoch(int64_t epoch);

  // The next batch of the current epoch, or nothing at its end. Batches
  // live on the set's device.
  std::optional<Batch> Next();

  int64_t batches_per_epoch() const;

  // The sample order of `epoch` (a permutation of the set's indices).
  const std::vector<int64_t>& order() const { return order_; }

 private:
  const SegmentationSet& set_;
  int64_t batch_size_;
  std::optional<uint64_t> shuffle_seed_;
  std::vector<int64_t> order_;
  int64_t next_ = 0;  // position in order_ of the next batch's first sample
};

}  // namespace segtune::data
