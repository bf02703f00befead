#include "segtune/agent/training_clocks.h"

#include <utility>

namespace segtune::agent {

TrainingClocks::TrainingClocks(int slots, std::function<Clock::time_point()> now)
    : now_(std::move(now)), slots_(static_cast<size_t>(slots)) {}

void TrainingClocks::Start(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  SlotClock& clock = slots_.at(static_cast<size_t>(slot));
  if (!clock.running_since) clock.running_since = now_();
}

void TrainingClocks::Stop(int slot) { StopAndTell(slot); }

bool TrainingClocks::StopAndTell(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  SlotClock& clock = slots_.at(static_cast<size_t>(slot));
  if (!clock.running_since) return false;
  clock.total += now_() - *clock.running_since;
  clock.running_since.reset();
  return true;
}

std::vector<double> TrainingClocks::Seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = now_();
  std::vector<double> seconds;
  seconds.reserve(slots_.size());
  for (const SlotClock& clock : slots_) {
    const Clock::duration total = clock.total + (clock.running_since ? now - *clock.running_since : Clock::duration{});
    seconds.push_back(std::chrono::duration<double>(total).count());
  }
  return seconds;
}

TrainingClocks::Pause::Pause(TrainingClocks& clocks, int slot)
    : clocks_(clocks), slot_(slot), was_running_(clocks.StopAndTell(slot)) {}

TrainingClocks::Pause::~Pause() {
  if (was_running_) clocks_.Start(slot_);
}

}  // namespace segtune::agent
