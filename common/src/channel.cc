#include "segtune/common/channel.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/support/client_interceptor.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace segtune::common {
namespace {

// Reads a whole file; `what` names the flag or variable that named it.
absl::StatusOr<std::string> ReadWhole(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  return contents.str();
}

// A token travels as an HTTP/2 header value: visible ASCII only. The message
// never quotes the token.
absl::StatusOr<std::string> CheckToken(const std::string& where, std::string token) {
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": the token is empty"));
  for (const char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the token holds a space, a control or a non-ASCII character"));
    }
  }
  return token;
}

absl::StatusOr<std::string> LoadToken(const ClientSecurityFlags& flags, const EnvironmentLookup& environment) {
  if (!flags.token_file.empty()) {
    absl::StatusOr<std::string> text = ReadWhole("--token-file", flags.token_file);
    if (!text.ok()) return text.status();
    return CheckToken(absl::StrCat("--token-file ", flags.token_file), *std::move(text));
  }
  const std::optional<std::string> token = environment(kTokenEnvVar);
  const std::optional<std::string> token_file = environment(kTokenFileEnvVar);
  if (token && token_file) {
    return absl::InvalidArgumentError(
        absl::StrCat("$", kTokenEnvVar, " and $", kTokenFileEnvVar, ": both are set; set one of them"));
  }
  if (token) return CheckToken(absl::StrCat("$", kTokenEnvVar), *token);
  if (token_file) {
    const std::string what = absl::StrCat("$", kTokenFileEnvVar);
    absl::StatusOr<std::string> text = ReadWhole(what, *token_file);
    if (!text.ok()) return text.status();
    return CheckToken(absl::StrCat(what, " ", *token_file), *std::move(text));
  }
  return std::string();
}

// Adds "authorization: Bearer TOKEN" to a call's initial metadata.
class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* const header_;
};

// Owned by the channel, which outlives every call and so every interceptor.
class BearerTokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token) : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new BearerTokenInterceptor(&header_);
  }

 private:
  const std::string header_;
};

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityFlags& flags,
                                                  const EnvironmentLookup& environment) {
  ClientSecurity security;
  absl::StatusOr<std::string> token = LoadToken(flags, environment);
  if (!token.ok()) return token.status();
  security.token = *std::move(token);

  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both (the client certificate and its key) or neither");
  }
  if (flags.tls_ca.empty()) {
    // Without a CA there is nothing to verify the server with: a client
    // certificate or a server name alone would be silently unused.
    if (!flags.tls_cert.empty()) return absl::InvalidArgumentError("--tls-cert: needs --tls-ca");
    if (!flags.tls_server_name.empty()) return absl::InvalidArgumentError("--tls-server-name: needs --tls-ca");
    return security;
  }
  for (auto [flag, path, pem] : {std::tuple{"--tls-ca", &flags.tls_ca, &security.tls_ca_pem},
                                  std::tuple{"--tls-cert", &flags.tls_cert, &security.tls_cert_pem},
                                  std::tuple{"--tls-key", &flags.tls_key, &security.tls_key_pem}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = ReadWhole(flag, *path);
    if (!text.ok()) return text.status();
    if (text->find("-----BEGIN ") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": ", *path, " is not a PEM file"));
    }
    *pem = *std::move(text);
  }
  security.tls_server_name = flags.tls_server_name;
  return security;
}

void AddClientSecurityFlags(CLI::App& app, ClientSecurityFlags& flags, const std::string& token_holder,
                            const std::string& address_flag) {
  app.add_option("--token-file", flags.token_file,
                 absl::StrCat("file holding ", token_holder,
                              " (default: $SEGTUNE_TOKEN, else the file $SEGTUNE_TOKEN_FILE names)"));
  app.add_option("--tls-ca", flags.tls_ca, "connect with TLS, trusting this PEM CA");
  app.add_option("--tls-cert", flags.tls_cert, "client certificate (PEM) for TLS; needs --tls-key");
  app.add_option("--tls-key", flags.tls_key, "private key (PEM) of --tls-cert");
  app.add_option("--tls-server-name", flags.tls_server_name,
                 absl::StrCat("name to verify in the coordinator's certificate (default: the ", address_flag,
                              " host)"));
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const ClientSecurity& security,
                                           grpc::ChannelArguments channel_args) {
  // gRPC's default 4 MiB is less than the answer to `segtune trials` for a
  // sweep at the coordinator's trial limit (10,000 trials, with their
  // attempts): replies up to kMaxReceiveBytes are taken.
  channel_args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (security.tls_ca_pem.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = security.tls_ca_pem;
    tls.pem_cert_chain = security.tls_cert_pem;
    tls.pem_private_key = security.tls_key_pem;
    credentials = grpc::SslCredentials(tls);
    if (!security.tls_server_name.empty()) channel_args.SetSslTargetNameOverride(security.tls_server_name);
  }
  if (security.token.empty()) return grpc::CreateCustomChannel(address, credentials, channel_args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(security.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, credentials, channel_args,
                                                                 std::move(interceptors));
}

}  // namespace segtune::common
