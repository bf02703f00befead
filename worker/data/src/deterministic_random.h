// Random numbers that are the same on every run, platform and thread.
//
// std::mt19937_64 and std::seed_seq are specified bit for bit by the C++
// standard; std's distributions are not (each library implements them its
// own way), so the values derived from the raw 64-bit outputs are computed
// here. Torch's RNG is not used: it is global and shared by every thread.
//
// Thread-safety: none; each user owns its instance.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>

namespace segtune::data {

class DeterministicRandom {
 public:
  // The stream is determined by the whole key, e.g. {seed, split, index}.
  explicit DeterministicRandom(std::initializer_list<uint64_t> key) {
    std::vector<uint32_t> words;
    for (uint64_t part : key) {
      words.push_back(static_cast<uint32_t>(part));
      words.push_back(static_cast<uint32_t>(part >> 32));
    }
    std::seed_seq sequence(words.begin(), words.end());
    engine_.seed(sequence);
  }

  // Uniform in [0, 1), from the top 53 bits (a double's precision).
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }

  // Uniform over [low, high], unbiased (rejects the incomplete last block).
  int64_t UniformInt(int64_t low, int64_t high) {
    const uint64_t range = static_cast<uint64_t>(high - low) + 1;
    if (range == 0) return static_cast<int64_t>(engine_());  // the full 64-bit range
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t draw = engine_();
    while (draw >= limit) draw = engine_();
    return low + static_cast<int64_t>(draw % range);
  }

  // Standard normal, by Box-Muller (one draw per call, nothing cached).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // in (0, 1]: log stays finite
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace segtune::data
