#include "segtune/agent/backoff.h"

#include <algorithm>

namespace segtune::agent {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter)
    : initial_(initial),
      max_(std::max(initial, max)),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      nominal_(initial),
      rng_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::NextDelay() {
  std::uniform_real_distribution<double> spread(1.0 - jitter_, 1.0 + jitter_);
  const auto jittered = std::chrono::milliseconds(
      static_cast<std::chrono::milliseconds::rep>(static_cast<double>(nominal_.count()) * spread(rng_)));
  nominal_ = std::min(nominal_ * 2, max_);
  return std::min(jittered, max_);
}

void Backoff::Reset() { nominal_ = initial_; }

}  // namespace segtune::agent
