// A cap on streams of one kind open at once (WatchSweep, checkpoint
// transfers): each stream holds a slot for its life, and a stream over the
// cap is refused with RESOURCE_EXHAUSTED naming the limit.
//
// Thread-safety: every method is thread-safe; a Slot belongs to one stream.
#pragma once

#include <atomic>
#include <string>

#include "absl/status/statusor.h"

namespace segtune::api {

class StreamLimit {
 public:
  // `what` names the streams and the flag that sets the cap in errors,
  // e.g. "WatchSweep streams (--max-watch-streams)".
  StreamLimit(std::string what, int max) : what_(std::move(what)), max_(max) {}

  // Set before serving; streams already open keep their slots.
  void set_max(int max) { max_ = max; }
  int open() const { return open_; }

  // Held by one stream; gives its slot back when destroyed.
  class Slot {
   public:
    Slot() = default;
    explicit Slot(StreamLimit* limit) : limit_(limit) {}
    Slot(Slot&& other) noexcept : limit_(other.limit_) { other.limit_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    StreamLimit* limit_ = nullptr;
  };

  // A slot, or ResourceExhausted when `max` streams are open already.
  absl::StatusOr<Slot> Acquire();

 private:
  const std::string what_;
  std::atomic<int> max_;
  std::atomic<int> open_{0};
};

}  // namespace segtune::api
