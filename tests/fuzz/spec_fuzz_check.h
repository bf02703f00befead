// The property check behind the spec fuzz target: feeds one input to the
// spec parser and validator the way `segtune submit` reaches them
// (spec::ParseSpec, then search::Searcher::Create and the first trials), and
// traps (__builtin_trap) when an invariant that must hold for every input is
// broken. Shared by the libFuzzer target (clang, scripts/fuzz.sh) and the gcc
// unit test that replays the seed corpus and the crash regressions.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <string_view>

namespace segtune::fuzz {

// Returns when every invariant holds; never throws. Traps otherwise, after
// printing which invariant broke to stderr.
void CheckSpecInput(std::string_view text);

}  // namespace segtune::fuzz
