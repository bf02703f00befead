#include "segtune/worker_metrics/worker_metrics.h"

#include <unistd.h>

#include <exception>
#include <fstream>
#include <functional>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "segtune/common/listen_address.h"

#ifdef SEGTUNE_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace segtune::worker_metrics {
namespace {

// civetweb reads its listening_ports option with a syntax of its own (a bare
// port, several ports separated by commas, an 's' suffix for TLS) and
// accepts some values that are not addresses (999.1.1.1); its failures all
// read "possible problem binding to port". Checking the form first keeps
// "malformed" (a usage error) apart from "cannot bind" (an operation that
// failed).
// Reads the memory a device has in use, in bytes; nullopt when it cannot.
using MemoryReader = std::function<std::optional<double>()>;

// The process's resident set: statm's second field, in pages.
std::optional<double> ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long long size_pages = 0;
  long long resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return std::nullopt;
  return static_cast<double>(resident_pages) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

#ifdef SEGTUNE_TORCH_CUDA
// What LibTorch's caching allocator has handed out on the device (not what
// it reserved from the driver). Throws, caught here, until CUDA has been
// initialized, that is before the first trial touches the GPU.
std::optional<double> CudaAllocatedBytes(int device) {
  try {
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    // Entry 0 is StatType::AGGREGATE (all pools) in every release. Neither
    // StatType nor DeviceStats is named: LibTorch 2.x moved both to
    // c10::CachingAllocator / c10::CachingDeviceAllocator and re-exports only
    // some names here, varying by release.
    return static_cast<double>(stats.allocated_bytes[0].current);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
#endif

struct DeviceMemory {
  std::string label;
  MemoryReader read;
};

DeviceMemory ChooseDeviceMemory(const std::string& device) {
#ifdef SEGTUNE_TORCH_CUDA
  if (absl::StartsWith(device, "cuda:")) {
    int index = 0;
    if (absl::SimpleAtoi(device.substr(5), &index)) {
      return {device, [index] { return CudaAllocatedBytes(index); }};
    }
  }
#endif
  // A LibTorch without CUDA trains on the CPU only (ResolveDevice refuses
  // cuda there).
  return {"cpu", ResidentBytes};
}

// What the exposer collects: the registry, after reading the device's
// memory. Read at scrape time rather than per epoch, so the value is
// current between scrapes (an epoch can take minutes, and memory grows
// before the first one ends) and costs nothing when nobody scrapes.
class ScrapeRefresh final : public prometheus::Collectable {
 public:
  // One gauge per device, with the reader of its memory.
  using DeviceGauges = std::vector<std::pair<prometheus::Gauge*, MemoryReader>>;

  ScrapeRefresh(std::shared_ptr<prometheus::Registry> registry, DeviceGauges devices)
      : registry_(std::move(registry)), devices_(std::move(devices)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    for (const auto& [gauge, read] : devices_) {
      if (const std::optional<double> bytes = read()) gauge->Set(*bytes);
    }
    return registry_->Collect();
  }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  const DeviceGauges devices_;
};

}  // namespace

WorkerMetrics::WorkerMetrics(const std::string& devices) : registry_(std::make_shared<prometheus::Registry>()) {
  images_total_ = &prometheus::BuildCounter()
                       .Name("segtune_worker_images_total")
                       .Help("Training images processed")
                       .Register(*registry_)
                       .Add({});
  batches_total_ = &prometheus::BuildCounter()
                        .Name("segtune_worker_batches_total")
                        .Help("Training batches processed")
                        .Register(*registry_)
                        .Add({});
  data_wait_seconds_total_ = &prometheus::BuildCounter()
                                  .Name("segtune_worker_data_wait_seconds_total")
                                  .Help("Seconds the trainer waited for its loaders' next batch "
                                        "(training and validation)")
                                  .Register(*registry_)
                                  .Add({});
  images_per_second_ = &prometheus::BuildGauge()
                            .Name("segtune_worker_images_per_second")
                            .Help("Images per second of the slot's last epoch")
                            .Register(*registry_);
  current_trial_ = &prometheus::BuildGauge()
                        .Name("segtune_worker_current_trial")
                        .Help("The trial each busy slot trains (value 1)")
                        .Register(*registry_);
  auto& device_memory_bytes = prometheus::BuildGauge()
                                  .Name("segtune_worker_device_memory_bytes")
                                  .Help("Memory in use: CUDA allocator bytes on a GPU, resident memory on the CPU")
                                  .Register(*registry_);
  ScrapeRefresh::DeviceGauges device_gauges;
  for (const absl::string_view one_device : absl::StrSplit(devices, ',')) {
    DeviceMemory memory = ChooseDeviceMemory(std::string(one_device));
    device_gauges.emplace_back(&device_memory_bytes.Add({{"device", memory.label}}), std::move(memory.read));
  }
  scrape_refresh_ = std::make_shared<ScrapeRefresh>(registry_, std::move(device_gauges));
}

WorkerMetrics::~WorkerMetrics() = default;

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Start(const std::string& listen,
                                                                    const std::string& devices) {
  if (absl::Status status = common::ValidateListenAddress("--metrics-listen", listen); !status.ok()) return status;
  std::unique_ptr<WorkerMetrics> metrics(new WorkerMetrics(devices));
  try {
    // civetweb reports a port it cannot bind by throwing from the constructor.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("--metrics-listen ", listen,
                                               ": cannot serve /metrics there (is the port taken, or the host "
                                               "not an address of this machine?): ",
                                               e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->scrape_refresh_);
  return metrics;
}

int WorkerMetrics::port() const {
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::unique_ptr<TrialSeries> WorkerMetrics::StartTrial(int slot, const std::string& sweep_id,
                                                       const std::string& trial_id) {
  const std::string slot_label = std::to_string(slot);
  prometheus::Gauge& current = current_trial_->Add({{"slot", slot_label}, {"sweep", sweep_id}, {"trial", trial_id}});
  current.Set(1);
  prometheus::Gauge& images_per_second = images_per_second_->Add({{"slot", slot_label}});
  return std::unique_ptr<TrialSeries>(new TrialSeries(*this, &current, &images_per_second));
}

TrialSeries::TrialSeries(WorkerMetrics& metrics, prometheus::Gauge* current_trial,
                         prometheus::Gauge* images_per_second)
    : metrics_(metrics), current_trial_(current_trial), images_per_second_(images_per_second) {}

TrialSeries::~TrialSeries() { metrics_.current_trial_->Remove(current_trial_); }

void TrialSeries::RecordBatch(std::int64_t images) {
  metrics_.images_total_->Increment(static_cast<double>(images));
  metrics_.batches_total_->Increment();
}

void TrialSeries::RecordEpoch(double data_wait_seconds, std::optional<double> images_per_second) {
  metrics_.data_wait_seconds_total_->Increment(data_wait_seconds);
  if (images_per_second) images_per_second_->Set(*images_per_second);
}

}  // namespace segtune::worker_metrics
