#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "segtune/common/channel.h"

namespace segtune::common {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class ClientSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-client-security-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream((dir_ / name).string()) << text;
    return (dir_ / name).string();
  }
  absl::StatusOr<ClientSecurity> Load(const ClientSecurityFlags& flags) {
    return LoadClientSecurity(flags, [this](const char* name) -> std::optional<std::string> {
      auto value = env_.find(name);
      if (value == env_.end()) return std::nullopt;
      return value->second;
    });
  }

  fs::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ClientSecurityTest, NothingGivenMeansPlaintextWithoutAToken) {
  auto security = Load({});
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_TRUE(security->token.empty());
  EXPECT_TRUE(security->tls_ca_pem.empty());
}

TEST_F(ClientSecurityTest, ReadsTheTokenFileWithoutItsNewline) {
  ClientSecurityFlags flags;
  flags.token_file = Write("token", "file-token-0123456789\n");
  auto security = Load(flags);
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_EQ(security->token, "file-token-0123456789");
}

TEST_F(ClientSecurityTest, TheFlagBeatsTheEnvironmentAndTheVariableBeatsNothing) {
  env_["SEGTUNE_TOKEN"] = "env-token-0123456789";
  ClientSecurityFlags flags;
  flags.token_file = Write("token", "file-token-0123456789");
  EXPECT_EQ(Load(flags)->token, "file-token-0123456789");
  EXPECT_EQ(Load({})->token, "env-token-0123456789");
  env_.clear();
  env_["SEGTUNE_TOKEN_FILE"] = Write("env-token", "env-file-token-0123456789\n");
  EXPECT_EQ(Load({})->token, "env-file-token-0123456789");
}

TEST_F(ClientSecurityTest, BothVariablesAtOnceAreAnError) {
  env_["SEGTUNE_TOKEN"] = "env-token-0123456789";
  env_["SEGTUNE_TOKEN_FILE"] = Write("token", "file-token-0123456789");
  auto security = Load({});
  ASSERT_FALSE(security.ok());
  EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(security.status().message(), HasSubstr("$SEGTUNE_TOKEN and $SEGTUNE_TOKEN_FILE"));
}

TEST_F(ClientSecurityTest, MissingOrEmptyFilesAreErrorsNamingTheFlagAndFile) {
  ClientSecurityFlags flags;
  flags.token_file = (dir_ / "missing").string();
  auto security = Load(flags);
  ASSERT_FALSE(security.ok());
  EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(security.status().message(), HasSubstr("--token-file: cannot read " + flags.token_file));

  flags.token_file = Write("empty", "\n");
  EXPECT_THAT(Load(flags).status().message(), HasSubstr("the token is empty"));

  env_["SEGTUNE_TOKEN_FILE"] = (dir_ / "gone").string();
  EXPECT_THAT(Load({}).status().message(), HasSubstr("$SEGTUNE_TOKEN_FILE: cannot read"));
  env_.clear();

  ClientSecurityFlags tls;
  tls.tls_ca = (dir_ / "ca.pem").string();
  EXPECT_THAT(Load(tls).status().message(), HasSubstr("--tls-ca: cannot read " + tls.tls_ca));
  tls.tls_ca = Write("ca.pem", "not a certificate");
  EXPECT_THAT(Load(tls).status().message(), HasSubstr("is not a PEM file"));
}

TEST_F(ClientSecurityTest, ATokenWithSpacesIsRejectedWithoutBeingQuoted) {
  env_["SEGTUNE_TOKEN"] = "two words-0123456789";
  auto security = Load({});
  ASSERT_FALSE(security.ok());
  EXPECT_THAT(security.status().message(), HasSubstr("$SEGTUNE_TOKEN: the token holds a space"));
  EXPECT_THAT(security.status().message(), Not(HasSubstr("words-0123456789")));
}

TEST_F(ClientSecurityTest, TlsFlagsMustComeTogether) {
  const std::string pem = Write("x.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  ClientSecurityFlags flags;
  flags.tls_cert = pem;
  EXPECT_THAT(Load(flags).status().message(), HasSubstr("--tls-cert and --tls-key"));
  flags.tls_key = pem;
  EXPECT_THAT(Load(flags).status().message(), HasSubstr("--tls-cert: needs --tls-ca"));
  flags = {};
  flags.tls_server_name = "coordinator.example";
  EXPECT_THAT(Load(flags).status().message(), HasSubstr("--tls-server-name: needs --tls-ca"));
  flags.tls_ca = pem;
  auto security = Load(flags);
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_THAT(security->tls_ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_EQ(security->tls_server_name, "coordinator.example");
}

}  // namespace
}  // namespace segtune::common
