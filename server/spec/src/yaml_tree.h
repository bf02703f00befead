// YAML text -> Tree, with YAML 1.2 core-schema scalar types: plain scalars
// become null, booleans, integers or floats when they read as such; quoted
// scalars always stay strings. Internal to segtune_spec.
//
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <string_view>

#include "parse_util.h"

namespace segtune::spec::internal {

// The document, or nullopt after adding the syntax error (with its line and
// column) to `problems`. Duplicate keys and keys that are not plain scalars
// are reported too; the rest of the document is still returned.
std::optional<Tree> LoadYaml(std::string_view text, Problems& problems);

}  // namespace segtune::spec::internal
