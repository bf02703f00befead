// Replays the spec fuzz target's seed corpus and every crash it has found
// (tests/fuzz/regressions) through the same checks, in the ordinary gcc
// build: a fixed bug stays fixed even where clang is not installed. A broken
// invariant traps and fails the test of that file.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spec_fuzz_check.h"

namespace segtune::fuzz {
namespace {

namespace fs = std::filesystem;

// Every file under the corpus and regression directories, relative to
// SEGTUNE_FUZZ_DIR, in a stable order.
std::vector<std::string> InputFiles() {
  std::vector<std::string> files;
  for (const char* dir : {"corpus/spec", "regressions"}) {
    for (const auto& entry : fs::directory_iterator(fs::path(SEGTUNE_FUZZ_DIR) / dir)) {
      if (entry.is_regular_file() && entry.path().filename() != "README.md") {
        files.push_back(fs::relative(entry.path(), SEGTUNE_FUZZ_DIR).string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

class SpecFuzzReplay : public testing::TestWithParam<std::string> {};

TEST_P(SpecFuzzReplay, HoldsEveryInvariant) {
  const fs::path path = fs::path(SEGTUNE_FUZZ_DIR) / GetParam();
  ASSERT_TRUE(fs::is_regular_file(path)) << path;
  CheckSpecInput(ReadFile(path));
}

INSTANTIATE_TEST_SUITE_P(Inputs, SpecFuzzReplay, testing::ValuesIn(InputFiles()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           auto odd = [](char c) {
                                             return !std::isalnum(static_cast<unsigned char>(c));
                                           };
                                           std::replace_if(name.begin(), name.end(), odd, '_');
                           return name;
                         });

// The corpus holds the examples and the hand-written edge cases; an empty
// listing would make the replay above pass vacuously.
TEST(SpecFuzzCorpus, IsNotEmpty) {
  std::vector<std::string> files = InputFiles();
  EXPECT_GE(std::count_if(files.begin(), files.end(),
                          [](const std::string& f) { return f.rfind("corpus/", 0) == 0; }),
            20);
}

}  // namespace
}  // namespace segtune::fuzz
