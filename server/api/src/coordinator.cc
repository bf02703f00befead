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
#include "auth.h"
#include "checkpoint_streams.h"
#include "rpc_timing.h"
#include "services.h"

namespace segtune::api {
namespace {

// How often the dispatcher looks at leases and long polls when nothing changes.
constexpr std::int64_t kDispatchIntervalMs = 200;

// TLS with the server's certificate when one is configured; with a client CA,
// clients must present a certificate it signed.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const ServerTls& tls) {
  if (tls.cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(tls.client_ca_pem.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.client_ca_pem;
  options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(options);
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host == "::1" || host.rfind("127.", 0) == 0;
}

class CoordinatorImpl final : public Coordinator {
 public:
  CoordinatorImpl(const CoordinatorOptions& options, std::unique_ptr<metrics::CoordinatorMetrics> metrics,
                  std::unique_ptr<store::Store> store, std::unique_ptr<store::CheckpointStore> checkpoints)
      : options_(options),
        metrics_(std::move(metrics)),
        store_(std::move(store)),
        checkpoints_(std::move(checkpoints)),
        auth_(options.tokens),
        scheduler_(store_.get(),
                   scheduler::SchedulerOptions{
                       options.lease_ms, options.limits.max_trials_per_sweep, nullptr, checkpoints_.get(),
                       [metrics = metrics_.get()](double seconds) { metrics->ObserveSchedulingLatency(seconds); }}),
        tuner_(store_.get(), checkpoints_.get(), &scheduler_, &stopping_, &auth_),
        hub_(store_.get(), checkpoints_.get(), &scheduler_, &auth_, options.heartbeat_interval_ms,
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
    builder.AddListeningPort(options_.listen, ServerCredentials(options_.tls), &port);
    tuner_.ApplyLimits(options_.limits);
    hub_.ApplyLimits(options_.limits);
    builder.RegisterService(&tuner_);
    builder.RegisterService(&hub_);
    builder.SetMaxReceiveMessageSize(options_.limits.max_message_bytes);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.limits.max_streams_per_connection);
    if (!options_.metrics_listen.empty()) {
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
      interceptors.push_back(std::make_unique<RpcTimingInterceptorFactory>(metrics_.get()));
      builder.experimental().SetInterceptorCreators(std::move(interceptors));
    }
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) {
      // gRPC says why only in its own log; with TLS the likeliest cause is a
      // key that does not match the certificate.
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", options_.listen,
          options_.tls.cert_pem.empty() ? "" : " (with TLS: check that --tls-key belongs to --tls-cert)"));
    }
    const std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    address_ = absl::StrCat(host, ":", port);
    WarnAboutExposure(host);
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
  // Beyond this machine, calls without tokens are anyone's, and tokens
  // without TLS can be read on the network.
  void WarnAboutExposure(const std::string& host) const {
    if (IsLoopback(host)) return;
    if (!auth_.enabled()) {
      spdlog::warn("listening on {} without tokens: anyone who can reach it may submit, cancel and read sweeps "
                   "(see --tokens-file in docs/security.md)", address_);
    } else if (options_.tls.cert_pem.empty()) {
      spdlog::warn("listening on {} with tokens but without TLS: tokens cross the network in clear text "
                   "(see --tls-cert in docs/security.md)", address_);
    }
  }

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
  const Authorizer auth_;
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

absl::Status ValidateLimits(const Limits& limits) {
  const std::pair<const char*, int> positive[] = {
      {"max_message_bytes", limits.max_message_bytes},
      {"max_spec_bytes", limits.max_spec_bytes},
      {"max_trials_per_sweep", limits.max_trials_per_sweep},
      {"max_watch_streams", limits.max_watch_streams},
      {"max_checkpoint_streams", limits.max_checkpoint_streams},
      {"max_streams_per_connection", limits.max_streams_per_connection},
  };
  for (const auto& [name, value] : positive) {
    if (value < 1) return absl::InvalidArgumentError(absl::StrCat("limits.", name, ": must be >= 1, got ", value));
  }
  if (limits.max_spec_bytes > limits.max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_spec_bytes: must be at most max_message_bytes (",
                                                   limits.max_message_bytes, "), got ", limits.max_spec_bytes));
  }
  // A checkpoint chunk and its header must fit in one message.
  if (static_cast<std::size_t>(limits.max_message_bytes) < 2 * kCheckpointChunkBytes) {
    return absl::InvalidArgumentError(absl::StrCat("limits.max_message_bytes: must be at least ",
                                                   2 * kCheckpointChunkBytes,
                                                   " (twice a checkpoint chunk), got ", limits.max_message_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  if (absl::Status s = ValidateLimits(options.limits); !s.ok()) return s;
  // ParseTokens checks tokens read from files; grants built in code get the
  // same check (an empty token would match nothing, a short one is guessable).
  for (std::size_t i = 0; i < options.tokens.size(); ++i) {
    if (options.tokens[i].token.size() < kMinTokenLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens[", i, "]: shorter than ", kMinTokenLength, " characters"));
    }
  }
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
