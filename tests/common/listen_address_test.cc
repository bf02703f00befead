#include "segtune/common/listen_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace segtune::common {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, AcceptsAnIpv4AddressOrAHostNameWithAPort) {
  for (const char* address : {"127.0.0.1:9464", "0.0.0.0:0", "localhost:65535", "metrics-1.example:80"}) {
    EXPECT_TRUE(ValidateListenAddress("--metrics-listen", address).ok()) << address;
  }
}

TEST(ListenAddressTest, RejectsEveryOtherFormNamingTheFlagAndTheValue) {
  for (const char* address : {"", "9464", "127.0.0.1", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:abc",
                              "127.0.0.1:9464s", "999.1.1.1:9464", "[::1]:9464", "127.0.0.1:1,127.0.0.1:2",
                              "127.0.0.1:-1", "host name:80"}) {
    const absl::Status status = ValidateListenAddress("--metrics-listen", address);
    ASSERT_FALSE(status.ok()) << address;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(std::string(status.message()), HasSubstr(std::string("--metrics-listen '") + address + "'"));
  }
}

}  // namespace
}  // namespace segtune::common
