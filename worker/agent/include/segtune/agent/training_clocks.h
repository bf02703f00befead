// How long each slot of a worker has spent training, for the heartbeat's
// SlotUsage (the coordinator turns it into per-device utilisation). A slot
// trains from the moment its trial function starts until it returns, except
// while it waits for the coordinator (checkpoint upload, epoch report): the
// agent pauses the slot's clock around those calls, so a device that is
// leased but idle does not count as used.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace segtune::agent {

class TrainingClocks {
 public:
  using Clock = std::chrono::steady_clock;

  // `slots` clocks, all stopped at zero; `now` is replaceable for tests.
  explicit TrainingClocks(int slots, std::function<Clock::time_point()> now = Clock::now);

  // The slot starts (or goes back to) training. No-op if it already is.
  void Start(int slot);
  // The slot stops training. No-op if it is not.
  void Stop(int slot);
  // Every slot's training seconds so far, slot 0 first, including a stretch
  // still running.
  std::vector<double> Seconds() const;

  // Stops `slot`'s clock for as long as it lives, then starts it again if it
  // was running: wraps a call that waits for the coordinator.
  class Pause {
   public:
    Pause(TrainingClocks& clocks, int slot);
    ~Pause();
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;

   private:
    TrainingClocks& clocks_;
    const int slot_;
    const bool was_running_;
  };

 private:
  struct SlotClock {
    Clock::duration total{};
    std::optional<Clock::time_point> running_since;
  };
  // Stops the slot's clock; returns whether it was running.
  bool StopAndTell(int slot);

  const std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::vector<SlotClock> slots_;  // GUARDED_BY(mu_)
};

}  // namespace segtune::agent
