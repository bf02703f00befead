// Slots on several devices: where the scheduler counts each lease, the
// per-device busy slots and the utilization measured from heartbeats.
#include <gtest/gtest.h>

#include "scheduler_fixture.h"
#include "segtune/scheduler/scheduler.h"

namespace segtune::scheduler {
namespace {

// Eight trials, one epoch each.
constexpr const char* kSpec =
    "name: device-test\n"
    "objective: {metric: val_miou, mode: max}\n"
    "budget: {epochs: 1}\n"
    "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
    "model: {arch: unet, base_channels: 4, depth: 2}\n"
    "search:\n"
    "  algorithm: grid\n"
    "  space:\n"
    "    optimizer:\n"
    "      - {name: SGD, lr: [0.1, 0.01, 0.001, 0.0001]}\n"
    "    scheduler:\n"
    "      - {name: StepLR, step_size: 1}\n"
    "      - {name: ExponentialLR, gamma: 0.9}\n";

class DeviceUsageTest : public SchedulerTest {
 protected:
  void SetUp() override {
    SchedulerTest::SetUp();
    ASSERT_TRUE(scheduler_->Submit(kSpec).ok());
  }
  // Two slots on cuda:0, then two on cuda:1.
  std::string RegisterTwoGpus() {
    store::WorkerRecord worker;
    worker.name = "gpus";
    worker.device = "cuda:0,cuda:1";
    worker.slots = 4;
    worker.slot_devices = {"cuda:0", "cuda:0", "cuda:1", "cuda:1"};
    auto registered = scheduler_->RegisterWorker(worker);
    EXPECT_TRUE(registered.ok()) << registered.status();
    return registered.ok() ? registered->worker_id : "";
  }
  Assignment AcquireOn(const std::string& worker_id, int slot) {
    auto assignment = scheduler_->TryAcquire(worker_id, slot);
    EXPECT_TRUE(assignment.ok()) << assignment.status();
    if (!assignment.ok() || !assignment->has_value()) {
      ADD_FAILURE() << "no trial for slot " << slot;
      return {};
    }
    return **assignment;
  }
  std::vector<DeviceUsage> Devices(const std::string& worker_id) {
    return scheduler_->LiveWorkers().at(worker_id).devices;
  }
  // {device: busy/slots}, to compare in one line.
  std::map<std::string, std::string> Busy(const std::string& worker_id) {
    std::map<std::string, std::string> busy;
    for (const DeviceUsage& device : Devices(worker_id)) {
      busy[device.device] = std::to_string(device.busy_slots) + "/" + std::to_string(device.slots);
    }
    return busy;
  }
};

TEST_F(DeviceUsageTest, DevicesAreListedInTheOrderTheirSlotsFirstUseThem) {
  store::WorkerRecord worker;
  worker.device = "cuda:1,cuda:0";
  worker.slots = 3;
  worker.slot_devices = {"cuda:1", "cuda:0", "cuda:1"};
  const std::string id = scheduler_->RegisterWorker(worker)->worker_id;
  const std::vector<DeviceUsage> devices = Devices(id);
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[0].device, "cuda:1");
  EXPECT_EQ(devices[0].slots, 2);
  EXPECT_EQ(devices[1].device, "cuda:0");
  EXPECT_EQ(devices[1].slots, 1);
}

TEST_F(DeviceUsageTest, EachLeaseIsCountedOnTheDeviceOfItsSlot) {
  const std::string worker = RegisterTwoGpus();
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "0/2"}, {"cuda:1", "0/2"}}));
  AcquireOn(worker, 2);
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "0/2"}, {"cuda:1", "1/2"}}));
  const Assignment first = AcquireOn(worker, 0);
  AcquireOn(worker, 1);
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "2/2"}, {"cuda:1", "1/2"}}));
  // The stats monitoring reads agree.
  const SchedulerStats stats = scheduler_->Stats();
  ASSERT_EQ(stats.devices.count(worker), 1u);
  EXPECT_EQ(stats.devices.at(worker).at(0).busy_slots, 2);
  EXPECT_EQ(stats.devices.at(worker).at(1).busy_slots, 1);
  // A finished trial frees its device's slot.
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, first.trial_id, first.attempt, 1, {{"val_miou", 0.5}}).ok());
  ASSERT_TRUE(scheduler_->FinishTrial(worker, first.trial_id, first.attempt, TrialState::kCompleted, "").ok());
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "1/2"}, {"cuda:1", "1/2"}}));
}

TEST_F(DeviceUsageTest, SlotAskingAgainIsServedWithoutCountingPastTheDevicesSlots) {
  const std::string worker = RegisterTwoGpus();
  AcquireOn(worker, 0);
  // Slot 0 asks again (its FinishTrial gave up): it gets a trial, counted on
  // cuda:0's other slot while that one is free...
  AcquireOn(worker, 0);
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "2/2"}, {"cuda:1", "0/2"}}));
  // ...and once cuda:0 is full, never beyond its slots nor on cuda:1.
  AcquireOn(worker, 0);
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "2/2"}, {"cuda:1", "0/2"}}));
  EXPECT_EQ(scheduler_->LiveWorkers().at(worker).running_trial_ids.size(), 3u);
  // The worker's slot count still caps its leases.
  AcquireOn(worker, 3);
  auto none = scheduler_->TryAcquire(worker, 2);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

TEST_F(DeviceUsageTest, SlotOutOfRangeIsInvalidArgumentNamingSlot) {
  const std::string worker = RegisterTwoGpus();
  for (int slot : {-1, 4}) {
    auto acquired = scheduler_->TryAcquire(worker, slot);
    ASSERT_FALSE(acquired.ok());
    EXPECT_EQ(acquired.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(acquired.status().message().rfind("slot:", 0), 0u) << acquired.status();
  }
  EXPECT_TRUE(scheduler_->LiveWorkers().at(worker).running_trial_ids.empty());
  auto heartbeat = scheduler_->Heartbeat(worker, {}, {{4, 1.0}});
  ASSERT_FALSE(heartbeat.ok());
  EXPECT_EQ(heartbeat.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(heartbeat.status().message().rfind("slots.slot:", 0), 0u) << heartbeat.status();
  heartbeat = scheduler_->Heartbeat(worker, {}, {{1, 1.0}, {1, 2.0}});
  ASSERT_FALSE(heartbeat.ok());
  EXPECT_EQ(heartbeat.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(heartbeat.status().message().find("twice"), std::string_view::npos) << heartbeat.status();
}

TEST_F(DeviceUsageTest, UtilizationComesFromTheLastTwoHeartbeats) {
  const std::string worker = RegisterTwoGpus();
  ASSERT_TRUE(scheduler_->Heartbeat(worker, {}, {{0, 100}, {1, 50}, {2, 10}, {3, 10}}).ok());
  // One heartbeat: no interval yet, and nothing trained since the first sample.
  for (const DeviceUsage& device : Devices(worker)) {
    EXPECT_EQ(device.utilization, 0) << device.device;
    EXPECT_EQ(device.training_seconds, 0) << device.device;
  }
  now_ms_ += 10'000;
  // In 10 s, cuda:0's slots trained 10 s and 5 s (75% of 20 slot-seconds);
  // cuda:1's one slot 10 s and the other none (50%).
  ASSERT_TRUE(scheduler_->Heartbeat(worker, {}, {{0, 110}, {1, 55}, {2, 20}, {3, 10}}).ok());
  std::vector<DeviceUsage> devices = Devices(worker);
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_DOUBLE_EQ(devices[0].utilization, 0.75);
  EXPECT_DOUBLE_EQ(devices[0].training_seconds, 15);
  EXPECT_DOUBLE_EQ(devices[1].utilization, 0.5);
  EXPECT_DOUBLE_EQ(devices[1].training_seconds, 10);
  now_ms_ += 10'000;
  // Only the last interval counts; more training than wall time (a late
  // heartbeat) is clamped to 1; training_seconds adds up since the first.
  ASSERT_TRUE(scheduler_->Heartbeat(worker, {}, {{0, 110}, {1, 55}, {2, 40}, {3, 30}}).ok());
  devices = Devices(worker);
  EXPECT_DOUBLE_EQ(devices[0].utilization, 0);
  EXPECT_DOUBLE_EQ(devices[0].training_seconds, 15);
  EXPECT_DOUBLE_EQ(devices[1].utilization, 1);
  EXPECT_DOUBLE_EQ(devices[1].training_seconds, 50);
}

TEST_F(DeviceUsageTest, OldWorkerHasEverySlotOnItsDeviceAndNoUtilization) {
  // No slot_devices, every request on slot 0, heartbeats without slot times.
  const std::string worker = Register(/*slots=*/2);
  const Assignment first = Acquire(worker);
  Acquire(worker);
  const std::vector<DeviceUsage> devices = Devices(worker);
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].device, "");  // the fixture's workers name none
  EXPECT_EQ(devices[0].slots, 2);
  EXPECT_EQ(devices[0].busy_slots, 2);
  ASSERT_TRUE(scheduler_->Heartbeat(worker, {{first.trial_id, first.attempt}}).ok());
  now_ms_ += 10'000;
  ASSERT_TRUE(scheduler_->Heartbeat(worker, {{first.trial_id, first.attempt}}).ok());
  EXPECT_EQ(Devices(worker)[0].utilization, 0);
  EXPECT_EQ(Devices(worker)[0].training_seconds, 0);
}

TEST_F(DeviceUsageTest, RestartKeepsSlotDevicesAndCountsRecoveredLeases) {
  const std::string worker = RegisterTwoGpus();
  AcquireOn(worker, 2);
  AcquireOn(worker, 3);
  AcquireOn(worker, 0);
  OpenAll();  // the coordinator restarts; the worker carries on
  // Attempts do not record their slot: recovered leases fill the free slots
  // from slot 0, and the worker's devices come back from the store.
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "2/2"}, {"cuda:1", "1/2"}}));
  // Slot 1 asks: the lease guessed there moves to the free slot (on cuda:1).
  AcquireOn(worker, 1);
  EXPECT_EQ(Busy(worker), (std::map<std::string, std::string>{{"cuda:0", "2/2"}, {"cuda:1", "2/2"}}));
}

TEST_F(DeviceUsageTest, AWorkerKnownOnlyFromARecoveredLeaseIsToldToRegisterAgain) {
  // A running trial whose worker has no stored registration: after a
  // restart the scheduler knows that worker from the lease alone, with no
  // slots. Every call of that worker is NOT_FOUND (the agent registers
  // again), never an error the worker would stop on.
  const std::string worker = RegisterTwoGpus();
  const Assignment leased = AcquireOn(worker, 0);
  store::TrialRecord trial = *store_->GetTrial(leased.trial_id);
  trial.worker_id = "w-unstored";
  ASSERT_TRUE(store_->UpdateTrial(trial).ok());
  OpenAll();

  EXPECT_EQ(scheduler_->TryAcquire("w-unstored", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_->Heartbeat("w-unstored", {{leased.trial_id, leased.attempt}}, {{1, 5.0}}).status().code(),
            absl::StatusCode::kNotFound);
  // The lease runs out and the trial goes back to the queue.
  now_ms_ += 3 * 30000;
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(StateOf(leased.trial_id), TrialState::kPending);
}

TEST_F(DeviceUsageTest, IdleDevicesOfARecordWithoutSlotDevicesAreItsDevice) {
  store::WorkerRecord worker;
  worker.device = "cpu";
  worker.slots = 3;
  const std::vector<DeviceUsage> devices = IdleDevices(worker);
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].device, "cpu");
  EXPECT_EQ(devices[0].slots, 3);
  EXPECT_EQ(devices[0].busy_slots, 0);
  worker.slot_devices = {"cuda:0", "cuda:1", "cuda:0"};
  EXPECT_EQ(SlotDevices(worker), worker.slot_devices);
}

}  // namespace
}  // namespace segtune::scheduler
