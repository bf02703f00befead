// Shared by the scheduler sources: option-check helpers and archive helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/serialize/archive.h>

#include "absl/status/status.h"

namespace segtune::optim::internal {

// Python's math.pi.
inline constexpr double kPi = 3.14159265358979323846;

// InvalidArgument "<arg>: <message>".
absl::Status BadArgument(const char* arg, const std::string& message);

// OK, or "<arg>: must be a finite number, got inf".
absl::Status CheckFinite(const char* arg, double value);

// OK, or "<arg>: must be in [low, high], got <value>" plus torch's message
// when it has one.
absl::Status CheckInRange(const char* arg, double value, double low, double high,
                          const char* torch_message);

// Constructors require valid options, as LibTorch's TORCH_CHECK does.
void ThrowIfError(const absl::Status& status);

void WriteInt(torch::serialize::OutputArchive& archive, const std::string& key, int64_t value);
void WriteDouble(torch::serialize::OutputArchive& archive, const std::string& key, double value);
void WriteDoubles(torch::serialize::OutputArchive& archive, const std::string& key,
                  const std::vector<double>& values);
int64_t ReadInt(torch::serialize::InputArchive& archive, const std::string& key);
double ReadDouble(torch::serialize::InputArchive& archive, const std::string& key);
std::vector<double> ReadDoubles(torch::serialize::InputArchive& archive, const std::string& key);

}  // namespace segtune::optim::internal
