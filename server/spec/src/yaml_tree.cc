#include "yaml_tree.h"

#include <charconv>
#include <string>

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

// YAML aliases can make a small text expand into an enormous document
// ("billion laughs"); past this many nodes the conversion stops.
constexpr std::size_t kMaxNodes = 1000000;

class Converter {
 public:
  explicit Converter(Problems& problems) : problems_(problems) {}

  Tree ToTree(const YAML::Node& node, const std::string& path) {
    if (nodes_ == kMaxNodes) return nullptr;
    if (++nodes_ == kMaxNodes) {
      problems_.Add("", "the spec is too large (more than " + std::to_string(kMaxNodes) +
                            " values once YAML aliases are expanded)");
      return nullptr;
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        // "?" marks a plain scalar; quoted or explicitly tagged ones are strings.
        if (node.Tag() == "?") return PlainScalar(node.Scalar());
        return node.Scalar();
      case YAML::NodeType::Sequence: {
        Tree list = Tree::array();
        for (std::size_t i = 0; i < node.size(); ++i) {
          list.push_back(ToTree(node[i], Index(path, i)));
        }
        return list;
      }
      case YAML::NodeType::Map: {
        Tree mapping = Tree::object();
        for (const auto& entry : node) {
          if (!entry.first.IsScalar()) {
            problems_.Add(path, "has a key that is not a plain name");
            continue;
          }
          const std::string& key = entry.first.Scalar();
          if (mapping.contains(key)) {
            problems_.Add(Key(path, key), "duplicate key");
            continue;
          }
          mapping[key] = ToTree(entry.second, Key(path, key));
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
  Problems& problems_;
  std::size_t nodes_ = 0;
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
