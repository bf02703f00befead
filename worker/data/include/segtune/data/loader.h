// Mini-batches from a SampleSet, made on a background thread while the
// training loop works on the previous ones.
//
// Each batch is cropped (random for training, centred for evaluation),
// optionally flipped (image and mask together), converted to float and
// normalized. Everything random is drawn from (shuffle_seed, epoch, sample
// index) and the sizes alone, so an epoch has the same batches whatever ran
// before it, on any thread, in any process, with any prefetch depth: a
// resumed trial sees exactly what the uninterrupted one saw. Batches are
// made with plain loops (no ATen parallel ops), so the producer does not
// compete with training's intra-op thread pool.
//
// Thread-safety: one consumer thread calls StartEpoch/Next; the loader owns
// its producer thread. The SampleSet must outlive the loader.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/MemoryFormat.h>

#include "segtune/data/sample_set.h"

namespace segtune::data {

struct Batch {
  // [B, 3, S, S] float32, normalized, on the CPU, in LoaderOptions::memory_format.
  at::Tensor images;
  at::Tensor masks;   // [B, S, S] int64 class indices or the set's ignore_index
};

struct LoaderOptions {
  int64_t batch_size = 16;  // >= 1; an epoch's last batch may be smaller
  // Shuffle and augment with this seed; none: dataset order, centre crop,
  // no flip (evaluation).
  std::optional<uint64_t> shuffle_seed;
  int crop_size = 32;  // output size S, <= the set's size
  bool flip = false;   // random horizontal flips (only with shuffle_seed)
  // Per channel, on values scaled to [0, 1]: (value - mean) / std.
  std::array<float, 3> mean = {0.5F, 0.5F, 0.5F};
  std::array<float, 3> std = {0.25F, 0.25F, 0.25F};
  int prefetch_batches = 2;  // batches made ahead of the consumer, >= 1
  // The images' layout: Contiguous (NCHW) or ChannelsLast (NHWC in memory,
  // what LibTorch's CPU convolutions work in; the trainer asks for it there,
  // and the loader's thread lays it out instead of the training loop).
  at::MemoryFormat memory_format = at::MemoryFormat::Contiguous;
};

class Loader {
 public:
  // REQUIRES: set.size() >= 1, options within the documented ranges
  // (checked: c10::Error otherwise, as from any torch call).
  Loader(const SampleSet& set, const LoaderOptions& options);
  ~Loader();  // stops and joins the producer
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts producing the batches of `epoch` (from 1), dropping whatever of
  // the previous epoch was not consumed. Nothing is produced before the
  // first call.
  void StartEpoch(int64_t epoch);

  // The next batch of the current epoch (waiting for it if needed), or
  // nothing at its end or before the first StartEpoch. Rethrows what the
  // producer threw making this batch: c10::Error when memory runs out.
  std::optional<Batch> Next();

  int64_t batches_per_epoch() const;

  // Seconds Next() spent waiting for the producer, over the loader's life.
  double wait_seconds() const;

 private:
  // Where a sample's crop starts in the stored image, and whether it is mirrored.
  struct Crop {
    int64_t top = 0;
    int64_t left = 0;
    bool flip = false;
  };

  // What an epoch's batches are made from; immutable, shared with the producer.
  struct EpochPlan {
    std::vector<int64_t> order;  // sample indices in batch order
    std::vector<Crop> crops;     // by sample index
  };

  std::shared_ptr<const EpochPlan> MakePlan(int64_t epoch) const;
  // Batch `index` of the plan's epoch: plain loops, no ATen ops beyond
  // allocation, so it competes with no intra-op thread pool and is the same
  // bits whatever the timing.
  Batch MakeBatch(const EpochPlan& plan, int64_t index) const;
  void Produce();  // the producer thread's loop

  const SampleSet& set_;
  const LoaderOptions options_;
  const int64_t batches_per_epoch_;
  // Per channel, a byte's normalized value.
  std::array<std::array<float, 256>, 3> normalized_{};

  std::mutex mutex_;
  std::condition_variable produced_;  // a batch was queued, or the producer failed
  std::condition_variable wanted_;    // room in the queue, a new epoch, or stopping_
  // Guarded by mutex_:
  std::shared_ptr<const EpochPlan> plan_;  // null before the first StartEpoch
  // Bumped by StartEpoch: a batch made for an older generation is dropped.
  uint64_t generation_ = 0;
  int64_t next_to_make_ = 0;    // batch index the producer makes next
  int64_t next_to_take_ = 0;    // batch index Next() returns next
  std::deque<Batch> queue_;     // made, not yet taken: next_to_take_, next_to_take_ + 1, ...
  std::exception_ptr failure_;  // what MakeBatch threw (out of memory), for Next()
  bool stopping_ = false;

  double wait_seconds_ = 0;  // consumer thread only
  std::thread producer_;     // last: starts once every member above exists
};

}  // namespace segtune::data
