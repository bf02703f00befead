// Bearer-token authorization: the tokens file format, and every method of
// Tuner and WorkerHub called with no token, an unknown one and each role's,
// against a real in-process coordinator.
#include <set>

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "in_process_coordinator.h"
#include "rpc_probe.h"
#include "segtune/api/security.h"
#include "segtune/common/channel.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

using segtune::testing::ProbeMethod;

constexpr char kAdminToken[] = "admin-0123456789abcdef";
constexpr char kReadToken[] = "read-0123456789abcdef";
constexpr char kWorkerToken[] = "worker-0123456789abcdef";

TEST(ParseTokensTest, ReadsGrantsSkippingCommentsAndBlankLines) {
  auto grants = ParseTokens("# team tokens\n\nadmin  admin-0123456789abcdef\n  read\tread-0123456789abcdef  \n"
                            "worker worker-0123456789abcdef",
                            "tokens.txt");
  ASSERT_TRUE(grants.ok()) << grants.status();
  ASSERT_EQ(grants->size(), 3u);
  EXPECT_EQ((*grants)[0].role, Role::kAdmin);
  EXPECT_EQ((*grants)[0].token, kAdminToken);
  EXPECT_EQ((*grants)[1].role, Role::kRead);
  EXPECT_EQ((*grants)[1].token, kReadToken);
  EXPECT_EQ((*grants)[2].role, Role::kWorker);
}

TEST(ParseTokensTest, ErrorsNameTheSourceAndLineButNotTheToken) {
  const struct {
    const char* text;
    const char* expected;
  } cases[] = {
      {"admin admin-0123456789abcdef\nroot root-0123456789abcdef\n", "tokens.txt:2: unknown role 'root'"},
      {"read\n", "tokens.txt:1: missing token"},
      {"# short\nworker short-token\n", "tokens.txt:2: token shorter than 16 characters"},
      {"read read-0123456789abcdef\nadmin read-0123456789abcdef\n", "tokens.txt:2: duplicate token"},
      {"read read-0123456789abcdef extra\n", "tokens.txt:1: more than 'ROLE TOKEN'"},
  };
  for (const auto& c : cases) {
    auto grants = ParseTokens(c.text, "tokens.txt");
    ASSERT_FALSE(grants.ok()) << c.text;
    EXPECT_EQ(grants.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(grants.status().message().find(c.expected), absl::string_view::npos) << grants.status();
    EXPECT_EQ(grants.status().message().find("0123456789abcdef"), absl::string_view::npos) << grants.status();
  }
}

TEST(LoadServerTlsTest, FlagsComeInPairsAndFilesMustBePem) {
  EXPECT_TRUE(LoadServerTls("", "", "").ok());
  EXPECT_NE(LoadServerTls("cert.pem", "", "").status().message().find("--tls-cert and --tls-key"),
            absl::string_view::npos);
  EXPECT_NE(LoadServerTls("", "", "ca.pem").status().message().find("--tls-client-ca: needs --tls-cert"),
            absl::string_view::npos);
  EXPECT_NE(LoadServerTls("/no/such/cert.pem", "/no/such/key.pem", "").status().message().find(
                "--tls-cert: cannot read /no/such/cert.pem"),
            absl::string_view::npos);
}

// Who the test expects may call what, written out independently of the
// server's table. Tuner methods not listed as reads are admin-only.
const std::set<std::string>& ReadMethods() {
  static const std::set<std::string> methods = {"GetSweep",   "ListSweeps",  "ListTrials",   "GetTrialMetrics",
                                                "GetBest",    "WatchSweep",  "ListWorkers", "ExportWeights"};
  return methods;
}

class AuthorizationTest : public ::testing::Test {
 protected:
  void Start(std::vector<TokenGrant> tokens) {
    CoordinatorOptions options;
    options.tokens = std::move(tokens);
    ASSERT_TRUE(server_.Start(options));
  }
  std::shared_ptr<grpc::Channel> Channel(const std::string& token) {
    common::ClientSecurity security;
    security.token = token;
    return common::MakeChannel(server_.coordinator().address(), security);
  }

  segtune::testing::InProcessCoordinator server_{"segtune-security"};
};

TEST_F(AuthorizationTest, EveryMethodChecksTheTokenAndItsRole) {
  Start({{Role::kAdmin, kAdminToken}, {Role::kRead, kReadToken}, {Role::kWorker, kWorkerToken}});
  const auto none = Channel("");
  const auto unknown = Channel("unknown-0123456789abcdef");
  const std::map<std::string, std::shared_ptr<grpc::Channel>> roles = {
      {"admin", Channel(kAdminToken)}, {"read", Channel(kReadToken)}, {"worker", Channel(kWorkerToken)}};
  int methods = 0;
  for (const char* service_name : {v1::Tuner::service_full_name(), v1::WorkerHub::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_name);
    ASSERT_NE(service, nullptr);
    const bool tuner = std::string(service_name) == v1::Tuner::service_full_name();
    for (int i = 0; i < service->method_count(); ++i, ++methods) {
      const std::string name = service->method(i)->name();
      const std::string method = "/" + std::string(service_name) + "/" + name;
      SCOPED_TRACE(method);
      grpc::Status status = ProbeMethod(none, method);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
      EXPECT_EQ(status.error_message(), "missing bearer token");
      status = ProbeMethod(unknown, method);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
      EXPECT_EQ(status.error_message(), "unknown token");
      for (const auto& [role, channel] : roles) {
        SCOPED_TRACE(role);
        const bool allowed = tuner ? (role == "admin" || (role == "read" && ReadMethods().count(name) > 0))
                                   : role == "worker";
        status = ProbeMethod(channel, method);
        if (allowed) {
          EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
          EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
          EXPECT_NE(status.error_message().find("a " + role + " token may not call " + method), std::string::npos)
              << status.error_message();
        }
      }
    }
  }
  EXPECT_GE(methods, 18);
}

TEST_F(AuthorizationTest, HealthNeedsNoToken) {
  Start({{Role::kAdmin, kAdminToken}});
  const grpc::Status status = ProbeMethod(Channel(""), "/grpc.health.v1.Health/Check");
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
}

TEST_F(AuthorizationTest, WithoutTokensEveryCallIsAllowed) {
  Start({});
  const grpc::Status status = ProbeMethod(Channel(""), "/segtune.v1.Tuner/ListSweeps");
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
}

}  // namespace
}  // namespace segtune::api
