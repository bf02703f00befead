// Multi-device workers at the API: the new request fields are validated
// (INVALID_ARGUMENT naming the field) and Tuner.ListWorkers shows each
// device's slots and usage, against an in-process coordinator on loopback.
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "in_process_coordinator.h"
#include "request_checks.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

using segtune::testing::IsError;

::testing::AssertionResult IsInvalid(const absl::Status& status, const std::string& part) {
  if (status.code() == absl::StatusCode::kInvalidArgument && status.message().find(part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "got " << status << "; wanted INVALID_ARGUMENT with \"" << part << "\"";
}
::testing::AssertionResult IsInvalid(const grpc::Status& status, const std::string& part) {
  return IsError(status, grpc::StatusCode::INVALID_ARGUMENT, part);
}

v1::RegisterWorkerRequest TwoGpuWorker() {
  v1::RegisterWorkerRequest request;
  request.set_name("gpus");
  request.set_hostname("host");
  request.set_device("cuda:0,cuda:1");
  request.set_slots(3);
  for (const char* device : {"cuda:0", "cuda:0", "cuda:1"}) request.add_slot_devices(device);
  return request;
}

TEST(DeviceChecksTest, SlotDevicesAreEmptyOrOnePerSlotEachNamed) {
  EXPECT_TRUE(CheckRegistration(TwoGpuWorker()).ok());
  v1::RegisterWorkerRequest old_worker = TwoGpuWorker();
  old_worker.clear_slot_devices();
  EXPECT_TRUE(CheckRegistration(old_worker).ok());
  v1::RegisterWorkerRequest request = TwoGpuWorker();
  request.add_slot_devices("cuda:1");
  EXPECT_TRUE(
      IsInvalid(CheckRegistration(request), "slot_devices: must be empty or have one entry per slot (3), got 4"));
  request = TwoGpuWorker();
  request.set_slot_devices(1, "");
  EXPECT_TRUE(IsInvalid(CheckRegistration(request), "slot_devices: an entry is empty"));
  request = TwoGpuWorker();
  request.set_slot_devices(2, std::string(kMaxDeviceLength + 1, 'd'));
  EXPECT_TRUE(IsInvalid(CheckRegistration(request), "slot_devices: longer than 64 characters"));
}

TEST(DeviceChecksTest, AWorkerWithSixteenGpusRegisters) {
  // `segtune-worker --device all` on a 16-GPU node: `device` lists them all.
  v1::RegisterWorkerRequest request;
  request.set_name("big-node");
  request.set_hostname("big-node");
  std::string all;
  for (int gpu = 0; gpu < 16; ++gpu) {
    const std::string device = "cuda:" + std::to_string(gpu);
    all += (gpu == 0 ? "" : ",") + device;
    request.add_slot_devices(device);
  }
  request.set_device(all);
  request.set_slots(16);
  EXPECT_GT(all.size(), kMaxDeviceLength);
  EXPECT_TRUE(CheckRegistration(request).ok()) << CheckRegistration(request);
}

TEST(DeviceChecksTest, AcquireSlotIsNotNegative) {
  v1::AcquireTrialRequest request;
  request.set_worker_id("w-1");
  request.set_slot(3);
  EXPECT_TRUE(CheckAcquire(request).ok());
  request.set_slot(-1);
  EXPECT_TRUE(IsInvalid(CheckAcquire(request), "slot: must be in [0, 1024), got -1"));
  request.set_slot(kMaxSlots);
  EXPECT_TRUE(IsInvalid(CheckAcquire(request), "slot:"));
  request.set_slot(0);
  request.set_wait_ms(-1);
  EXPECT_TRUE(IsInvalid(CheckAcquire(request), "wait_ms"));
}

TEST(DeviceChecksTest, HeartbeatSlotTimesAreInRangeFiniteAndNotNegative) {
  v1::HeartbeatRequest request;
  request.set_worker_id("w-1");
  v1::SlotUsage* usage = request.add_slots();
  usage->set_slot(1);
  usage->set_training_seconds(12.5);
  EXPECT_TRUE(CheckHeartbeat(request).ok());
  usage->set_slot(-1);
  EXPECT_TRUE(IsInvalid(CheckHeartbeat(request), "slots.slot: must be in [0, 1024), got -1"));
  usage->set_slot(0);
  for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    usage->set_training_seconds(bad);
    EXPECT_TRUE(IsInvalid(CheckHeartbeat(request), "slots.training_seconds: must be finite and >= 0"));
  }
  usage->set_training_seconds(0);
  for (int i = 0; i < kMaxSlots; ++i) request.add_slots()->set_slot(0);
  EXPECT_TRUE(IsInvalid(CheckHeartbeat(request), "slots: more than 1024 entries"));
}

class DevicesRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start());
    const std::string spec = segtune::testing::TinyGridSpec("devices", "{epochs: 1}", "[0.1, 0.2, 0.3, 0.4]");
    ASSERT_TRUE(server_.SubmitSweep(spec).ok());
  }

  std::string Register(const v1::RegisterWorkerRequest& request) {
    std::string worker_id;
    const grpc::Status status = server_.RegisterWorker(request, &worker_id);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return worker_id;
  }
  grpc::Status Acquire(const std::string& worker_id, int slot) {
    v1::AcquireTrialResponse response;
    return server_.AcquireTrial(worker_id, &response, slot);
  }
  grpc::Status Heartbeat(const std::string& worker_id, const std::vector<std::pair<int, double>>& slots) {
    grpc::ClientContext context;
    v1::HeartbeatRequest request;
    request.set_worker_id(worker_id);
    for (const auto& [slot, seconds] : slots) {
      v1::SlotUsage* usage = request.add_slots();
      usage->set_slot(slot);
      usage->set_training_seconds(seconds);
    }
    v1::HeartbeatResponse response;
    return server_.hub().Heartbeat(&context, request, &response);
  }
  v1::Worker Listed(const std::string& worker_id) {
    grpc::ClientContext context;
    v1::ListWorkersResponse response;
    EXPECT_TRUE(server_.tuner().ListWorkers(&context, v1::ListWorkersRequest(), &response).ok());
    for (const v1::Worker& worker : response.workers()) {
      if (worker.worker_id() == worker_id) return worker;
    }
    ADD_FAILURE() << "worker " << worker_id << " not listed";
    return {};
  }

  segtune::testing::InProcessCoordinator server_{"segtune-devices-rpc"};
};

TEST_F(DevicesRpcTest, InvalidSlotFieldsAreRefusedNamingTheField) {
  v1::RegisterWorkerRequest request = TwoGpuWorker();
  request.add_slot_devices("cuda:1");
  EXPECT_TRUE(IsInvalid(server_.RegisterWorker(request), "slot_devices:"));

  const std::string worker_id = Register(TwoGpuWorker());
  // Beyond this worker's 3 slots: only the scheduler knows them.
  EXPECT_TRUE(IsInvalid(Acquire(worker_id, 3), "slot: must be in [0, 3)"));
  EXPECT_TRUE(IsInvalid(Acquire(worker_id, -2), "slot:"));
  EXPECT_TRUE(IsInvalid(Heartbeat(worker_id, {{3, 1.0}}), "slots.slot: must be in [0, 3)"));
  EXPECT_TRUE(IsInvalid(Heartbeat(worker_id, {{0, -1.0}}), "slots.training_seconds"));
  EXPECT_TRUE(Acquire(worker_id, 2).ok());
}

TEST_F(DevicesRpcTest, ListWorkersShowsEachDeviceWithItsBusySlotsAndUsage) {
  const std::string worker_id = Register(TwoGpuWorker());
  ASSERT_TRUE(Acquire(worker_id, 2).ok());
  ASSERT_TRUE(Heartbeat(worker_id, {{0, 0}, {1, 0}, {2, 0}}).ok());
  // Utilization needs two heartbeats some time apart (real time here).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(Heartbeat(worker_id, {{0, 0}, {1, 0}, {2, 0.1}}).ok());

  const v1::Worker worker = Listed(worker_id);
  EXPECT_EQ(worker.device(), "cuda:0,cuda:1");
  EXPECT_EQ(worker.busy_slots(), 1);
  ASSERT_EQ(worker.devices_size(), 2);
  EXPECT_EQ(worker.devices(0).device(), "cuda:0");
  EXPECT_EQ(worker.devices(0).slots(), 2);
  EXPECT_EQ(worker.devices(0).busy_slots(), 0);
  EXPECT_EQ(worker.devices(0).utilization(), 0);
  EXPECT_EQ(worker.devices(1).device(), "cuda:1");
  EXPECT_EQ(worker.devices(1).slots(), 1);
  EXPECT_EQ(worker.devices(1).busy_slots(), 1);
  // 0.1 s of training in the interval (at least 0.2 s): above 0, at most 1/2.
  EXPECT_GT(worker.devices(1).utilization(), 0);
  EXPECT_LE(worker.devices(1).utilization(), 0.5);
  EXPECT_DOUBLE_EQ(worker.devices(1).training_seconds(), 0.1);
}

TEST_F(DevicesRpcTest, OldAndDeregisteredWorkersListTheirDeviceSlots) {
  v1::RegisterWorkerRequest old_worker;
  old_worker.set_name("old");
  old_worker.set_device("cpu");
  old_worker.set_slots(2);
  const std::string old_id = Register(old_worker);
  // Old workers ask on slot 0 for each of their slots.
  ASSERT_TRUE(Acquire(old_id, 0).ok());
  ASSERT_TRUE(Acquire(old_id, 0).ok());
  v1::Worker listed = Listed(old_id);
  ASSERT_EQ(listed.devices_size(), 1);
  EXPECT_EQ(listed.devices(0).device(), "cpu");
  EXPECT_EQ(listed.devices(0).slots(), 2);
  EXPECT_EQ(listed.devices(0).busy_slots(), 2);

  const std::string gone_id = Register(TwoGpuWorker());
  grpc::ClientContext context;
  v1::DeregisterWorkerRequest request;
  request.set_worker_id(gone_id);
  v1::DeregisterWorkerResponse response;
  ASSERT_TRUE(server_.hub().DeregisterWorker(&context, request, &response).ok());
  listed = Listed(gone_id);
  EXPECT_FALSE(listed.alive());
  ASSERT_EQ(listed.devices_size(), 2);  // from the stored record
  EXPECT_EQ(listed.devices(0).slots(), 2);
  EXPECT_EQ(listed.devices(1).busy_slots(), 0);
}

}  // namespace
}  // namespace segtune::api
