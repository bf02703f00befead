// Trains one `shapes` trial with segtune's trainer, in-process and the way
// the worker does (train::RunTrial, with segtune-worker's allocator and
// thread settings and a checkpoint after every epoch), and prints where its
// time went:
// training images per second, epoch seconds, the share of an epoch spent
// outside the model's forward and backward (data wait, optimizer, other),
// and the start-up from RunTrial's call to the first training batch.
// compare.py runs this and bench/reference/train.py (the same job written
// in PyTorch) side by side and prints the ratios.
//
//   segtune_bench_train_throughput --arch unet --threads 1 [--json]
//   segtune_bench_train_throughput --dump-data DIR   (writes the data, trains nothing)
//
// --dump-data writes the train and val splits the trial trains on, as raw
// uint8 files and a JSON header (data.json), so that the Python reference
// trains on exactly the same bytes.
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "segtune/agent/device.h"
#include "segtune/data/dataset.h"
#include "segtune/models/model.h"
#include "segtune/train/trainer.h"
#include "segtune/train/trial_config.h"

namespace {

using nlohmann::json;

struct Workload {
  std::string arch = "unet";
  int image_size = 64;
  int64_t train_size = 256;
  int64_t val_size = 64;
  int64_t batch_size = 16;
  int base_channels = 16;
  int depth = 3;
  int epochs = 3;
  int classes = 4;
  double lr = 0.05;
  double momentum = 0.9;
  uint64_t data_seed = 7;
  uint64_t training_seed = 0;
};

// The trial's config_json, as the coordinator would send it.
json TrialConfigJson(const Workload& workload) {
  return {
      {"data",
       {{"dataset", "shapes"},
        {"image_size", workload.image_size},
        {"num_classes", workload.classes},
        {"train_size", workload.train_size},
        {"val_size", workload.val_size},
        {"seed", workload.data_seed}}},
      {"model",
       {{"arch", workload.arch},
        {"base_channels", workload.base_channels},
        {"depth", workload.depth}}},
      {"training", {{"batch_size", workload.batch_size}, {"seed", workload.training_seed}}},
      {"params",
       {{"optimizer", {{"name", "SGD"}, {"lr", workload.lr}, {"momentum", workload.momentum}}}}},
      {"epochs", workload.epochs},
  };
}

int64_t ParameterCount(const Workload& workload) {
  segtune::models::ModelSpec spec;
  spec.arch = workload.arch;
  spec.num_classes = workload.classes;
  spec.base_channels = workload.base_channels;
  spec.depth = workload.depth;
  auto model = segtune::models::MakeModel(spec);
  if (!model.ok()) return -1;
  int64_t count = 0;
  for (const auto& parameter : (*model)->parameters()) count += parameter.numel();
  return count;
}

bool WriteRaw(const std::filesystem::path& path, const at::Tensor& tensor) {
  const at::Tensor bytes = tensor.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(bytes.data_ptr()), static_cast<std::streamsize>(bytes.nbytes()));
  return static_cast<bool>(out);
}

// Loads both splits exactly as the trainer does (from the parsed trial
// configuration) and writes them with a header describing them.
int DumpData(const Workload& workload, const std::filesystem::path& dir) {
  auto config = segtune::train::ParseTrialConfig(TrialConfigJson(workload));
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 2;
  }
  const segtune::train::DataConfig& data = config->data;
  segtune::data::DatasetOptions options;
  options.dataset = data.dataset;
  options.load_size = data.resize;
  options.num_classes = data.num_classes;
  options.ignore_index = data.ignore_index;
  options.train_size = data.train_size;
  options.val_size = data.val_size;
  options.seed = data.seed;

  std::filesystem::create_directories(dir);
  json header = {{"num_classes", data.num_classes}, {"ignore_index", data.ignore_index},
                 {"image_size", data.image_size},   {"mean", data.mean},
                 {"std", data.std},                 {"splits", json::object()}};
  for (const auto& [name, split] : {std::pair{"train", segtune::data::Split::kTrain},
                                    std::pair{"val", segtune::data::Split::kVal}}) {
    auto set = segtune::data::LoadSplit(options, split);
    if (!set.ok()) {
      std::cerr << name << ": " << set.status().message() << "\n";
      return 1;
    }
    const std::string images = std::string(name) + "_images.u8";
    const std::string masks = std::string(name) + "_masks.u8";
    if (!WriteRaw(dir / images, set->images) || !WriteRaw(dir / masks, set->masks)) {
      std::cerr << "cannot write " << dir << "\n";
      return 1;
    }
    header["splits"][name] = {
        {"images", images}, {"masks", masks}, {"shape", set->masks.sizes().vec()}};
  }
  std::ofstream(dir / "data.json") << header.dump(2) << "\n";
  return 0;
}

// One epoch's figures, in the form train.py prints them too.
json EpochJson(const segtune::train::EpochReport& report, int64_t train_images) {
  const segtune::train::EpochTiming& timing = report.timing;
  const double train_seconds = static_cast<double>(train_images) /
                               report.metrics.at("images_per_second");
  const double other = timing.total_seconds - timing.model_seconds - timing.optimizer_seconds -
                       timing.data_wait_seconds - timing.checkpoint_seconds;
  return {
      {"epoch", report.epoch},
      {"images_per_second", report.metrics.at("images_per_second")},
      {"train_seconds", train_seconds},
      {"epoch_seconds", timing.total_seconds},
      {"model_seconds", timing.model_seconds},
      {"optimizer_seconds", timing.optimizer_seconds},
      {"data_wait_seconds", timing.data_wait_seconds},
      {"checkpoint_seconds", timing.checkpoint_seconds},
      {"other_seconds", other},
      {"outside_share", 1.0 - timing.model_seconds / timing.total_seconds},
      {"train_loss", report.metrics.at("train_loss")},
      {"val_miou", report.metrics.at("val_miou")},
  };
}

// Totals over the epochs, with the same keys as one epoch's.
json Totals(const std::vector<json>& epochs, int64_t train_images) {
  json totals = json::object();
  for (const char* key : {"train_seconds", "epoch_seconds", "model_seconds", "optimizer_seconds",
                          "data_wait_seconds", "checkpoint_seconds", "other_seconds"}) {
    double sum = 0;
    for (const json& epoch : epochs) sum += epoch.at(key).get<double>();
    totals[key] = sum;
  }
  totals["images_per_second"] = static_cast<double>(train_images) *
                                static_cast<double>(epochs.size()) /
                                totals["train_seconds"].get<double>();
  totals["outside_share"] =
      1.0 - totals["model_seconds"].get<double>() / totals["epoch_seconds"].get<double>();
  return totals;
}

void PrintText(const json& result) {
  std::printf("c++ %s, %lld parameters, %d thread(s); start-up %.3f s\n",
              result["arch"].get<std::string>().c_str(),
              static_cast<long long>(result["parameters"].get<int64_t>()),
              result["threads"].get<int>(), result["startup_seconds"].get<double>());
  std::printf("%6s %9s %9s %8s %8s %8s %8s %8s %8s %8s\n", "epoch", "images/s", "epoch s",
              "model", "optim", "data", "ckpt", "other", "outside", "mIoU");
  auto row = [](const std::string& label, const json& figures, const std::string& miou) {
    std::printf("%6s %9.1f %9.3f %8.3f %8.3f %8.3f %8.3f %8.3f %7.1f%% %8s\n", label.c_str(),
                figures["images_per_second"].get<double>(), figures["epoch_seconds"].get<double>(),
                figures["model_seconds"].get<double>(), figures["optimizer_seconds"].get<double>(),
                figures["data_wait_seconds"].get<double>(),
                figures["checkpoint_seconds"].get<double>(), figures["other_seconds"].get<double>(),
                100 * figures["outside_share"].get<double>(), miou.c_str());
  };
  for (const json& epoch : result["epochs"]) {
    char miou[16];
    std::snprintf(miou, sizeof miou, "%.3f", epoch["val_miou"].get<double>());
    row(std::to_string(epoch["epoch"].get<int>()), epoch, miou);
  }
  row("all", result["totals"], "");
}

}  // namespace

int main(int argc, char** argv) {
  Workload workload;
  int threads = 1;
  std::string dump_dir;
  bool as_json = false;
  CLI::App app("Trains one shapes trial with segtune's trainer and prints where the time went");
  app.add_option("--arch", workload.arch, "unet or lraspp")->capture_default_str();
  app.add_option("--image-size", workload.image_size)->capture_default_str();
  app.add_option("--train-size", workload.train_size)->capture_default_str();
  app.add_option("--val-size", workload.val_size)->capture_default_str();
  app.add_option("--batch-size", workload.batch_size)->capture_default_str();
  app.add_option("--base-channels", workload.base_channels)->capture_default_str();
  app.add_option("--depth", workload.depth)->capture_default_str();
  app.add_option("--epochs", workload.epochs)->capture_default_str();
  app.add_option("--classes", workload.classes)->capture_default_str();
  app.add_option("--lr", workload.lr, "SGD learning rate")->capture_default_str();
  app.add_option("--momentum", workload.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--threads", threads, "LibTorch intra-op threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--dump-data", dump_dir, "write the train and val data here and exit");
  app.add_flag("--json", as_json, "print one JSON document instead of a table");
  CLI11_PARSE(app, argc, argv);

  // As segtune-worker's start-up does: its malloc settings, and --threads
  // intra-op threads with one inter-op thread.
  segtune::agent::ConfigureAllocator();
  if (const absl::Status status = segtune::agent::ConfigureTorchThreads(threads); !status.ok()) {
    std::cerr << status.message() << "\n";
    return 1;
  }

  if (!dump_dir.empty()) return DumpData(workload, dump_dir);

  std::vector<json> epochs;
  segtune::train::TrainOptions options;
  options.device = "cpu";
  // The worker polls an atomic between batches; so does this.
  std::atomic<bool> abort{false};
  options.should_abort = [&abort] { return abort.load(); };
  // The worker checkpoints every epoch: the trainer serializes the state
  // (timed as checkpoint_seconds) and the agent uploads the bytes, which
  // this drops; the upload is network time, not training's.
  options.on_checkpoint = [](const segtune::train::Checkpoint&) { return absl::OkStatus(); };
  double startup_seconds = 0;
  options.on_epoch = [&](const segtune::train::EpochReport& report) {
    if (report.epoch == 1) startup_seconds = report.timing.startup_seconds;
    epochs.push_back(EpochJson(report, workload.train_size));
    return true;
  };
  const segtune::train::TrialResult result =
      segtune::train::RunTrial(TrialConfigJson(workload), options);
  if (result.outcome != segtune::train::Outcome::kCompleted) {
    std::cerr << "the trial did not complete: " << result.reason << "\n";
    return 1;
  }

  const json output = {
      {"program", "c++"},
      {"arch", workload.arch},
      {"parameters", ParameterCount(workload)},
      {"threads", threads},
      {"startup_seconds", startup_seconds},
      {"epochs", epochs},
      {"totals", Totals(epochs, workload.train_size)},
  };
  if (as_json) {
    std::cout << output.dump() << std::endl;
  } else {
    PrintText(output);
  }
  return 0;
}
