// The agent against an in-process fake WorkerHub on 127.0.0.1, with a fake
// trial function in place of the trainer; the /metrics tests at the end
// train for real (segtune::train::RunTrial) on a tiny configuration.
#include "segtune/agent/agent.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include "http_get.h"
#include "segtune/v1/segtune.grpc.pb.h"
#include "segtune/worker_metrics/worker_metrics.h"
#include "tiny_config.h"

namespace segtune::agent {
namespace {

namespace v1 = ::segtune::v1;
using std::chrono::milliseconds;

// Polls `condition` until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& condition, milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return condition();
}

struct ReportRecord {
  std::string worker_id;
  std::string trial_id;
  int attempt = 0;
  int epoch = 0;
  std::map<std::string, double> metrics;
};

std::uint32_t Crc32(const std::string& data) {
  return static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

// A checkpoint as the fake coordinator received or serves it.
struct StoredCheckpoint {
  int attempt = 0;
  std::string weights;
  std::string training_state;
  int chunks = 0;
  std::size_t largest_chunk = 0;
};

struct FinishRecord {
  std::string worker_id;
  std::string trial_id;
  int attempt = 0;
  v1::TrialState state = v1::TRIAL_STATE_UNSPECIFIED;
  std::string reason;
};

// A scripted WorkerHub: hands out queued trials, records what the worker
// sends, and fails or redirects calls where a test asks it to.
class FakeWorkerHub final : public v1::WorkerHub::Service {
 public:
  // ---- scripting
  void AddTrial(const std::string& trial_id, const nlohmann::json& config, int start_epoch = 0, int attempt = 1) {
    v1::TrialAssignment assignment;
    assignment.set_trial_id(trial_id);
    assignment.set_sweep_id("sweep-1");
    assignment.set_attempt(attempt);
    assignment.set_config_json(config.dump());
    assignment.set_start_epoch(start_epoch);
    AddAssignment(assignment);
  }
  void AddAssignment(const v1::TrialAssignment& assignment) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(assignment);
  }
  void FailNextReports(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    reports_to_fail_ = count;
  }
  // The next `count` reports are stored, but their replies are lost: the
  // worker sees UNAVAILABLE.
  void LoseRepliesOfNextReports(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_to_lose_ = count;
  }
  void StopAtEpoch(const std::string& trial_id, int epoch, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    stop_at_[trial_id] = {epoch, reason};
  }
  void LoseLeaseAtEpoch(const std::string& trial_id, int epoch) {
    std::lock_guard<std::mutex> lock(mu_);
    lose_lease_at_[trial_id] = epoch;
  }
  void StopInHeartbeat(const std::string& trial_id) {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeat_stops_.insert(trial_id);
  }
  // From now on heartbeats answer like the coordinator when `attempt` holds
  // the trial's lease: every other listed attempt of the trial is stale and
  // gets a stop.
  void HoldLease(const std::string& trial_id, int attempt) {
    std::lock_guard<std::mutex> lock(mu_);
    lease_holders_[trial_id] = attempt;
  }
  // Replays a slow heartbeat reply: the first heartbeat that lists
  // (trial_id, attempt) is answered only after a newer attempt of the trial
  // has reported an epoch, and then with a stop for trial_id, as the
  // coordinator answers for a stale attempt. That newer attempt's report is
  // answered only after the next heartbeat arrives, so the worker has handled
  // the late reply before it trains further.
  void AnswerHeartbeatLate(const std::string& trial_id, int attempt) {
    std::lock_guard<std::mutex> lock(mu_);
    late_heartbeat_ = LateHeartbeat{trial_id, attempt};
  }
  bool late_heartbeat_held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return late_heartbeat_ && late_heartbeat_->held;
  }
  // The next `count` uploads fail as if the coordinator were down.
  void FailNextUploads(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    uploads_to_fail_ = count;
  }
  // Uploads of the trial's checkpoints from `epoch` on are refused with `status`.
  void RefuseUploads(const std::string& trial_id, int epoch, grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    refused_uploads_[trial_id] = {epoch, std::move(status)};
  }
  void RefuseDownloads(const std::string& trial_id, grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    refused_downloads_[trial_id] = std::move(status);
  }
  // What DownloadCheckpoint serves; `corrupt` sends a wrong crc32.
  void PutCheckpoint(const std::string& trial_id, int epoch, const std::string& weights, const std::string& state,
                     bool corrupt = false) {
    std::lock_guard<std::mutex> lock(mu_);
    checkpoints_[{trial_id, epoch}] = StoredCheckpoint{1, weights, state, 0, 0};
    if (corrupt) corrupt_downloads_.insert(trial_id);
  }
  void ForgetWorkers() {
    std::lock_guard<std::mutex> lock(mu_);
    known_workers_.clear();
  }
  void RejectRegistration(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    registration_answer_ = std::move(status);
  }

  // ---- observations
  std::vector<v1::RegisterWorkerRequest> registrations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return registrations_;
  }
  // The stored epochs, each (trial, attempt, epoch) once.
  std::vector<ReportRecord> reports() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }
  // Every ReportEpoch call that reached the store, retries included.
  std::vector<ReportRecord> report_requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return report_requests_;
  }
  int report_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return report_calls_;
  }
  std::vector<FinishRecord> finishes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finishes_;
  }
  std::vector<std::string> deregistered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deregistered_;
  }
  // The slot of every AcquireTrial that got a trial.
  std::vector<int> leased_slots() const {
    std::lock_guard<std::mutex> lock(mu_);
    return leased_slots_;
  }
  std::vector<v1::HeartbeatRequest> heartbeats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return heartbeats_;
  }
  // "upload T E" and "report T E" in the order they were stored.
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::optional<StoredCheckpoint> checkpoint(const std::string& trial_id, int epoch) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = checkpoints_.find({trial_id, epoch});
    if (it == checkpoints_.end()) return std::nullopt;
    return it->second;
  }
  int upload_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return upload_calls_;
  }
  std::vector<v1::DownloadCheckpointRequest> downloads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return downloads_;
  }
  std::vector<int> EpochsOf(const std::string& trial_id) const {
    std::vector<int> epochs;
    for (const ReportRecord& report : reports()) {
      if (report.trial_id == trial_id) epochs.push_back(report.epoch);
    }
    return epochs;
  }

  // ---- WorkerHub
  grpc::Status RegisterWorker(grpc::ServerContext*, const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    registrations_.push_back(*request);
    if (!registration_answer_.ok()) return registration_answer_;
    const std::string id = "worker-" + std::to_string(registrations_.size());
    known_workers_.insert(id);
    response->set_worker_id(id);
    response->set_heartbeat_interval_ms(20);
    response->set_lease_ms(1000);
    return grpc::Status::OK;
  }

  grpc::Status AcquireTrial(grpc::ServerContext* context, const v1::AcquireTrialRequest* request,
                            v1::AcquireTrialResponse* response) override {
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(request->wait_ms());
    std::unique_lock<std::mutex> lock(mu_);
    if (known_workers_.count(request->worker_id()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown worker " + request->worker_id());
    }
    // Short slices so that cancellation and server shutdown end the wait.
    while (queue_.empty() && std::chrono::steady_clock::now() < deadline && !context->IsCancelled()) {
      lock.unlock();
      std::this_thread::sleep_for(milliseconds(5));
      lock.lock();
    }
    // A worker forgotten during the wait gets nothing, like on the real coordinator.
    if (!queue_.empty() && !context->IsCancelled() && known_workers_.count(request->worker_id()) > 0) {
      response->set_has_trial(true);
      leased_slots_.push_back(request->slot());
      *response->mutable_assignment() = queue_.front();
      queue_.erase(queue_.begin());
    }
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (known_workers_.count(request->worker_id()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown worker " + request->worker_id());
    }
    heartbeats_.push_back(*request);
    cv_.notify_all();
    for (const v1::RunningTrial& running : request->running()) {
      if (heartbeat_stops_.count(running.trial_id()) > 0) response->add_stop_trial_ids(running.trial_id());
      const auto holder = lease_holders_.find(running.trial_id());
      if (holder != lease_holders_.end() && holder->second != running.attempt()) {
        response->add_stop_trial_ids(running.trial_id());
      }
      if (late_heartbeat_ && !late_heartbeat_->held && running.trial_id() == late_heartbeat_->trial_id &&
          running.attempt() == late_heartbeat_->attempt) {
        late_heartbeat_->held = true;
        cv_.wait_for(lock, milliseconds(5000), [&] { return late_heartbeat_->released || context->IsCancelled(); });
        response->add_stop_trial_ids(running.trial_id());
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportEpoch(grpc::ServerContext* context, const v1::ReportEpochRequest* request,
                           v1::ReportEpochResponse* response) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++report_calls_;
    if (reports_to_fail_ > 0) {
      --reports_to_fail_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted outage");
    }
    const auto lose = lose_lease_at_.find(request->trial_id());
    if (lose != lose_lease_at_.end() && request->epoch() >= lose->second) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "attempt no longer holds the lease");
    }
    const ReportRecord record{request->worker_id(), request->trial_id(), request->attempt(), request->epoch(),
                              {request->metrics().begin(), request->metrics().end()}};
    report_requests_.push_back(record);
    // Idempotent on (trial, attempt, epoch), like the real coordinator: a
    // retry is not stored again and gets the same answer.
    const bool duplicate = std::any_of(reports_.begin(), reports_.end(), [&](const ReportRecord& stored) {
      return stored.trial_id == record.trial_id && stored.attempt == record.attempt && stored.epoch == record.epoch;
    });
    if (duplicate) {
      duplicates_ += 1;
    } else {
      reports_.push_back(record);
      events_.push_back("report " + record.trial_id + " " + std::to_string(record.epoch));
    }
    if (replies_to_lose_ > 0) {
      --replies_to_lose_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted outage: stored, reply lost");
    }
    if (late_heartbeat_ && late_heartbeat_->held && !late_heartbeat_->released &&
        record.trial_id == late_heartbeat_->trial_id && record.attempt > late_heartbeat_->attempt) {
      late_heartbeat_->released = true;
      const std::size_t heartbeats_before = heartbeats_.size();
      cv_.notify_all();
      cv_.wait_for(lock, milliseconds(5000),
                   [&] { return heartbeats_.size() > heartbeats_before || context->IsCancelled(); });
    }
    const auto stop = stop_at_.find(request->trial_id());
    if (stop != stop_at_.end() && request->epoch() >= stop->second.first) {
      response->set_decision(v1::STOP);
      response->set_reason(stop->second.second);
    } else {
      response->set_decision(v1::CONTINUE);
    }
    return grpc::Status::OK;
  }

  grpc::Status FinishTrial(grpc::ServerContext*, const v1::FinishTrialRequest* request,
                           v1::FinishTrialResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    finishes_.push_back(FinishRecord{request->worker_id(), request->trial_id(), request->attempt(), request->state(),
                                     request->reason()});
    return grpc::Status::OK;
  }

  grpc::Status DeregisterWorker(grpc::ServerContext*, const v1::DeregisterWorkerRequest* request,
                                v1::DeregisterWorkerResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    deregistered_.push_back(request->worker_id());
    known_workers_.erase(request->worker_id());
    return grpc::Status::OK;
  }

  // Checks sizes and crc32 like the coordinator, then keeps the checkpoint.
  grpc::Status UploadCheckpoint(grpc::ServerContext*, grpc::ServerReader<v1::CheckpointChunk>* reader,
                                v1::UploadCheckpointResponse*) override {
    v1::CheckpointChunk chunk;
    v1::CheckpointHeader header;
    std::string data;
    StoredCheckpoint stored;
    while (reader->Read(&chunk)) {
      if (stored.chunks++ == 0) header = chunk.header();
      if (stored.chunks > 1 && chunk.has_header()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "header in a later chunk");
      }
      stored.largest_chunk = std::max(stored.largest_chunk, chunk.data().size());
      data += chunk.data();
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++upload_calls_;
    if (uploads_to_fail_ > 0) {
      --uploads_to_fail_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted outage");
    }
    const auto refused = refused_uploads_.find(header.trial_id());
    if (refused != refused_uploads_.end() && header.epoch() >= refused->second.first) return refused->second.second;
    if (static_cast<std::int64_t>(data.size()) != header.weights_bytes() + header.training_state_bytes() ||
        Crc32(data) != header.crc32()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "checksum or size mismatch");
    }
    stored.attempt = header.attempt();
    stored.weights = data.substr(0, static_cast<std::size_t>(header.weights_bytes()));
    stored.training_state = data.substr(static_cast<std::size_t>(header.weights_bytes()));
    checkpoints_[{header.trial_id(), header.epoch()}] = stored;
    events_.push_back("upload " + header.trial_id() + " " + std::to_string(header.epoch()));
    return grpc::Status::OK;
  }

  grpc::Status DownloadCheckpoint(grpc::ServerContext*, const v1::DownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::CheckpointChunk>* writer) override {
    std::lock_guard<std::mutex> lock(mu_);
    downloads_.push_back(*request);
    const auto refused = refused_downloads_.find(request->trial_id());
    if (refused != refused_downloads_.end()) return refused->second;
    const auto it = checkpoints_.find({request->trial_id(), request->epoch()});
    if (it == checkpoints_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such checkpoint");
    const StoredCheckpoint& stored = it->second;
    v1::CheckpointChunk chunk;
    v1::CheckpointHeader* header = chunk.mutable_header();
    header->set_trial_id(request->trial_id());
    header->set_epoch(request->epoch());
    header->set_weights_bytes(static_cast<std::int64_t>(stored.weights.size()));
    header->set_training_state_bytes(static_cast<std::int64_t>(stored.training_state.size()));
    header->set_crc32(Crc32(stored.weights + stored.training_state) ^
                      (corrupt_downloads_.count(request->trial_id()) > 0 ? 1u : 0u));
    chunk.set_data(stored.weights);
    writer->Write(chunk);
    chunk.Clear();
    chunk.set_data(stored.training_state);
    writer->Write(chunk);
    return grpc::Status::OK;
  }

  int duplicates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return duplicates_;
  }

 private:
  struct LateHeartbeat {
    std::string trial_id;
    int attempt = 0;
    bool held = false;      // its heartbeat is waiting for the newer attempt
    bool released = false;  // the newer attempt reported: answer it
  };

  mutable std::mutex mu_;
  std::condition_variable cv_;  // heartbeats_ and late_heartbeat_ changes
  std::vector<v1::TrialAssignment> queue_;
  std::set<std::string> known_workers_;
  grpc::Status registration_answer_ = grpc::Status::OK;
  int reports_to_fail_ = 0;
  int replies_to_lose_ = 0;
  std::optional<LateHeartbeat> late_heartbeat_;
  std::map<std::string, std::pair<int, std::string>> stop_at_;
  std::map<std::string, int> lose_lease_at_;
  std::set<std::string> heartbeat_stops_;
  std::map<std::string, int> lease_holders_;
  int uploads_to_fail_ = 0;
  std::map<std::string, std::pair<int, grpc::Status>> refused_uploads_;
  std::map<std::string, grpc::Status> refused_downloads_;
  std::set<std::string> corrupt_downloads_;
  std::map<std::pair<std::string, int>, StoredCheckpoint> checkpoints_;
  std::vector<std::string> events_;
  int upload_calls_ = 0;
  std::vector<v1::DownloadCheckpointRequest> downloads_;

  std::vector<v1::RegisterWorkerRequest> registrations_;
  std::vector<v1::HeartbeatRequest> heartbeats_;
  std::vector<int> leased_slots_;
  std::vector<ReportRecord> reports_;
  std::vector<ReportRecord> report_requests_;
  int report_calls_ = 0;
  int duplicates_ = 0;
  std::vector<FinishRecord> finishes_;
  std::vector<std::string> deregistered_;
};

// Serves `hub` on `address`; `port` receives the port bound.
std::unique_ptr<grpc::Server> Serve(FakeWorkerHub* hub, const std::string& address, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(hub);
  return builder.BuildAndStart();
}

void StopServer(std::unique_ptr<grpc::Server>& server) {
  if (!server) return;
  server->Shutdown(std::chrono::system_clock::now() + milliseconds(200));
  server->Wait();
  server.reset();
}

// Stands in for segtune::train::RunTrial. config["fake"] scripts it:
//   outcome: "completed" (default) | "diverged" | "failed" | "ended_early"; reason: text
//   hold_after_epoch: N  -> after epoch N, wait until asked to abort
//   rendezvous: true     -> before epoch 1, wait until two trials run at once
//   gate_epoch: N        -> epoch N trains until OpenGate() or an abort (at_gate() meanwhile)
//   checkpoint_bytes: N  -> each epoch's weights are N bytes (default: a few)
// Like the trainer, it hands each epoch's checkpoint to on_checkpoint before
// reporting the epoch, and fails the trial when that fails.
class FakeTrainer {
 public:
  TrialFunction Function() {
    return [this](const nlohmann::json& config, const train::TrainOptions& options) {
      const train::TrialResult result = Run(config, options);
      returned_ += 1;
      return result;
    };
  }
  int returned() const { return returned_; }
  // Whether a trial is training its gate_epoch, waiting for OpenGate.
  bool at_gate() const { return at_gate_; }
  void OpenGate() { gate_open_ = true; }
  std::string last_device() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_device_;
  }
  // The device of every trial started, in start order.
  std::vector<std::string> devices() const {
    std::lock_guard<std::mutex> lock(mu_);
    return devices_;
  }
  // The resume_from of the last trial started; nullopt for none.
  std::optional<train::Checkpoint> last_resume_from() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_resume_from_;
  }
  // The weights the fake hands to on_checkpoint after `epoch`.
  static std::string Weights(int epoch, std::size_t bytes) {
    std::string weights = "weights after epoch " + std::to_string(epoch) + ";";
    for (std::size_t i = 0; weights.size() < bytes; ++i) weights.push_back(static_cast<char>('a' + i % 26));
    return weights;
  }

 private:
  train::TrialResult Run(const nlohmann::json& config, const train::TrainOptions& options) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_device_ = options.device;
      devices_.push_back(options.device);
      last_resume_from_ = options.resume_from;
    }
    const int epochs = config.at("epochs").get<int>();
    const nlohmann::json fake = config.value("fake", nlohmann::json::object());
    train::TrialResult result;
    result.epochs_done = options.start_epoch;
    if (fake.value("rendezvous", false)) {
      running_together_ += 1;
      if (!Eventually([this] { return running_together_ >= 2; }, milliseconds(5000))) {
        result.reason = "no second trial ran alongside";
        return result;
      }
    }
    for (int epoch = options.start_epoch + 1; epoch <= epochs; ++epoch) {
      if (options.should_abort()) {
        result.outcome = train::Outcome::kStopped;
        result.reason = "aborted";
        return result;
      }
      if (epoch == fake.value("gate_epoch", -1)) {
        // Like the trainer, which polls should_abort between batches.
        at_gate_ = true;
        Eventually([&] { return gate_open_ || options.should_abort(); }, milliseconds(10000));
        at_gate_ = false;
        if (!gate_open_) {
          result.outcome = train::Outcome::kStopped;
          result.reason = "aborted during epoch " + std::to_string(epoch);
          return result;
        }
      }
      if (options.on_checkpoint) {
        const train::Checkpoint checkpoint{epoch, Weights(epoch, fake.value("checkpoint_bytes", 0)),
                                           "state after epoch " + std::to_string(epoch)};
        if (absl::Status status = options.on_checkpoint(checkpoint); !status.ok()) {
          result.reason = "checkpoint of epoch " + std::to_string(epoch) + ": " + std::string(status.message());
          return result;
        }
      }
      train::EpochReport report;
      report.epoch = epoch;
      report.metrics = {{"val_miou", 0.1 * epoch}, {"train_loss", 1.0 / epoch}};
      result.epochs_done = epoch;
      if (!options.on_epoch(report)) {
        result.outcome = train::Outcome::kStopped;
        result.reason = "stopped by the epoch callback";
        return result;
      }
      if (epoch == fake.value("hold_after_epoch", -1)) {
        Eventually([&] { return options.should_abort(); }, milliseconds(10000));
        result.outcome = train::Outcome::kStopped;
        result.reason = "aborted";
        return result;
      }
    }
    const std::string outcome = fake.value("outcome", "completed");
    result.outcome = outcome == "diverged"      ? train::Outcome::kDiverged
                     : outcome == "failed"      ? train::Outcome::kFailed
                     : outcome == "ended_early" ? train::Outcome::kEndedEarly
                                                : train::Outcome::kCompleted;
    result.reason = fake.value("reason", "");
    return result;
  }

  mutable std::mutex mu_;
  std::string last_device_;
  std::vector<std::string> devices_;
  std::optional<train::Checkpoint> last_resume_from_;
  std::atomic<int> returned_{0};
  std::atomic<int> running_together_{0};
  std::atomic<bool> at_gate_{false};
  std::atomic<bool> gate_open_{false};
};

nlohmann::json TrialConfig(int epochs, nlohmann::json fake = nlohmann::json::object()) {
  return {{"params", {{"optimizer", {{"name", "SGD"}, {"lr", 0.1}}}, {"training.batch_size", 8}}},
          {"epochs", epochs},
          {"fake", fake}};
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    server_ = Serve(&hub_, "127.0.0.1:0", &port_);
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (agent_) agent_->Shutdown();  // deregisters, so before the server stops
    StopServer(server_);
  }

  AgentOptions Options() {
    AgentOptions options;
    options.coordinator = "127.0.0.1:" + std::to_string(port_);
    options.device = "cpu";
    options.slots = 1;
    options.name = "test-worker";
    options.hostname = "test-host";
    options.run_trial = trainer_.Function();
    options.acquire_wait_ms = 100;
    options.rpc_timeout_ms = 2000;
    options.initial_backoff_ms = 10;
    options.max_backoff_ms = 100;
    options.shutdown_grace_ms = 2000;
    return options;
  }

  void StartAgent(AgentOptions options) {
    agent_ = std::make_unique<Agent>(std::move(options));
    ASSERT_TRUE(agent_->Start().ok());
  }

  std::vector<FinishRecord> FinishesOf(const std::string& trial_id) {
    std::vector<FinishRecord> found;
    for (const FinishRecord& finish : hub_.finishes()) {
      if (finish.trial_id == trial_id) found.push_back(finish);
    }
    return found;
  }

  FakeWorkerHub hub_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  FakeTrainer trainer_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, RegistersWithItsOptions) {
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return agent_->worker_id() == "worker-1"; }));
  const auto registrations = hub_.registrations();
  ASSERT_EQ(registrations.size(), 1u);
  EXPECT_EQ(registrations[0].name(), "test-worker");
  EXPECT_EQ(registrations[0].hostname(), "test-host");
  EXPECT_EQ(registrations[0].device(), "cpu");
  EXPECT_EQ(registrations[0].slots(), 1);
}

TEST_F(AgentTest, ReportsEveryEpochExactlyOnceThroughAnOutage) {
  hub_.FailNextReports(1);
  hub_.AddTrial("t1", TrialConfig(3));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(hub_.report_calls(), 4);  // the refused first try, then one per epoch
  EXPECT_EQ(hub_.duplicates(), 0);
  const ReportRecord first = hub_.reports().front();
  EXPECT_EQ(first.worker_id, "worker-1");
  EXPECT_EQ(first.attempt, 1);
  EXPECT_DOUBLE_EQ(first.metrics.at("val_miou"), 0.1);
  EXPECT_DOUBLE_EQ(first.metrics.at("train_loss"), 1.0);
  const FinishRecord finish = FinishesOf("t1").front();
  EXPECT_EQ(finish.state, v1::COMPLETED);
  EXPECT_EQ(finish.attempt, 1);
  EXPECT_EQ(trainer_.last_device(), "cpu");
}

TEST_F(AgentTest, ResumesFromTheAssignedStartEpoch) {
  hub_.AddTrial("t1", TrialConfig(4), /*start_epoch=*/2, /*attempt=*/2);
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{3, 4}));
  EXPECT_EQ(hub_.reports().front().attempt, 2);
  EXPECT_EQ(FinishesOf("t1").front().state, v1::COMPLETED);
}

TEST_F(AgentTest, StopsTheTrialWhenTheReplySaysStop) {
  hub_.StopAtEpoch("t1", 2, "asha: below the rung's top 1/2");
  hub_.AddTrial("t1", TrialConfig(5));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2}));
  const FinishRecord finish = FinishesOf("t1").front();
  EXPECT_EQ(finish.state, v1::STOPPED);
  EXPECT_EQ(finish.reason, "asha: below the rung's top 1/2");
}

TEST_F(AgentTest, MapsTrainerOutcomesToFinishStates) {
  hub_.AddTrial("diverged", TrialConfig(2, {{"outcome", "diverged"}, {"reason", "train_loss is NaN"}}));
  hub_.AddTrial("failed", TrialConfig(1, {{"outcome", "failed"}, {"reason", "unknown optimizer 'Adamm'"}}));
  v1::TrialAssignment broken;
  broken.set_trial_id("broken");
  broken.set_attempt(1);
  broken.set_config_json("{not json");
  hub_.AddAssignment(broken);
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return hub_.finishes().size() == 3; }));
  const FinishRecord diverged = FinishesOf("diverged").at(0);
  EXPECT_EQ(diverged.state, v1::DIVERGED);
  EXPECT_EQ(diverged.reason, "train_loss is NaN");
  const FinishRecord failed = FinishesOf("failed").at(0);
  EXPECT_EQ(failed.state, v1::FAILED);
  EXPECT_EQ(failed.reason, "unknown optimizer 'Adamm'");
  const FinishRecord broken_finish = FinishesOf("broken").at(0);
  EXPECT_EQ(broken_finish.state, v1::FAILED);
  EXPECT_NE(broken_finish.reason.find("config_json"), std::string::npos);
  EXPECT_TRUE(hub_.EpochsOf("broken").empty());
}

TEST_F(AgentTest, AnLrRangeTrialKeepsNoCheckpointsAndEndsStoppedWithItsReason) {
  const std::string reason = "loss diverged at lr 3.2e-01 (smoothed 5.1 > 4 x min 1.2)";
  nlohmann::json config = TrialConfig(3, {{"outcome", "ended_early"}, {"reason", reason}});
  config["lr_range"] = {{"min_lr", 1e-5}, {"max_lr", 1.0}, {"iterations", 3}, {"smoothing", 0.98},
                        {"diverge_factor", 4}};
  hub_.AddTrial("t1", config);
  hub_.AddTrial("t2", config, /*start_epoch=*/1, /*attempt=*/2);
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return hub_.finishes().size() == 2; }));
  // Reports only: no upload before them, and no download for the resumed attempt.
  EXPECT_EQ(hub_.events(), (std::vector<std::string>{"report t1 1", "report t1 2", "report t1 3", "report t2 2",
                                                     "report t2 3"}));
  EXPECT_TRUE(hub_.downloads().empty());
  for (const char* trial : {"t1", "t2"}) {
    const FinishRecord finish = FinishesOf(trial).at(0);
    EXPECT_EQ(finish.state, v1::STOPPED) << trial;
    EXPECT_EQ(finish.reason, reason) << trial;
  }
}

TEST_F(AgentTest, ReleasesARunningTrialAsPendingOnShutdown) {
  hub_.AddTrial("t1", TrialConfig(5, {{"hold_after_epoch", 1}}));
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return hub_.EpochsOf("t1").size() == 1; }));

  const auto started = std::chrono::steady_clock::now();
  agent_->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(2000));
  EXPECT_TRUE(agent_->Wait().ok());

  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_EQ(finishes[0].state, v1::PENDING);
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1}));
  EXPECT_EQ(hub_.deregistered(), (std::vector<std::string>{"worker-1"}));
}

TEST_F(AgentTest, DrainLetsTheEpochInProgressFinishThenReleasesTheTrial) {
  hub_.AddTrial("t1", TrialConfig(5, {{"gate_epoch", 2}}));
  hub_.AddTrial("t2", TrialConfig(5));  // next in the queue: must stay there
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return trainer_.at_gate(); }));  // epoch 2 in progress

  std::thread drain([&] { agent_->Drain(milliseconds(10000)); });
  // The epoch is not cut short: the trial trains on until it ends.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(trainer_.at_gate());
  EXPECT_TRUE(hub_.finishes().empty());
  trainer_.OpenGate();
  drain.join();
  EXPECT_TRUE(agent_->Wait().ok());

  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2}));
  EXPECT_EQ(hub_.events(), (std::vector<std::string>{"upload t1 1", "report t1 1", "upload t1 2", "report t1 2"}));
  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_EQ(finishes[0].state, v1::PENDING);
  EXPECT_EQ(finishes[0].reason, "worker draining: released after epoch 2");
  EXPECT_TRUE(FinishesOf("t2").empty());
  EXPECT_EQ(trainer_.returned(), 1);  // t2 was never acquired
  EXPECT_EQ(hub_.deregistered(), (std::vector<std::string>{"worker-1"}));
}

TEST_F(AgentTest, DrainAbortsAnEpochThatOutlastsItAndReleasesTheTrial) {
  hub_.AddTrial("t1", TrialConfig(5, {{"gate_epoch", 2}}));
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return trainer_.at_gate(); }));

  const auto started = std::chrono::steady_clock::now();
  agent_->Drain(milliseconds(300));  // the gate never opens
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(3000));
  EXPECT_TRUE(agent_->Wait().ok());

  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1}));  // resumes from epoch 1's checkpoint
  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_EQ(finishes[0].state, v1::PENDING);
  EXPECT_EQ(finishes[0].reason, "worker shutting down");
}

TEST_F(AgentTest, DrainWhileIdleReturnsAtOnce) {
  AgentOptions options = Options();
  options.acquire_wait_ms = 10000;  // a parked long poll must not hold the drain
  StartAgent(options);
  ASSERT_TRUE(Eventually([&] { return agent_->worker_id() == "worker-1"; }));
  std::this_thread::sleep_for(milliseconds(100));  // the slot parks in AcquireTrial

  const auto started = std::chrono::steady_clock::now();
  agent_->Drain(milliseconds(10000));
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(2000));
  EXPECT_TRUE(agent_->Wait().ok());
  EXPECT_EQ(hub_.deregistered(), (std::vector<std::string>{"worker-1"}));
}

TEST_F(AgentTest, ATrialFinishingItsLastEpochDuringADrainEndsCompleted) {
  hub_.AddTrial("t1", TrialConfig(3, {{"gate_epoch", 3}}));
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return trainer_.at_gate(); }));

  std::thread drain([&] { agent_->Drain(milliseconds(10000)); });
  std::this_thread::sleep_for(milliseconds(100));
  trainer_.OpenGate();
  drain.join();

  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2, 3}));
  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_EQ(finishes[0].state, v1::COMPLETED);
}

TEST_F(AgentTest, ASearcherStopDuringADrainEndsStopped) {
  hub_.StopAtEpoch("t1", 2, "asha: below the rung's top 1/2");
  hub_.AddTrial("t1", TrialConfig(5, {{"gate_epoch", 2}}));
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return trainer_.at_gate(); }));

  std::thread drain([&] { agent_->Drain(milliseconds(10000)); });
  std::this_thread::sleep_for(milliseconds(100));
  trainer_.OpenGate();
  drain.join();

  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_EQ(finishes[0].state, v1::STOPPED);
  EXPECT_EQ(finishes[0].reason, "asha: below the rung's top 1/2");
}

TEST_F(AgentTest, AShutdownDuringADrainAbortsAtOnce) {
  hub_.AddTrial("t1", TrialConfig(5, {{"gate_epoch", 2}}));
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return trainer_.at_gate(); }));

  const auto started = std::chrono::steady_clock::now();
  std::thread drain([&] { agent_->Drain(milliseconds(10000)); });
  std::this_thread::sleep_for(milliseconds(100));
  agent_->Shutdown();  // the second signal
  drain.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(3000));

  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1}));
  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);
  EXPECT_EQ(finishes[0].state, v1::PENDING);
}

TEST_F(AgentTest, HeartbeatsListRunningTrialsAndAStopAbandonsQuietly) {
  hub_.AddTrial("t1", TrialConfig(5, {{"hold_after_epoch", 1}}), 0, /*attempt=*/3);
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] {
    for (const v1::HeartbeatRequest& heartbeat : hub_.heartbeats()) {
      if (heartbeat.worker_id() == "worker-1" && heartbeat.running_size() == 1 &&
          heartbeat.running(0).trial_id() == "t1" && heartbeat.running(0).attempt() == 3) {
        return true;
      }
    }
    return false;
  }));

  hub_.StopInHeartbeat("t1");
  ASSERT_TRUE(Eventually([&] { return trainer_.returned() == 1; }));
  agent_->Shutdown();  // joins the slot, so any FinishTrial would have been sent
  EXPECT_TRUE(FinishesOf("t1").empty());
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1}));
}

TEST_F(AgentTest, AStaleHeartbeatStopSparesANewerAttemptOfTheTrial) {
  // Attempt 1 runs until stopped; the heartbeat that lists it is answered
  // late, after attempt 2 of the same trial started on the other slot. The
  // stop in that reply is about attempt 1 only.
  hub_.AddTrial("t1", TrialConfig(3, {{"hold_after_epoch", 1}}), 0, /*attempt=*/1);
  hub_.AnswerHeartbeatLate("t1", /*attempt=*/1);
  AgentOptions options = Options();
  options.slots = 2;
  StartAgent(options);
  ASSERT_TRUE(Eventually([&] { return hub_.late_heartbeat_held(); }));

  hub_.AddTrial("t1", TrialConfig(3), 0, /*attempt=*/2);
  ASSERT_TRUE(Eventually([&] { return trainer_.returned() == 2; }));
  agent_->Shutdown();  // joins the slots, so any FinishTrial would have been sent

  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);  // attempt 1 was abandoned quietly
  EXPECT_EQ(finishes[0].attempt, 2);
  EXPECT_EQ(finishes[0].state, v1::COMPLETED);
  std::vector<std::pair<int, int>> stored;  // (attempt, epoch)
  for (const ReportRecord& report : hub_.reports()) stored.emplace_back(report.attempt, report.epoch);
  EXPECT_EQ(stored, (std::vector<std::pair<int, int>>{{1, 1}, {2, 1}, {2, 2}, {2, 3}}));
}

TEST_F(AgentTest, AStopForOneOfTwoListedAttemptsStopsTheStaleOne) {
  hub_.AddTrial("t1", TrialConfig(3, {{"hold_after_epoch", 1}}), 0, /*attempt=*/1);
  hub_.AddTrial("t1", TrialConfig(3, {{"hold_after_epoch", 1}}), 0, /*attempt=*/2);
  AgentOptions options = Options();
  options.slots = 2;
  StartAgent(options);
  const auto listed_both = [&] {
    for (const v1::HeartbeatRequest& heartbeat : hub_.heartbeats()) {
      if (heartbeat.running_size() == 2) return true;
    }
    return false;
  };
  ASSERT_TRUE(Eventually(listed_both));

  hub_.HoldLease("t1", /*attempt=*/2);  // the reply lists t1 once, for attempt 1
  ASSERT_TRUE(Eventually([&] { return trainer_.returned() >= 1; }));
  std::this_thread::sleep_for(milliseconds(200));  // ten more heartbeats listing attempt 2
  EXPECT_EQ(trainer_.returned(), 1);
  agent_->Shutdown();

  const auto finishes = FinishesOf("t1");
  ASSERT_EQ(finishes.size(), 1u);  // attempt 1 was abandoned quietly
  EXPECT_EQ(finishes[0].attempt, 2);
  EXPECT_EQ(finishes[0].state, v1::PENDING);  // released by the shutdown
}

TEST_F(AgentTest, ALostReplyIsRetriedAndTheDuplicateAnsweredLikeTheFirst) {
  // The coordinator stores epoch 1 but its reply never arrives: the agent
  // must send the very same report again and move on once it is answered.
  hub_.LoseRepliesOfNextReports(1);
  hub_.AddTrial("t1", TrialConfig(3), 0, /*attempt=*/2);
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  std::vector<std::pair<int, int>> sent;  // (attempt, epoch) of every request
  for (const ReportRecord& request : hub_.report_requests()) {
    EXPECT_EQ(request.trial_id, "t1");
    sent.emplace_back(request.attempt, request.epoch);
  }
  EXPECT_EQ(sent, (std::vector<std::pair<int, int>>{{2, 1}, {2, 1}, {2, 2}, {2, 3}}));
  EXPECT_EQ(hub_.duplicates(), 1);
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2, 3}));  // each stored once
  const auto requests = hub_.report_requests();
  EXPECT_EQ(requests[1].metrics, requests[0].metrics);
  EXPECT_EQ(FinishesOf("t1").front().state, v1::COMPLETED);
  EXPECT_EQ(FinishesOf("t1").front().attempt, 2);
}

TEST_F(AgentTest, ALostLeaseAbandonsTheTrialWithoutFinishing) {
  hub_.LoseLeaseAtEpoch("t1", 2);
  hub_.AddTrial("t1", TrialConfig(5));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return trainer_.returned() == 1; }));
  agent_->Shutdown();
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1}));
  EXPECT_TRUE(FinishesOf("t1").empty());
}

TEST_F(AgentTest, RunsOneTrialPerSlotAtOnce) {
  hub_.AddTrial("a", TrialConfig(1, {{"rendezvous", true}}));
  hub_.AddTrial("b", TrialConfig(1, {{"rendezvous", true}}));
  AgentOptions options = Options();
  options.slots = 2;
  StartAgent(options);

  ASSERT_TRUE(Eventually([&] { return hub_.finishes().size() == 2; }));
  EXPECT_EQ(FinishesOf("a").at(0).state, v1::COMPLETED);
  EXPECT_EQ(FinishesOf("b").at(0).state, v1::COMPLETED);
}

TEST_F(AgentTest, EachSlotTrainsOnItsDeviceAndNamesItselfWhenAcquiring) {
  hub_.AddTrial("a", TrialConfig(3, {{"rendezvous", true}, {"hold_after_epoch", 2}}));
  hub_.AddTrial("b", TrialConfig(3, {{"rendezvous", true}, {"hold_after_epoch", 2}}));
  AgentOptions options = Options();
  options.device = "cuda:0,cuda:1";
  options.slots = 2;
  options.slot_devices = {"cuda:0", "cuda:1"};
  StartAgent(options);
  ASSERT_TRUE(Eventually([&] { return hub_.EpochsOf("a").size() == 2 && hub_.EpochsOf("b").size() == 2; }));

  ASSERT_FALSE(hub_.registrations().empty());
  const v1::RegisterWorkerRequest registration = hub_.registrations().front();
  EXPECT_EQ(registration.device(), "cuda:0,cuda:1");
  EXPECT_EQ(std::vector<std::string>(registration.slot_devices().begin(), registration.slot_devices().end()),
            (std::vector<std::string>{"cuda:0", "cuda:1"}));
  // Both slots leased a trial, and each trained it on its own device.
  std::vector<int> slots = hub_.leased_slots();
  std::sort(slots.begin(), slots.end());
  EXPECT_EQ(slots, (std::vector<int>{0, 1}));
  std::vector<std::string> devices = trainer_.devices();
  std::sort(devices.begin(), devices.end());
  EXPECT_EQ(devices, (std::vector<std::string>{"cuda:0", "cuda:1"}));

  // While both trials train, every heartbeat carries both slots' training
  // time, and it grows.
  const auto usage = [&](std::size_t first_heartbeat) {
    std::optional<std::vector<double>> last;
    const std::vector<v1::HeartbeatRequest> heartbeats = hub_.heartbeats();
    for (std::size_t i = first_heartbeat; i < heartbeats.size(); ++i) {
      std::vector<double> seconds;
      for (const v1::SlotUsage& slot : heartbeats[i].slots()) seconds.push_back(slot.training_seconds());
      last = seconds;
    }
    return last;
  };
  const std::size_t before = hub_.heartbeats().size();
  ASSERT_TRUE(Eventually([&] { return hub_.heartbeats().size() > before; }));
  const std::vector<double> earlier = usage(before).value();
  ASSERT_EQ(earlier.size(), 2u);
  std::this_thread::sleep_for(milliseconds(100));
  const std::size_t later_from = hub_.heartbeats().size();
  ASSERT_TRUE(Eventually([&] { return hub_.heartbeats().size() > later_from; }));
  const std::vector<double> later = usage(later_from).value();
  ASSERT_EQ(later.size(), 2u);
  for (std::size_t slot = 0; slot < 2; ++slot) {
    EXPECT_GT(earlier[slot], 0.0) << "slot " << slot;
    EXPECT_GE(later[slot] - earlier[slot], 0.05) << "slot " << slot;  // held in training for 100 ms
  }
}

TEST_F(AgentTest, RejectsSlotDevicesThatDoNotMatchTheSlots) {
  AgentOptions options = Options();
  options.slots = 2;
  options.slot_devices = {"cuda:0"};
  Agent agent(options);
  const absl::Status status = agent.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find("slot_devices"), std::string::npos) << status;
}

TEST_F(AgentTest, RetriesRegistrationUntilTheCoordinatorAppears) {
  StopServer(server_);  // the port stays known, nothing listens on it
  StartAgent(Options());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(agent_->worker_id().empty());

  int port = 0;
  server_ = Serve(&hub_, "127.0.0.1:" + std::to_string(port_), &port);
  ASSERT_NE(server_, nullptr);
  ASSERT_EQ(port, port_);
  hub_.AddTrial("t1", TrialConfig(2));

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(hub_.registrations().size(), 1u);
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2}));
}

TEST_F(AgentTest, RegistersAgainWhenTheCoordinatorForgetsTheWorker) {
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return agent_->worker_id() == "worker-1"; }));

  hub_.ForgetWorkers();
  ASSERT_TRUE(Eventually([&] { return agent_->worker_id() == "worker-2"; }));
  hub_.AddTrial("t1", TrialConfig(1));
  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(FinishesOf("t1").front().worker_id, "worker-2");
}

TEST_F(AgentTest, CarriesOnAfterTheCoordinatorRestarts) {
  hub_.AddTrial("before", TrialConfig(1));
  StartAgent(Options());
  ASSERT_TRUE(Eventually([&] { return FinishesOf("before").size() == 1; }));

  StopServer(server_);
  std::this_thread::sleep_for(milliseconds(300));  // down for a while
  FakeWorkerHub restarted;  // remembers nothing, like a coordinator that lost its workers
  restarted.AddTrial("after", TrialConfig(2));
  int port = 0;
  server_ = Serve(&restarted, "127.0.0.1:" + std::to_string(port_), &port);
  ASSERT_EQ(port, port_);

  ASSERT_TRUE(Eventually([&] { return restarted.finishes().size() == 1; }));
  EXPECT_EQ(restarted.finishes()[0].state, v1::COMPLETED);
  EXPECT_EQ(restarted.EpochsOf("after"), (std::vector<int>{1, 2}));
  EXPECT_EQ(restarted.registrations().size(), 1u);
  agent_->Shutdown();  // while `restarted` still serves
  StopServer(server_);
}

TEST_F(AgentTest, APermanentRegistrationErrorEndsTheAgent) {
  hub_.RejectRegistration(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "slots: must be at least 1"));
  StartAgent(Options());
  const absl::Status status = agent_->Wait();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("RegisterWorker"), std::string::npos);
  EXPECT_NE(status.message().find("slots: must be at least 1"), std::string::npos);
}

TEST_F(AgentTest, StartRejectsInvalidOptions) {
  AgentOptions no_slots = Options();
  no_slots.slots = 0;
  EXPECT_EQ(Agent(no_slots).Start().code(), absl::StatusCode::kInvalidArgument);

  AgentOptions no_port = Options();
  no_port.coordinator = "localhost";
  const absl::Status status = Agent(no_port).Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("HOST:PORT"), std::string::npos);

  AgentOptions no_name = Options();
  no_name.name.clear();
  EXPECT_EQ(Agent(no_name).Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AgentTest, StartsOnlyOnce) {
  StartAgent(Options());
  EXPECT_EQ(agent_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

// ------------------------------------------------------------ checkpoints --

TEST_F(AgentTest, UploadsEachEpochsCheckpointBeforeReportingTheEpoch) {
  hub_.AddTrial("t1", TrialConfig(3));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(hub_.events(), (std::vector<std::string>{"upload t1 1", "report t1 1", "upload t1 2", "report t1 2",
                                                     "upload t1 3", "report t1 3"}));
  const std::optional<StoredCheckpoint> stored = hub_.checkpoint("t1", 2);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->attempt, 1);
  EXPECT_EQ(stored->weights, FakeTrainer::Weights(2, 0));
  EXPECT_EQ(stored->training_state, "state after epoch 2");
  EXPECT_EQ(FinishesOf("t1").front().state, v1::COMPLETED);
}

TEST_F(AgentTest, LargeCheckpointsTravelInChunksOfAtMostOneMiB) {
  constexpr std::size_t kBytes = (5u << 20) / 2;  // 2.5 MiB
  hub_.AddTrial("t1", TrialConfig(1, {{"checkpoint_bytes", kBytes}}));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  const std::optional<StoredCheckpoint> stored = hub_.checkpoint("t1", 1);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->weights, FakeTrainer::Weights(1, kBytes));
  EXPECT_GE(stored->chunks, 3);
  EXPECT_LE(stored->largest_chunk, std::size_t{1} << 20);
}

TEST_F(AgentTest, AnUploadIsRetriedThroughAnOutage) {
  hub_.FailNextUploads(2);
  hub_.AddTrial("t1", TrialConfig(2));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  EXPECT_EQ(hub_.upload_calls(), 4);
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1, 2}));
  EXPECT_EQ(FinishesOf("t1").front().state, v1::COMPLETED);
}

TEST_F(AgentTest, ALostLeaseOnUploadAbandonsTheTrialBeforeItsEpochIsReported) {
  hub_.RefuseUploads("t1", 2, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no longer holds a lease"));
  hub_.AddTrial("t1", TrialConfig(3));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return trainer_.returned() == 1; }));
  agent_->Shutdown();
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{1}));
  EXPECT_TRUE(FinishesOf("t1").empty());
}

TEST_F(AgentTest, ARefusedUploadFailsTheTrialWithTheReason) {
  hub_.RefuseUploads("t1", 1, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "checkpoint: exceeds the limit"));
  hub_.AddTrial("t1", TrialConfig(2));
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  const FinishRecord finish = FinishesOf("t1").front();
  EXPECT_EQ(finish.state, v1::FAILED);
  EXPECT_NE(finish.reason.find("UploadCheckpoint: checkpoint: exceeds the limit"), std::string::npos)
      << finish.reason;
  EXPECT_TRUE(hub_.EpochsOf("t1").empty());
}

TEST_F(AgentTest, AResumedAttemptStartsFromTheDownloadedCheckpoint) {
  hub_.PutCheckpoint("t1", 2, "weights after 2", "state after 2");
  hub_.AddTrial("t1", TrialConfig(4), /*start_epoch=*/2, /*attempt=*/2);
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }));
  const std::vector<v1::DownloadCheckpointRequest> downloads = hub_.downloads();
  ASSERT_EQ(downloads.size(), 1u);
  EXPECT_EQ(downloads[0].trial_id(), "t1");
  EXPECT_EQ(downloads[0].attempt(), 2);
  EXPECT_EQ(downloads[0].epoch(), 2);
  EXPECT_EQ(downloads[0].worker_id(), "worker-1");
  const std::optional<train::Checkpoint> resumed = trainer_.last_resume_from();
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->epoch, 2);
  EXPECT_EQ(resumed->weights, "weights after 2");
  EXPECT_EQ(resumed->training_state, "state after 2");
  EXPECT_EQ(hub_.EpochsOf("t1"), (std::vector<int>{3, 4}));
}

TEST_F(AgentTest, AMissingOrDamagedCheckpointIsReplayedInstead) {
  hub_.PutCheckpoint("damaged", 1, "weights", "state", /*corrupt=*/true);
  hub_.AddTrial("missing", TrialConfig(2), /*start_epoch=*/1, /*attempt=*/2);
  hub_.AddTrial("damaged", TrialConfig(2), /*start_epoch=*/1, /*attempt=*/2);
  StartAgent(Options());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("missing").size() == 1; }));
  ASSERT_TRUE(Eventually([&] { return FinishesOf("damaged").size() == 1; }));
  EXPECT_FALSE(trainer_.last_resume_from().has_value());  // "damaged" ran last
  for (const char* trial : {"missing", "damaged"}) {
    EXPECT_EQ(FinishesOf(trial).front().state, v1::COMPLETED) << trial;
    EXPECT_EQ(hub_.EpochsOf(trial), (std::vector<int>{2})) << trial;
  }
  EXPECT_EQ(hub_.downloads().size(), 2u);
}

TEST_F(AgentTest, ALostLeaseOnDownloadAbandonsTheTrialUntrained) {
  hub_.RefuseDownloads("t1", grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no longer holds a lease"));
  hub_.AddTrial("t1", TrialConfig(3), /*start_epoch=*/1, /*attempt=*/2);
  hub_.AddTrial("t2", TrialConfig(1));
  StartAgent(Options());

  // t2 runs after t1 on the one slot: once it finished, t1 was handled.
  ASSERT_TRUE(Eventually([&] { return FinishesOf("t2").size() == 1; }));
  EXPECT_EQ(trainer_.returned(), 1);
  EXPECT_TRUE(FinishesOf("t1").empty());
  EXPECT_TRUE(hub_.EpochsOf("t1").empty());
}

// ---------------------------------------------------------------- metrics --

// A trial RunTrial trains in milliseconds: 10 training images in batches of
// 4, so an epoch (or three LR range test steps) is batches of 4, 4 and 2.
nlohmann::json RealTrialConfig(int epochs) {
  nlohmann::json config = train::TinyConfig({{"name", "SGD"}, {"lr", 0.05}}, epochs);
  config["data"]["train_size"] = 10;
  config["data"]["val_size"] = 4;
  config["training"]["batch_size"] = 4;
  return config;
}

// The value of one series ("name" or "name{labels}") on a scraped page.
std::optional<double> Sample(const std::string& page, const std::string& series) {
  const std::string start = "\n" + series + " ";
  const std::size_t at = page.find(start);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(page.c_str() + at + start.size(), nullptr);
}

class AgentMetricsTest : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    absl::StatusOr<std::unique_ptr<worker_metrics::WorkerMetrics>> metrics =
        worker_metrics::WorkerMetrics::Start("127.0.0.1:0", "cpu");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = std::move(*metrics);
  }

  // Real training, recorded on metrics_.
  AgentOptions MetricsOptions() {
    AgentOptions options = Options();
    options.run_trial = train::RunTrial;
    options.metrics = metrics_.get();
    return options;
  }

  std::string Scrape() const { return segtune::testing::HttpGet(metrics_->port(), "/metrics"); }

  // Outlives the agent: AgentTest::TearDown shuts the agent down first.
  std::unique_ptr<worker_metrics::WorkerMetrics> metrics_;
};

TEST_F(AgentMetricsTest, CountsEveryImageAndBatchOfARealTraining) {
  hub_.AddTrial("t1", RealTrialConfig(2));
  StartAgent(MetricsOptions());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }, milliseconds(60000)));
  ASSERT_EQ(FinishesOf("t1").at(0).state, v1::COMPLETED) << FinishesOf("t1").at(0).reason;
  const std::string page = Scrape();
  EXPECT_EQ(Sample(page, "segtune_worker_images_total"), 2 * 10) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_batches_total"), 2 * 3) << page;
  const std::optional<double> data_wait = Sample(page, "segtune_worker_data_wait_seconds_total");
  ASSERT_TRUE(data_wait.has_value()) << page;
  EXPECT_GE(*data_wait, 0);
  // The slot's gauge holds the last epoch's throughput, as reported.
  const double reported = hub_.reports().back().metrics.at("images_per_second");
  const std::optional<double> images_per_second = Sample(page, "segtune_worker_images_per_second{slot=\"0\"}");
  ASSERT_TRUE(images_per_second.has_value()) << page;
  EXPECT_NEAR(*images_per_second, reported, reported * 1e-12);
  EXPECT_EQ(page.find("segtune_worker_current_trial{"), std::string::npos) << page;
}

TEST_F(AgentMetricsTest, CountsAnLrRangeTestsStepsAsBatches) {
  nlohmann::json config = RealTrialConfig(3);
  config["lr_range"] = {{"min_lr", 1e-4}, {"max_lr", 1e-2}, {"iterations", 3}, {"smoothing", 0.9},
                        {"diverge_factor", 1000}};
  config["objective"] = {{"metric", "smoothed_loss"}, {"mode", "min"}};
  hub_.AddTrial("t1", config);
  StartAgent(MetricsOptions());

  ASSERT_TRUE(Eventually([&] { return FinishesOf("t1").size() == 1; }, milliseconds(60000)));
  ASSERT_EQ(FinishesOf("t1").at(0).state, v1::COMPLETED) << FinishesOf("t1").at(0).reason;
  const std::string page = Scrape();
  EXPECT_EQ(Sample(page, "segtune_worker_images_total"), 4 + 4 + 2) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_batches_total"), 3) << page;
  // A step measures no throughput: the slot's gauge stays as it started.
  EXPECT_EQ(Sample(page, "segtune_worker_images_per_second{slot=\"0\"}"), 0) << page;
}

TEST_F(AgentMetricsTest, ShowsTheTrialEachSlotTrainsUntilItEnds) {
  hub_.AddTrial("a", TrialConfig(3, {{"hold_after_epoch", 1}}));
  hub_.AddTrial("b", TrialConfig(3, {{"hold_after_epoch", 1}}));
  AgentOptions options = MetricsOptions();
  options.run_trial = trainer_.Function();
  options.slots = 2;
  StartAgent(options);

  // Which slot leases which trial is a race; each busy slot shows one.
  const auto busy = [](const std::string& page, const char* slot) {
    return page.find(std::string("segtune_worker_current_trial{slot=\"") + slot + "\",sweep=\"sweep-1\",trial=\"") !=
           std::string::npos;
  };
  std::string page;
  ASSERT_TRUE(Eventually([&] {
    page = Scrape();
    return busy(page, "0") && busy(page, "1");
  })) << page;
  EXPECT_NE(page.find("trial=\"a\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("trial=\"b\"} 1"), std::string::npos) << page;

  hub_.StopInHeartbeat("a");
  ASSERT_TRUE(Eventually([&] {
    page = Scrape();
    return page.find("trial=\"a\"") == std::string::npos;
  })) << page;
  EXPECT_NE(page.find("trial=\"b\"} 1"), std::string::npos) << page;
}

}  // namespace
}  // namespace segtune::agent
