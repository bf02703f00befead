#include "segtune/store/store.h"

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>
#include <tuple>

#include "gtest/gtest.h"

namespace segtune::store {
namespace {

namespace fs = std::filesystem;

// Field lists, so that records compare (and print) with EXPECT_EQ.
auto Fields(const SweepRecord& s) {
  return std::tie(s.sweep_id, s.name, s.spec_yaml, s.objective_metric, s.maximize, s.algorithm,
                  s.epochs, s.parallelism, s.state, s.created_unix_ms, s.finished_unix_ms);
}
auto Fields(const TrialRecord& t) {
  return std::tie(t.trial_id, t.sweep_id, t.index, t.state, t.params_json, t.attempt, t.worker_id,
                  t.reason, t.started_unix_ms, t.finished_unix_ms);
}
auto Fields(const WorkerRecord& w) {
  return std::tie(w.worker_id, w.name, w.hostname, w.device, w.slots, w.registered_unix_ms,
                  w.last_seen_unix_ms, w.deregistered, w.slot_devices);
}

SweepRecord MakeSweep(const std::string& sweep_id, std::int64_t created_unix_ms) {
  SweepRecord sweep;
  sweep.sweep_id = sweep_id;
  sweep.name = "seed-optimizers";
  sweep.spec_yaml = "name: seed-optimizers\nbudget: {epochs: 8}\n";
  sweep.objective_metric = "val_miou";
  sweep.maximize = true;
  sweep.algorithm = "grid";
  sweep.epochs = 8;
  sweep.parallelism = 4;
  sweep.created_unix_ms = created_unix_ms;
  return sweep;
}

EpochRecord MakeEpoch(const std::string& trial_id, int epoch, int attempt, double miou) {
  EpochRecord record;
  record.trial_id = trial_id;
  record.epoch = epoch;
  record.attempt = attempt;
  record.metrics = {{"val_miou", miou}, {"train_loss", 1.0 / epoch}};
  record.reported_unix_ms = 1000 + epoch;
  return record;
}

// A raw SQLite connection, to look at the file the way another tool would.
class RawDatabase {
 public:
  explicit RawDatabase(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDatabase() { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    std::string result;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return result;
  }
  int Int(const std::string& sql) { return std::stoi(Text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("segtune_store_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "segtune.db").string();
    OpenStore();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  void OpenStore() {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // A sweep with `trials` trials, params {"lr": 1}, {"lr": 2}, ...
  void CreateSweep(const std::string& sweep_id, int trials, std::int64_t created_unix_ms = 100) {
    std::vector<std::string> params;
    for (int i = 0; i < trials; ++i) params.push_back(R"({"lr": )" + std::to_string(i + 1) + "}");
    ASSERT_TRUE(store_->CreateSweep(MakeSweep(sweep_id, created_unix_ms), params).ok());
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

// ------------------------------------------------------------ names --

TEST(StoreNamesTest, TrialStateNamesRoundTrip) {
  for (TrialState state :
       {TrialState::kPending, TrialState::kRunning, TrialState::kCompleted, TrialState::kStopped,
        TrialState::kFailed, TrialState::kDiverged, TrialState::kCancelled}) {
    absl::StatusOr<TrialState> parsed = ParseTrialState(ToString(state));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_STREQ(ToString(TrialState::kStopped), "STOPPED");
  EXPECT_EQ(*ParseTrialState("diverged"), TrialState::kDiverged);
  absl::StatusOr<TrialState> bad = ParseTrialState("DONE");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"DONE\""), std::string::npos);
  EXPECT_NE(bad.status().message().find("CANCELLED"), std::string::npos);
}

TEST(StoreNamesTest, SweepStateNamesRoundTrip) {
  for (SweepState state : {SweepState::kRunning, SweepState::kCompleted, SweepState::kCancelled}) {
    EXPECT_EQ(*ParseSweepState(ToString(state)), state);
  }
  EXPECT_STREQ(ToString(SweepState::kCancelled), "CANCELLED");
  EXPECT_EQ(ParseSweepState("PENDING").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StoreNamesTest, IsFinalOnlyForEndedTrials) {
  EXPECT_FALSE(IsFinal(TrialState::kPending));
  EXPECT_FALSE(IsFinal(TrialState::kRunning));
  for (TrialState state : {TrialState::kCompleted, TrialState::kStopped, TrialState::kFailed,
                           TrialState::kDiverged, TrialState::kCancelled}) {
    EXPECT_TRUE(IsFinal(state)) << ToString(state);
  }
}

TEST(StoreNamesTest, TrialIdPadsIndexToFourDigits) {
  EXPECT_EQ(TrialId("s1", 0), "s1-0000");
  EXPECT_EQ(TrialId("s1", 7), "s1-0007");
  EXPECT_EQ(TrialId("s1", 12345), "s1-12345");
}

// ------------------------------------------------------ round trips --

TEST_F(StoreTest, SweepAndTrialsRoundTrip) {
  SweepRecord sweep = MakeSweep("s1", 1234);
  sweep.maximize = false;
  sweep.parallelism = 0;
  ASSERT_TRUE(store_->CreateSweep(sweep, {R"({"lr": 0.1})", R"({"lr": 0.03})"}).ok());

  absl::StatusOr<SweepRecord> got = store_->GetSweep("s1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Fields(*got), Fields(sweep));

  absl::StatusOr<std::vector<TrialRecord>> trials = store_->ListTrials("s1");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  TrialRecord expected;
  expected.trial_id = "s1-0000";
  expected.sweep_id = "s1";
  expected.index = 0;
  expected.params_json = R"({"lr": 0.1})";
  EXPECT_EQ(Fields((*trials)[0]), Fields(expected));
  EXPECT_EQ((*trials)[1].trial_id, "s1-0001");
  EXPECT_EQ((*trials)[1].index, 1);
  EXPECT_EQ((*trials)[1].params_json, R"({"lr": 0.03})");

  TrialRecord running = (*trials)[1];
  running.state = TrialState::kRunning;
  running.attempt = 2;
  running.worker_id = "w-7";
  running.reason = "lease expired; resumed";
  running.started_unix_ms = 5000;
  running.finished_unix_ms = 6000;
  ASSERT_TRUE(store_->UpdateTrial(running).ok());
  absl::StatusOr<TrialRecord> trial = store_->GetTrial("s1-0001");
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(Fields(*trial), Fields(running));

  ASSERT_TRUE(store_->SetSweepState("s1", SweepState::kCancelled, 9000).ok());
  got = store_->GetSweep("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, SweepState::kCancelled);
  EXPECT_EQ(got->finished_unix_ms, 9000);
}

TEST_F(StoreTest, UpdateTrialKeepsIdentityAndChangesParamsAndLineage) {
  CreateSweep("s1", 1);
  TrialRecord changed = *store_->GetTrial("s1-0000");
  EXPECT_EQ(changed.lineage_json, "[]");
  changed.sweep_id = "elsewhere";
  changed.index = 42;
  changed.params_json = R"({"lr": 2})";
  changed.lineage_json = R"([{"epoch": 2, "donor": 3}])";
  changed.state = TrialState::kCompleted;
  ASSERT_TRUE(store_->UpdateTrial(changed).ok());
  TrialRecord trial = *store_->GetTrial("s1-0000");
  EXPECT_EQ(trial.sweep_id, "s1");
  EXPECT_EQ(trial.index, 0);
  EXPECT_EQ(trial.params_json, R"({"lr": 2})");
  EXPECT_EQ(trial.lineage_json, R"([{"epoch": 2, "donor": 3}])");
  EXPECT_EQ(trial.state, TrialState::kCompleted);

  changed.params_json = "[1]";
  EXPECT_EQ(store_->UpdateTrial(changed).code(), absl::StatusCode::kInvalidArgument);
  changed.params_json = "{}";
  changed.lineage_json = "{}";
  absl::Status bad_lineage = store_->UpdateTrial(changed);
  EXPECT_EQ(bad_lineage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_lineage.message().find("lineage_json"), std::string::npos) << bad_lineage;
}

TEST_F(StoreTest, EpochsRoundTripInEpochOrder) {
  CreateSweep("s1", 2);
  EpochRecord third = MakeEpoch("s1-0000", 3, 1, 0.3);
  third.metrics["lr"] = 0.1 + 0.2;  // not exactly 0.3: must come back bit for bit
  third.metrics["train_loss"] = std::numeric_limits<double>::quiet_NaN();
  third.metrics["val_loss"] = std::numeric_limits<double>::infinity();
  third.metrics["grad_min"] = -std::numeric_limits<double>::infinity();
  third.metrics["tiny"] = 5e-324;
  for (const EpochRecord& epoch :
       {third, MakeEpoch("s1-0000", 1, 1, 0.1), MakeEpoch("s1-0000", 2, 1, 0.2)}) {
    absl::StatusOr<EpochInsert> inserted = store_->InsertEpoch(epoch);
    ASSERT_TRUE(inserted.ok()) << inserted.status();
    EXPECT_EQ(*inserted, EpochInsert::kInserted);
  }

  absl::StatusOr<std::vector<EpochRecord>> epochs = store_->ListEpochs("s1-0000");
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*epochs)[i].epoch, i + 1);
  const EpochRecord& got = (*epochs)[2];
  EXPECT_EQ(got.trial_id, "s1-0000");
  EXPECT_EQ(got.attempt, 1);
  EXPECT_EQ(got.reported_unix_ms, third.reported_unix_ms);
  ASSERT_EQ(got.metrics.size(), third.metrics.size());
  EXPECT_EQ(got.metrics.at("lr"), 0.1 + 0.2);
  EXPECT_EQ(got.metrics.at("val_miou"), 0.3);
  EXPECT_EQ(got.metrics.at("tiny"), 5e-324);
  EXPECT_TRUE(std::isnan(got.metrics.at("train_loss")));
  EXPECT_EQ(got.metrics.at("val_loss"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(got.metrics.at("grad_min"), -std::numeric_limits<double>::infinity());

  // A trial that exists but has not reported yet.
  epochs = store_->ListEpochs("s1-0001");
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  EXPECT_TRUE(epochs->empty());
}

TEST_F(StoreTest, ListSweepEpochsKeyedByTrial) {
  CreateSweep("s1", 3);
  CreateSweep("s2", 1);
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s1-0002", 2, 1, 0.5)).ok());
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s1-0002", 1, 1, 0.4)).ok());
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s1-0000", 1, 1, 0.2)).ok());
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s2-0000", 1, 1, 0.9)).ok());

  absl::StatusOr<std::map<std::string, std::vector<EpochRecord>>> by_trial =
      store_->ListSweepEpochs("s1");
  ASSERT_TRUE(by_trial.ok()) << by_trial.status();
  ASSERT_EQ(by_trial->size(), 2u);  // s1-0001 has no epochs yet
  ASSERT_EQ(by_trial->at("s1-0000").size(), 1u);
  const std::vector<EpochRecord>& last = by_trial->at("s1-0002");
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].epoch, 1);
  EXPECT_EQ(last[0].metrics.at("val_miou"), 0.4);
  EXPECT_EQ(last[1].epoch, 2);

  by_trial = store_->ListSweepEpochs("s3");
  EXPECT_EQ(by_trial.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, WorkersUpsertAndList) {
  WorkerRecord worker;
  worker.worker_id = "w-2";
  worker.name = "gpu-box";
  worker.hostname = "host-a";
  worker.device = "cuda:0,cuda:1";
  worker.slots = 2;
  worker.slot_devices = {"cuda:0", "cuda:1"};
  worker.registered_unix_ms = 20;
  worker.last_seen_unix_ms = 25;
  WorkerRecord earlier = worker;
  earlier.worker_id = "w-1";
  earlier.device = "cpu";
  earlier.slot_devices.clear();  // a worker from before multi-device support
  earlier.registered_unix_ms = 10;
  ASSERT_TRUE(store_->UpsertWorker(worker).ok());
  ASSERT_TRUE(store_->UpsertWorker(earlier).ok());

  worker.last_seen_unix_ms = 99;
  worker.deregistered = true;
  ASSERT_TRUE(store_->UpsertWorker(worker).ok());

  absl::StatusOr<std::vector<WorkerRecord>> workers = store_->ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->size(), 2u);
  EXPECT_EQ(Fields((*workers)[0]), Fields(earlier));
  EXPECT_EQ(Fields((*workers)[1]), Fields(worker));

  worker.worker_id = "";
  EXPECT_EQ(store_->UpsertWorker(worker).code(), absl::StatusCode::kInvalidArgument);
}

// ----------------------------------------------------- sweeps, trials --

TEST_F(StoreTest, DuplicateSweepIsAlreadyExistsAndChangesNothing) {
  CreateSweep("s1", 2);
  absl::Status status = store_->CreateSweep(MakeSweep("s1", 999), {"{}", "{}", "{}"});
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(status.message().find("\"s1\""), std::string::npos) << status;
  EXPECT_EQ(store_->GetSweep("s1")->created_unix_ms, 100);
  EXPECT_EQ(store_->ListTrials("s1")->size(), 2u);
}

TEST_F(StoreTest, CreateSweepRejectsBadInputAsAWhole) {
  absl::Status status = store_->CreateSweep(MakeSweep("s1", 1), {"{}", "[1, 2]"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("trial_params_json[1]"), std::string::npos) << status;
  EXPECT_EQ(store_->GetSweep("s1").status().code(), absl::StatusCode::kNotFound);

  status = store_->CreateSweep(MakeSweep("", 1), {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("sweep.sweep_id"), std::string::npos) << status;

  SweepRecord sweep = MakeSweep("s1", 1);
  sweep.epochs = -1;
  status = store_->CreateSweep(sweep, {});
  EXPECT_NE(status.message().find("sweep.epochs"), std::string::npos) << status;
}

TEST_F(StoreTest, AddTrialsContinuesNumbering) {
  CreateSweep("s1", 2);
  ASSERT_TRUE(store_->AddTrials("s1", {R"({"lr": 3})", R"({"lr": 4})", R"({"lr": 5})"}).ok());
  ASSERT_TRUE(store_->AddTrials("s1", {}).ok());
  ASSERT_TRUE(store_->AddTrials("s1", {R"({"lr": 6})"}).ok());

  absl::StatusOr<std::vector<TrialRecord>> trials = store_->ListTrials("s1");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ((*trials)[i].index, i);
    EXPECT_EQ((*trials)[i].trial_id, TrialId("s1", i));
    EXPECT_EQ((*trials)[i].params_json, R"({"lr": )" + std::to_string(i + 1) + "}");
    EXPECT_EQ((*trials)[i].state, TrialState::kPending);
  }

  // A sweep created empty (a searcher that suggests as it goes) starts at 0.
  CreateSweep("s2", 0);
  ASSERT_TRUE(store_->ListTrials("s2")->empty());
  ASSERT_TRUE(store_->AddTrials("s2", {"{}"}).ok());
  EXPECT_EQ(store_->ListTrials("s2")->at(0).trial_id, "s2-0000");

  EXPECT_EQ(store_->AddTrials("nope", {"{}"}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddTrials("s1", {"not json"}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ListSweepsNewestFirst) {
  CreateSweep("old", 0, 100);
  CreateSweep("new", 0, 300);
  CreateSweep("middle", 0, 200);
  CreateSweep("middle-later", 0, 200);  // same millisecond: created later, listed first
  absl::StatusOr<std::vector<SweepRecord>> sweeps = store_->ListSweeps();
  ASSERT_TRUE(sweeps.ok()) << sweeps.status();
  std::vector<std::string> ids;
  for (const SweepRecord& sweep : *sweeps) ids.push_back(sweep.sweep_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"new", "middle-later", "middle", "old"}));
}

TEST_F(StoreTest, ListUnfinishedTrialsAcrossSweepsOldestSweepFirst) {
  CreateSweep("later", 3, 200);
  CreateSweep("earlier", 3, 100);
  CreateSweep("done", 1, 50);
  auto set_state = [&](const std::string& trial_id, TrialState state) {
    TrialRecord trial = *store_->GetTrial(trial_id);
    trial.state = state;
    ASSERT_TRUE(store_->UpdateTrial(trial).ok());
  };
  set_state("later-0000", TrialState::kCompleted);
  set_state("later-0002", TrialState::kRunning);
  set_state("earlier-0001", TrialState::kStopped);
  set_state("done-0000", TrialState::kDiverged);

  absl::StatusOr<std::vector<TrialRecord>> unfinished = store_->ListUnfinishedTrials();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status();
  std::vector<std::string> ids;
  for (const TrialRecord& trial : *unfinished) ids.push_back(trial.trial_id);
  EXPECT_EQ(ids,
            (std::vector<std::string>{"earlier-0000", "earlier-0002", "later-0001", "later-0002"}));
  EXPECT_EQ(unfinished->back().state, TrialState::kRunning);
}

TEST_F(StoreTest, UnknownIdsAreNotFoundNamingTheId) {
  CreateSweep("s1", 1);
  auto expect_not_found = [](const absl::Status& status, const std::string& id) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_NE(status.message().find("\"" + id + "\""), std::string::npos) << status;
  };
  expect_not_found(store_->GetSweep("s9").status(), "s9");
  expect_not_found(store_->ListTrials("s9").status(), "s9");
  expect_not_found(store_->SetSweepState("s9", SweepState::kCompleted, 1), "s9");
  expect_not_found(store_->GetTrial("s1-0009").status(), "s1-0009");
  expect_not_found(store_->ListEpochs("s1-0009").status(), "s1-0009");
  expect_not_found(store_->InsertEpoch(MakeEpoch("s1-0009", 1, 1, 0.5)).status(), "s1-0009");
  TrialRecord missing;
  missing.trial_id = "s1-0009";
  missing.params_json = "{}";
  expect_not_found(store_->UpdateTrial(missing), "s1-0009");
}

// ---------------------------------------------------------- epochs --

TEST_F(StoreTest, SameAttemptTwiceIsOneRowAndDuplicate) {
  CreateSweep("s1", 1);
  EpochRecord epoch = MakeEpoch("s1-0000", 1, 1, 0.5);
  EXPECT_EQ(*store_->InsertEpoch(epoch), EpochInsert::kInserted);
  EXPECT_EQ(*store_->InsertEpoch(epoch), EpochInsert::kDuplicate);

  // A retry carrying different numbers is still a retry: the first copy stands.
  EpochRecord retry = MakeEpoch("s1-0000", 1, 1, 0.9);
  retry.reported_unix_ms = 77777;
  EXPECT_EQ(*store_->InsertEpoch(retry), EpochInsert::kDuplicate);

  absl::StatusOr<std::vector<EpochRecord>> epochs = store_->ListEpochs("s1-0000");
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 1u);
  EXPECT_EQ((*epochs)[0].metrics.at("val_miou"), 0.5);
  EXPECT_EQ((*epochs)[0].reported_unix_ms, epoch.reported_unix_ms);
  EXPECT_EQ(RawDatabase(path_).Int("SELECT COUNT(*) FROM epochs"), 1);
}

TEST_F(StoreTest, NewerAttemptReplacesOlderAttemptIsRefused) {
  CreateSweep("s1", 1);
  ASSERT_EQ(*store_->InsertEpoch(MakeEpoch("s1-0000", 1, 1, 0.1)), EpochInsert::kInserted);
  ASSERT_EQ(*store_->InsertEpoch(MakeEpoch("s1-0000", 2, 1, 0.2)), EpochInsert::kInserted);

  // Attempt 1's lease expired after epoch 2; attempt 2 resumed from epoch 1.
  EXPECT_EQ(*store_->InsertEpoch(MakeEpoch("s1-0000", 1, 2, 0.15)), EpochInsert::kReplaced);
  EXPECT_EQ(*store_->InsertEpoch(MakeEpoch("s1-0000", 1, 2, 0.15)), EpochInsert::kDuplicate);

  // The stale attempt 1 is still running somewhere and reports again.
  absl::StatusOr<EpochInsert> stale = store_->InsertEpoch(MakeEpoch("s1-0000", 1, 1, 0.99));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();

  absl::StatusOr<std::vector<EpochRecord>> epochs = store_->ListEpochs("s1-0000");
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_EQ((*epochs)[0].attempt, 2);
  EXPECT_EQ((*epochs)[0].metrics.at("val_miou"), 0.15);
  EXPECT_EQ((*epochs)[1].attempt, 1);
  EXPECT_EQ((*epochs)[1].metrics.at("val_miou"), 0.2);
}

TEST_F(StoreTest, InsertEpochValidatesFields) {
  CreateSweep("s1", 1);
  auto expect_invalid = [&](const EpochRecord& epoch, const std::string& field) {
    absl::Status status = store_->InsertEpoch(epoch).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(field), std::string::npos) << status;
  };
  expect_invalid(MakeEpoch("s1-0000", 0, 1, 0.5), "epoch.epoch");
  expect_invalid(MakeEpoch("s1-0000", 1, 0, 0.5), "epoch.attempt");
  expect_invalid(MakeEpoch("", 1, 1, 0.5), "epoch.trial_id");
  EpochRecord unnamed = MakeEpoch("s1-0000", 1, 1, 0.5);
  unnamed.metrics[""] = 1.0;
  expect_invalid(unnamed, "epoch.metrics");
  EXPECT_TRUE(store_->ListEpochs("s1-0000")->empty());
}

// --------------------------------------------- files and durability --

TEST_F(StoreTest, VersionOneDatabaseGainsEmptyLineages) {
  CreateSweep("s1", 2);
  store_.reset();
  // What a version 1 database looked like: no lineage column, no attempts.
  RawDatabase(path_).Exec("DROP TABLE attempts");
  RawDatabase(path_).Exec("ALTER TABLE trials DROP COLUMN lineage_json");
  RawDatabase(path_).Exec("ALTER TABLE workers DROP COLUMN slot_devices_json");
  RawDatabase(path_).Exec("PRAGMA user_version = 1");

  OpenStore();
  EXPECT_EQ(RawDatabase(path_).Int("PRAGMA user_version"), kSchemaVersion);
  auto trials = store_->ListTrials("s1");
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  EXPECT_EQ(trials->at(1).params_json, R"({"lr": 2})");
  EXPECT_EQ(trials->at(1).lineage_json, "[]");
}

TEST_F(StoreTest, VersionTwoDatabaseGainsAttemptsOfItsRunningTrials) {
  CreateSweep("s1", 3);
  TrialRecord running = *store_->GetTrial("s1-0001");
  running.state = TrialState::kRunning;
  running.attempt = 2;
  running.worker_id = "w1";
  ASSERT_TRUE(store_->UpdateTrial(running).ok());
  TrialRecord done = *store_->GetTrial("s1-0002");
  done.state = TrialState::kCompleted;
  done.attempt = 1;
  ASSERT_TRUE(store_->UpdateTrial(done).ok());
  store_.reset();
  // What a version 2 database looked like: no attempts table.
  RawDatabase(path_).Exec("DROP TABLE attempts");
  RawDatabase(path_).Exec("ALTER TABLE workers DROP COLUMN slot_devices_json");
  RawDatabase(path_).Exec("PRAGMA user_version = 2");

  OpenStore();
  EXPECT_EQ(RawDatabase(path_).Int("PRAGMA user_version"), kSchemaVersion);
  // The running attempt gets its row, so its end is recorded; attempts that
  // ended before the upgrade were never recorded.
  auto attempts = store_->ListSweepAttempts("s1");
  ASSERT_TRUE(attempts.ok()) << attempts.status();
  ASSERT_EQ(attempts->size(), 1u);
  const AttemptRecord& attempt = attempts->at("s1-0001").at(0);
  EXPECT_EQ(attempt.attempt, 2);
  EXPECT_EQ(attempt.worker_id, "w1");
  EXPECT_EQ(attempt.state, TrialState::kRunning);
  EXPECT_EQ(attempt.ended_unix_ms, 0);
}

TEST_F(StoreTest, VersionThreeDatabaseGainsWorkersWithoutSlotDevices) {
  WorkerRecord worker;
  worker.worker_id = "w-1";
  worker.device = "cuda:0";
  worker.slots = 2;
  worker.slot_devices = {"cuda:0", "cuda:0"};
  ASSERT_TRUE(store_->UpsertWorker(worker).ok());
  store_.reset();
  // What a version 3 database looked like: no slot devices.
  RawDatabase(path_).Exec("ALTER TABLE workers DROP COLUMN slot_devices_json");
  RawDatabase(path_).Exec("PRAGMA user_version = 3");

  OpenStore();
  EXPECT_EQ(RawDatabase(path_).Int("PRAGMA user_version"), kSchemaVersion);
  auto workers = store_->ListWorkers();
  ASSERT_TRUE(workers.ok()) << workers.status();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ(workers->at(0).device, "cuda:0");
  EXPECT_TRUE(workers->at(0).slot_devices.empty());  // every slot on `device`
}

TEST_F(StoreTest, ReopenKeepsDataAndDoesNotRemigrate) {
  CreateSweep("s1", 2);
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s1-0001", 1, 1, 0.5)).ok());
  store_.reset();

  EXPECT_EQ(RawDatabase(path_).Int("PRAGMA user_version"), kSchemaVersion);
  // Migration steps create tables without IF NOT EXISTS, so a second run of
  // step 1 would fail this Open.
  OpenStore();
  EXPECT_EQ(RawDatabase(path_).Int("PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(Fields(*store_->GetSweep("s1")), Fields(MakeSweep("s1", 100)));
  EXPECT_EQ(store_->ListTrials("s1")->size(), 2u);
  absl::StatusOr<std::vector<EpochRecord>> epochs = store_->ListEpochs("s1-0001");
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 1u);
  EXPECT_EQ((*epochs)[0].metrics.at("val_miou"), 0.5);
  EXPECT_EQ(*store_->InsertEpoch(MakeEpoch("s1-0001", 1, 1, 0.5)), EpochInsert::kDuplicate);
}

// ------------------------------------------------------------ attempts --

// The trial leased as `attempt` to `worker`, with its attempt row.
void Lease(Store& store, const std::string& trial_id, int attempt, const std::string& worker,
           std::int64_t now) {
  TrialRecord trial = *store.GetTrial(trial_id);
  trial.state = TrialState::kRunning;
  trial.attempt = attempt;
  trial.worker_id = worker;
  ASSERT_TRUE(store.UpdateTrialAndAttempt(trial, {trial_id, attempt, worker, TrialState::kRunning, "", now, 0})
                  .ok());
}

TEST_F(StoreTest, AttemptsKeepEveryEndWithItsReason) {
  CreateSweep("s1", 2);
  Lease(*store_, "s1-0000", 1, "w1", 10);
  // It failed and went back to the queue: the attempt ends, the trial waits.
  TrialRecord trial = *store_->GetTrial("s1-0000");
  trial.state = TrialState::kPending;
  trial.worker_id.clear();
  trial.reason = "retrying";
  // The end's worker and start are ignored: the started row keeps its own.
  ASSERT_TRUE(store_->UpdateTrialAndAttempt(trial, {"s1-0000", 1, "", TrialState::kFailed, "CUDA out of memory", 0, 20})
                  .ok());
  Lease(*store_, "s1-0000", 2, "w2", 30);

  auto attempts = store_->ListAttempts("s1-0000");
  ASSERT_TRUE(attempts.ok()) << attempts.status();
  ASSERT_EQ(attempts->size(), 2u);
  const AttemptRecord& first = attempts->at(0);
  EXPECT_EQ(first.attempt, 1);
  EXPECT_EQ(first.worker_id, "w1");
  EXPECT_EQ(first.state, TrialState::kFailed);
  EXPECT_EQ(first.reason, "CUDA out of memory");
  EXPECT_EQ(first.started_unix_ms, 10);
  EXPECT_EQ(first.ended_unix_ms, 20);
  const AttemptRecord& second = attempts->at(1);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.worker_id, "w2");
  EXPECT_EQ(second.state, TrialState::kRunning);
  EXPECT_EQ(store_->GetTrial("s1-0000")->attempt, 2);

  auto by_trial = store_->ListSweepAttempts("s1");
  ASSERT_TRUE(by_trial.ok()) << by_trial.status();
  EXPECT_EQ(by_trial->size(), 1u);  // s1-0001 was never leased
  EXPECT_EQ(by_trial->at("s1-0000").size(), 2u);
  EXPECT_TRUE(store_->ListAttempts("s1-0001")->empty());
  EXPECT_EQ(store_->ListAttempts("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListSweepAttempts("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, UpdateTrialAndAttemptIsAllOrNothing) {
  CreateSweep("s1", 1);
  TrialRecord trial = *store_->GetTrial("s1-0000");
  trial.state = TrialState::kRunning;
  trial.attempt = 1;
  EXPECT_EQ(store_->UpdateTrialAndAttempt(trial, {"s1-0000", 0, "w1", TrialState::kRunning, "", 1, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->UpdateTrialAndAttempt(trial, {"s1-0009", 1, "w1", TrialState::kRunning, "", 1, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  TrialRecord unknown = trial;
  unknown.trial_id = "s1-0009";
  EXPECT_EQ(store_->UpdateTrialAndAttempt(unknown, {"s1-0009", 1, "w1", TrialState::kRunning, "", 1, 0}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetTrial("s1-0000")->state, TrialState::kPending);
  EXPECT_TRUE(store_->ListSweepAttempts("s1")->empty());
}

TEST_F(StoreTest, CancelSweepEndsUnfinishedTrialsAndTheSweepTogether) {
  CreateSweep("s1", 3);
  Lease(*store_, "s1-0001", 1, "w1", 5);
  TrialRecord done = *store_->GetTrial("s1-0002");
  done.state = TrialState::kCompleted;
  done.attempt = 1;
  ASSERT_TRUE(store_->UpdateTrial(done).ok());

  ASSERT_TRUE(store_->CancelSweep("s1", "sweep cancelled", 777).ok());
  const AttemptRecord attempt = store_->ListAttempts("s1-0001")->at(0);
  EXPECT_EQ(attempt.state, TrialState::kCancelled);
  EXPECT_EQ(attempt.reason, "sweep cancelled");
  EXPECT_EQ(attempt.ended_unix_ms, 777);
  EXPECT_EQ(store_->GetSweep("s1")->state, SweepState::kCancelled);
  EXPECT_EQ(store_->GetSweep("s1")->finished_unix_ms, 777);
  EXPECT_EQ(store_->GetTrial("s1-0000")->state, TrialState::kCancelled);
  TrialRecord cancelled = *store_->GetTrial("s1-0001");
  EXPECT_EQ(cancelled.state, TrialState::kCancelled);
  EXPECT_EQ(cancelled.reason, "sweep cancelled");
  EXPECT_EQ(cancelled.worker_id, "w1");  // kept: its late report is recognized
  EXPECT_EQ(cancelled.attempt, 1);
  EXPECT_EQ(store_->GetTrial("s1-0002")->state, TrialState::kCompleted);

  EXPECT_EQ(store_->CancelSweep("s1", "again", 778).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CancelSweep("nope", "x", 1).code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, SecondOpenOfTheSameDatabaseIsRefusedUntilTheFirstCloses) {
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos)
      << second.status();
  store_.reset();
  EXPECT_TRUE(Store::Open(path_).ok());
}

TEST_F(StoreTest, NewerSchemaVersionRefusesToOpen) {
  store_.reset();
  RawDatabase(path_).Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("newer"), std::string::npos) << store.status();
}

TEST_F(StoreTest, WalJournalModeIsOn) {
  EXPECT_EQ(RawDatabase(path_).Text("PRAGMA journal_mode"), "wal");
}

TEST_F(StoreTest, InMemoryAndEmptyPathsAreRefused) {
  EXPECT_EQ(Store::Open(":memory:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Store::Open("").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open((dir_ / "missing/dir/x.db").string());
  EXPECT_FALSE(store.ok());
}

TEST_F(StoreTest, OpenReaderDoesNotBlockTheWriter) {
  CreateSweep("s1", 1);
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s1-0000", 1, 1, 0.1)).ok());

  RawDatabase reader(path_);
  reader.Exec("BEGIN");
  ASSERT_EQ(reader.Int("SELECT COUNT(*) FROM epochs"), 1);  // holds a read snapshot

  absl::StatusOr<EpochInsert> inserted = store_->InsertEpoch(MakeEpoch("s1-0000", 2, 1, 0.2));
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(reader.Int("SELECT COUNT(*) FROM epochs"), 1);  // still its snapshot
  reader.Exec("COMMIT");
  EXPECT_EQ(reader.Int("SELECT COUNT(*) FROM epochs"), 2);
}

TEST_F(StoreTest, AcknowledgedEpochSurvivesAProcessKill) {
  CreateSweep("s1", 1);
  store_.reset();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child writes and dies without closing anything, as a killed
    // coordinator would.
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path_);
    bool acknowledged = store.ok() && (*store)->InsertEpoch(MakeEpoch("s1-0000", 1, 1, 0.7)).ok();
    _exit(acknowledged ? 0 : 1);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status));
  ASSERT_EQ(WEXITSTATUS(wait_status), 0);

  OpenStore();
  absl::StatusOr<std::vector<EpochRecord>> epochs = store_->ListEpochs("s1-0000");
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 1u);
  EXPECT_EQ((*epochs)[0].metrics.at("val_miou"), 0.7);
}

// ----------------------------------------------------- concurrency --

TEST_F(StoreTest, ConcurrentWritersAndReaders) {
  constexpr int kWriters = 4;
  constexpr int kEpochs = 20;
  constexpr int kReaders = 3;
  CreateSweep("s1", kWriters);

  std::atomic<int> writers_left{kWriters};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      const std::string trial_id = TrialId("s1", w);
      for (int epoch = 1; epoch <= kEpochs; ++epoch) {
        EpochRecord record = MakeEpoch(trial_id, epoch, 1, epoch * 0.01);
        absl::StatusOr<EpochInsert> first = store_->InsertEpoch(record);
        absl::StatusOr<EpochInsert> retry = store_->InsertEpoch(record);  // a retried report
        if (!first.ok() || *first != EpochInsert::kInserted || !retry.ok() ||
            *retry != EpochInsert::kDuplicate) {
          ++errors;
        }
      }
      --writers_left;
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::size_t last_seen = 0;
      while (writers_left.load() > 0) {
        absl::StatusOr<std::map<std::string, std::vector<EpochRecord>>> by_trial =
            store_->ListSweepEpochs("s1");
        absl::StatusOr<std::vector<EpochRecord>> own = store_->ListEpochs(TrialId("s1", r));
        absl::StatusOr<std::vector<TrialRecord>> trials = store_->ListTrials("s1");
        if (!by_trial.ok() || !own.ok() || !trials.ok() || trials->size() != kWriters) {
          ++errors;
          continue;
        }
        std::size_t seen = 0;
        for (const auto& [trial_id, epochs] : *by_trial) seen += epochs.size();
        if (seen < last_seen) ++errors;  // commits never disappear
        last_seen = seen;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(errors.load(), 0);
  absl::StatusOr<std::map<std::string, std::vector<EpochRecord>>> by_trial =
      store_->ListSweepEpochs("s1");
  ASSERT_TRUE(by_trial.ok()) << by_trial.status();
  ASSERT_EQ(by_trial->size(), static_cast<std::size_t>(kWriters));
  for (const auto& [trial_id, epochs] : *by_trial) {
    EXPECT_EQ(epochs.size(), static_cast<std::size_t>(kEpochs)) << trial_id;
  }
  EXPECT_EQ(RawDatabase(path_).Int("SELECT COUNT(*) FROM epochs"), kWriters * kEpochs);
}

TEST_F(StoreTest, CountTrialsGivesEveryStateOfTheSweep) {
  CreateSweep("s1", 3);
  CreateSweep("s2", 2);
  TrialRecord done = *store_->GetTrial("s1-0001");
  done.state = TrialState::kCompleted;
  done.attempt = 1;
  ASSERT_TRUE(store_->UpdateTrial(done).ok());

  absl::StatusOr<std::map<TrialState, int>> counts = store_->CountTrials("s1");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->size(), 7u);  // every state, 0 included
  EXPECT_EQ(counts->at(TrialState::kPending), 2);
  EXPECT_EQ(counts->at(TrialState::kCompleted), 1);
  EXPECT_EQ(counts->at(TrialState::kRunning), 0);
  EXPECT_EQ(store_->CountTrials("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, CommitObserverSeesEveryCommit) {
  store_.reset();
  std::vector<double> commits;
  StoreOptions options;
  options.on_commit = [&commits](double seconds) { commits.push_back(seconds); };
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path_, options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);

  CreateSweep("s1", 2);
  ASSERT_EQ(commits.size(), 1u);
  EpochRecord epoch{"s1-0000", 1, 1, {{"val_miou", 0.5}}, 10};
  ASSERT_TRUE(store_->InsertEpoch(epoch).ok());
  ASSERT_EQ(commits.size(), 2u);
  for (double seconds : commits) {
    EXPECT_GE(seconds, 0.0);
    EXPECT_LT(seconds, 10.0);
  }
  EXPECT_TRUE(store_->ListTrials("s1").ok());
  EXPECT_EQ(commits.size(), 2u) << "reads commit nothing";
  // Single-statement writes commit on their own, and are timed too.
  TrialRecord trial = *store_->GetTrial("s1-0001");
  trial.state = TrialState::kRunning;
  ASSERT_TRUE(store_->UpdateTrial(trial).ok());
  ASSERT_TRUE(store_->SetSweepState("s1", SweepState::kCompleted, 20).ok());
  WorkerRecord worker;
  worker.worker_id = "w1";
  ASSERT_TRUE(store_->UpsertWorker(worker).ok());
  EXPECT_EQ(commits.size(), 5u);
}


// Group commit: one transaction, one flush, an outcome per epoch.
TEST_F(StoreTest, InsertEpochsWritesABatchInOneCommitWithAnOutcomeEach) {
  CreateSweep("s1", 2);
  ASSERT_TRUE(store_->InsertEpoch(MakeEpoch("s1-0001", 1, 2, 0.5)).ok());
  store_.reset();
  int commits = 0;
  StoreOptions options;
  options.on_commit = [&commits](double) { commits++; };
  absl::StatusOr<std::unique_ptr<Store>> reopened = Store::Open(path_, options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = *std::move(reopened);

  EpochRecord invalid = MakeEpoch("s1-0000", 0, 1, 0.1);
  auto outcomes = store_->InsertEpochs({
      MakeEpoch("s1-0000", 1, 1, 0.1),  // new
      MakeEpoch("s1-0000", 1, 1, 0.9),  // the same report again, in the same batch
      MakeEpoch("s1-0000", 2, 1, 0.2),  // new
      MakeEpoch("s1-0001", 1, 1, 0.3),  // older attempt than the stored row's
      MakeEpoch("s1-0001", 2, 2, 0.4),  // new
      MakeEpoch("nope-0000", 1, 1, 0.4),
      invalid,
  });
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 7u);
  EXPECT_EQ((*outcomes)[0].value(), EpochInsert::kInserted);
  EXPECT_EQ((*outcomes)[1].value(), EpochInsert::kDuplicate);
  EXPECT_EQ((*outcomes)[2].value(), EpochInsert::kInserted);
  EXPECT_EQ((*outcomes)[3].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*outcomes)[4].value(), EpochInsert::kInserted);
  EXPECT_EQ((*outcomes)[5].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*outcomes)[6].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(commits, 1) << "one durable flush for the whole batch";

  auto first = store_->ListEpochs("s1-0000");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_DOUBLE_EQ((*first)[0].metrics.at("val_miou"), 0.1) << "the first copy stands";
  auto second = store_->ListEpochs("s1-0001");
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 2u);
  EXPECT_DOUBLE_EQ((*second)[0].metrics.at("val_miou"), 0.5) << "the newer attempt's row was kept";

  // A batch of retries alone writes nothing and needs no flush.
  auto retries = store_->InsertEpochs({MakeEpoch("s1-0000", 1, 1, 0.1), MakeEpoch("s1-0000", 2, 1, 0.2)});
  ASSERT_TRUE(retries.ok());
  EXPECT_EQ((*retries)[0].value(), EpochInsert::kDuplicate);
  EXPECT_EQ((*retries)[1].value(), EpochInsert::kDuplicate);
  EXPECT_EQ(commits, 1);
}

}  // namespace
}  // namespace segtune::store
