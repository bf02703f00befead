// The scheduler test fixture: a Scheduler over a fresh SQLite store and
// checkpoint store in a temporary directory, with a clock the test moves;
// OpenAll() again is a coordinator restart.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "segtune/scheduler/scheduler.h"
#include "segtune/store/checkpoint_store.h"
#include "segtune/store/store.h"

namespace segtune::scheduler {

using store::TrialState;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("segtune-scheduler-test-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    OpenAll();
  }
  void TearDown() override {
    scheduler_.reset();
    store_.reset();
    checkpoints_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenAll() {
    scheduler_.reset();
    store_.reset();
    checkpoints_.reset();
    auto store = store::Store::Open((dir_ / "segtune.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto checkpoints = store::CheckpointStore::Open((dir_ / "checkpoints").string());
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
    checkpoints_ = std::move(*checkpoints);
    SchedulerOptions options;
    options.lease_ms = 30000;
    options.now_ms = [this] { return now_ms_; };
    options.checkpoints = checkpoints_.get();
    options.on_trial_scheduled = [this](double seconds) { scheduled_seconds_.push_back(seconds); };
    scheduler_ = std::make_unique<Scheduler>(store_.get(), options);
    ASSERT_TRUE(scheduler_->Recover().ok());
  }
  std::string Register(int slots = 1) {
    store::WorkerRecord worker;
    worker.name = "w";
    worker.slots = slots;
    auto registered = scheduler_->RegisterWorker(worker);
    EXPECT_TRUE(registered.ok()) << registered.status();
    return registered.ok() ? registered->worker_id : "";
  }
  Assignment Acquire(const std::string& worker_id) {
    auto assignment = scheduler_->TryAcquire(worker_id);
    EXPECT_TRUE(assignment.ok()) << assignment.status();
    if (!assignment.ok() || !assignment->has_value()) {
      ADD_FAILURE() << "no trial for worker " << worker_id;
      return {};
    }
    return **assignment;
  }
  TrialState StateOf(const std::string& trial_id) { return store_->GetTrial(trial_id)->state; }
  std::map<std::string, double> Metrics(double miou) { return {{"val_miou", miou}, {"train_loss", 1.0}}; }

  std::filesystem::path dir_;
  std::int64_t now_ms_ = 1'000'000;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::CheckpointStore> checkpoints_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<double> scheduled_seconds_;  // each scheduling latency observed, in order
};

}  // namespace segtune::scheduler
