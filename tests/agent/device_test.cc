#include "segtune/agent/device.h"

#include <malloc.h>

#include <cstdlib>
#include <string>
#include <vector>

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

TEST(ResolveDevicesTest, OneDeviceIsWhatResolveDeviceGives) {
  EXPECT_EQ(ResolveDevices("cpu", 2).value(), std::vector<std::string>{"cpu"});
  EXPECT_EQ(ResolveDevices("auto", 0).value(), std::vector<std::string>{"cpu"});
  EXPECT_EQ(ResolveDevices("cuda", 2).value(), std::vector<std::string>{"cuda:0"});
  EXPECT_EQ(ResolveDevices("cuda:1", 2).value(), std::vector<std::string>{"cuda:1"});
}

TEST(ResolveDevicesTest, AllIsEveryCudaDevice) {
  EXPECT_EQ(ResolveDevices("all", 3).value(), (std::vector<std::string>{"cuda:0", "cuda:1", "cuda:2"}));
  const auto none = ResolveDevices("all", 0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("--device all"), std::string::npos);
}

TEST(ResolveDevicesTest, AListKeepsItsOrder) {
  EXPECT_EQ(ResolveDevices("cuda:2,cuda:0", 4).value(), (std::vector<std::string>{"cuda:2", "cuda:0"}));
  EXPECT_EQ(ResolveDevices("cuda,cuda:1", 2).value(), (std::vector<std::string>{"cuda:0", "cuda:1"}));
}

TEST(ResolveDevicesTest, RejectsBadListsNamingTheBadPart) {
  const struct {
    const char* flag;
    const char* named;
  } cases[] = {
      {"cuda:0,cuda:7", "--device cuda:7"},  // beyond the device count
      {"cuda:0,cuda:0", "listed twice"},     // one device twice: that is --slots-per-device
      {"cuda:0,cuda", "listed twice"},       // the same device, spelt differently
      {"cuda:0,cpu", "CUDA devices only"},   // cpu stands alone
      {"all,cuda:1", "CUDA devices only"},
      {"cuda:0,", "--device :"},             // an empty item
      {"cuda:0,gpu1", "--device gpu1"},
  };
  for (const auto& bad : cases) {
    const auto devices = ResolveDevices(bad.flag, 4);
    ASSERT_FALSE(devices.ok()) << bad.flag;
    EXPECT_EQ(devices.status().code(), absl::StatusCode::kInvalidArgument) << bad.flag;
    EXPECT_NE(devices.status().message().find(bad.named), std::string::npos)
        << bad.flag << ": " << devices.status().message();
  }
  EXPECT_FALSE(ResolveDevices("cuda:0,cuda:1", 0).ok());  // no CUDA at all
}

TEST(SlotDevicesTest, DealsSlotsRoundRobin) {
  EXPECT_EQ(SlotDevices({"cpu"}, 3), (std::vector<std::string>{"cpu", "cpu", "cpu"}));
  EXPECT_EQ(SlotDevices({"cuda:0", "cuda:1"}, 1), (std::vector<std::string>{"cuda:0", "cuda:1"}));
  EXPECT_EQ(SlotDevices({"cuda:0", "cuda:1"}, 2),
            (std::vector<std::string>{"cuda:0", "cuda:1", "cuda:0", "cuda:1"}));
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
