// The checksum the protocol carries with checkpoint bytes
// (CheckpointHeader.crc32, ExportWeightsMetadata.crc32): zlib's CRC-32. One
// definition for the worker that sends, the coordinator that stores and the
// CLI that exports.
//
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string_view>

namespace segtune::proto {

// The CRC-32 of what `crc` covered followed by `data`; start from 0.
std::uint32_t Crc32(std::uint32_t crc, std::string_view data);

// The CRC-32 of A followed by B, from A's CRC, B's CRC and B's length.
std::uint32_t Crc32Combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t length_b);

}  // namespace segtune::proto
