#include "segtune/client/address.h"

#include <gtest/gtest.h>

namespace segtune::client {
namespace {

TEST(ResolveServerAddressTest, FlagWinsOverEnvironment) {
  auto address = ResolveServerAddress(std::string("flag-host:1"), std::string("env-host:2"));
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "flag-host:1");
}

TEST(ResolveServerAddressTest, EnvironmentWinsOverDefault) {
  auto address = ResolveServerAddress(std::nullopt, std::string("env-host:2"));
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "env-host:2");
}

TEST(ResolveServerAddressTest, DefaultWhenNeitherIsSet) {
  auto address = ResolveServerAddress(std::nullopt, std::nullopt);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:50051");
}

TEST(ResolveServerAddressTest, EmptyEnvironmentCountsAsUnset) {
  auto address = ResolveServerAddress(std::nullopt, std::string(""));
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, kDefaultServerAddress);
}

TEST(ResolveServerAddressTest, EmptyFlagIsAnErrorNamingTheFlag) {
  auto address = ResolveServerAddress(std::string(""), std::string("env-host:2"));
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(address.status().message().find("--server"), std::string::npos);
}

TEST(ResolveServerAddressTest, WhitespaceIsAnErrorNamingItsSource) {
  auto address = ResolveServerAddress(std::nullopt, std::string("host :2"));
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(address.status().message().find("SEGTUNE_SERVER"), std::string::npos);
}

}  // namespace
}  // namespace segtune::client
