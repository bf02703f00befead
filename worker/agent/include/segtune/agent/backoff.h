// Exponential backoff with jitter for retrying calls to the coordinator.
//
// Delays start at `initial`, double after every failure and stop growing at
// `max`; each delay is spread by +-`jitter` (a fraction) so that many workers
// that lost the coordinator at the same moment do not all come back at once.
//
// Thread-safety: not thread-safe; each retry loop owns its own Backoff.
#pragma once

#include <chrono>
#include <random>

namespace segtune::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter = 0.2);

  // The delay to wait before the next attempt; each call doubles the next one.
  // Never more than `max`.
  std::chrono::milliseconds NextDelay();

  // Starts over from `initial` (after a success).
  void Reset();

 private:
  const std::chrono::milliseconds initial_;
  const std::chrono::milliseconds max_;
  const double jitter_;
  std::chrono::milliseconds nominal_;  // the next delay before jitter
  std::mt19937_64 rng_;
};

}  // namespace segtune::agent
