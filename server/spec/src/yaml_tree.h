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
// column) to `problems`. Duplicate keys, keys that are not plain scalars and
// text that is not valid UTF-8 are reported too; the rest of the document is
// still returned. Past 64 levels of nesting or 100,000 values (after aliases
// are expanded) the conversion stops with a problem.
std::optional<Tree> LoadYaml(std::string_view text, Problems& problems);

}  // namespace segtune::spec::internal
