#include "segtune/scheduler/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

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
  return base.dump();
}

}  // namespace

Scheduler::Scheduler(store::Store* store, SchedulerOptions options)
    : store_(store), options_(std::move(options)) {
  if (!options_.now_ms) const_cast<SchedulerOptions&>(options_).now_ms = SystemNowMs;
}

absl::Status Scheduler::LoadSweep(const store::SweepRecord& sweep, int trials_created) {
  spec::ParseResult parsed = spec::ParseSpec(sweep.spec_yaml);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat("stored spec of sweep ", sweep.sweep_id,
                                            " no longer validates: ", parsed.ErrorText()));
  }
  auto searcher = search::Searcher::Create(parsed.spec, trials_created);
  if (!searcher.ok()) return searcher.status();
  SweepRuntime& runtime = sweeps_[sweep.sweep_id];
  runtime.config_base_json = ConfigBase(parsed.spec);
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
    WorkerRuntime& runtime = workers_[worker.worker_id];
    runtime.record = worker;
    runtime.record.last_seen_unix_ms = now;
    runtime.persisted_last_seen_ms = worker.last_seen_unix_ms;
  }
  auto sweeps = store_->ListSweeps();
  if (!sweeps.ok()) return sweeps.status();
  for (const store::SweepRecord& sweep : *sweeps) {
    if (sweep.state != SweepState::kRunning) continue;
    auto trials = store_->ListTrials(sweep.sweep_id);
    if (!trials.ok()) return trials.status();
    if (absl::Status s = LoadSweep(sweep, static_cast<int>(trials->size())); !s.ok()) {
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
      queue_.push_back({trial.sweep_id, trial.trial_id});
      continue;
    }
    leases_[trial.trial_id] = Lease{trial.worker_id, trial.attempt, now + options_.lease_ms};
    workers_[trial.worker_id].trials.insert(trial.trial_id);
    sweep->second.running++;
  }
  // A crash between a sweep's last trial ending and the sweep being marked done.
  std::vector<std::string> ids;
  for (const auto& [id, runtime] : sweeps_) ids.push_back(id);
  for (const std::string& id : ids) {
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
  // Grid and random know every trial now; materializing them all makes the
  // whole sweep durable at submission.
  std::vector<nlohmann::json> params = (*searcher)->Suggest(std::max(0, (*searcher)->TotalTrials()));
  if (params.empty()) return absl::InvalidArgumentError("search.space: the space yields no trials");
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
  runtime.spec = std::move(parsed.spec);
  runtime.searcher = std::move(*searcher);
  for (const store::TrialRecord& trial : *trials) queue_.push_back({trial.sweep_id, trial.trial_id});
  ChangedLocked();
  return SubmitResult{sweep.sweep_id, static_cast<int>(trials->size())};
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
  trials_finished_ += leased.size() + (queued - queue_.size());
  sweeps_.erase(sweep_id);
  ChangedLocked();
  return absl::OkStatus();
}

absl::StatusOr<store::WorkerRecord> Scheduler::RegisterWorker(store::WorkerRecord worker) {
  std::lock_guard<std::mutex> lock(mu_);
  worker.worker_id = absl::StrCat("w-", NewId());
  worker.registered_unix_ms = worker.last_seen_unix_ms = options_.now_ms();
  if (absl::Status s = store_->UpsertWorker(worker); !s.ok()) return s;
  workers_[worker.worker_id].record = worker;
  workers_[worker.worker_id].persisted_last_seen_ms = worker.last_seen_unix_ms;
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
    if (absl::Status s = RequeueLocked(trial_id, "worker deregistered", /*lease_lost=*/false); !s.ok()) return s;
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
  if (it == workers_.end()) {
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

absl::StatusOr<std::optional<Assignment>> Scheduler::TryAcquire(const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = TouchWorkerLocked(worker_id); !s.ok()) return s;
  WorkerRuntime& worker = workers_[worker_id];
  if (static_cast<int>(worker.trials.size()) >= worker.record.slots) return std::nullopt;

  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    // The cap is checked before any store read: this loop runs on every
    // dispatcher pass, and a capped sweep may have thousands of queued trials.
    SweepRuntime& sweep = sweeps_.at(it->sweep_id);
    if (sweep.spec.budget.parallelism > 0 && sweep.running >= sweep.spec.budget.parallelism) continue;
    auto trial = store_->GetTrial(it->trial_id);
    if (!trial.ok()) return trial.status();
    auto durable_epochs = DurableEpochsLocked(trial->trial_id);
    if (!durable_epochs.ok()) return durable_epochs.status();

    trial->state = TrialState::kRunning;
    trial->attempt += 1;
    trial->worker_id = worker_id;
    trial->reason.clear();
    if (trial->started_unix_ms == 0) trial->started_unix_ms = options_.now_ms();
    if (absl::Status s = store_->UpdateTrial(*trial); !s.ok()) return s;
    queue_.erase(it);
    leases_[trial->trial_id] = Lease{worker_id, trial->attempt, options_.now_ms() + options_.lease_ms};
    worker.trials.insert(trial->trial_id);
    sweep.running++;

    nlohmann::json config = nlohmann::json::parse(sweep.config_base_json);
    config["params"] = nlohmann::json::parse(trial->params_json);
    ChangedLocked();
    // A retried trial resumes after its durable epochs: the worker loads the
    // last one's checkpoint (or, without one, replays them: training is
    // deterministic) and reports only the rest, so no epoch is trained into
    // two different rows.
    return Assignment{trial->trial_id, trial->sweep_id, trial->attempt, config.dump(), *durable_epochs};
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<std::string>> Scheduler::Heartbeat(
    const std::string& worker_id, const std::vector<RunningTrialRef>& running) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = TouchWorkerLocked(worker_id); !s.ok()) return s;
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
  std::lock_guard<std::mutex> lock(mu_);
  auto trial = store_->GetTrial(trial_id);
  if (!trial.ok()) return trial.status();
  auto sweep_record = store_->GetSweep(trial->sweep_id);
  if (!sweep_record.ok()) return sweep_record.status();
  if (epoch < 1 || epoch > sweep_record->epochs) {
    return absl::InvalidArgumentError(absl::StrCat("epoch: must be in [1, ", sweep_record->epochs, "], got ", epoch));
  }
  for (const auto& [name, value] : metrics) {
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat("metrics.", name, ": must be finite"));
    }
  }
  auto objective = metrics.find(sweep_record->objective_metric);
  if (objective == metrics.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: the objective metric ", sweep_record->objective_metric, " is missing"));
  }
  const store::EpochRecord record{trial_id, epoch, attempt, metrics, options_.now_ms()};

  auto lease = leases_.find(trial_id);
  if (lease == leases_.end() || lease->second.worker_id != worker_id || lease->second.attempt != attempt) {
    // The trial may have been cancelled while this epoch ran: keep the epoch
    // (never lose a metric) and tell the worker to stop.
    if (trial->state == TrialState::kCancelled && trial->attempt == attempt && trial->worker_id == worker_id) {
      if (auto inserted = store_->InsertEpoch(record); !inserted.ok()) return inserted.status();
      return EpochDecision{true, "sweep cancelled"};
    }
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " attempt ", attempt, " no longer holds a lease"));
  }
  auto inserted = store_->InsertEpoch(record);
  if (!inserted.ok()) return inserted.status();
  lease->second.expires_ms = options_.now_ms() + options_.lease_ms;
  if (absl::Status s = TouchWorkerLocked(worker_id); !s.ok()) return s;
  if (*inserted == store::EpochInsert::kDuplicate) {
    // A retry whose first reply was lost: answer what was answered then.
    auto last = last_decisions_.find(trial_id);
    if (last != last_decisions_.end() && last->second.attempt == attempt && last->second.epoch == epoch) {
      return last->second.decision;
    }
    return EpochDecision{};
  }
  epochs_reported_++;
  ChangedLocked();
  const double oriented = sweep_record->maximize ? objective->second : -objective->second;
  EpochDecision decision;
  if (sweeps_.at(trial->sweep_id).searcher->OnEpoch(trial->index, epoch, oriented) == search::Decision::kStop) {
    decision = EpochDecision{true, "stopped early by the searcher"};
  }
  last_decisions_[trial_id] = LastDecision{attempt, epoch, decision};
  return decision;
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

absl::StatusOr<int> Scheduler::DurableEpochsLocked(const std::string& trial_id) {
  auto epochs = store_->ListEpochs(trial_id);
  if (!epochs.ok()) return epochs.status();
  int contiguous = 0;
  for (const store::EpochRecord& epoch : *epochs) {
    if (epoch.epoch != contiguous + 1) break;
    contiguous = epoch.epoch;
  }
  return contiguous;
}

absl::Status Scheduler::FinishTrial(const std::string& worker_id, const std::string& trial_id, int attempt,
                                    TrialState state, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  auto lease = leases_.find(trial_id);
  if (lease == leases_.end() || lease->second.worker_id != worker_id || lease->second.attempt != attempt) {
    auto trial = store_->GetTrial(trial_id);
    if (!trial.ok()) return trial.status();
    // Ending a trial that already ended (cancelled, or a retried Finish) is
    // fine; the sweep may still need closing if the first try failed midway.
    if (store::IsFinal(trial->state) && trial->attempt == attempt) {
      return MaybeCompleteSweepLocked(trial->sweep_id);
    }
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " attempt ", attempt, " no longer holds a lease"));
  }
  if (state == TrialState::kRunning) {
    return absl::InvalidArgumentError("state: RUNNING does not end a trial");
  }
  if (state == TrialState::kPending) {
    return RequeueLocked(trial_id, reason.empty() ? "released" : reason, /*lease_lost=*/false);
  }
  auto trial = store_->GetTrial(trial_id);
  if (!trial.ok()) return trial.status();
  if (state == TrialState::kCompleted) {
    auto durable = DurableEpochsLocked(trial_id);
    if (!durable.ok()) return durable.status();
    const int epochs = sweeps_.at(trial->sweep_id).spec.budget.epochs;
    if (*durable < epochs) {
      return absl::InvalidArgumentError(absl::StrCat("state: COMPLETED needs epochs 1..", epochs,
                                                     " reported, but only 1..", *durable, " are"));
    }
  }
  if (absl::Status s = FinishLocked(*trial, state, reason); !s.ok()) return s;
  if (absl::Status s = MaybeCompleteSweepLocked(trial->sweep_id); !s.ok()) return s;
  ChangedLocked();
  return absl::OkStatus();
}

void Scheduler::DropLeaseLocked(const std::string& trial_id, const std::string& sweep_id) {
  auto lease = leases_.find(trial_id);
  if (lease == leases_.end()) return;
  if (auto worker = workers_.find(lease->second.worker_id); worker != workers_.end()) {
    worker->second.trials.erase(trial_id);
  }
  if (auto sweep = sweeps_.find(sweep_id); sweep != sweeps_.end()) sweep->second.running--;
  leases_.erase(lease);
  last_decisions_.erase(trial_id);
}

// Store first, memory after: a failed write leaves the lease as it was, so
// Tick or the worker's retry tries again, and no trial is ever in neither the
// queue nor the leases.
absl::Status Scheduler::FinishLocked(store::TrialRecord trial, TrialState state, const std::string& reason) {
  trial.state = state;
  trial.reason = reason;
  trial.finished_unix_ms = options_.now_ms();
  if (absl::Status s = store_->UpdateTrial(trial); !s.ok()) return s;
  DropLeaseLocked(trial.trial_id, trial.sweep_id);
  trials_finished_++;
  return absl::OkStatus();
}

absl::Status Scheduler::RequeueLocked(const std::string& trial_id, const std::string& why, bool lease_lost) {
  auto trial = store_->GetTrial(trial_id);
  if (!trial.ok()) return trial.status();
  if (lease_lost && trial->attempt >= options_.max_attempts) {
    absl::Status s = FinishLocked(*trial, TrialState::kFailed,
                                  absl::StrCat("lost its worker ", trial->attempt, " times (last: ", why, ")"));
    if (!s.ok()) return s;
    return MaybeCompleteSweepLocked(trial->sweep_id);
  }
  trial->state = TrialState::kPending;
  trial->worker_id.clear();
  trial->reason = why;
  if (absl::Status s = store_->UpdateTrial(*trial); !s.ok()) return s;
  DropLeaseLocked(trial_id, trial->sweep_id);
  // Retried trials go first: they were started before anything still queued.
  queue_.push_front({trial->sweep_id, trial_id});
  ChangedLocked();
  return absl::OkStatus();
}

absl::Status Scheduler::MaybeCompleteSweepLocked(const std::string& sweep_id) {
  auto trials = store_->ListTrials(sweep_id);
  if (!trials.ok()) return trials.status();
  for (const store::TrialRecord& trial : *trials) {
    if (!store::IsFinal(trial.state)) return absl::OkStatus();
  }
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
    // A failed write leaves the lease in place, so the next tick retries it.
    absl::Status s = RequeueLocked(trial_id, absl::StrCat("lease expired on worker ", worker_id), /*lease_lost=*/true);
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
  }
  stats.epochs_reported = epochs_reported_;
  stats.trials_finished = trials_finished_;
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
