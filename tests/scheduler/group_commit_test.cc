// Group commit: epoch reports that arrive while a commit is being flushed are
// written together by the next one, and each still gets its own answer.
#include <future>

#include <gtest/gtest.h>

#include "scheduler_fixture.h"

namespace segtune::scheduler {
namespace {

std::string Spec() {
  return "name: group-commit-test\n"
         "objective: {metric: val_miou, mode: max}\n"
         "budget: {epochs: 3}\n"
         "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
         "model: {arch: unet, base_channels: 4, depth: 2}\n"
         "search:\n"
         "  algorithm: grid\n"
         "  space:\n"
         "    optimizer:\n"
         "      - {name: SGD, lr: [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005]}\n";
}

class GroupCommitTest : public SchedulerTest {
 protected:
  // Reopens the store so that every commit is counted, and the first one is
  // held until the test lets it go.
  void ReopenCountingCommits() {
    scheduler_.reset();
    store_.reset();
    store::StoreOptions options;
    options.on_commit = [this](double) {
      if (commits_++ == 0) first_commit_held_.get();
    };
    auto store = store::Store::Open((dir_ / "segtune.db").string(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    SchedulerOptions scheduler_options;
    scheduler_options.now_ms = [this] { return now_ms_; };
    scheduler_ = std::make_unique<Scheduler>(store_.get(), scheduler_options);
    ASSERT_TRUE(scheduler_->Recover().ok());
  }

  std::atomic<int> commits_{0};
  std::promise<void> release_first_commit_;
  std::shared_future<void> first_commit_held_ = release_first_commit_.get_future().share();
};

TEST_F(GroupCommitTest, ReportsQueuedDuringACommitShareTheNextOne) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  std::vector<std::pair<std::string, Assignment>> leased;
  for (int i = 0; i < 8; ++i) {
    const std::string worker = Register();
    leased.emplace_back(worker, Acquire(worker));
  }
  // Submission, registrations and leases are committed: count from here.
  ReopenCountingCommits();

  std::vector<std::future<absl::StatusOr<EpochDecision>>> answers;
  auto report = [&](const std::string& worker, const Assignment& a, int epoch) {
    auto answer = std::make_shared<std::promise<absl::StatusOr<EpochDecision>>>();
    answers.push_back(answer->get_future());
    scheduler_->ReportEpochAsync(worker, a.trial_id, a.attempt, epoch, {{"val_miou", 0.1 * epoch}},
                                 [answer](absl::StatusOr<EpochDecision> d) { answer->set_value(std::move(d)); });
  };
  // The first report's commit is held open on the committer thread...
  report(leased[0].first, leased[0].second, 1);
  while (commits_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // ...while seven more arrive, plus a retry of one of them and a report
  // from a worker that holds no lease.
  for (int i = 1; i < 8; ++i) report(leased[i].first, leased[i].second, 1);
  report(leased[3].first, leased[3].second, 1);
  report(leased[0].first, leased[1].second, 2);
  for (std::size_t i = 0; i + 1 < answers.size(); ++i) {
    EXPECT_NE(answers[i].wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
        << "report " << i << " was answered before its epoch was durable";
  }
  release_first_commit_.set_value();

  for (std::size_t i = 0; i + 1 < answers.size(); ++i) {
    absl::StatusOr<EpochDecision> decision = answers[i].get();
    ASSERT_TRUE(decision.ok()) << "report " << i << ": " << decision.status();
    EXPECT_FALSE(decision->stop);
    EXPECT_EQ(decision->best_epoch, 1);
  }
  EXPECT_EQ(answers.back().get().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(commits_, 2) << "the eight reports queued behind the first share one commit";
  for (const auto& [worker, a] : leased) {
    auto epochs = store_->ListEpochs(a.trial_id);
    ASSERT_TRUE(epochs.ok());
    EXPECT_EQ(epochs->size(), 1u) << a.trial_id;
  }
}

TEST_F(GroupCommitTest, TheBestEpochCountsEpochsOfEarlierAttempts) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string lost = Register();
  const Assignment first = Acquire(lost);
  ASSERT_TRUE(scheduler_->ReportEpoch(lost, first.trial_id, first.attempt, 1, {{"val_miou", 0.9}}).ok());
  now_ms_ += 31000;
  ASSERT_TRUE(scheduler_->Tick().ok());
  const std::string other = Register();
  const Assignment retry = Acquire(other);
  ASSERT_EQ(retry.trial_id, first.trial_id);
  auto decision = scheduler_->ReportEpoch(other, retry.trial_id, retry.attempt, 2, {{"val_miou", 0.5}});
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->best_epoch, 1) << "epoch 1, from the lost attempt, is still the best";
  decision = scheduler_->ReportEpoch(other, retry.trial_id, retry.attempt, 3, {{"val_miou", 0.95}});
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->best_epoch, 3);
}

}  // namespace
}  // namespace segtune::scheduler
