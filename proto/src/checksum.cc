#include "segtune/proto/checksum.h"

#include <algorithm>
#include <cstddef>

#include <zlib.h>

namespace segtune::proto {

std::uint32_t Crc32(std::uint32_t crc, std::string_view data) {
  // zlib takes 32-bit lengths: feed it at most 1 GiB at a time.
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), kPiece);
    crc = static_cast<std::uint32_t>(
        ::crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n)));
    data.remove_prefix(n);
  }
  return crc;
}

std::uint32_t Crc32Combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t length_b) {
  return static_cast<std::uint32_t>(::crc32_combine(crc_a, crc_b, static_cast<z_off_t>(length_b)));
}

}  // namespace segtune::proto
