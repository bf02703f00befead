// TLS between clients (common::MakeChannel) and a real in-process
// coordinator, with certificates made by the openssl command line.
#include <filesystem>
#include <random>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "rpc_probe.h"
#include "segtune/api/coordinator.h"
#include "segtune/api/security.h"
#include "segtune/common/channel.h"
#include "test_certificates.h"

namespace segtune::api {
namespace {

namespace fs = std::filesystem;
using segtune::testing::CertificateFiles;
using segtune::testing::ProbeMethod;
using segtune::testing::ReadText;

constexpr char kListSweeps[] = "/segtune.v1.Tuner/ListSweeps";
constexpr char kSubmitSweep[] = "/segtune.v1.Tuner/SubmitSweep";
constexpr char kReadToken[] = "read-0123456789abcdef";

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("segtune-tls-" + std::to_string(std::random_device{}())));
    ASSERT_TRUE(segtune::testing::MakeCertificates(*root_ / "ours", &ours_))
        << ReadText((*root_ / "ours" / "openssl.log").string());
    ASSERT_TRUE(segtune::testing::MakeCertificates(*root_ / "theirs", &theirs_))
        << ReadText((*root_ / "theirs" / "openssl.log").string());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  void TearDown() override {
    if (coordinator_) coordinator_->Shutdown();
    coordinator_.reset();
  }

  void Start(bool require_client_certificates, std::vector<TokenGrant> tokens = {}) {
    const fs::path dir = *root_ / ("db-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    CoordinatorOptions options;
    options.listen = "127.0.0.1:0";
    options.db_path = (dir / "segtune.db").string();
    options.data_dir = dir.string();
    options.tokens = std::move(tokens);
    auto tls = LoadServerTls(ours_.server_cert, ours_.server_key, require_client_certificates ? ours_.ca : "");
    ASSERT_TRUE(tls.ok()) << tls.status();
    options.tls = *std::move(tls);
    auto started = Coordinator::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    coordinator_ = *std::move(started);
  }
  // A client trusting our CA, presenting `certificate`'s client certificate when given.
  grpc::Status ListSweeps(const CertificateFiles* certificate, const std::string& method = kListSweeps,
                          const std::string& token = "") {
    common::ClientSecurityFlags flags;
    flags.tls_ca = ours_.ca;
    if (certificate != nullptr) {
      flags.tls_cert = certificate->client_cert;
      flags.tls_key = certificate->client_key;
    }
    auto security = common::LoadClientSecurity(flags, [](const char*) { return std::nullopt; });
    EXPECT_TRUE(security.ok()) << security.status();
    security->token = token;
    return ProbeMethod(common::MakeChannel(coordinator_->address(), *security), method);
  }

  static fs::path* root_;
  static CertificateFiles ours_;
  static CertificateFiles theirs_;
  std::unique_ptr<Coordinator> coordinator_;
};

fs::path* TlsTest::root_ = nullptr;
CertificateFiles TlsTest::ours_;
CertificateFiles TlsTest::theirs_;

TEST_F(TlsTest, ATlsClientReachesATlsServer) {
  Start(/*require_client_certificates=*/false);
  const grpc::Status status = ListSweeps(nullptr);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
}

TEST_F(TlsTest, TheServerNameCanBeOverridden) {
  Start(/*require_client_certificates=*/false);
  common::ClientSecurity security;
  security.tls_ca_pem = ReadText(ours_.ca);
  security.tls_server_name = "localhost";
  grpc::Status status = ProbeMethod(common::MakeChannel(coordinator_->address(), security), kListSweeps);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  security.tls_server_name = "elsewhere.example";  // not in the certificate
  status = ProbeMethod(common::MakeChannel(coordinator_->address(), security), kListSweeps);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, APlaintextClientCannotTalkToATlsServer) {
  Start(/*require_client_certificates=*/false);
  const grpc::Status status = ProbeMethod(common::MakeChannel(coordinator_->address(), {}), kListSweeps);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, AServerFromAnotherCaIsNotTrusted) {
  Start(/*require_client_certificates=*/false);
  common::ClientSecurity security;
  security.tls_ca_pem = ReadText(theirs_.ca);
  const grpc::Status status = ProbeMethod(common::MakeChannel(coordinator_->address(), security), kListSweeps);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsTest, RequiredClientCertificatesAreChecked) {
  Start(/*require_client_certificates=*/true);
  grpc::Status status = ListSweeps(&ours_);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  status = ListSweeps(nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << "no client certificate: " << status.error_message();
  status = ListSweeps(&theirs_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << "another CA's certificate: "
                                                                 << status.error_message();
}

TEST_F(TlsTest, TokensWorkOverTls) {
  Start(/*require_client_certificates=*/true, {{Role::kRead, kReadToken}});
  grpc::Status status = ListSweeps(&ours_, kListSweeps, kReadToken);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  status = ListSweeps(&ours_, kSubmitSweep, kReadToken);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  status = ListSweeps(&ours_, kListSweeps, "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

}  // namespace
}  // namespace segtune::api
