#include "views.h"

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

namespace segtune::api {
namespace {

namespace fs = std::filesystem;

class ViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-views-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    store_ = std::move(*store::Store::Open((dir_ / "segtune.db").string()));
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  // A sweep of `trials` trials; `objective` per trial holds its val_miou per epoch.
  void MakeSweep(bool maximize, const std::vector<std::vector<double>>& objective) {
    store::SweepRecord sweep;
    sweep.sweep_id = "s1";
    sweep.name = "views";
    sweep.spec_yaml = "name: views";
    sweep.objective_metric = "val_miou";
    sweep.maximize = maximize;
    sweep.algorithm = "grid";
    sweep.epochs = 3;
    ASSERT_TRUE(store_->CreateSweep(sweep, std::vector<std::string>(objective.size(), "{}")).ok());
    for (std::size_t t = 0; t < objective.size(); ++t) {
      const std::string trial_id = store::TrialId("s1", static_cast<int>(t));
      store::TrialRecord trial = *store_->GetTrial(trial_id);
      trial.state = store::TrialState::kRunning;
      trial.attempt = 1;
      ASSERT_TRUE(store_->UpdateTrial(trial).ok());
      for (std::size_t e = 0; e < objective[t].size(); ++e) {
        store::EpochRecord epoch{trial_id, static_cast<int>(e + 1), 1,
                                 {{"val_miou", objective[t][e]}, {"train_loss", 1.0}}, 0};
        ASSERT_TRUE(store_->InsertEpoch(epoch).ok());
      }
    }
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(ViewsTest, TrialSummariesComeFromTheirEpochRows) {
  MakeSweep(/*maximize=*/true, {{0.2, 0.5, 0.4}, {}, {0.3}});
  auto view = LoadSweepView(*store_, "s1");
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_EQ(view->trials_size(), 3);
  EXPECT_EQ(view->trials(0).epochs_done(), 3);
  EXPECT_TRUE(view->trials(0).has_best());
  EXPECT_DOUBLE_EQ(view->trials(0).best_value(), 0.5);
  EXPECT_EQ(view->trials(0).best_epoch(), 2);
  EXPECT_DOUBLE_EQ(view->trials(0).last_metrics().at("val_miou"), 0.4);
  EXPECT_FALSE(view->trials(1).has_best());
  EXPECT_EQ(view->sweep().trials_by_state().at("RUNNING"), 3);
  EXPECT_EQ(view->sweep().best_trial_id(), "s1-0000");
  EXPECT_DOUBLE_EQ(view->sweep().best_value(), 0.5);
}

TEST_F(ViewsTest, RankingHonoursModeAndBreaksTiesByEpochThenIndex) {
  // Trial 1 and 2 tie on value; trial 2 got there an epoch earlier.
  MakeSweep(/*maximize=*/false, {{0.9, 0.8}, {0.7, 0.5}, {0.5}, {0.6}});
  auto view = LoadSweepView(*store_, "s1");
  ASSERT_TRUE(view.ok());
  std::vector<v1::BestTrial> ranked = RankTrials(*view, 0);
  ASSERT_EQ(ranked.size(), 4u);
  EXPECT_EQ(ranked[0].trial().trial_id(), "s1-0002");  // 0.5 at epoch 1
  EXPECT_EQ(ranked[1].trial().trial_id(), "s1-0001");  // 0.5 at epoch 2
  EXPECT_EQ(ranked[2].trial().trial_id(), "s1-0003");
  EXPECT_EQ(ranked[3].trial().trial_id(), "s1-0000");
  EXPECT_EQ(ranked[0].metric(), "val_miou");
  EXPECT_EQ(ranked[0].epoch(), 1);
  EXPECT_EQ(RankTrials(*view, 2).size(), 2u);
}

TEST_F(ViewsTest, UnknownSweepIsNotFound) {
  EXPECT_EQ(LoadSweepView(*store_, "nope").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace segtune::api
