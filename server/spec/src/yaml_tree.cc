#include "yaml_tree.h"

#include <charconv>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

namespace segtune::spec::internal {
namespace {

bool IsInteger(const std::string& text) {
  std::size_t start = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  if (start == text.size()) return false;
  return text.find_first_not_of("0123456789", start) == std::string::npos;
}

// YAML 1.2 core floats in decimal notation ("0.1", "1e-4", ".5"); the
// special values .inf and .nan stay strings, as no setting accepts them.
bool IsDecimalFloat(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789+-.eE") == std::string::npos &&
         text.find_first_of("0123456789") != std::string::npos;
}

Tree PlainScalar(const std::string& text) {
  if (text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  const char* begin = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
  const char* end = text.data() + text.size();
  if (IsInteger(text)) {
    std::int64_t integer = 0;
    auto [rest, error] = std::from_chars(begin, end, integer);
    if (error == std::errc() && rest == end) return integer;
    // Too big for 64 bits: read it as a float below.
  }
  if (IsDecimalFloat(text)) {
    double number = 0;
    auto [rest, error] = std::from_chars(begin, end, number);
    if (error == std::errc() && rest == end) return number;
  }
  return text;
}

// Strict UTF-8 (RFC 3629: no overlong forms, surrogates or code points past
// U+10FFFF). Specs travel and are stored as JSON, whose writer throws on
// anything else.
bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t code_point = 0, min = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2, code_point = byte & 0x1F, min = 0x80;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3, code_point = byte & 0x0F, min = 0x800;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4, code_point = byte & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
    if (code_point < min || code_point > 0x10FFFF || surrogate) return false;
    i += length;
  }
  return true;
}

// YAML aliases can make a small text expand into an enormous document
// ("billion laughs"); past this many nodes the conversion stops. Real specs
// have hundreds; at a million, a 300-byte spec cost the coordinator 140 MB
// and a second per parse (found by tests/fuzz).
constexpr std::size_t kMaxNodes = 100000;

// Real specs nest fewer than ten levels. Deeper documents, and aliases that
// refer to their own anchor (a cycle, which yaml-cpp accepts), would
// otherwise recurse until the stack overflows (found by tests/fuzz).
constexpr std::size_t kMaxDepth = 64;

class Converter {
 public:
  explicit Converter(Problems& problems) : problems_(problems) {}

  // Once a limit is hit the conversion stops at once: a wide alias cycle
  // would otherwise still visit every sibling of every level.
  Tree ToTree(const YAML::Node& node, const std::string& path, std::size_t depth = 0) {
    if (stopped_) return nullptr;
    if (depth > kMaxDepth) {
      problems_.Add(path, "is nested more than " + std::to_string(kMaxDepth) +
                              " levels deep (or a YAML alias refers to itself)");
      stopped_ = true;
      return nullptr;
    }
    if (++nodes_ == kMaxNodes) {
      problems_.Add("", "the spec is too large (more than " + std::to_string(kMaxNodes) +
                            " values once YAML aliases are expanded)");
      stopped_ = true;
      return nullptr;
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        if (!IsValidUtf8(node.Scalar())) {
          problems_.Add(path, path.empty() ? "the spec is not valid UTF-8 text"
                                           : "is not valid UTF-8 text");
          return nullptr;
        }
        // "?" marks a plain scalar; quoted or explicitly tagged ones are strings.
        if (node.Tag() == "?") return PlainScalar(node.Scalar());
        return node.Scalar();
      case YAML::NodeType::Sequence: {
        Tree list = Tree::array();
        for (std::size_t i = 0; i < node.size() && !stopped_; ++i) {
          list.push_back(ToTree(node[i], Index(path, i), depth + 1));
        }
        return list;
      }
      case YAML::NodeType::Map: {
        Tree mapping = Tree::object();
        for (const auto& entry : node) {
          if (stopped_) break;
          if (!entry.first.IsScalar()) {
            KeyProblem(path, "is not a plain name", entry.first);
            continue;
          }
          const std::string& key = entry.first.Scalar();
          if (!IsValidUtf8(key)) {
            KeyProblem(path, "is not valid UTF-8 text", entry.first);
            continue;
          }
          if (mapping.contains(key)) {
            problems_.Add(Key(path, key), "duplicate key");
            continue;
          }
          mapping[key] = ToTree(entry.second, Key(path, key), depth + 1);
        }
        return mapping;
      }
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
    }
    return nullptr;
  }

 private:
  // A key that cannot be part of a path. The top level has no path to name,
  // so the message says where.
  void KeyProblem(const std::string& path, const std::string& what, const YAML::Node& key) {
    problems_.Add(path, std::string(path.empty() ? "the top level has" : "has") + " a key that " +
                            what + " (line " + std::to_string(key.Mark().line + 1) + ")");
  }

  Problems& problems_;
  std::size_t nodes_ = 0;
  bool stopped_ = false;  // a limit was hit and reported
};

}  // namespace

std::optional<Tree> LoadYaml(std::string_view text, Problems& problems) {
  YAML::Node document;
  try {
    document = YAML::Load(std::string(text));
  } catch (const YAML::Exception& error) {
    if (error.mark.is_null()) {
      problems.Add("", "YAML syntax error: " + error.msg);
    } else {
      problems.Add("", "YAML syntax error at line " + std::to_string(error.mark.line + 1) +
                           ", column " + std::to_string(error.mark.column + 1) + ": " + error.msg);
    }
    return std::nullopt;
  }
  return Converter(problems).ToTree(document, "");
}

}  // namespace segtune::spec::internal
