#include "segtune/api/security.h"

#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace segtune::api {
namespace {

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kAdmin, Role::kRead, Role::kWorker}) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown role '", name, "'; expected admin, read or worker"));
}

bool IsVisibleAscii(absl::string_view text) {
  for (const char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return text.str();
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kRead: return "read";
    case Role::kWorker: return "worker";
  }
  return "unknown";
}

absl::StatusOr<std::vector<TokenGrant>> ParseTokens(absl::string_view text, absl::string_view source) {
  std::vector<TokenGrant> grants;
  std::set<std::string> seen;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    const auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", number, ": ", why));
    };
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    const std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    absl::StatusOr<Role> role = ParseRole(words[0]);
    if (!role.ok()) return error(role.status().message());
    if (words.size() < 2) return error("missing token; expected 'ROLE TOKEN'");
    if (words.size() > 2) return error("more than 'ROLE TOKEN' on the line");
    const absl::string_view token = words[1];
    if (token.size() < kMinTokenLength) {
      return error(absl::StrCat("token shorter than ", kMinTokenLength, " characters"));
    }
    if (!IsVisibleAscii(token)) return error("the token holds a control or non-ASCII character");
    if (!seen.insert(std::string(token)).second) return error("duplicate token (each token grants one role)");
    grants.push_back(TokenGrant{*role, std::string(token)});
  }
  return grants;
}

absl::StatusOr<ServerTls> LoadServerTls(const std::string& cert_path, const std::string& key_path,
                                        const std::string& client_ca_path) {
  if (cert_path.empty() != key_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key: give both (the server certificate and its key) or neither");
  }
  ServerTls tls;
  if (cert_path.empty()) {
    if (!client_ca_path.empty()) return absl::InvalidArgumentError("--tls-client-ca: needs --tls-cert and --tls-key");
    return tls;
  }
  for (auto [flag, path, pem] : {std::tuple{"--tls-cert", &cert_path, &tls.cert_pem},
                                 std::tuple{"--tls-key", &key_path, &tls.key_pem},
                                 std::tuple{"--tls-client-ca", &client_ca_path, &tls.client_ca_pem}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = ReadPem(flag, *path);
    if (!text.ok()) return text.status();
    *pem = *std::move(text);
  }
  return tls;
}

}  // namespace segtune::api
