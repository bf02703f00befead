#include "segtune/data/batch_iterator.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include <ATen/ops/empty.h>

#include "deterministic_random.h"

namespace segtune::data {
namespace {

// Keeps shuffling streams apart from the dataset's sample streams.
constexpr uint64_t kShuffleStream = 0x7368'7566'666c'6503;  // "shuffle"

}  // namespace

BatchIterator::BatchIterator(const SegmentationSet& set, int64_t batch_size,
                             std::optional<uint64_t> shuffle_seed)
    : set_(set), batch_size_(batch_size), shuffle_seed_(shuffle_seed) {
  StartEpoch(1);
}

void BatchIterator::StartEpoch(int64_t epoch) {
  order_.resize(set_.size());
  std::iota(order_.begin(), order_.end(), int64_t{0});
  next_ = 0;
  if (!shuffle_seed_) return;
  // Fisher-Yates with our own uniform draws: std::shuffle's are not portable.
  DeterministicRandom random({*shuffle_seed_, kShuffleStream, static_cast<uint64_t>(epoch)});
  for (int64_t i = static_cast<int64_t>(order_.size()) - 1; i > 0; --i) {
    std::swap(order_[i], order_[random.UniformInt(0, i)]);
  }
}

std::optional<Batch> BatchIterator::Next() {
  const int64_t size = set_.size();
  if (next_ >= size) return std::nullopt;
  const int64_t count = std::min(batch_size_, size - next_);
  Batch batch;
  if (!shuffle_seed_) {
    batch.images = set_.images.narrow(0, next_, count);
    batch.masks = set_.masks.narrow(0, next_, count);
  } else {
    at::Tensor indices = at::empty({count}, at::kLong);
    std::copy(order_.begin() + next_, order_.begin() + next_ + count, indices.data_ptr<int64_t>());
    indices = indices.to(set_.images.device());
    batch.images = set_.images.index_select(0, indices);
    batch.masks = set_.masks.index_select(0, indices);
  }
  next_ += count;
  return batch;
}

int64_t BatchIterator::batches_per_epoch() const {
  return (set_.size() + batch_size_ - 1) / batch_size_;
}

}  // namespace segtune::data
