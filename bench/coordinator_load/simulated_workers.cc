#include "simulated_workers.h"

#include <cmath>
#include <limits>
#include <random>
#include <unordered_set>

#include <grpc/grpc.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::bench {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// A worker's long poll when no trial is runnable; short, so that a sweep
// that ran dry shows up as starved polls instead of a silent stall.
constexpr int kAcquireWaitMs = 1000;

std::int64_t Nanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The metrics a segmentation trainer reports, shaped like a run that learns:
// losses fall and mIoU rises with the epoch, with a little per-trial noise.
// Every report of a trial differs, so nothing is cached or compressed away.
void FillMetrics(v1::ReportEpochRequest& report, int epochs, std::mt19937& rng) {
  std::uniform_real_distribution<double> noise(-0.01, 0.01);
  const double progress = static_cast<double>(report.epoch()) / epochs;
  auto& m = *report.mutable_metrics();
  m["train_loss"] = 1.2 * std::exp(-3.0 * progress) + 0.05 + noise(rng);
  m["val_loss"] = 1.3 * std::exp(-2.5 * progress) + 0.08 + noise(rng);
  m["val_miou"] = 0.25 + 0.6 * (1.0 - std::exp(-3.0 * progress)) + noise(rng);
  m["val_pixel_acc"] = 0.6 + 0.35 * (1.0 - std::exp(-3.0 * progress)) + noise(rng);
  m["lr"] = 0.01 * std::pow(0.95, report.epoch());
  m["epoch_seconds"] = 12.0 + noise(rng) * 100;
  m["images_per_second"] = 80.0 + noise(rng) * 500;
}

}  // namespace

struct SimulatedWorkers::Worker {
  std::unique_ptr<v1::WorkerHub::Stub> stub;
  std::string worker_id;
  std::mt19937 rng;
  std::string trial_id;
  int attempt = 0;
  int epoch = 0;           // the epoch being reported
  int pending = 0;         // copies of that report still unanswered
  bool stop_said = false;  // a copy's reply said stop
  bool failed = false;     // a call failed: the worker sends nothing more
  Clock::time_point last_sent;  // the last report's first copy (pacing)
};

struct SimulatedWorkers::Call {
  enum class Kind { kAcquire, kReport, kReportCopy, kFinish, kPaced };
  Kind kind;
  Worker* worker = nullptr;
  std::size_t report = 0;  // index into the shard's reports (reports only)
  Clock::time_point sent;
  grpc::ClientContext context;
  grpc::Status status;
  v1::AcquireTrialResponse acquired;
  v1::ReportEpochResponse reported;
  v1::FinishTrialResponse finished;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::AcquireTrialResponse>> acquire_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ReportEpochResponse>> report_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::FinishTrialResponse>> finish_reader;
  std::unique_ptr<grpc::Alarm> alarm;  // kPaced: fires when the next report is due

  const char* Method() const {
    switch (kind) {
      case Kind::kAcquire: return "AcquireTrial";
      case Kind::kReport:
      case Kind::kReportCopy: return "ReportEpoch";
      case Kind::kFinish: return "FinishTrial";
      case Kind::kPaced: return "pacing";
    }
    return "?";
  }
};

struct SimulatedWorkers::Shard {
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unordered_set<Call*> in_flight;
  LoadResults results;
};

SimulatedWorkers::SimulatedWorkers(LoadOptions options)
    : options_(std::move(options)), window_start_ns_(kNever), window_end_ns_(kNever), drain_deadline_ns_(kNever) {}

SimulatedWorkers::~SimulatedWorkers() {
  if (!threads_.empty()) Stop(std::chrono::milliseconds(0));
}

absl::Status SimulatedWorkers::Start() {
  const int threads = std::max(1, std::min(options_.threads, options_.workers));
  for (int t = 0; t < threads; ++t) shards_.push_back(std::make_unique<Shard>());
  for (int i = 0; i < options_.workers; ++i) {
    auto worker = std::make_unique<Worker>();
    // A local subchannel pool gives each worker its own connection instead
    // of gRPC sharing one between channels with equal arguments.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    worker->stub = v1::WorkerHub::NewStub(
        grpc::CreateCustomChannel(options_.address, grpc::InsecureChannelCredentials(), args));
    worker->rng.seed(static_cast<unsigned>(i) + 1);
    v1::RegisterWorkerRequest request;
    request.set_name(absl::StrCat("sim-", i));
    request.set_hostname("coordinator-load");
    request.set_device("cpu");
    request.set_slots(1);
    v1::RegisterWorkerResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    grpc::Status status = worker->stub->RegisterWorker(&context, request, &response);
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat("RegisterWorker of simulated worker ", i, ": ",
                                                 status.error_message()));
    }
    worker->worker_id = response.worker_id();
    shards_[i % threads]->workers.push_back(std::move(worker));
  }
  for (auto& shard : shards_) {
    threads_.emplace_back([this, s = shard.get()] {
      for (auto& worker : s->workers) Acquire(*s, *worker);
      Poll(*s);
    });
  }
  return absl::OkStatus();
}

void SimulatedWorkers::OpenWindow() { window_start_ns_ = Nanos(Clock::now()); }
void SimulatedWorkers::CloseWindow() { window_end_ns_ = Nanos(Clock::now()); }

bool SimulatedWorkers::InWindow(Clock::time_point t) const {
  const std::int64_t ns = Nanos(t);
  return ns >= window_start_ns_.load() && ns < window_end_ns_.load();
}

LoadResults SimulatedWorkers::Stop(std::chrono::milliseconds drain) {
  drain_deadline_ns_ = Nanos(Clock::now() + drain);
  stopping_ = true;
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  LoadResults all;
  for (auto& shard : shards_) {
    LoadResults& r = shard->results;
    all.reports.insert(all.reports.end(), std::make_move_iterator(r.reports.begin()),
                       std::make_move_iterator(r.reports.end()));
    all.report_ms.insert(all.report_ms.end(), r.report_ms.begin(), r.report_ms.end());
    all.acquire_ms.insert(all.acquire_ms.end(), r.acquire_ms.begin(), r.acquire_ms.end());
    all.window_reports += r.window_reports;
    all.window_copies += r.window_copies;
    all.window_finishes += r.window_finishes;
    all.stop_decisions += r.stop_decisions;
    all.starved_acquires += r.starved_acquires;
    all.errors += r.errors;
    all.cancelled_at_end += r.cancelled_at_end;
    for (const auto& [what, count] : r.error_samples) all.error_samples[what] += count;
  }
  shards_.clear();
  return all;
}

void SimulatedWorkers::Poll(Shard& shard) {
  bool cancelled = false;
  bool shut_down = false;
  while (true) {
    void* tag = nullptr;
    bool ok = false;
    // Wake up now and then to notice Stop even when nothing completes.
    const auto wake = std::chrono::system_clock::now() + std::chrono::milliseconds(50);
    const auto next = shard.queue.AsyncNext(&tag, &ok, wake);
    if (next == grpc::CompletionQueue::SHUTDOWN) return;
    if (next == grpc::CompletionQueue::GOT_EVENT) {
      auto* call = static_cast<Call*>(tag);
      shard.in_flight.erase(call);
      OnDone(shard, std::unique_ptr<Call>(call));
    }
    if (!stopping_ || shut_down) continue;
    if (shard.in_flight.empty()) {
      shard.queue.Shutdown();  // drained: AsyncNext answers SHUTDOWN next
      shut_down = true;
    } else if (!cancelled && Nanos(Clock::now()) >= drain_deadline_ns_.load()) {
      for (Call* call : shard.in_flight) {
        if (call->alarm) {
          call->alarm->Cancel();
        } else {
          call->context.TryCancel();
        }
      }
      cancelled = true;
    }
  }
}

void SimulatedWorkers::Acquire(Shard& shard, Worker& worker) {
  if (stopping_) return;
  auto call = std::make_unique<Call>();
  call->kind = Call::Kind::kAcquire;
  call->worker = &worker;
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::AcquireTrialRequest request;
  request.set_worker_id(worker.worker_id);
  request.set_wait_ms(kAcquireWaitMs);
  call->sent = Clock::now();
  call->acquire_reader = worker.stub->PrepareAsyncAcquireTrial(&call->context, request, &shard.queue);
  call->acquire_reader->StartCall();
  Call* raw = call.release();
  shard.in_flight.insert(raw);
  raw->acquire_reader->Finish(&raw->acquired, &raw->status, raw);
}

void SimulatedWorkers::SendReport(Shard& shard, Worker& worker) {
  if (stopping_) return;
  v1::ReportEpochRequest request;
  request.set_worker_id(worker.worker_id);
  request.set_trial_id(worker.trial_id);
  request.set_attempt(worker.attempt);
  request.set_epoch(worker.epoch);
  FillMetrics(request, options_.epochs, worker.rng);
  worker.last_sent = Clock::now();
  const std::size_t index = shard.results.reports.size();
  shard.results.reports.push_back({worker.trial_id, worker.attempt, worker.epoch, false});
  // A retried report is sent again before the first copy is answered, as a
  // worker whose deadline ran out while the coordinator still held the
  // first: both copies race through the coordinator.
  const bool twice = std::uniform_real_distribution<double>(0, 1)(worker.rng) < options_.retry_fraction;
  worker.pending = twice ? 2 : 1;
  worker.stop_said = false;
  for (int copy = 0; copy < worker.pending; ++copy) {
    auto call = std::make_unique<Call>();
    call->kind = copy == 0 ? Call::Kind::kReport : Call::Kind::kReportCopy;
    call->worker = &worker;
    call->report = index;
    call->sent = Clock::now();
    call->report_reader = worker.stub->PrepareAsyncReportEpoch(&call->context, request, &shard.queue);
    call->report_reader->StartCall();
    Call* raw = call.release();
    shard.in_flight.insert(raw);
    raw->report_reader->Finish(&raw->reported, &raw->status, raw);
  }
}

void SimulatedWorkers::NextReport(Shard& shard, Worker& worker) {
  if (options_.rate <= 0) {
    SendReport(shard, worker);
    return;
  }
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.workers / options_.rate));
  const Clock::time_point due = worker.last_sent + interval;
  const Clock::time_point now = Clock::now();
  if (due <= now || stopping_) {
    SendReport(shard, worker);
    return;
  }
  auto call = std::make_unique<Call>();
  call->kind = Call::Kind::kPaced;
  call->worker = &worker;
  call->alarm = std::make_unique<grpc::Alarm>();
  Call* raw = call.release();
  shard.in_flight.insert(raw);
  raw->alarm->Set(&shard.queue, std::chrono::system_clock::now() + (due - now), raw);
}

void SimulatedWorkers::Finish(Shard& shard, Worker& worker, bool stopped) {
  if (stopping_) return;
  auto call = std::make_unique<Call>();
  call->kind = Call::Kind::kFinish;
  call->worker = &worker;
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::FinishTrialRequest request;
  request.set_worker_id(worker.worker_id);
  request.set_trial_id(worker.trial_id);
  request.set_attempt(worker.attempt);
  request.set_state(stopped ? v1::STOPPED : v1::COMPLETED);
  call->sent = Clock::now();
  call->finish_reader = worker.stub->PrepareAsyncFinishTrial(&call->context, request, &shard.queue);
  call->finish_reader->StartCall();
  Call* raw = call.release();
  shard.in_flight.insert(raw);
  raw->finish_reader->Finish(&raw->finished, &raw->status, raw);
}

void SimulatedWorkers::RecordError(Shard& shard, const Call& call) {
  if (stopping_ && call.status.error_code() == grpc::StatusCode::CANCELLED) {
    ++shard.results.cancelled_at_end;  // our own cancel at the end of the drain
    return;
  }
  ++shard.results.errors;
  ++shard.results.error_samples[absl::StrCat(call.Method(), ": ", call.status.error_message())];
  call.worker->failed = true;
}

void SimulatedWorkers::OnDone(Shard& shard, std::unique_ptr<Call> call) {
  const Clock::time_point now = Clock::now();
  Worker& worker = *call->worker;
  if (!call->status.ok()) RecordError(shard, *call);
  switch (call->kind) {
    case Call::Kind::kAcquire: {
      if (!call->status.ok()) return;
      if (!call->acquired.has_trial()) {
        ++shard.results.starved_acquires;
        Acquire(shard, worker);
        return;
      }
      if (InWindow(now)) shard.results.acquire_ms.push_back(Millis(now - call->sent));
      const v1::TrialAssignment& trial = call->acquired.assignment();
      worker.trial_id = trial.trial_id();
      worker.attempt = trial.attempt();
      worker.epoch = trial.start_epoch() + 1;
      if (worker.epoch > options_.epochs) {
        Finish(shard, worker, false);
      } else {
        NextReport(shard, worker);
      }
      return;
    }
    case Call::Kind::kReport:
    case Call::Kind::kReportCopy: {
      --worker.pending;
      if (call->status.ok()) {
        shard.results.reports[call->report].acked = true;
        if (call->reported.decision() == v1::STOP) worker.stop_said = true;
        if (InWindow(now)) {
          if (call->kind == Call::Kind::kReport) {
            ++shard.results.window_reports;
            shard.results.report_ms.push_back(Millis(now - call->sent));
          } else {
            ++shard.results.window_copies;
          }
        }
      }
      if (worker.pending > 0 || worker.failed) return;
      if (worker.stop_said) {
        ++shard.results.stop_decisions;
        Finish(shard, worker, true);
      } else if (worker.epoch >= options_.epochs) {
        Finish(shard, worker, false);
      } else {
        ++worker.epoch;
        NextReport(shard, worker);
      }
      return;
    }
    case Call::Kind::kPaced:
      SendReport(shard, worker);
      return;
    case Call::Kind::kFinish:
      if (!call->status.ok()) return;
      if (InWindow(now)) ++shard.results.window_finishes;
      Acquire(shard, worker);
      return;
  }
}

}  // namespace segtune::bench
