#include "segtune/scheduler/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <random>
#include <tuple>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace segtune::scheduler {
namespace {

using store::SweepState;
using store::TrialState;

std::int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sweep ids are short random hex strings: easy to type, unique across databases.
std::string NewId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id(8, '0');
  std::uint64_t bits = rng();
  for (char& c : id) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return id;
}

// What every trial of a sweep shares; the trial's params are added per lease.
std::string ConfigBase(const spec::SweepSpec& spec) {
  nlohmann::json base = {
      {"data", spec.data},
      {"model", spec.model},
      {"training", spec.training},
      {"epochs", spec.budget.epochs},
      {"objective",
       {{"metric", spec.objective.metric}, {"mode", spec.objective.maximize ? "max" : "min"}}},
  };
  if (spec.search.algorithm == "lr_range_test") {
    const spec::LrRangeSettings& range = spec.search.lr_range;
    base["lr_range"] = {{"min_lr", range.min_lr},
                        {"max_lr", range.max_lr},
                        {"iterations", range.iterations},
                        {"smoothing", range.smoothing},
                        {"diverge_factor", range.diverge_factor}};
  }
  return base.dump();
}

search::TrialHistory::Status HistoryStatus(TrialState state, bool paused_when_stopped) {
  using Status = search::TrialHistory::Status;
  switch (state) {
    case TrialState::kPending: return Status::kPending;
    case TrialState::kRunning: return Status::kRunning;
    case TrialState::kCompleted: return Status::kCompleted;
    case TrialState::kStopped: return paused_when_stopped ? Status::kPaused : Status::kStopped;
    case TrialState::kFailed: return Status::kFailed;
    case TrialState::kDiverged: return Status::kDiverged;
    case TrialState::kCancelled: return Status::kCancelled;
  }
  return Status::kFailed;
}

std::optional<search::TrialEnd> EndOf(TrialState state) {
  switch (state) {
    case TrialState::kCompleted: return search::TrialEnd::kCompleted;
    case TrialState::kStopped: return search::TrialEnd::kStopped;
    case TrialState::kFailed: return search::TrialEnd::kFailed;
    case TrialState::kDiverged: return search::TrialEnd::kDiverged;
    case TrialState::kCancelled: return search::TrialEnd::kCancelled;
    default: return std::nullopt;
  }
}

// ASHA ends no trial for good before the sweep ends: a STOPPED trial of an
// asha or hyperband sweep waits in its rung and may still be promoted.
bool PausesInsteadOfStopping(const spec::SweepSpec& spec) {
  return spec.search.algorithm == "asha" || spec.search.algorithm == "hyperband";
}

// The labels monitoring shows for a trial with these params.
RunningTrialStats TrialLabels(const store::TrialRecord& trial, int epochs) {
  RunningTrialStats stats;
  stats.sweep_id = trial.sweep_id;
  stats.trial_id = trial.trial_id;
  stats.epochs = epochs;
  stats.scheduler = "none";
  const nlohmann::json params = nlohmann::json::parse(trial.params_json, nullptr, /*allow_exceptions=*/false);
  auto name_of = [&params](const char* key) -> std::optional<std::string> {
    if (!params.is_object() || !params.contains(key) || !params[key].is_object()) return std::nullopt;
    const nlohmann::json& name = params[key].value("name", nlohmann::json());
    if (!name.is_string()) return std::nullopt;
    return name.get<std::string>();
  };
  stats.optimizer = name_of("optimizer").value_or("unknown");
  if (std::optional<std::string> scheduler = name_of("scheduler")) stats.scheduler = *scheduler;
  return stats;
}

// The end of `trial`'s current attempt (read before the trial changes).
store::AttemptRecord AttemptEnd(const store::TrialRecord& trial, TrialState state, const std::string& reason,
                                std::int64_t now_ms) {
  return store::AttemptRecord{trial.trial_id, trial.attempt, trial.worker_id, state, reason, 0, now_ms};
}

// Monitoring's view of a trial after the epoch `epoch` reported `metrics`.
void RecordEpoch(RunningTrialStats& stats, int epoch, const std::map<std::string, double>& metrics) {
  stats.epoch = epoch;
  for (const char* name : kMonitoredTrialMetrics) {
    if (auto value = metrics.find(name); value != metrics.end()) stats.metrics[name] = value->second;
  }
}

}  // namespace

std::vector<std::string> SlotDevices(const store::WorkerRecord& worker) {
  const std::size_t slots = static_cast<std::size_t>(std::max(0, worker.slots));
  if (worker.slot_devices.size() == slots) return worker.slot_devices;
  return std::vector<std::string>(slots, worker.device);
}

std::vector<DeviceUsage> IdleDevices(const store::WorkerRecord& worker) {
  std::vector<DeviceUsage> devices;
  for (const std::string& device : SlotDevices(worker)) {
    auto it = std::find_if(devices.begin(), devices.end(), [&](const DeviceUsage& d) { return d.device == device; });
    if (it == devices.end()) it = devices.insert(devices.end(), DeviceUsage{device});
    it->slots++;
  }
  return devices;
}

Scheduler::Scheduler(store::Store* store, SchedulerOptions options)
    : store_(store), options_(std::move(options)) {
  if (!options_.now_ms) const_cast<SchedulerOptions&>(options_).now_ms = SystemNowMs;
  answerer_ = std::thread([this] { AnswerReports(); });
  committer_ = std::thread([this] { CommitReports(); });
}

Scheduler::~Scheduler() {
  // Each thread finishes the reports it has before it stops: every report
  // queued is written and answered.
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    stop_committing_ = true;
  }
  commit_wanted_.notify_all();
  committer_.join();
  {
    std::lock_guard<std::mutex> lock(answer_mu_);
    stop_answering_ = true;
  }
  answer_wanted_.notify_all();
  answerer_.join();
}

absl::Status Scheduler::LoadSweep(const store::SweepRecord& sweep,
                                  const std::vector<store::TrialRecord>& trials) {
  spec::ParseResult parsed = spec::ParseSpec(sweep.spec_yaml);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat("stored spec of sweep ", sweep.sweep_id,
                                            " no longer validates: ", parsed.ErrorText()));
  }
  auto searcher = search::Searcher::Create(parsed.spec);
  if (!searcher.ok()) return searcher.status();
  auto epochs = store_->ListSweepEpochs(sweep.sweep_id);
  if (!epochs.ok()) return epochs.status();

  // The searcher's state is a function of the trials, their epochs and their
  // lineage, all in the store: rebuild it from them.
  std::vector<search::TrialHistory> history;
  history.reserve(trials.size());
  for (const store::TrialRecord& trial : trials) {
    search::TrialHistory& entry = history.emplace_back();
    entry.index = trial.index;
    entry.params = nlohmann::json::parse(trial.params_json, nullptr, /*allow_exceptions=*/false);
    entry.lineage = nlohmann::json::parse(trial.lineage_json, nullptr, /*allow_exceptions=*/false);
    if (!entry.params.is_object() || !entry.lineage.is_array()) {
      return absl::DataLossError(absl::StrCat("trial ", trial.trial_id, ": stored params or lineage is not valid JSON"));
    }
    entry.status = HistoryStatus(trial.state, PausesInsteadOfStopping(parsed.spec));
    auto reported = epochs->find(trial.trial_id);
    if (reported == epochs->end()) continue;
    for (const store::EpochRecord& epoch : reported->second) {
      if (epoch.epoch != static_cast<int>(entry.objectives.size()) + 1) break;  // contiguous only
      auto value = epoch.metrics.find(sweep.objective_metric);
      if (value == epoch.metrics.end()) break;
      entry.objectives.push_back(sweep.maximize ? value->second : -value->second);
    }
  }
  std::optional<double> best_oriented;
  for (const auto& [trial_id, trial_epochs] : *epochs) {
    for (const store::EpochRecord& epoch : trial_epochs) {
      auto value = epoch.metrics.find(sweep.objective_metric);
      if (value == epoch.metrics.end()) continue;
      const double oriented = sweep.maximize ? value->second : -value->second;
      if (!best_oriented || oriented > *best_oriented) best_oriented = oriented;
    }
  }
  (*searcher)->Restore(history);

  SweepRuntime& runtime = sweeps_[sweep.sweep_id];
  runtime.config_base_json = ConfigBase(parsed.spec);
  runtime.created_unix_ms = sweep.created_unix_ms;
  runtime.room_since_ms = options_.now_ms();
  runtime.best_oriented = best_oriented;
  const bool lazy = (*searcher)->TotalTrials() < 0;
  runtime.trials_planned = lazy ? parsed.spec.budget.max_trials : (*searcher)->TotalTrials();
  runtime.trials_created = static_cast<int>(trials.size());
  runtime.spec = std::move(parsed.spec);
  runtime.searcher = std::move(*searcher);
  return absl::OkStatus();
}

absl::Status Scheduler::Recover() {
  std::lock_guard<std::mutex> lock(mu_);
  auto workers = store_->ListWorkers();
  if (!workers.ok()) return workers.status();
  const std::int64_t now = options_.now_ms();
  for (const store::WorkerRecord& worker : *workers) {
    if (worker.deregistered) continue;
    // Every worker gets one lease period to show up again before Tick forgets it.
    WorkerRuntime& runtime = workers_[worker.worker_id] = NewWorkerRuntime(worker, now);
    runtime.record.last_seen_unix_ms = now;
    runtime.persisted_last_seen_ms = worker.last_seen_unix_ms;
  }
  auto sweeps = store_->ListSweeps();
  if (!sweeps.ok()) return sweeps.status();
  for (const store::SweepRecord& sweep : *sweeps) {
    if (sweep.state != SweepState::kRunning) continue;
    auto trials = store_->ListTrials(sweep.sweep_id);
    if (!trials.ok()) return trials.status();
    if (absl::Status s = LoadSweep(sweep, *trials); !s.ok()) {
      // One unreadable sweep must not keep every other sweep from running.
      spdlog::error("sweep {} is not scheduled: {}", sweep.sweep_id, s.ToString());
    }
  }
  auto unfinished = store_->ListUnfinishedTrials();
  if (!unfinished.ok()) return unfinished.status();
  for (const store::TrialRecord& trial : *unfinished) {
    auto sweep = sweeps_.find(trial.sweep_id);
    if (sweep == sweeps_.end()) continue;  // sweep ended; the trial is a leftover
    if (trial.state == TrialState::kPending) {
      QueueLocked(trial.sweep_id, trial.trial_id, /*front=*/false);
      continue;
    }
    // Two lease periods: the workers were cut off for as long as this
    // restart took, and reconnect with backoff (chaos test: with one, a
    // worker that outlived two quick restarts lost trials it was training).
    AddLeaseLocked(trial, trial.worker_id, now + 2 * options_.lease_ms, /*slot=*/-1);
    if (absl::Status s = RecordDurableEpochLocked(trial.trial_id); !s.ok()) return s;
  }
  // A crash between a promotion being due and the trial being requeued, or
  // between a sweep's last trial ending and the sweep being marked done.
  std::vector<std::string> ids;
  for (const auto& [id, runtime] : sweeps_) ids.push_back(id);
  for (const std::string& id : ids) {
    if (absl::Status s = ResumePromotedLocked(id); !s.ok()) return s;
    if (absl::Status s = MaybeCompleteSweepLocked(id); !s.ok()) return s;
  }
  ChangedLocked();
  return absl::OkStatus();
}

absl::StatusOr<SubmitResult> Scheduler::Submit(const std::string& spec_yaml) {
  spec::ParseResult parsed = spec::ParseSpec(spec_yaml);
  if (!parsed.ok()) return absl::InvalidArgumentError(parsed.ErrorText());
  auto searcher = search::Searcher::Create(parsed.spec);
  if (!searcher.ok()) return searcher.status();
  // Searchers that know every trial now have them all created, which makes
  // the whole sweep durable at submission; the others create theirs as slots
  // free up (TryAcquire).
  const bool lazy = (*searcher)->TotalTrials() < 0;
  const int planned = lazy ? parsed.spec.budget.max_trials : (*searcher)->TotalTrials();
  if (planned > options_.max_trials_per_sweep) {
    // budget.max_trials sets the count when given; otherwise the space does.
    const char* field = parsed.spec.budget.max_trials > 0 ? "budget.max_trials" : "search.space";
    return absl::InvalidArgumentError(absl::StrCat(field, ": the sweep would create ", planned,
                                                   " trials, more than this coordinator's limit of ",
                                                   options_.max_trials_per_sweep, " per sweep"));
  }
  std::vector<nlohmann::json> params = (*searcher)->Suggest(std::max(0, (*searcher)->TotalTrials()));
  if (!lazy && params.empty()) return absl::InvalidArgumentError("search.space: the space yields no trials");
  std::vector<std::string> params_json;
  params_json.reserve(params.size());
  for (const nlohmann::json& p : params) params_json.push_back(p.dump());

  std::lock_guard<std::mutex> lock(mu_);
  store::SweepRecord sweep;
  sweep.sweep_id = NewId();
  sweep.name = parsed.spec.name;
  sweep.spec_yaml = spec_yaml;
  sweep.objective_metric = parsed.spec.objective.metric;
  sweep.maximize = parsed.spec.objective.maximize;
  sweep.algorithm = parsed.spec.search.algorithm;
  sweep.epochs = parsed.spec.budget.epochs;
  sweep.parallelism = parsed.spec.budget.parallelism;
  sweep.state = SweepState::kRunning;
  sweep.created_unix_ms = options_.now_ms();
  if (absl::Status s = store_->CreateSweep(sweep, params_json); !s.ok()) return s;
  auto trials = store_->ListTrials(sweep.sweep_id);
  if (!trials.ok()) return trials.status();
  SweepRuntime& runtime = sweeps_[sweep.sweep_id];
  runtime.config_base_json = ConfigBase(parsed.spec);
  runtime.created_unix_ms = sweep.created_unix_ms;
  runtime.room_since_ms = sweep.created_unix_ms;
  runtime.trials_created = static_cast<int>(trials->size());
  runtime.trials_planned = lazy ? parsed.spec.budget.max_trials : runtime.trials_created;
  runtime.spec = std::move(parsed.spec);
  runtime.searcher = std::move(*searcher);
  for (const store::TrialRecord& trial : *trials) QueueLocked(trial.sweep_id, trial.trial_id, /*front=*/false);
  ChangedLocked();
  return SubmitResult{sweep.sweep_id, runtime.trials_planned};
}

absl::Status Scheduler::Cancel(const std::string& sweep_id) {
  std::lock_guard<std::mutex> lock(mu_);
  // Running trials end here too; their workers learn it from the next
  // heartbeat or epoch report and stop.
  const std::int64_t now = options_.now_ms();
  if (absl::Status s = store_->CancelSweep(sweep_id, "sweep cancelled", now); !s.ok()) return s;
  std::vector<std::string> leased;
  for (const auto& [trial_id, lease] : leases_) {
    if (trial_id.rfind(sweep_id + "-", 0) == 0) leased.push_back(trial_id);
  }
  for (const std::string& trial_id : leased) DropLeaseLocked(trial_id, sweep_id);
  const std::size_t queued = queue_.size();
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const Queued& queued) { return queued.sweep_id == sweep_id; }),
               queue_.end());
  trials_finished_[TrialState::kCancelled] += leased.size() + (queued - queue_.size());
  sweeps_.erase(sweep_id);
  ChangedLocked();
  return absl::OkStatus();
}

absl::StatusOr<store::WorkerRecord> Scheduler::RegisterWorker(store::WorkerRecord worker) {
  std::lock_guard<std::mutex> lock(mu_);
  worker.worker_id = absl::StrCat("w-", NewId());
  worker.registered_unix_ms = worker.last_seen_unix_ms = options_.now_ms();
  if (absl::Status s = store_->UpsertWorker(worker); !s.ok()) return s;
  WorkerRuntime& runtime = workers_[worker.worker_id] = NewWorkerRuntime(worker, worker.registered_unix_ms);
  runtime.persisted_last_seen_ms = worker.last_seen_unix_ms;
  ChangedLocked();
  return worker;
}

absl::Status Scheduler::DeregisterWorker(const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
  // Whatever it still held goes back to the queue right away.
  const std::set<std::string> held = it->second.trials;
  for (const std::string& trial_id : held) {
    if (absl::Status s = RequeueLocked(trial_id, "worker deregistered"); !s.ok()) return s;
  }
  it->second.record.deregistered = true;
  it->second.record.last_seen_unix_ms = options_.now_ms();
  if (absl::Status s = store_->UpsertWorker(it->second.record); !s.ok()) return s;
  workers_.erase(it);
  ChangedLocked();
  return absl::OkStatus();
}

absl::Status Scheduler::TouchWorkerLocked(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  // A worker known only from recovered leases has no stored registration:
  // it registers again, and its old leases expire and requeue their trials.
  if (it == workers_.end() || it->second.record.worker_id.empty()) {
    return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id, ": register again"));
  }
  // Liveness lives in memory; the store gets it at most every half lease, so
  // polls and heartbeats do not cost a disk sync each.
  const std::int64_t now = options_.now_ms();
  it->second.record.last_seen_unix_ms = now;
  if (now - it->second.persisted_last_seen_ms < options_.lease_ms / 2) return absl::OkStatus();
  if (absl::Status s = store_->UpsertWorker(it->second.record); !s.ok()) return s;
  it->second.persisted_last_seen_ms = now;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Assignment>> Scheduler::TryAcquire(const std::string& worker_id, int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = TouchWorkerLocked(worker_id); !s.ok()) return s;
  WorkerRuntime& worker = workers_[worker_id];
  if (slot < 0 || slot >= worker.record.slots) {
    return absl::InvalidArgumentError(absl::StrCat("slot: must be in [0, ", worker.record.slots,
                                                   ") for this worker's slots, got ", slot));
  }
  if (static_cast<int>(worker.trials.size()) >= worker.record.slots) return std::nullopt;

  // A sweep that creates its trials as slots free up takes its turn in
  // submission order: its new trial goes before the queued trials of
  // younger sweeps.
  if (std::optional<std::string> lazy = LazySweepWithRoomLocked()) {
    const SweepRuntime& lazy_sweep = sweeps_.at(*lazy);
    bool older_queued = false;
    for (const Queued& queued : queue_) {
      const SweepRuntime& sweep = sweeps_.at(queued.sweep_id);
      if (sweep.spec.budget.parallelism > 0 && sweep.running >= sweep.spec.budget.parallelism) continue;
      older_queued = std::tie(sweep.created_unix_ms, queued.sweep_id) < std::tie(lazy_sweep.created_unix_ms, *lazy);
      break;
    }
    if (!older_queued) {
      auto created = CreateLazyTrialLocked(*lazy);
      if (!created.ok()) return created.status();
      if (*created) return LeaseQueuedLocked(std::prev(queue_.end()), worker_id, slot);
    }
  }
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    // The cap is checked before any store read: this loop runs on every
    // dispatcher pass, and a capped sweep may have thousands of queued trials.
    const SweepRuntime& sweep = sweeps_.at(it->sweep_id);
    if (sweep.spec.budget.parallelism > 0 && sweep.running >= sweep.spec.budget.parallelism) continue;
    if (it->failed_on == worker_id && AnotherWorkerHasRoomLocked(worker_id)) continue;
    return LeaseQueuedLocked(it, worker_id, slot);
  }
  return std::nullopt;
}

bool Scheduler::AnotherWorkerHasRoomLocked(const std::string& worker_id) const {
  for (const auto& [id, worker] : workers_) {
    if (id != worker_id && static_cast<int>(worker.trials.size()) < worker.record.slots) return true;
  }
  return false;
}

absl::StatusOr<std::optional<Assignment>> Scheduler::LeaseQueuedLocked(std::deque<Queued>::iterator queued,
                                                                       const std::string& worker_id, int slot) {
  auto trial = store_->GetTrial(queued->trial_id);
  if (!trial.ok()) return trial.status();
  // Read before the lease takes the slot and may change the sweep's room.
  const WorkerRuntime& worker = workers_.at(worker_id);
  const std::int64_t slot_free_since =
      worker.free_slots_since_ms.empty() ? options_.now_ms() : *worker.free_slots_since_ms.begin();
  const std::int64_t runnable_since = std::max(queued->since_ms, sweeps_.at(queued->sweep_id).room_since_ms);
  auto assignment = LeaseLocked(*std::move(trial), worker_id, slot);
  if (!assignment.ok()) return assignment.status();
  queue_.erase(queued);
  if (options_.on_trial_scheduled) {
    const std::int64_t waited_ms = options_.now_ms() - std::max(slot_free_since, runnable_since);
    options_.on_trial_scheduled(static_cast<double>(std::max<std::int64_t>(waited_ms, 0)) / 1000.0);
  }
  return std::optional<Assignment>(*std::move(assignment));
}

absl::StatusOr<Assignment> Scheduler::LeaseLocked(store::TrialRecord trial, const std::string& worker_id,
                                                  int slot) {
  SweepRuntime& sweep = sweeps_.at(trial.sweep_id);
  auto last_durable = LastDurableEpochLocked(trial.trial_id);
  if (!last_durable.ok()) return last_durable.status();
  const int durable_epochs = last_durable->has_value() ? (*last_durable)->epoch : 0;
  trial.state = TrialState::kRunning;
  trial.attempt += 1;
  trial.worker_id = worker_id;
  trial.reason.clear();
  trial.finished_unix_ms = 0;
  if (trial.started_unix_ms == 0) trial.started_unix_ms = options_.now_ms();
  const store::AttemptRecord attempt{trial.trial_id, trial.attempt, worker_id, TrialState::kRunning, "",
                                     options_.now_ms(), 0};
  if (absl::Status s = store_->UpdateTrialAndAttempt(trial, attempt); !s.ok()) return s;
  AddLeaseLocked(trial, worker_id, options_.now_ms() + options_.lease_ms, slot);
  if (last_durable->has_value()) {
    RecordEpoch(leases_.at(trial.trial_id).stats, (*last_durable)->epoch, (*last_durable)->metrics);
  }
  // A lazy sweep's next trial may be created from now on.
  if (sweep.lazy()) sweep.room_since_ms = options_.now_ms();

  nlohmann::json config = nlohmann::json::parse(sweep.config_base_json);
  config["params"] = nlohmann::json::parse(trial.params_json);
  // A pbt member that exploited another starts from the donor's checkpoint
  // of that epoch and changes its hyperparameters there. The worker gets the
  // last exploit on every later attempt too: without a checkpoint it must
  // fail rather than replay epochs its own weights never trained.
  const nlohmann::json lineage = nlohmann::json::parse(trial.lineage_json, nullptr, false);
  if (lineage.is_array() && !lineage.empty() && lineage.back().is_object() &&
      lineage.back().contains("resume") && lineage.back()["resume"].is_object()) {
    config["exploit"] = lineage.back()["resume"];
  }
  ChangedLocked();
  // A retried trial resumes after its durable epochs: the worker loads the
  // last one's checkpoint (or, without one, replays them: training is
  // deterministic) and reports only the rest, so no epoch is trained into
  // two different rows. Promoted trials (asha) resume the same way.
  return Assignment{trial.trial_id, trial.sweep_id, trial.attempt, config.dump(), durable_epochs};
}

std::optional<std::string> Scheduler::LazySweepWithRoomLocked() const {
  const std::pair<const std::string, SweepRuntime>* oldest = nullptr;
  for (const auto& entry : sweeps_) {
    const SweepRuntime& sweep = entry.second;
    if (!sweep.lazy() || sweep.trials_created >= sweep.trials_planned) continue;
    if (sweep.spec.budget.parallelism > 0 && sweep.running >= sweep.spec.budget.parallelism) continue;
    // One queued trial at a time: the next suggestion waits for more results.
    const bool queued = std::any_of(queue_.begin(), queue_.end(),
                                    [&](const Queued& q) { return q.sweep_id == entry.first; });
    if (queued) continue;
    if (oldest == nullptr ||
        std::tie(sweep.created_unix_ms, entry.first) < std::tie(oldest->second.created_unix_ms, oldest->first)) {
      oldest = &entry;
    }
  }
  if (oldest == nullptr) return std::nullopt;
  return oldest->first;
}

absl::StatusOr<bool> Scheduler::CreateLazyTrialLocked(const std::string& sweep_id) {
  SweepRuntime& sweep = sweeps_.at(sweep_id);
  std::vector<nlohmann::json> params = sweep.searcher->Suggest(1);
  if (params.empty()) return false;
  if (absl::Status s = store_->AddTrials(sweep_id, {params.front().dump()}); !s.ok()) {
    // The searcher counted a trial the store does not have: rebuild it from the store.
    auto record = store_->GetSweep(sweep_id);
    auto trials = store_->ListTrials(sweep_id);
    if (record.ok() && trials.ok()) {
      if (absl::Status reloaded = LoadSweep(*record, *trials); !reloaded.ok()) return reloaded;
    }
    return s;
  }
  // Queued first, leased by the caller: a failed lease leaves it in the queue.
  queue_.push_back({sweep_id, store::TrialId(sweep_id, sweep.trials_created), sweep.room_since_ms, /*failed_on=*/""});
  sweep.trials_created++;
  ChangedLocked();
  return true;
}

absl::StatusOr<std::vector<std::string>> Scheduler::Heartbeat(const std::string& worker_id,
                                                              const std::vector<RunningTrialRef>& running,
                                                              const std::vector<SlotUsage>& slots) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = TouchWorkerLocked(worker_id); !s.ok()) return s;
  WorkerRuntime& worker = workers_.at(worker_id);
  if (!slots.empty()) {
    std::vector<bool> reported(worker.clocks.size(), false);
    for (const SlotUsage& usage : slots) {
      if (usage.slot < 0 || usage.slot >= static_cast<int>(worker.clocks.size())) {
        return absl::InvalidArgumentError(absl::StrCat("slots.slot: must be in [0, ", worker.clocks.size(),
                                                       ") for this worker's slots, got ", usage.slot));
      }
      if (reported[usage.slot]) {
        return absl::InvalidArgumentError(absl::StrCat("slots.slot: slot ", usage.slot, " is listed twice"));
      }
      reported[usage.slot] = true;
    }
    RecordSlotTimesLocked(worker, slots);
  }
  std::vector<std::string> stop;
  const std::int64_t expires = options_.now_ms() + options_.lease_ms;
  for (const RunningTrialRef& ref : running) {
    auto lease = leases_.find(ref.trial_id);
    if (lease == leases_.end() || lease->second.worker_id != worker_id ||
        lease->second.attempt != ref.attempt) {
      stop.push_back(ref.trial_id);  // cancelled, finished, or re-leased elsewhere
      continue;
    }
    lease->second.expires_ms = expires;
  }
  return stop;
}

absl::StatusOr<EpochDecision> Scheduler::ReportEpoch(const std::string& worker_id,
                                                     const std::string& trial_id, int attempt, int epoch,
                                                     const std::map<std::string, double>& metrics) {
  std::promise<absl::StatusOr<EpochDecision>> answer;
  std::future<absl::StatusOr<EpochDecision>> answered = answer.get_future();
  ReportEpochAsync(worker_id, trial_id, attempt, epoch, metrics,
                   [&answer](absl::StatusOr<EpochDecision> decision) { answer.set_value(std::move(decision)); });
  return answered.get();
}

void Scheduler::ReportEpochAsync(const std::string& worker_id, const std::string& trial_id, int attempt,
                                 int epoch, const std::map<std::string, double>& metrics, EpochReportDone done) {
  absl::StatusOr<PendingReport> report;
  {
    std::lock_guard<std::mutex> lock(mu_);
    report = PrepareReportLocked(worker_id, trial_id, attempt, epoch, metrics);
    if (report.ok()) {
      // Queued under mu_, so reports reach the committer in the order they
      // were checked in.
      report->done = std::move(done);
      {
        std::lock_guard<std::mutex> commit_lock(commit_mu_);
        pending_reports_.push_back(*std::move(report));
      }
      commit_wanted_.notify_one();
      return;
    }
  }
  done(report.status());
}

void Scheduler::CommitReports() {
  std::vector<store::EpochRecord> records;
  for (;;) {
    CommittedBatch batch;
    {
      std::unique_lock<std::mutex> lock(commit_mu_);
      commit_wanted_.wait(lock, [&] { return !pending_reports_.empty() || stop_committing_; });
      if (pending_reports_.empty()) return;  // stopping, and every report was written
      batch.reports.swap(pending_reports_);
    }
    records.clear();
    for (const PendingReport& report : batch.reports) records.push_back(report.record);
    // Without mu_: the disk sync must not hold up leases, polls and reads.
    batch.inserted = store_->InsertEpochs(records);
    {
      std::lock_guard<std::mutex> lock(answer_mu_);
      committed_.push_back(std::move(batch));
    }
    answer_wanted_.notify_one();
  }
}

void Scheduler::AnswerReports() {
  std::vector<absl::StatusOr<EpochDecision>> answers;
  for (;;) {
    CommittedBatch batch;
    {
      std::unique_lock<std::mutex> lock(answer_mu_);
      answer_wanted_.wait(lock, [&] { return !committed_.empty() || stop_answering_; });
      if (committed_.empty()) return;  // stopping, and every report was answered
      batch = std::move(committed_.front());
      committed_.pop_front();
    }
    answers.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::size_t i = 0; i < batch.reports.size(); ++i) {
        answers.push_back(batch.inserted.ok() ? CompleteReportLocked(batch.reports[i], (*batch.inserted)[i])
                                              : absl::StatusOr<EpochDecision>(batch.inserted.status()));
      }
    }
    // Outside mu_: answering sends the replies.
    for (std::size_t i = 0; i < batch.reports.size(); ++i) batch.reports[i].done(std::move(answers[i]));
  }
}

absl::StatusOr<Scheduler::PendingReport> Scheduler::PrepareReportLocked(
    const std::string& worker_id, const std::string& trial_id, int attempt, int epoch,
    const std::map<std::string, double>& metrics) {
  PendingReport report;
  report.worker_id = worker_id;
  int epochs = 0;
  std::string objective_metric;
  bool holds_lease = false;
  auto lease = leases_.find(trial_id);
  const auto sweep = lease == leases_.end() ? sweeps_.end() : sweeps_.find(lease->second.stats.sweep_id);
  if (sweep != sweeps_.end()) {
    // The common case, answered from memory.
    holds_lease = lease->second.worker_id == worker_id && lease->second.attempt == attempt;
    epochs = sweep->second.spec.budget.epochs;
    objective_metric = sweep->second.spec.objective.metric;
  } else {
    auto trial = store_->GetTrial(trial_id);
    if (!trial.ok()) return trial.status();
    auto sweep_record = store_->GetSweep(trial->sweep_id);
    if (!sweep_record.ok()) return sweep_record.status();
    epochs = sweep_record->epochs;
    objective_metric = sweep_record->objective_metric;
    // The trial may have been cancelled while this epoch ran.
    report.cancelled =
        trial->state == TrialState::kCancelled && trial->attempt == attempt && trial->worker_id == worker_id;
  }
  if (epoch < 1 || epoch > epochs) {
    return absl::InvalidArgumentError(absl::StrCat("epoch: must be in [1, ", epochs, "], got ", epoch));
  }
  for (const auto& [name, value] : metrics) {
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat("metrics.", name, ": must be finite"));
    }
  }
  if (metrics.count(objective_metric) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: the objective metric ", objective_metric, " is missing"));
  }
  if (!holds_lease && !report.cancelled) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " attempt ", attempt, " no longer holds a lease"));
  }
  report.record = store::EpochRecord{trial_id, epoch, attempt, metrics, options_.now_ms()};
  return report;
}

absl::StatusOr<EpochDecision> Scheduler::CompleteReportLocked(const PendingReport& report,
                                                              const absl::StatusOr<store::EpochInsert>& inserted) {
  if (!inserted.ok()) return inserted.status();
  const store::EpochRecord& record = report.record;
  if (report.cancelled) return EpochDecision{true, "sweep cancelled"};
  auto lease = leases_.find(record.trial_id);
  if (lease == leases_.end() || lease->second.worker_id != report.worker_id ||
      lease->second.attempt != record.attempt) {
    // The lease ended between the check and the commit. The row stays: it
    // is this attempt's, and a newer attempt's report of the same epoch
    // replaces it.
    auto trial = store_->GetTrial(record.trial_id);
    if (!trial.ok()) return trial.status();
    if (trial->state == TrialState::kCancelled && trial->attempt == record.attempt &&
        trial->worker_id == report.worker_id) {
      return EpochDecision{true, "sweep cancelled"};
    }
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", record.trial_id, " attempt ", record.attempt, " no longer holds a lease"));
  }
  lease->second.expires_ms = options_.now_ms() + options_.lease_ms;
  if (absl::Status s = TouchWorkerLocked(report.worker_id); !s.ok()) return s;
  if (*inserted == store::EpochInsert::kDuplicate) {
    // A retry whose first reply was lost: answer what was answered then.
    auto last = last_decisions_.find(record.trial_id);
    if (last != last_decisions_.end() && last->second.attempt == record.attempt &&
        last->second.epoch == record.epoch) {
      return last->second.decision;
    }
    return EpochDecision{};
  }
  epochs_reported_++;
  ChangedLocked();
  const std::string sweep_id = lease->second.stats.sweep_id;
  SweepRuntime& sweep = sweeps_.at(sweep_id);
  const double objective = record.metrics.at(sweep.spec.objective.metric);
  const double oriented = sweep.spec.objective.maximize ? objective : -objective;
  sweep.epochs_reported++;
  if (!sweep.best_oriented || oriented > *sweep.best_oriented) sweep.best_oriented = oriented;
  RecordEpoch(lease->second.stats, record.epoch, record.metrics);
  if (absl::Status s = TrackBestEpochLocked(lease->second, sweep, record.epoch, oriented); !s.ok()) {
    // Only checkpoint retention needs it: keep every checkpoint this time
    // (best_epoch 0) rather than keep the searcher from seeing the epoch.
    spdlog::warn("trial {}: cannot read its earlier epochs, keeping its checkpoints: {}", record.trial_id,
                 s.ToString());
  }
  const int best_epoch = lease->second.best_epoch;
  search::Verdict verdict = sweep.searcher->OnEpoch(lease->second.index, record.epoch, oriented);
  // May end the sweep (and its runtime) when this was its last trial.
  auto decision = ApplyVerdictLocked(record.trial_id, sweep_id, record.epoch, std::move(verdict));
  if (!decision.ok()) return decision.status();
  decision->best_epoch = best_epoch;
  if (leases_.count(record.trial_id) > 0) {
    last_decisions_[record.trial_id] = LastDecision{record.attempt, record.epoch, *decision};
  }
  return decision;
}

absl::Status Scheduler::TrackBestEpochLocked(Lease& lease, const SweepRuntime& sweep, int epoch, double oriented) {
  if (lease.best_epoch > 0) {
    if (oriented > lease.best_oriented) {
      lease.best_epoch = epoch;
      lease.best_oriented = oriented;
    }
    return absl::OkStatus();
  }
  // The lease's first report: earlier attempts' epochs count too. Read once
  // per lease, so a report costs no read of the trial's whole history.
  auto epochs = store_->ListEpochs(lease.stats.trial_id);
  if (!epochs.ok()) return epochs.status();
  for (const store::EpochRecord& stored : *epochs) {
    auto value = stored.metrics.find(sweep.spec.objective.metric);
    if (value == stored.metrics.end()) continue;
    const double stored_oriented = sweep.spec.objective.maximize ? value->second : -value->second;
    if (lease.best_epoch == 0 || stored_oriented > lease.best_oriented) {
      lease.best_epoch = stored.epoch;
      lease.best_oriented = stored_oriented;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EpochDecision> Scheduler::ApplyVerdictLocked(const std::string& trial_id,
                                                            const std::string& sweep_id, int epoch,
                                                            search::Verdict verdict) {
  switch (verdict.decision) {
    case search::Decision::kContinue:
      break;
    case search::Decision::kStop:
      // The worker ends the attempt as STOPPED (FinishTrial) with this reason.
      return EpochDecision{true, verdict.reason.empty() ? "stopped early by the searcher" : verdict.reason};
    case search::Decision::kPause: {
      auto trial = store_->GetTrial(trial_id);
      if (!trial.ok()) return trial.status();
      if (verdict.exploit) {
        auto exploited = ExploitLocked(*trial, *verdict.exploit);
        if (!exploited.ok()) return exploited.status();
        if (*exploited) return EpochDecision{true, verdict.reason};
        // The member keeps its own weights and params.
        sweeps_.at(sweep_id).searcher->OnExploitFailed(trial->index, epoch);
        break;
      }
      // Paused in its rung: STOPPED until the searcher promotes it. The
      // worker's own STOPPED report that follows finds it ended already.
      const store::AttemptRecord attempt = AttemptEnd(*trial, TrialState::kStopped, verdict.reason, options_.now_ms());
      trial->state = TrialState::kStopped;
      trial->reason = verdict.reason;
      trial->finished_unix_ms = options_.now_ms();
      if (absl::Status s = store_->UpdateTrialAndAttempt(*trial, attempt); !s.ok()) return s;
      DropLeaseLocked(trial_id, sweep_id);
      // Counted as it stands: most paused trials are never promoted.
      trials_finished_[TrialState::kStopped]++;
      ChangedLocked();
      if (absl::Status s = ResumePromotedLocked(sweep_id); !s.ok()) return s;
      if (absl::Status s = MaybeCompleteSweepLocked(sweep_id); !s.ok()) return s;
      return EpochDecision{true, verdict.reason};
    }
  }
  // A result may promote trials paused earlier.
  if (absl::Status s = ResumePromotedLocked(sweep_id); !s.ok()) return s;
  return EpochDecision{};
}

absl::StatusOr<bool> Scheduler::ExploitLocked(store::TrialRecord& trial, const search::Exploit& exploit) {
  const std::string donor = store::TrialId(trial.sweep_id, exploit.donor_index);
  if (options_.checkpoints == nullptr) {
    spdlog::warn("trial {}: pbt cannot copy trial {}'s checkpoint without a checkpoint store", trial.trial_id, donor);
    return false;
  }
  if (absl::Status s = options_.checkpoints->CopyCheckpoint(donor, exploit.epoch, trial.trial_id); !s.ok()) {
    spdlog::warn("trial {}: keeps its own weights: cannot copy trial {}'s checkpoint of epoch {}: {}",
                 trial.trial_id, donor, exploit.epoch, s.ToString());
    return false;
  }
  nlohmann::json lineage = nlohmann::json::parse(trial.lineage_json, nullptr, false);
  if (!lineage.is_array()) lineage = nlohmann::json::array();
  nlohmann::json entry = exploit.lineage_entry;
  entry["resume"] = exploit.resume;
  lineage.push_back(std::move(entry));
  const std::string reason = "exploiting trial " + donor;
  const store::AttemptRecord attempt = AttemptEnd(trial, TrialState::kStopped, reason, options_.now_ms());
  trial.params_json = exploit.params.dump();
  trial.lineage_json = lineage.dump();
  trial.state = TrialState::kPending;
  trial.worker_id.clear();
  trial.reason = reason;
  if (absl::Status s = store_->UpdateTrialAndAttempt(trial, attempt); !s.ok()) {
    // The member's checkpoint of this epoch is the donor's now, but the
    // worker trains on from its own weights in memory; its retried report
    // is answered "continue".
    sweeps_.at(trial.sweep_id).searcher->OnExploitFailed(trial.index, exploit.epoch);
    return s;
  }
  DropLeaseLocked(trial.trial_id, trial.sweep_id);
  // It was running a moment ago: it goes before anything still queued.
  QueueLocked(trial.sweep_id, trial.trial_id, /*front=*/true);
  ChangedLocked();
  return true;
}

absl::Status Scheduler::ResumePromotedLocked(const std::string& sweep_id) {
  auto sweep = sweeps_.find(sweep_id);
  if (sweep == sweeps_.end()) return absl::OkStatus();
  for (int index : sweep->second.searcher->TakeResumes()) {
    auto trial = store_->GetTrial(store::TrialId(sweep_id, index));
    if (!trial.ok()) return trial.status();
    if (trial->state != TrialState::kStopped) continue;  // ended otherwise meanwhile
    trial->state = TrialState::kPending;
    trial->worker_id.clear();
    trial->reason = "promoted: continues from its checkpoint";
    trial->finished_unix_ms = 0;
    if (absl::Status s = store_->UpdateTrial(*trial); !s.ok()) return s;
    QueueLocked(sweep_id, trial->trial_id, /*front=*/true);
    ChangedLocked();
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Scheduler::CheckpointEpochs(const std::string& worker_id, const std::string& trial_id,
                                                int attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  auto trial = store_->GetTrial(trial_id);
  if (!trial.ok()) return trial.status();
  auto lease = leases_.find(trial_id);
  const bool holds_lease =
      lease != leases_.end() && lease->second.worker_id == worker_id && lease->second.attempt == attempt;
  // As in ReportEpoch: the epoch that was running when the sweep was
  // cancelled is kept, and so is its checkpoint.
  const bool cancelled_while_running =
      trial->state == TrialState::kCancelled && trial->attempt == attempt && trial->worker_id == worker_id;
  if (!holds_lease && !cancelled_while_running) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " attempt ", attempt, " no longer holds a lease"));
  }
  auto sweep = store_->GetSweep(trial->sweep_id);
  if (!sweep.ok()) return sweep.status();
  return sweep->epochs;
}

int Scheduler::CheckpointsKeptEvery(const std::string& trial_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  // Trial ids are "<sweep_id>-<index>".
  const std::string sweep_id = trial_id.substr(0, trial_id.rfind('-'));
  auto sweep = sweeps_.find(sweep_id);
  if (sweep == sweeps_.end() || sweep->second.spec.search.algorithm != "pbt") return 0;
  return sweep->second.spec.search.pbt.perturbation_interval;
}

absl::StatusOr<std::optional<store::EpochRecord>> Scheduler::LastDurableEpochLocked(const std::string& trial_id) {
  auto epochs = store_->ListEpochs(trial_id);
  if (!epochs.ok()) return epochs.status();
  std::optional<store::EpochRecord> last;
  for (store::EpochRecord& epoch : *epochs) {
    if (epoch.epoch != (last ? last->epoch : 0) + 1) break;
    last = std::move(epoch);
  }
  return last;
}

absl::StatusOr<int> Scheduler::DurableEpochsLocked(const std::string& trial_id) {
  auto last = LastDurableEpochLocked(trial_id);
  if (!last.ok()) return last.status();
  return last->has_value() ? (*last)->epoch : 0;
}

absl::Status Scheduler::RecordDurableEpochLocked(const std::string& trial_id) {
  auto last = LastDurableEpochLocked(trial_id);
  if (!last.ok()) return last.status();
  if (last->has_value()) RecordEpoch(leases_.at(trial_id).stats, (*last)->epoch, (*last)->metrics);
  return absl::OkStatus();
}

absl::Status Scheduler::FinishTrial(const std::string& worker_id, const std::string& trial_id, int attempt,
                                    TrialState state, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  auto lease = leases_.find(trial_id);
  if (lease == leases_.end() || lease->second.worker_id != worker_id || lease->second.attempt != attempt) {
    auto trial = store_->GetTrial(trial_id);
    if (!trial.ok()) return trial.status();
    // Ending a trial that already ended (cancelled, paused, or a retried
    // Finish) is fine, and so is the STOPPED that answers a searcher's pause
    // or exploit after the searcher requeued the trial (asha promotion,
    // pbt), and the FAILED whose trial was requeued for a retry; the sweep
    // may still need closing if the first try failed midway.
    const bool requeued = trial->state == TrialState::kPending &&
                          (state == TrialState::kStopped || state == TrialState::kFailed);
    if ((store::IsFinal(trial->state) || requeued) && trial->attempt == attempt) {
      return MaybeCompleteSweepLocked(trial->sweep_id);
    }
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " attempt ", attempt, " no longer holds a lease"));
  }
  if (state == TrialState::kRunning) {
    return absl::InvalidArgumentError("state: RUNNING does not end a trial");
  }
  if (state == TrialState::kPending) {
    return RequeueLocked(trial_id, reason.empty() ? "released" : reason);
  }
  auto trial = store_->GetTrial(trial_id);
  if (!trial.ok()) return trial.status();
  if (state == TrialState::kFailed) {
    // A training exception may be the worker's (out of memory, a bad disk):
    // another attempt may succeed, up to budget.max_retries.
    if (absl::Status s = RetryOrFailLocked(*std::move(trial), reason.empty() ? "failed" : reason); !s.ok()) {
      return s;
    }
    ChangedLocked();
    return absl::OkStatus();
  }
  if (state == TrialState::kCompleted) {
    auto durable = DurableEpochsLocked(trial_id);
    if (!durable.ok()) return durable.status();
    const int epochs = sweeps_.at(trial->sweep_id).spec.budget.epochs;
    if (*durable < epochs) {
      return absl::InvalidArgumentError(absl::StrCat("state: COMPLETED needs epochs 1..", epochs,
                                                     " reported, but only 1..", *durable, " are"));
    }
  }
  if (absl::Status s = FinishLocked(*trial, state, reason, reason); !s.ok()) return s;
  if (absl::Status s = MaybeCompleteSweepLocked(trial->sweep_id); !s.ok()) return s;
  ChangedLocked();
  return absl::OkStatus();
}

void Scheduler::AddLeaseLocked(const store::TrialRecord& trial, const std::string& worker_id,
                               std::int64_t expires_ms, int slot) {
  SweepRuntime& sweep = sweeps_.at(trial.sweep_id);
  WorkerRuntime& worker = workers_[worker_id];
  Lease& lease = leases_[trial.trial_id] =
      Lease{worker_id, trial.attempt, expires_ms, trial.index, TrialLabels(trial, sweep.spec.budget.epochs)};
  lease.slot = PlaceOnSlotLocked(worker, slot);
  lease.slot_guessed = slot < 0;
  worker.trials.insert(trial.trial_id);
  if (!worker.free_slots_since_ms.empty()) worker.free_slots_since_ms.erase(worker.free_slots_since_ms.begin());
  sweep.running++;
}

int Scheduler::PlaceOnSlotLocked(const WorkerRuntime& worker, int slot) {
  std::vector<Lease*> holder(worker.slot_devices.size(), nullptr);
  for (const std::string& trial_id : worker.trials) {
    auto lease = leases_.find(trial_id);
    if (lease != leases_.end() && lease->second.slot >= 0) holder[lease->second.slot] = &lease->second;
  }
  // The first slot holding no lease, on `device` unless it is null; -1 if none.
  auto first_free = [&](const std::string* device) {
    for (std::size_t other = 0; other < holder.size(); ++other) {
      if (holder[other] == nullptr && (device == nullptr || worker.slot_devices[other] == *device)) {
        return static_cast<int>(other);
      }
    }
    return -1;
  };
  if (slot < 0) return first_free(nullptr);
  if (holder[slot] == nullptr) return slot;
  if (holder[slot]->slot_guessed) {
    // The worker asks from this slot, so the trial recovered onto it trains elsewhere.
    holder[slot]->slot = first_free(nullptr);
    return slot;
  }
  // Every slot of the device is held: the earlier lease on `slot` is one its
  // worker gave up on, and the slot counts once (DevicesLocked).
  const int same_device = first_free(&worker.slot_devices[slot]);
  return same_device >= 0 ? same_device : slot;
}

Scheduler::WorkerRuntime Scheduler::NewWorkerRuntime(const store::WorkerRecord& record, std::int64_t now) {
  WorkerRuntime runtime;
  runtime.record = record;
  runtime.slot_devices = SlotDevices(record);
  runtime.clocks.resize(runtime.slot_devices.size());
  for (int slot = 0; slot < record.slots; ++slot) runtime.free_slots_since_ms.insert(now);
  return runtime;
}

void Scheduler::RecordSlotTimesLocked(WorkerRuntime& worker, const std::vector<SlotUsage>& slots) {
  // A slot missing from this heartbeat did not move since the last one.
  for (SlotClock& clock : worker.clocks) clock.previous = clock.latest;
  for (const SlotUsage& usage : slots) {
    SlotClock& clock = worker.clocks[usage.slot];
    if (!clock.seen) {
      clock = SlotClock{true, usage.training_seconds, usage.training_seconds, usage.training_seconds};
      continue;
    }
    // The worker's clocks never go back; one that did must not count negative time.
    clock.latest = std::max(clock.latest, usage.training_seconds);
  }
  worker.previous_sample_ms = worker.latest_sample_ms;
  worker.latest_sample_ms = options_.now_ms();
}

std::vector<DeviceUsage> Scheduler::DevicesLocked(const WorkerRuntime& worker) const {
  std::vector<DeviceUsage> devices = IdleDevices(worker.record);
  std::vector<std::size_t> device_of_slot;  // index into `devices`
  for (const std::string& device : worker.slot_devices) {
    auto it = std::find_if(devices.begin(), devices.end(), [&](const DeviceUsage& d) { return d.device == device; });
    device_of_slot.push_back(static_cast<std::size_t>(it - devices.begin()));
  }
  std::vector<bool> busy(worker.slot_devices.size(), false);
  for (const std::string& trial_id : worker.trials) {
    auto lease = leases_.find(trial_id);
    if (lease != leases_.end() && lease->second.slot >= 0) busy[lease->second.slot] = true;
  }
  // Utilization needs two heartbeats with slot times some time apart.
  const bool sampled_twice = worker.previous_sample_ms > 0 && worker.latest_sample_ms > worker.previous_sample_ms;
  const double interval_s = static_cast<double>(worker.latest_sample_ms - worker.previous_sample_ms) / 1000.0;
  std::vector<double> trained_in_interval(devices.size(), 0.0);
  for (std::size_t slot = 0; slot < worker.slot_devices.size(); ++slot) {
    DeviceUsage& device = devices[device_of_slot[slot]];
    if (busy[slot]) device.busy_slots++;
    const SlotClock& clock = worker.clocks[slot];
    if (!clock.seen) continue;
    device.training_seconds += clock.latest - clock.first;
    trained_in_interval[device_of_slot[slot]] += clock.latest - clock.previous;
  }
  if (sampled_twice) {
    for (std::size_t i = 0; i < devices.size(); ++i) {
      devices[i].utilization = std::clamp(trained_in_interval[i] / (interval_s * devices[i].slots), 0.0, 1.0);
    }
  }
  return devices;
}

void Scheduler::DropLeaseLocked(const std::string& trial_id, const std::string& sweep_id) {
  auto lease = leases_.find(trial_id);
  if (lease == leases_.end()) return;
  const std::int64_t now = options_.now_ms();
  if (auto worker = workers_.find(lease->second.worker_id); worker != workers_.end()) {
    if (worker->second.trials.erase(trial_id) > 0) worker->second.free_slots_since_ms.insert(now);
  }
  if (auto sweep = sweeps_.find(sweep_id); sweep != sweeps_.end()) {
    const int cap = sweep->second.spec.budget.parallelism;
    if (cap > 0 && sweep->second.running == cap) sweep->second.room_since_ms = now;
    sweep->second.running--;
  }
  leases_.erase(lease);
  last_decisions_.erase(trial_id);
}

void Scheduler::QueueLocked(const std::string& sweep_id, const std::string& trial_id, bool front) {
  Queued queued{sweep_id, trial_id, options_.now_ms(), /*failed_on=*/""};
  if (front) {
    queue_.push_front(std::move(queued));
  } else {
    queue_.push_back(std::move(queued));
  }
}

// Store first, memory after: a failed write leaves the lease as it was, so
// Tick or the worker's retry tries again, and no trial is ever in neither the
// queue nor the leases.
absl::Status Scheduler::FinishLocked(store::TrialRecord trial, TrialState state, const std::string& reason,
                                     const std::string& attempt_reason) {
  const store::AttemptRecord attempt = AttemptEnd(trial, state, attempt_reason, options_.now_ms());
  trial.state = state;
  trial.reason = reason;
  trial.finished_unix_ms = options_.now_ms();
  if (absl::Status s = store_->UpdateTrialAndAttempt(trial, attempt); !s.ok()) return s;
  DropLeaseLocked(trial.trial_id, trial.sweep_id);
  trials_finished_[state]++;
  auto sweep = sweeps_.find(trial.sweep_id);
  if (sweep == sweeps_.end()) return absl::OkStatus();
  if (std::optional<search::TrialEnd> end = EndOf(state)) sweep->second.searcher->OnTrialEnd(trial.index, *end);
  // A trial that ended (a diverged one counts as the worst) may promote others.
  return ResumePromotedLocked(trial.sweep_id);
}

absl::Status Scheduler::RetryOrFailLocked(store::TrialRecord trial, const std::string& why) {
  // Failures are counted from the attempts table, so a restart keeps them;
  // pauses, exploits and releases are not failures.
  auto attempts = store_->ListAttempts(trial.trial_id);
  if (!attempts.ok()) return attempts.status();
  const int failures = 1 + static_cast<int>(std::count_if(
                               attempts->begin(), attempts->end(), [&](const store::AttemptRecord& a) {
                                 return a.state == TrialState::kFailed && a.attempt != trial.attempt;
                               }));
  auto sweep = sweeps_.find(trial.sweep_id);
  const int max_retries = sweep == sweeps_.end() ? 0 : sweep->second.spec.budget.max_retries;
  if (failures > max_retries) {
    const std::string summary = absl::StrCat("failed ", failures, failures == 1 ? " time" : " times", "; last: ", why);
    if (absl::Status s = FinishLocked(trial, TrialState::kFailed, summary, why); !s.ok()) return s;
    return MaybeCompleteSweepLocked(trial.sweep_id);
  }
  return RequeueAttemptLocked(std::move(trial), TrialState::kFailed, why,
                              absl::StrCat("retry ", failures, " of ", max_retries, " after: ", why));
}

absl::Status Scheduler::RequeueLocked(const std::string& trial_id, const std::string& why) {
  auto trial = store_->GetTrial(trial_id);
  if (!trial.ok()) return trial.status();
  return RequeueAttemptLocked(*std::move(trial), TrialState::kPending, why, why);
}

absl::Status Scheduler::RequeueAttemptLocked(store::TrialRecord trial, TrialState attempt_state,
                                             const std::string& attempt_reason, const std::string& trial_reason) {
  const store::AttemptRecord attempt = AttemptEnd(trial, attempt_state, attempt_reason, options_.now_ms());
  trial.state = TrialState::kPending;
  trial.worker_id.clear();
  trial.reason = trial_reason;
  if (absl::Status s = store_->UpdateTrialAndAttempt(trial, attempt); !s.ok()) return s;
  DropLeaseLocked(trial.trial_id, trial.sweep_id);
  // Retried trials go first: they were started before anything still queued.
  QueueLocked(trial.sweep_id, trial.trial_id, /*front=*/true);
  if (attempt_state == TrialState::kFailed) queue_.front().failed_on = attempt.worker_id;
  ChangedLocked();
  return absl::OkStatus();
}

absl::Status Scheduler::MaybeCompleteSweepLocked(const std::string& sweep_id) {
  auto runtime = sweeps_.find(sweep_id);
  // Trials still to be created one per free slot keep the sweep going.
  if (runtime != sweeps_.end() && runtime->second.trials_created < runtime->second.trials_planned) {
    return absl::OkStatus();
  }
  // A leased trial is RUNNING: known without a read, and true of almost
  // every call while a sweep is busy (this runs whenever a trial ends).
  if (runtime != sweeps_.end() && runtime->second.running > 0) return absl::OkStatus();
  auto counts = store_->CountTrials(sweep_id);
  if (!counts.ok()) return counts.status();
  for (const auto& [state, count] : *counts) {
    if (count > 0 && !store::IsFinal(state)) return absl::OkStatus();
  }
  // Trials paused in a rung that nothing can promote any more stay STOPPED.
  sweeps_.erase(sweep_id);
  return store_->SetSweepState(sweep_id, SweepState::kCompleted, options_.now_ms());
}

absl::Status Scheduler::Tick() {
  std::lock_guard<std::mutex> lock(mu_);
  const std::int64_t now = options_.now_ms();
  std::vector<std::string> expired;
  for (const auto& [trial_id, lease] : leases_) {
    if (lease.expires_ms <= now) expired.push_back(trial_id);
  }
  for (const std::string& trial_id : expired) {
    const std::string worker_id = leases_[trial_id].worker_id;
    leases_expired_++;
    auto trial = store_->GetTrial(trial_id);
    if (!trial.ok()) return trial.status();
    // A failed write leaves the lease in place, so the next tick retries it.
    absl::Status s = RetryOrFailLocked(*std::move(trial), absl::StrCat("lease expired on worker ", worker_id));
    if (!s.ok()) return s;
  }
  // A worker silent for a whole lease holds nothing any more (its leases just
  // expired): forget it, so slot counts stay true. If it comes back, it is
  // told NOT_FOUND and registers again.
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.trials.empty() && now - it->second.record.last_seen_unix_ms >= options_.lease_ms) {
      it = workers_.erase(it);
      ChangedLocked();
    } else {
      ++it;
    }
  }
  return absl::OkStatus();
}

std::map<std::string, Scheduler::LiveWorker> Scheduler::LiveWorkers() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, LiveWorker> live;
  for (const auto& [id, worker] : workers_) {
    LiveWorker& entry = live[id];
    entry.record = worker.record;
    entry.running_trial_ids.assign(worker.trials.begin(), worker.trials.end());
    entry.devices = DevicesLocked(worker);
  }
  return live;
}

SchedulerStats Scheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats stats;
  stats.queue_depth = static_cast<int>(queue_.size());
  stats.running_trials = static_cast<int>(leases_.size());
  stats.running_sweeps = static_cast<int>(sweeps_.size());
  stats.workers = static_cast<int>(workers_.size());
  for (const auto& [id, worker] : workers_) {
    stats.slots_total += worker.record.slots;
    stats.slots_busy += static_cast<int>(worker.trials.size());
    stats.devices[id] = DevicesLocked(worker);
  }
  stats.epochs_reported = epochs_reported_;
  stats.trials_finished = trials_finished_;
  stats.leases_expired = leases_expired_;
  for (const auto& [id, sweep] : sweeps_) {
    SweepStats& entry = stats.sweeps.emplace_back();
    entry.sweep_id = id;
    entry.objective_metric = sweep.spec.objective.metric;
    entry.trials_planned = sweep.trials_planned;
    entry.epochs_reported = sweep.epochs_reported;
    if (sweep.best_oriented) {
      entry.has_best = true;
      entry.best_value = sweep.spec.objective.maximize ? *sweep.best_oriented : -*sweep.best_oriented;
    }
  }
  stats.trials.reserve(leases_.size());
  for (const auto& [id, lease] : leases_) stats.trials.push_back(lease.stats);
  return stats;
}

void Scheduler::ChangedLocked() {
  version_++;
  changed_.notify_all();
}

std::uint64_t Scheduler::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

std::uint64_t Scheduler::WaitForChange(std::uint64_t seen, std::int64_t timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return version_ != seen; });
  return version_;
}

void Scheduler::NotifyAll() {
  std::lock_guard<std::mutex> lock(mu_);
  ChangedLocked();
}

}  // namespace segtune::scheduler
