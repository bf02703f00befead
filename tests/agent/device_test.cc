#include "segtune/agent/device.h"

#include <malloc.h>

#include <cstdlib>

#include <gtest/gtest.h>

namespace segtune::agent {
namespace {

TEST(ResolveDeviceTest, AutoPicksCudaOnlyWhenPresent) {
  EXPECT_EQ(ResolveDevice("auto", 0).value(), "cpu");
  EXPECT_EQ(ResolveDevice("auto", 2).value(), "cuda:0");
}

TEST(ResolveDeviceTest, AcceptsCpuAndExistingCudaDevices) {
  EXPECT_EQ(ResolveDevice("cpu", 0).value(), "cpu");
  EXPECT_EQ(ResolveDevice("cpu", 1).value(), "cpu");
  EXPECT_EQ(ResolveDevice("cuda", 1).value(), "cuda:0");
  EXPECT_EQ(ResolveDevice("cuda:1", 2).value(), "cuda:1");
}

TEST(ResolveDeviceTest, RejectsCudaWithoutDevices) {
  const auto device = ResolveDevice("cuda:0", 0);
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(device.status().message().find("--device cuda:0"), std::string::npos);
  EXPECT_NE(device.status().message().find("CUDA is not available"), std::string::npos);
  EXPECT_FALSE(ResolveDevice("cuda", 0).ok());
}

TEST(ResolveDeviceTest, RejectsIndexBeyondDeviceCount) {
  const auto device = ResolveDevice("cuda:2", 2);
  ASSERT_FALSE(device.ok());
  EXPECT_NE(device.status().message().find("cuda:0 to cuda:1"), std::string::npos);
}

TEST(ResolveDeviceTest, RejectsMalformedValues) {
  for (const char* flag : {"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "cuda: 1", "cuda0"}) {
    const auto device = ResolveDevice(flag, 4);
    ASSERT_FALSE(device.ok()) << flag;
    EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument) << flag;
    EXPECT_NE(device.status().message().find("--device"), std::string::npos) << flag;
  }
}

TEST(ConfigureTorchThreadsTest, RejectsFewerThanOneThread) {
  EXPECT_EQ(ConfigureTorchThreads(0).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigureAllocatorTest, KeepsLargeBlocksInTheHeap) {
  ConfigureAllocator();
  const size_t mmapped_before = mallinfo2().hblks;
  // Over glibc's default 128 KiB threshold, under ours; volatile and a write
  // so that the compiler keeps the malloc/free pair.
  char* volatile block = static_cast<char*>(std::malloc(16 << 20));
  ASSERT_NE(block, nullptr);
  block[0] = 1;
  EXPECT_EQ(mallinfo2().hblks, mmapped_before);
  std::free(block);
}

}  // namespace
}  // namespace segtune::agent
