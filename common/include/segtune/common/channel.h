// How the CLI and the worker reach a coordinator that may require a bearer
// token and TLS (docs/security.md): ClientSecurity says what to present,
// LoadClientSecurity reads it from flags and the environment (tokens never
// come from argv, only from a file or $SEGTUNE_TOKEN), and MakeChannel builds
// a channel that attaches the token to every call.
//
// Thread-safety: free functions without shared state. The channel MakeChannel
// returns is thread-safe like any gRPC channel.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace CLI {
class App;
}

namespace segtune::common {

// The environment variables LoadClientSecurity reads.
inline constexpr char kTokenEnvVar[] = "SEGTUNE_TOKEN";
inline constexpr char kTokenFileEnvVar[] = "SEGTUNE_TOKEN_FILE";

// What a client presents to the coordinator. Default: nothing (plaintext, no
// token), which is what local mode and an unsecured coordinator expect.
struct ClientSecurity {
  std::string token;            // sent as "authorization: Bearer TOKEN"; empty: none
  std::string tls_ca_pem;       // trusted CA(s); empty: plaintext
  std::string tls_cert_pem;     // client certificate chain, with tls_key_pem; empty: none
  std::string tls_key_pem;
  std::string tls_server_name;  // name to verify in the server certificate; empty: the address's host
};

// The security flags as given on the command line; an empty field was not given.
struct ClientSecurityFlags {
  std::string token_file;       // --token-file
  std::string tls_ca;           // --tls-ca
  std::string tls_cert;         // --tls-cert
  std::string tls_key;          // --tls-key
  std::string tls_server_name;  // --tls-server-name
};

// Adds --token-file, --tls-ca, --tls-cert, --tls-key and --tls-server-name to
// `app`, filling `flags`. There is no --token: argv is visible to every user
// of the machine (docs/security.md). `token_holder` says whose token the file
// holds ("the bearer token", "the worker token"); --tls-server-name defaults
// to the host of `address_flag`.
void AddClientSecurityFlags(CLI::App& app, ClientSecurityFlags& flags, const std::string& token_holder,
                            const std::string& address_flag);

// Looks an environment variable up; nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const char* name)>;

// The process's own environment (std::getenv).
EnvironmentLookup ProcessEnvironment();

// The token comes from --token-file, else $SEGTUNE_TOKEN, else the file named
// by $SEGTUNE_TOKEN_FILE (setting both variables is an error: which one was
// meant is unclear). A token file holds the token alone; surrounding
// whitespace is dropped. TLS comes from the flags only. InvalidArgument naming
// the flag or variable and the file when a file cannot be read, a token is
// empty or holds whitespace or control characters, --tls-cert and --tls-key
// are not given together, or a TLS flag is given without --tls-ca.
absl::StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityFlags& flags,
                                                  const EnvironmentLookup& environment);

// The largest reply a client accepts (the coordinator's own limit on what it
// receives is its --max-message-bytes).
inline constexpr int kMaxReceiveBytes = 256 << 20;

// A channel to `address` (HOST:PORT): TLS when security.tls_ca_pem is set,
// plaintext otherwise; with a token, a client interceptor adds the
// authorization metadata to every call made on it. Connects lazily.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const ClientSecurity& security,
                                           grpc::ChannelArguments channel_args = grpc::ChannelArguments());

}  // namespace segtune::common
