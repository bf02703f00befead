// libFuzzer entry point for the spec parser and validator (scripts/fuzz.sh
// builds it with clang and runs it over tests/fuzz/corpus/spec).
//
// Thread-safety: libFuzzer calls it from one thread.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec_fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  segtune::fuzz::CheckSpecInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
