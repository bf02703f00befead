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
#include "rpc_timing.h"
#include "services.h"

namespace segtune::api {
namespace {

// How often the dispatcher looks at leases and long polls when nothing changes.
constexpr std::int64_t kDispatchIntervalMs = 200;

class CoordinatorImpl final : public Coordinator {
 public:
  CoordinatorImpl(const CoordinatorOptions& options, std::unique_ptr<metrics::CoordinatorMetrics> metrics,
                  std::unique_ptr<store::Store> store, std::unique_ptr<store::CheckpointStore> checkpoints)
      : options_(options),
        metrics_(std::move(metrics)),
        store_(std::move(store)),
        checkpoints_(std::move(checkpoints)),
        scheduler_(store_.get(),
                   scheduler::SchedulerOptions{
                       options.lease_ms, 3, nullptr, checkpoints_.get(),
                       [metrics = metrics_.get()](double seconds) { metrics->ObserveSchedulingLatency(seconds); }}),
        tuner_(store_.get(), checkpoints_.get(), &scheduler_, &stopping_),
        hub_(store_.get(), checkpoints_.get(), &scheduler_, options.heartbeat_interval_ms,
             options.max_acquire_wait_ms) {}

  ~CoordinatorImpl() override { Shutdown(); }

  absl::Status Init() {
    if (absl::Status s = scheduler_.Recover(); !s.ok()) return s;
    if (!options_.metrics_listen.empty()) {
      absl::Status serving = metrics_->Serve(options_.metrics_listen, [this] { return Snapshot(); });
      if (!serving.ok()) return serving;
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&tuner_);
    builder.RegisterService(&hub_);
    builder.SetMaxReceiveMessageSize(8 << 20);
    if (!options_.metrics_listen.empty()) {
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
      interceptors.push_back(std::make_unique<RpcTimingInterceptorFactory>(metrics_.get()));
      builder.experimental().SetInterceptorCreators(std::move(interceptors));
    }
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
  int metrics_port() const override { return metrics_->port(); }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    // Scrapes read the scheduler and the store: end them first.
    metrics_->StopServing();
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
      seen = scheduler_.WaitForChange(seen, kDispatchIntervalMs);
    }
  }

  // What a scrape of /metrics shows; runs on the exposer's thread. The
  // trial counts come from the store's readers, which never block the writer.
  metrics::CoordinatorSnapshot Snapshot() const {
    metrics::CoordinatorSnapshot snapshot;
    snapshot.scheduler = scheduler_.Stats();
    for (const scheduler::SweepStats& sweep : snapshot.scheduler.sweeps) {
      auto counts = store_->CountTrials(sweep.sweep_id);
      if (counts.ok()) {
        snapshot.trials_by_sweep[sweep.sweep_id] = *std::move(counts);
      } else {
        spdlog::warn("metrics: cannot count the trials of sweep {}: {}", sweep.sweep_id, counts.status().ToString());
      }
    }
    return snapshot;
  }

  const CoordinatorOptions options_;
  // First: the store, the scheduler and the gRPC server report to it.
  std::unique_ptr<metrics::CoordinatorMetrics> metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::CheckpointStore> checkpoints_;
  scheduler::Scheduler scheduler_;
  std::atomic<bool> stopping_{false};
  TunerService tuner_;
  WorkerHubService hub_;
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
  auto metrics = std::make_unique<metrics::CoordinatorMetrics>(SegtuneRpcMethods());
  store::StoreOptions store_options;
  store_options.on_commit = [metrics = metrics.get()](double seconds) { metrics->ObserveCommit(seconds); };
  auto store = store::Store::Open(options.db_path, std::move(store_options));
  if (!store.ok()) return store.status();
  // Opened after the database: its lock keeps a second coordinator of the
  // same data from removing this one's unfinished checkpoints.
  auto checkpoints = store::CheckpointStore::Open((std::filesystem::path(options.data_dir) / "checkpoints").string());
  if (!checkpoints.ok()) return checkpoints.status();
  auto coordinator =
      std::make_unique<CoordinatorImpl>(options, std::move(metrics), std::move(*store), std::move(*checkpoints));
  if (absl::Status s = coordinator->Init(); !s.ok()) return s;
  return coordinator;
}

}  // namespace segtune::api
