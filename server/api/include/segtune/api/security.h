// The coordinator's access control (docs/security.md): the bearer tokens it
// accepts and the role each grants, and its TLS identity. segtune-coordinator
// reads them from --tokens-file or $SEGTUNE_TOKENS and the --tls-* flags and
// passes them in CoordinatorOptions.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace segtune::api {

// admin: every Tuner method (read, submit, cancel). read: the Tuner methods
// that only read. worker: every WorkerHub method, nothing else.
enum class Role { kAdmin, kRead, kWorker };

// "admin", "read", "worker".
absl::string_view RoleName(Role role);

struct TokenGrant {
  Role role = Role::kRead;
  std::string token;
};

// The shortest token accepted: shorter ones are guessable.
inline constexpr std::size_t kMinTokenLength = 16;

// Parses a tokens file: one grant per line, "ROLE TOKEN", with blank lines
// and lines starting with '#' ignored. `source` names the file (or the
// variable) in errors, which also give the line: InvalidArgument for an
// unknown role, a missing token, a token shorter than kMinTokenLength or with
// characters other than visible ASCII, extra words, or a token listed twice.
// Errors never quote a token.
absl::StatusOr<std::vector<TokenGrant>> ParseTokens(absl::string_view text, absl::string_view source);

// The server's TLS identity, PEM contents. An empty cert_pem: plaintext.
// With client_ca_pem, clients must present a certificate it signed.
struct ServerTls {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
};

// Reads --tls-cert, --tls-key (both or neither) and --tls-client-ca (only
// with the other two). InvalidArgument naming the flag and the file when one
// is missing, unreadable or not PEM.
absl::StatusOr<ServerTls> LoadServerTls(const std::string& cert_path, const std::string& key_path,
                                        const std::string& client_ca_path);

}  // namespace segtune::api
