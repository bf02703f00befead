#include "segtune/api/coordinator.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "segtune/metrics/coordinator_metrics.h"
#include "services.h"

namespace segtune::api {
namespace {

// How often the dispatcher looks at leases and long polls when nothing changes.
constexpr std::int64_t kDispatchIntervalMs = 200;

class CoordinatorImpl final : public Coordinator {
 public:
  CoordinatorImpl(const CoordinatorOptions& options, std::unique_ptr<store::Store> store,
                  std::unique_ptr<store::CheckpointStore> checkpoints)
      : options_(options),
        store_(std::move(store)),
        checkpoints_(std::move(checkpoints)),
        scheduler_(store_.get(), scheduler::SchedulerOptions{options.lease_ms, 3, nullptr, checkpoints_.get()}),
        tuner_(store_.get(), checkpoints_.get(), &scheduler_, &stopping_),
        hub_(store_.get(), checkpoints_.get(), &scheduler_, options.heartbeat_interval_ms,
             options.max_acquire_wait_ms) {}

  ~CoordinatorImpl() override { Shutdown(); }

  absl::Status Init() {
    if (absl::Status s = scheduler_.Recover(); !s.ok()) return s;
    if (!options_.metrics_listen.empty()) {
      auto metrics = metrics::CoordinatorMetrics::Start(options_.metrics_listen);
      if (!metrics.ok()) return metrics.status();
      metrics_ = std::move(*metrics);
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&tuner_);
    builder.RegisterService(&hub_);
    builder.SetMaxReceiveMessageSize(8 << 20);
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
    }
    const std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    address_ = absl::StrCat(host, ":", port);
    dispatcher_ = std::thread([this] { Dispatch(); });
    return absl::OkStatus();
  }

  std::string address() const override { return address_; }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
    scheduler_.NotifyAll();
    if (dispatcher_.joinable()) dispatcher_.join();
    hub_.ServeWaiters(/*shutting_down=*/true);
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      server_->Wait();
    }
    std::lock_guard<std::mutex> done_lock(done_mu_);
    done_ = true;
    done_cv_.notify_all();
  }

  void Wait() override {
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait(lock, [&] { return done_; });
  }

 private:
  // Expires leases and answers long polls, whenever the scheduler changes and
  // at least every kDispatchIntervalMs.
  void Dispatch() {
    std::uint64_t seen = scheduler_.version();
    while (!stopping_) {
      if (absl::Status s = scheduler_.Tick(); !s.ok()) {
        spdlog::error("requeueing expired leases failed: {}", s.ToString());
      }
      hub_.ServeWaiters(/*shutting_down=*/false);
      if (metrics_) metrics_->Update(Snapshot());
      seen = scheduler_.WaitForChange(seen, kDispatchIntervalMs);
    }
  }

  metrics::SchedulerSnapshot Snapshot() const {
    const scheduler::SchedulerStats stats = scheduler_.Stats();
    metrics::SchedulerSnapshot snapshot;
    snapshot.queue_depth = stats.queue_depth;
    snapshot.running_trials = stats.running_trials;
    snapshot.running_sweeps = stats.running_sweeps;
    snapshot.workers = stats.workers;
    snapshot.slots_total = stats.slots_total;
    snapshot.slots_busy = stats.slots_busy;
    snapshot.epochs_reported = stats.epochs_reported;
    snapshot.trials_finished = stats.trials_finished;
    return snapshot;
  }

  const CoordinatorOptions options_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::CheckpointStore> checkpoints_;
  scheduler::Scheduler scheduler_;
  std::atomic<bool> stopping_{false};
  TunerService tuner_;
  WorkerHubService hub_;
  std::unique_ptr<metrics::CoordinatorMetrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::thread dispatcher_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // GUARDED_BY(shutdown_mu_)
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;  // GUARDED_BY(done_mu_)
};

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  if (options.lease_ms < 1000) return absl::InvalidArgumentError("lease_ms: must be >= 1000");
  if (options.heartbeat_interval_ms < 100 || options.heartbeat_interval_ms * 2 > options.lease_ms) {
    return absl::InvalidArgumentError("heartbeat_interval_ms: must be >= 100 and at most half the lease");
  }
  auto store = store::Store::Open(options.db_path);
  if (!store.ok()) return store.status();
  // Opened after the database: its lock keeps a second coordinator of the
  // same data from removing this one's unfinished checkpoints.
  auto checkpoints = store::CheckpointStore::Open((std::filesystem::path(options.data_dir) / "checkpoints").string());
  if (!checkpoints.ok()) return checkpoints.status();
  auto coordinator = std::make_unique<CoordinatorImpl>(options, std::move(*store), std::move(*checkpoints));
  if (absl::Status s = coordinator->Init(); !s.ok()) return s;
  return coordinator;
}

}  // namespace segtune::api
