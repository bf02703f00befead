#include "segtune/agent/agent.h"

#include <algorithm>
#include <exception>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "segtune/agent/backoff.h"
#include "segtune/proto/checksum.h"

namespace segtune::agent {
namespace {

namespace v1 = ::segtune::v1;
using std::chrono::milliseconds;

// The long poll's deadline leaves this much room beyond the wait itself.
constexpr int kAcquireDeadlineSlackMs = 5000;
// The shortest deadline worth sending while the shutdown grace runs out.
constexpr milliseconds kMinCallTimeout(100);
// The longest gRPC waits between two attempts to reconnect to the
// coordinator (see Start).
constexpr milliseconds kMaxReconnectBackoff(1000);
// Drain waits no longer than this (a century), which keeps its deadline
// within steady_clock's range.
constexpr milliseconds kLongestDrain = std::chrono::hours(24 * 365 * 100);
// The most data one CheckpointChunk carries (segtune.proto).
constexpr std::size_t kCheckpointChunkBytes = std::size_t{1} << 20;
// Checkpoint transfers get one second more than rpc_timeout_ms per this many
// bytes, so a large model does not need a long deadline on every other call.
constexpr std::uint64_t kTransferBytesPerSecond = std::uint64_t{16} << 20;

// The coordinator refuses FinishTrial reasons longer than this (its
// kMaxReasonLength); a long exception message is cut to fit, at a UTF-8
// character boundary, so that the trial's end is still recorded.
constexpr std::size_t kMaxReasonBytes = 4096;

std::string FitReason(const std::string& reason) {
  if (reason.size() <= kMaxReasonBytes) return reason;
  constexpr absl::string_view kCut = " [...]";
  std::size_t keep = kMaxReasonBytes - kCut.size();
  while (keep > 0 && (static_cast<unsigned char>(reason[keep]) & 0xC0) == 0x80) --keep;
  return absl::StrCat(absl::string_view(reason).substr(0, keep), kCut);
}

// Failures worth retrying: the coordinator is down, restarting, overloaded,
// or lost the call. Everything else is an answer.
bool IsTransient(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
      return true;
    default:
      return false;
  }
}

// How the coordinator says that it will not take this worker's token.
bool IsTokenRefused(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED;
}

// How the coordinator says that this attempt no longer holds the trial.
bool IsLeaseLost(grpc::StatusCode code) {
  return code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::NOT_FOUND;
}

std::string Describe(const grpc::Status& status) {
  // gRPC and Abseil share their status code numbering.
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), ": ",
                      status.error_message());
}

absl::Status ToAbsl(const std::string& what, const grpc::Status& status) {
  if (IsTokenRefused(status.error_code())) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("the coordinator refused this worker's token (", what, ": ",
                                     status.error_message(), "); see --token-file in docs/security.md"));
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::Status ValidateAddress(const std::string& address) {
  const auto colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("coordinator address '", address, "': expected HOST:PORT with a port from 1 to 65535"));
  }
  return absl::OkStatus();
}

// "optimizer=Adam(lr=0.001, weight_decay=0) scheduler=StepLR(gamma=0.5, step_size=3) training.batch_size=8"
std::string SummarizeParams(const nlohmann::json& params) {
  if (!params.is_object() || params.empty()) return "no params";
  std::vector<std::string> parts;
  for (const auto& [key, value] : params.items()) {
    const auto name = value.is_object() ? value.find("name") : value.end();
    if (value.is_object() && name != value.end() && name->is_string()) {
      std::vector<std::string> arguments;
      for (const auto& [argument, argument_value] : value.items()) {
        if (argument != "name") arguments.push_back(absl::StrCat(argument, "=", argument_value.dump()));
      }
      parts.push_back(
          absl::StrCat(key, "=", name->get<std::string>(), "(", absl::StrJoin(arguments, ", "), ")"));
    } else {
      parts.push_back(absl::StrCat(key, "=", value.dump()));
    }
  }
  return absl::StrJoin(parts, " ");
}

std::string FormatMetric(const std::map<std::string, double>& metrics, const std::string& name) {
  const auto it = metrics.find(name);
  return it == metrics.end() ? "n/a" : absl::StrFormat("%.4f", it->second);
}

// The epoch's share of the trial's series; an LR range test's steps measure
// no images_per_second, and leave the slot's gauge as it was.
void RecordEpoch(worker_metrics::TrialSeries& series, const train::EpochReport& report) {
  const auto images_per_second = report.metrics.find("images_per_second");
  series.RecordEpoch(report.timing.data_wait_seconds, images_per_second == report.metrics.end()
                                                          ? std::nullopt
                                                          : std::optional<double>(images_per_second->second));
}

milliseconds TransferAllowance(std::uint64_t bytes) {
  return milliseconds(bytes * 1000 / kTransferBytesPerSecond);
}

// The checkpoint's data, the weights then the training state, in pieces of
// at most kCheckpointChunkBytes; one empty piece when there is no data.
std::vector<std::string_view> ChunkPieces(const train::Checkpoint& checkpoint) {
  std::vector<std::string_view> pieces;
  for (std::string_view part : {std::string_view(checkpoint.weights), std::string_view(checkpoint.training_state)}) {
    for (std::size_t at = 0; at < part.size(); at += kCheckpointChunkBytes) {
      pieces.push_back(part.substr(at, kCheckpointChunkBytes));
    }
  }
  if (pieces.empty()) pieces.emplace_back();
  return pieces;
}

// Reads a DownloadCheckpoint stream to its end into `checkpoint`. Returns the
// stream's status; `damage` says what was wrong with a stream that ended OK
// but does not add up to the checkpoint its header announced.
grpc::Status ReceiveCheckpoint(grpc::ClientReader<v1::CheckpointChunk>& reader, int epoch,
                               train::Checkpoint* checkpoint, std::string* damage) {
  v1::CheckpointChunk chunk;
  v1::CheckpointHeader header;
  std::string data;
  bool first = true;
  bool has_header = false;
  std::uint64_t expected = 0;
  while (reader.Read(&chunk)) {
    if (first) {
      has_header = chunk.has_header();
      header = chunk.header();
      first = false;
      expected = static_cast<std::uint64_t>(std::max<std::int64_t>(0, header.weights_bytes())) +
                 static_cast<std::uint64_t>(std::max<std::int64_t>(0, header.training_state_bytes()));
    }
    // Beyond what the header announced is damage; keep reading to the end
    // so that the call completes, but keep none of it.
    if (data.size() + chunk.data().size() <= expected) {
      data += chunk.data();
    } else {
      *damage = "more data than its header announced";
    }
  }
  const grpc::Status status = reader.Finish();
  if (!status.ok() || !damage->empty()) return status;
  if (!has_header) {
    *damage = "its first chunk has no header";
  } else if (header.epoch() != epoch) {
    *damage = absl::StrCat("it is the checkpoint of epoch ", header.epoch());
  } else if (header.weights_bytes() < 0 || header.training_state_bytes() < 0 || data.size() != expected) {
    *damage = absl::StrCat(data.size(), " bytes arrived, the header announced ", expected);
  } else if (const std::uint32_t crc = proto::Crc32(0, data); crc != header.crc32()) {
    *damage = absl::StrCat("checksum mismatch (crc32 of the data is ", crc, ", the header says ", header.crc32(), ")");
  } else {
    const std::size_t weights_bytes = static_cast<std::size_t>(header.weights_bytes());
    checkpoint->epoch = header.epoch();
    checkpoint->training_state = data.substr(weights_bytes);
    data.resize(weights_bytes);
    checkpoint->weights = std::move(data);
  }
  return status;
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)), training_clocks_(std::max(options_.slots, 0)) {}

Agent::~Agent() { Shutdown(); }

absl::Status Agent::Start() {
  if (absl::Status status = ValidateAddress(options_.coordinator); !status.ok()) return status;
  if (options_.slots < 1) {
    return absl::InvalidArgumentError(absl::StrCat("slots ", options_.slots, ": must be at least 1"));
  }
  if (options_.device.empty()) return absl::InvalidArgumentError("device: must not be empty");
  if (!options_.slot_devices.empty()) {
    if (static_cast<int>(options_.slot_devices.size()) != options_.slots) {
      return absl::InvalidArgumentError(absl::StrCat("slot_devices: ", options_.slot_devices.size(),
                                                     " devices for ", options_.slots, " slots"));
    }
    for (const std::string& device : options_.slot_devices) {
      if (device.empty()) return absl::InvalidArgumentError("slot_devices: a device is empty");
    }
  }
  if (options_.name.empty()) return absl::InvalidArgumentError("name: must not be empty");
  if (!options_.run_trial) return absl::InvalidArgumentError("run_trial: must be set");
  const std::pair<const char*, int> durations[] = {
      {"acquire_wait_ms", options_.acquire_wait_ms},       {"rpc_timeout_ms", options_.rpc_timeout_ms},
      {"initial_backoff_ms", options_.initial_backoff_ms}, {"max_backoff_ms", options_.max_backoff_ms},
      {"shutdown_grace_ms", options_.shutdown_grace_ms}};
  for (const auto& [field, value] : durations) {
    if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(field, " ", value, ": must be > 0"));
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || shutting_down_) {
    return absl::FailedPreconditionError("the agent was already started or shut down");
  }
  started_ = true;

  // gRPC's own reconnect backoff grows to two minutes by default, and while
  // it waits every call fails at once, heartbeats included. A coordinator
  // that restarts keeps the running trials' leases for two lease periods
  // (seconds, with a short --lease-seconds), so the channel must be back
  // within that: it retries the connection every kMaxReconnectBackoff at the
  // longest (plus gRPC's 20% jitter), whatever the agent's own retries wait.
  const int max_reconnect_ms =
      std::min(options_.max_backoff_ms, static_cast<int>(kMaxReconnectBackoff.count()));
  const int min_reconnect_ms = std::min(options_.initial_backoff_ms, max_reconnect_ms);
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, min_reconnect_ms);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, min_reconnect_ms);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_reconnect_ms);
  stub_ = v1::WorkerHub::NewStub(common::MakeChannel(options_.coordinator, options_.security, channel_args));

  session_thread_ = std::thread([this] { SessionLoop(); });
  for (int slot = 0; slot < options_.slots; ++slot) slot_threads_.emplace_back([this, slot] { SlotLoop(slot); });
  return absl::OkStatus();
}

absl::Status Agent::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shutdown_done_ || !fatal_.ok(); });
  return fatal_;
}

void Agent::Drain(milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + std::clamp(within, milliseconds(0), kLongestDrain);
  const double seconds = static_cast<double>(within.count()) / 1000.0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    const bool busy = assignments_in_hand_ > 0;
    if (started_ && !shutting_down_ && !draining_) {
      draining_ = true;
      // A parked long poll would hand this worker a trial it no longer wants.
      for (grpc::ClientContext* call : acquire_calls_) call->TryCancel();
      spdlog::info("draining: {} trial(s) finish their epoch (up to {:.1f} s), then the worker shuts down",
                   running_.size(), seconds);
      cv_.notify_all();
    }
    const bool settled = cv_.wait_until(
        lock, deadline, [this] { return assignments_in_hand_ == 0 || shutting_down_ || !fatal_.ok(); });
    if (!settled) {
      spdlog::warn("drain: {} trial(s) still in hand after {:.1f} s; aborting them (they resume from their "
                   "last checkpoint)",
                   assignments_in_hand_, seconds);
    } else if (busy && !shutting_down_ && fatal_.ok()) {
      spdlog::info("drained: no trial left in hand");
    }
  }
  Shutdown();
}

void Agent::Shutdown() {
  std::lock_guard<std::mutex> serialize(shutdown_mu_);
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_done_) return;
    started = started_;
    grace_deadline_ = std::chrono::steady_clock::now() + milliseconds(options_.shutdown_grace_ms);
    shutting_down_ = true;
    // Long polls would otherwise hold Shutdown for up to acquire_wait_ms.
    for (grpc::ClientContext* call : acquire_calls_) call->TryCancel();
    if (started && !running_.empty()) {
      spdlog::info("shutting down: releasing {} running trial(s) back to the queue", running_.size());
    }
  }
  cv_.notify_all();

  if (started) {
    for (std::thread& slot : slot_threads_) slot.join();
    // Heartbeats kept the leases alive while the slots released their trials.
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_session_ = true;
    }
    cv_.notify_all();
    session_thread_.join();
    Deregister();
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_done_ = true;
  }
  cv_.notify_all();
}

std::string Agent::worker_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_id_;
}

// ------------------------------------------------- registration, heartbeats --

void Agent::SessionLoop() {
  while (true) {
    std::string id;
    int interval_ms = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_session_) return;
      id = worker_id_;
      interval_ms = heartbeat_interval_ms_;
    }
    if (id.empty()) {
      if (!Register()) return;
      continue;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, milliseconds(interval_ms), [&] { return stop_session_ || worker_id_ != id; });
      if (stop_session_) return;
      if (worker_id_ != id) continue;  // forgotten by the coordinator: register again
    }
    SendHeartbeat(id);
  }
}

bool Agent::Register() {
  Backoff backoff(milliseconds(options_.initial_backoff_ms), milliseconds(options_.max_backoff_ms));
  v1::RegisterWorkerRequest request;
  request.set_name(options_.name);
  request.set_hostname(options_.hostname);
  request.set_device(options_.device);
  request.set_slots(options_.slots);
  for (const std::string& device : options_.slot_devices) request.add_slot_devices(device);
  while (!shutting_down_) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + milliseconds(options_.rpc_timeout_ms));
    v1::RegisterWorkerResponse response;
    const grpc::Status status = stub_->RegisterWorker(&context, request, &response);
    if (status.ok()) {
      if (response.worker_id().empty()) {
        Fail(absl::InternalError("RegisterWorker: the coordinator answered an empty worker_id"));
        return false;
      }
      if (response.heartbeat_interval_ms() <= 0) {
        Fail(absl::InternalError(absl::StrCat("RegisterWorker: the coordinator answered heartbeat_interval_ms ",
                                              response.heartbeat_interval_ms(), "; must be > 0")));
        return false;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        worker_id_ = response.worker_id();
        heartbeat_interval_ms_ = response.heartbeat_interval_ms();
      }
      cv_.notify_all();
      spdlog::info("registered with coordinator at {} as worker {} ({}, {} slot(s), device {})",
                   options_.coordinator, response.worker_id(), options_.name, options_.slots, options_.device);
      return true;
    }
    if (!IsTransient(status.error_code())) {
      Fail(ToAbsl("RegisterWorker", status));
      return false;
    }
    const milliseconds delay = backoff.NextDelay();
    LogRetry("RegisterWorker", status, delay);
    SleepForRetry(delay);
  }
  return false;
}

void Agent::SendHeartbeat(const std::string& worker_id) {
  v1::HeartbeatRequest request;
  request.set_worker_id(worker_id);
  // The attempts this heartbeat speaks for. Its reply is about them only: a
  // newer attempt of the same trial, started while the call was in flight,
  // is not what the coordinator asked to stop.
  std::map<std::string, std::vector<int>> sent_attempts;  // trial id -> attempts, ascending
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const ActiveTrial* trial : running_) {
      if (trial->worker_id != worker_id) continue;
      v1::RunningTrial* running = request.add_running();
      running->set_trial_id(trial->trial_id);
      running->set_attempt(trial->attempt);
      sent_attempts[trial->trial_id].push_back(trial->attempt);
    }
  }
  for (auto& [trial_id, attempts] : sent_attempts) std::sort(attempts.begin(), attempts.end());
  const std::vector<double> training_seconds = training_clocks_.Seconds();
  for (int slot = 0; slot < static_cast<int>(training_seconds.size()); ++slot) {
    v1::SlotUsage* usage = request.add_slots();
    usage->set_slot(slot);
    usage->set_training_seconds(training_seconds[static_cast<size_t>(slot)]);
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + CallTimeout());
  v1::HeartbeatResponse response;
  const grpc::Status status = stub_->Heartbeat(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    ForgetWorker(worker_id);
    return;
  }
  if (IsTokenRefused(status.error_code())) {
    Fail(ToAbsl("Heartbeat", status));
    return;
  }
  if (!status.ok()) {
    // The next heartbeat is the retry: they keep the leases alive, so they do
    // not back off.
    spdlog::warn("heartbeat to coordinator at {} failed ({})", options_.coordinator, Describe(status));
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& stop_id : response.stop_trial_ids()) {
    const auto sent = sent_attempts.find(stop_id);
    if (sent == sent_attempts.end() || sent->second.empty()) continue;  // not one this heartbeat listed
    // The coordinator lists a trial once for each listed attempt that no
    // longer holds its lease, and only the newest attempt can hold it; so
    // when one heartbeat listed several attempts of a trial, each listing
    // stops the oldest of them not stopped yet.
    const int attempt = sent->second.front();
    sent->second.erase(sent->second.begin());
    for (ActiveTrial* trial : running_) {
      if (trial->trial_id == stop_id && trial->attempt == attempt && trial->worker_id == worker_id &&
          !trial->stop_requested.exchange(true)) {
        spdlog::info("trial {} attempt {}: the coordinator asked to stop it (cancelled, or leased elsewhere)",
                     stop_id, attempt);
      }
    }
  }
}

void Agent::ForgetWorker(const std::string& worker_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (worker_id_ != worker_id) return;  // another thread noticed first
    worker_id_.clear();
    // Leases belong to the registration; the coordinator gave these away.
    for (ActiveTrial* trial : running_) {
      if (trial->worker_id == worker_id) trial->lease_lost = true;
    }
  }
  cv_.notify_all();
  spdlog::warn("coordinator at {} no longer knows worker {}; registering again", options_.coordinator,
               worker_id);
}

void Agent::Deregister() {
  const std::string id = worker_id();
  if (id.empty()) return;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + CallTimeout());
  v1::DeregisterWorkerRequest request;
  request.set_worker_id(id);
  v1::DeregisterWorkerResponse response;
  const grpc::Status status = stub_->DeregisterWorker(&context, request, &response);
  if (status.ok()) {
    spdlog::info("deregistered worker {}", id);
  } else {
    spdlog::warn("could not deregister worker {} ({}); the coordinator will notice its silence", id,
                 Describe(status));
  }
}

// ---------------------------------------------------------------- slots --

std::string Agent::WaitForWorkerId() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shutting_down_ || draining_ || !worker_id_.empty(); });
  return shutting_down_ || draining_ ? std::string() : worker_id_;
}

void Agent::SlotLoop(int slot) {
  Backoff backoff(milliseconds(options_.initial_backoff_ms), milliseconds(options_.max_backoff_ms));
  while (true) {
    const std::string worker_id = WaitForWorkerId();
    if (worker_id.empty()) return;

    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         milliseconds(options_.acquire_wait_ms + kAcquireDeadlineSlackMs));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutting_down_ || draining_) return;
      acquire_calls_.insert(&context);
    }
    v1::AcquireTrialRequest request;
    request.set_worker_id(worker_id);
    request.set_wait_ms(options_.acquire_wait_ms);
    request.set_slot(slot);
    v1::AcquireTrialResponse response;
    const grpc::Status status = stub_->AcquireTrial(&context, request, &response);
    {
      std::lock_guard<std::mutex> lock(mu_);
      acquire_calls_.erase(&context);
    }

    if (status.ok()) {
      backoff.Reset();
      if (response.has_trial()) RunAssignment(response.assignment(), worker_id, slot);
      continue;
    }
    if (shutting_down_ || draining_) return;
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      ForgetWorker(worker_id);
      continue;
    }
    if (!IsTransient(status.error_code())) {
      Fail(ToAbsl("AcquireTrial", status));
      return;
    }
    const milliseconds delay = backoff.NextDelay();
    LogRetry("AcquireTrial", status, delay);
    SleepForRetry(delay);
  }
}

const std::string& Agent::SlotDevice(int slot) const {
  return options_.slot_devices.empty() ? options_.device : options_.slot_devices[static_cast<size_t>(slot)];
}

void Agent::RunAssignment(const v1::TrialAssignment& assignment, const std::string& worker_id, int slot) {
  if (assignment.trial_id().empty()) {
    // Nothing can be reported about a trial without an id; the coordinator's
    // lease expiry takes care of whatever it meant to lease.
    spdlog::error("coordinator at {} sent an assignment without trial_id; ignored", options_.coordinator);
    return;
  }
  ActiveTrial trial;
  trial.trial_id = assignment.trial_id();
  trial.attempt = assignment.attempt();
  trial.worker_id = worker_id;
  trial.slot = slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (worker_id_ != worker_id) {
      // Leased to a registration the coordinator has since forgotten.
      spdlog::info("trial {} abandoned: leased to forgotten worker {}", trial.trial_id, worker_id);
      return;
    }
    running_.insert(&trial);
    ++assignments_in_hand_;
  }
  const Ending ending = Train(assignment, trial);
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(&trial);
  }
  if (ending.report) FinishTrial(trial, ending);
  {
    std::lock_guard<std::mutex> lock(mu_);
    --assignments_in_hand_;
  }
  cv_.notify_all();
}

Agent::Ending Agent::Train(const v1::TrialAssignment& assignment, ActiveTrial& trial) {
  if (shutting_down_ || draining_) {
    // Leased in the same moment as Shutdown or Drain began: hand it straight back.
    return Ending{true, v1::PENDING, shutting_down_ ? "worker shutting down" : "worker draining: released untrained",
                  assignment.start_epoch()};
  }
  if (assignment.start_epoch() < 0) {
    return Ending{true, v1::FAILED,
                  absl::StrCat("assignment start_epoch ", assignment.start_epoch(), ": must be >= 0"), 0};
  }
  const nlohmann::json config =
      nlohmann::json::parse(assignment.config_json(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    return Ending{true, v1::FAILED, "assignment config_json: not a JSON object", assignment.start_epoch()};
  }
  const auto epochs_it = config.find("epochs");
  const int epochs = epochs_it != config.end() && epochs_it->is_number_integer() ? epochs_it->get<int>() : 0;
  const auto params_it = config.find("params");
  spdlog::info("trial {} started (sweep {}, attempt {}, epochs {}..{}): {}", trial.trial_id,
               assignment.sweep_id(), trial.attempt, assignment.start_epoch() + 1, epochs,
               params_it == config.end() ? "no params" : SummarizeParams(*params_it));
  // Ends (and leaves /metrics) when Train returns, before FinishTrial.
  const std::unique_ptr<worker_metrics::TrialSeries> series =
      options_.metrics == nullptr ? nullptr
                                  : options_.metrics->StartTrial(trial.slot, assignment.sweep_id(), trial.trial_id);

  EpochFeedback feedback;
  train::TrainOptions train_options;
  train_options.device = SlotDevice(trial.slot);
  train_options.start_epoch = assignment.start_epoch();
  // An LR range test keeps no checkpoints: its steps are cheap to replay,
  // and its weights are of no use once it ends.
  const bool keeps_checkpoints = !config.contains("lr_range");
  if (assignment.start_epoch() > 0 && keeps_checkpoints) {
    train_options.resume_from = DownloadCheckpoint(trial, assignment.start_epoch());
    // The coordinator gave the trial away meanwhile: the same ending as a
    // lease lost while training.
    if (trial.lease_lost) return DecideEnding(trial, train::TrialResult{}, feedback);
  }
  if (keeps_checkpoints) {
    train_options.on_checkpoint = [this, &trial, &feedback](const train::Checkpoint& checkpoint) {
      const TrainingClocks::Pause waiting_for_coordinator(training_clocks_, trial.slot);
      return UploadCheckpoint(trial, checkpoint, feedback);
    };
  }
  // Real datasets take a while to decode and check: log every tenth of it.
  train_options.on_load_progress = [&trial, logged = int64_t{-1}](int64_t done, int64_t total) mutable {
    const int64_t tenth = total > 0 ? done * 10 / total : 10;
    if (tenth == logged) return;
    logged = tenth;
    spdlog::info("trial {}: loaded {}/{} samples", trial.trial_id, done, total);
  };
  train_options.should_abort = [this, &trial] {
    return shutting_down_.load() || trial.stop_requested.load() || trial.lease_lost.load();
  };
  train_options.on_epoch = [this, &trial, epochs, &feedback, series = series.get()](const train::EpochReport& report) {
    // Before the report, which is retried for as long as the coordinator is down.
    if (series != nullptr) RecordEpoch(*series, report);
    const TrainingClocks::Pause waiting_for_coordinator(training_clocks_, trial.slot);
    if (!ReportEpoch(trial, epochs, report, feedback)) return false;
    // Draining: this epoch is uploaded and acknowledged, so the trial can
    // resume from it elsewhere. After its last epoch the trainer ends it
    // COMPLETED instead.
    if (draining_ && report.epoch < epochs) {
      feedback.drained_after = report.epoch;
      return false;
    }
    return true;
  };
  if (series != nullptr) {
    train_options.on_batch = [series = series.get()](int, int, int, int64_t images) { series->RecordBatch(images); };
  }

  train::TrialResult result;
  training_clocks_.Start(trial.slot);
  try {
    result = options_.run_trial(config, train_options);
  } catch (const std::exception& e) {
    // RunTrial promises not to throw; an injected function might.
    result.outcome = train::Outcome::kFailed;
    result.reason = absl::StrCat("the trial function threw: ", e.what());
  }
  training_clocks_.Stop(trial.slot);
  return DecideEnding(trial, result, feedback);
}

bool Agent::ReportEpoch(ActiveTrial& trial, int epochs, const train::EpochReport& report,
                        EpochFeedback& feedback) {
  spdlog::info("trial {} epoch {}/{}: val_miou={} train_loss={}", trial.trial_id, report.epoch, epochs,
               FormatMetric(report.metrics, "val_miou"), FormatMetric(report.metrics, "train_loss"));
  v1::ReportEpochRequest request;
  request.set_worker_id(trial.worker_id);
  request.set_trial_id(trial.trial_id);
  request.set_attempt(trial.attempt);
  request.set_epoch(report.epoch);
  request.mutable_metrics()->insert(report.metrics.begin(), report.metrics.end());
  v1::ReportEpochResponse response;
  const std::optional<grpc::Status> status = CallUntilAnswered(
      "ReportEpoch", [&](grpc::ClientContext* context) { return stub_->ReportEpoch(context, request, &response); });

  if (!status) {
    feedback.undelivered = true;
    return false;
  }
  if (status->ok()) {
    if (response.decision() != v1::STOP) return true;
    feedback.stop = true;
    feedback.stop_reason = response.reason();
    return false;
  }
  if (IsLeaseLost(status->error_code())) {
    trial.lease_lost = true;
    return false;
  }
  feedback.rejection = ToAbsl(absl::StrCat("ReportEpoch of epoch ", report.epoch), *status);
  return false;
}

absl::Status Agent::UploadCheckpoint(ActiveTrial& trial, const train::Checkpoint& checkpoint,
                                     EpochFeedback& feedback) {
  v1::CheckpointHeader header;
  header.set_worker_id(trial.worker_id);
  header.set_trial_id(trial.trial_id);
  header.set_attempt(trial.attempt);
  header.set_epoch(checkpoint.epoch);
  header.set_weights_bytes(static_cast<std::int64_t>(checkpoint.weights.size()));
  header.set_training_state_bytes(static_cast<std::int64_t>(checkpoint.training_state.size()));
  header.set_crc32(proto::Crc32(proto::Crc32(0, checkpoint.weights), checkpoint.training_state));
  const std::vector<std::string_view> pieces = ChunkPieces(checkpoint);
  const std::uint64_t bytes = checkpoint.weights.size() + checkpoint.training_state.size();

  const std::optional<grpc::Status> status = CallUntilAnswered(
      "UploadCheckpoint",
      [&](grpc::ClientContext* context) {
        v1::UploadCheckpointResponse response;
        std::unique_ptr<grpc::ClientWriter<v1::CheckpointChunk>> writer = stub_->UploadCheckpoint(context, &response);
        v1::CheckpointChunk chunk;
        *chunk.mutable_header() = header;
        for (std::string_view piece : pieces) {
          chunk.set_data(piece.data(), piece.size());
          // A refusal (a lost lease) ends the stream early; Finish says why.
          if (!writer->Write(chunk)) break;
          chunk.clear_header();
        }
        writer->WritesDone();
        return writer->Finish();
      },
      TransferAllowance(bytes));

  // The trainer prefixes the epoch to these errors.
  if (!status) {
    feedback.undelivered = true;
    return absl::UnavailableError("UploadCheckpoint: coordinator unreachable while shutting down");
  }
  if (status->ok()) return absl::OkStatus();
  if (IsLeaseLost(status->error_code())) trial.lease_lost = true;
  return ToAbsl("UploadCheckpoint", *status);
}

std::optional<train::Checkpoint> Agent::DownloadCheckpoint(ActiveTrial& trial, int epoch) {
  v1::DownloadCheckpointRequest request;
  request.set_worker_id(trial.worker_id);
  request.set_trial_id(trial.trial_id);
  request.set_attempt(trial.attempt);
  request.set_epoch(epoch);
  train::Checkpoint checkpoint;
  std::string damage;
  // The size is not known before the header arrives; a transfer of the
  // largest checkpoint the coordinator accepts (4 GiB) gets its allowance.
  const std::optional<grpc::Status> status = CallUntilAnswered(
      "DownloadCheckpoint",
      [&](grpc::ClientContext* context) {
        damage.clear();
        std::unique_ptr<grpc::ClientReader<v1::CheckpointChunk>> reader = stub_->DownloadCheckpoint(context, request);
        return ReceiveCheckpoint(*reader, epoch, &checkpoint, &damage);
      },
      TransferAllowance(std::uint64_t{4} << 30));

  if (!status) return std::nullopt;  // shutting down: the trial is released before it trains
  if (status->ok() && damage.empty()) {
    spdlog::info("trial {}: resuming from the checkpoint of epoch {} ({} bytes)", trial.trial_id, epoch,
                 checkpoint.weights.size() + checkpoint.training_state.size());
    return checkpoint;
  }
  if (status->ok()) {
    spdlog::warn("trial {}: the checkpoint of epoch {} arrived damaged ({}); replaying epochs 1..{} instead",
                 trial.trial_id, epoch, damage, epoch);
  } else if (status->error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    trial.lease_lost = true;
  } else if (status->error_code() == grpc::StatusCode::NOT_FOUND) {
    spdlog::warn("trial {}: the coordinator has no checkpoint of epoch {} ({}); replaying epochs 1..{} instead",
                 trial.trial_id, epoch, status->error_message(), epoch);
  } else {
    spdlog::warn("trial {}: cannot download the checkpoint of epoch {} ({}); replaying epochs 1..{} instead",
                 trial.trial_id, epoch, Describe(*status), epoch);
  }
  return std::nullopt;
}

Agent::Ending Agent::DecideEnding(const ActiveTrial& trial, const train::TrialResult& result,
                                  const EpochFeedback& feedback) const {
  // The coordinator already settled the trial (cancelled or re-leased it):
  // anything reported now would be refused.
  if (trial.lease_lost) {
    spdlog::info("trial {} abandoned: this worker no longer holds its lease", trial.trial_id);
    return Ending{};
  }
  if (trial.stop_requested) {
    spdlog::info("trial {} stopped at the coordinator's request", trial.trial_id);
    return Ending{};
  }
  if (feedback.undelivered) {
    spdlog::warn("trial {} abandoned: coordinator unreachable while shutting down; its lease will expire",
                 trial.trial_id);
    return Ending{};
  }
  if (!feedback.rejection.ok()) {
    return Ending{true, v1::FAILED, std::string(feedback.rejection.message()), result.epochs_done};
  }
  switch (result.outcome) {
    case train::Outcome::kCompleted:
      return Ending{true, v1::COMPLETED, "", result.epochs_done};
    case train::Outcome::kDiverged:
      return Ending{true, v1::DIVERGED, result.reason, result.epochs_done};
    case train::Outcome::kFailed:
      return Ending{true, v1::FAILED, result.reason, result.epochs_done};
    case train::Outcome::kEndedEarly:
      return Ending{true, v1::STOPPED, result.reason, result.epochs_done};
    case train::Outcome::kStopped:
      if (feedback.stop) {
        return Ending{true, v1::STOPPED, feedback.stop_reason.empty() ? "stopped early" : feedback.stop_reason,
                      result.epochs_done};
      }
      if (feedback.drained_after > 0) {
        return Ending{true, v1::PENDING, absl::StrCat("worker draining: released after epoch ", feedback.drained_after),
                      result.epochs_done};
      }
      if (shutting_down_) return Ending{true, v1::PENDING, "worker shutting down", result.epochs_done};
      // Nobody asked for this stop; the trainer's reason tells what happened.
      return Ending{true, v1::FAILED, absl::StrCat("stopped unexpectedly: ", result.reason), result.epochs_done};
  }
  return Ending{true, v1::FAILED, "unknown trial outcome", result.epochs_done};
}

void Agent::FinishTrial(const ActiveTrial& trial, const Ending& ending) {
  v1::FinishTrialRequest request;
  request.set_worker_id(trial.worker_id);
  request.set_trial_id(trial.trial_id);
  request.set_attempt(trial.attempt);
  request.set_state(ending.state);
  request.set_reason(FitReason(ending.reason));
  v1::FinishTrialResponse response;
  const std::optional<grpc::Status> status = CallUntilAnswered(
      "FinishTrial", [&](grpc::ClientContext* context) { return stub_->FinishTrial(context, request, &response); });
  if (!status) return;  // gave up during shutdown; CallUntilAnswered said so

  const std::string state = v1::TrialState_Name(ending.state);
  if (status->ok()) {
    if (ending.state == v1::PENDING) {
      spdlog::info("trial {} released back to the queue after {} epoch(s) ({})", trial.trial_id, ending.epochs_done,
                   ending.reason);
    } else if (ending.reason.empty()) {
      spdlog::info("trial {} finished: {} after {} epoch(s)", trial.trial_id, state, ending.epochs_done);
    } else {
      spdlog::info("trial {} finished: {} after {} epoch(s): {}", trial.trial_id, state, ending.epochs_done,
                   ending.reason);
    }
  } else if (IsLeaseLost(status->error_code())) {
    spdlog::info("trial {} ended ({}) but this worker no longer holds its lease ({})", trial.trial_id, state,
                 Describe(*status));
  } else {
    spdlog::error("trial {}: the coordinator refused FinishTrial {} ({})", trial.trial_id, state,
                  Describe(*status));
  }
}

// ------------------------------------------------------------- retrying --

std::optional<grpc::Status> Agent::CallUntilAnswered(const char* what, const Call& call, milliseconds extra) {
  Backoff backoff(milliseconds(options_.initial_backoff_ms), milliseconds(options_.max_backoff_ms));
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + CallTimeout(extra));
    const grpc::Status status = call(&context);
    if (IsTokenRefused(status.error_code())) Fail(ToAbsl(what, status));
    if (!IsTransient(status.error_code())) return status;
    if (ShutdownGraceExpired()) {
      spdlog::warn("{}: giving up, coordinator at {} still failing while shutting down ({})", what,
                   options_.coordinator, Describe(status));
      return std::nullopt;
    }
    const milliseconds delay = backoff.NextDelay();
    LogRetry(what, status, delay);
    SleepForRetry(delay);
  }
}

milliseconds Agent::CallTimeout(milliseconds extra) const {
  const milliseconds timeout = milliseconds(options_.rpc_timeout_ms) + extra;
  std::lock_guard<std::mutex> lock(mu_);
  if (!shutting_down_) return timeout;
  const auto left =
      std::chrono::duration_cast<milliseconds>(grace_deadline_ - std::chrono::steady_clock::now());
  return std::clamp(left, kMinCallTimeout, std::max(timeout, kMinCallTimeout));
}

bool Agent::ShutdownGraceExpired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_ && std::chrono::steady_clock::now() >= grace_deadline_;
}

void Agent::SleepForRetry(milliseconds delay) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!shutting_down_) {
    cv_.wait_for(lock, delay, [this] { return shutting_down_.load(); });
    return;
  }
  // Shutting down: nothing will cut this wait short any more, so only the
  // grace period bounds it.
  const auto until = std::min(std::chrono::steady_clock::now() + delay, grace_deadline_);
  lock.unlock();
  std::this_thread::sleep_until(until);
}

void Agent::LogRetry(const char* what, const grpc::Status& status, milliseconds delay) const {
  const double seconds = static_cast<double>(delay.count()) / 1000.0;
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    spdlog::warn("cannot reach coordinator at {} ({}: {}); retrying in {:.1f} s", options_.coordinator, what,
                 Describe(status), seconds);
  } else {
    spdlog::warn("coordinator at {} failed {} ({}); retrying in {:.1f} s", options_.coordinator, what,
                 Describe(status), seconds);
  }
}

void Agent::Fail(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fatal_.ok()) fatal_ = std::move(status);
  }
  cv_.notify_all();
}

}  // namespace segtune::agent
