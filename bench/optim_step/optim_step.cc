// Times one optimizer step of each segtune optimizer on a parameter set and
// prints one JSON line per optimizer. compare.py runs this and the same
// measurement in PyTorch (optim_step.py) side by side and prints the ratios.
//
//   segtune_bench_optim_step --params unet|25m --threads 1 --shapes-out FILE
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "segtune/models/unet.h"
#include "segtune/optim/factory.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The optimizers timed, with the arguments a user would typically pass.
// optim_step.py holds the same list.
const std::vector<json>& Optimizers() {
  static const std::vector<json> kOptimizers = {
      {{"name", "SGD"}, {"lr", 0.01}},
      {{"name", "SGD"}, {"lr", 0.01}, {"momentum", 0.9}, {"nesterov", true}},
      {{"name", "Adam"}, {"lr", 1e-3}},
      {{"name", "AdamW"}, {"lr", 1e-3}},
      {{"name", "Adagrad"}, {"lr", 1e-2}},
      {{"name", "RMSprop"}, {"lr", 1e-2}},
      {{"name", "Adadelta"}, {"lr", 1.0}},
      {{"name", "Adamax"}, {"lr", 2e-3}},
      {{"name", "NAdam"}, {"lr", 2e-3}},
      {{"name", "RAdam"}, {"lr", 1e-3}},
      {{"name", "ASGD"}, {"lr", 1e-2}},
      {{"name", "Rprop"}, {"lr", 1e-2}},
  };
  return kOptimizers;
}

// The parameter shapes: those of the default U-Net of a spec (base_channels
// 8, depth 3, 4 classes), or a 25M-parameter set shaped like a ResNet's
// (3x3 convolutions, a classifier, biases).
std::vector<std::vector<int64_t>> Shapes(const std::string& set) {
  std::vector<std::vector<int64_t>> shapes;
  if (set == "unet") {
    segtune::models::UNet model(segtune::models::UNetOptions(4).base_channels(8).depth(3));
    for (const torch::Tensor& parameter : model->parameters()) shapes.push_back(parameter.sizes().vec());
    return shapes;
  }
  for (int i = 0; i < 10; ++i) {
    shapes.push_back({512, 512, 3, 3});
    shapes.push_back({512});
  }
  shapes.push_back({1000, 1400});
  return shapes;
}

std::string Label(const json& optimizer) {
  std::string label = optimizer.at("name").get<std::string>();
  if (optimizer.contains("nesterov")) label += "(nesterov)";
  return label;
}

// Median seconds per step over enough steps to fill `seconds`.
double TimeSteps(torch::optim::Optimizer& optimizer, double seconds) {
  for (int i = 0; i < 3; ++i) optimizer.step();  // state allocation happens here
  std::vector<double> samples;
  const Clock::time_point start = Clock::now();
  while (samples.size() < 5 ||
         std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const Clock::time_point before = Clock::now();
    optimizer.step();
    samples.push_back(std::chrono::duration<double>(Clock::now() - before).count());
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string set = "unet";
  int threads = 1;
  double seconds = 1.0;
  std::string shapes_out;
  CLI::App app("Times one step of every segtune optimizer; one JSON line per optimizer");
  app.add_option("--params", set, "parameter set: unet or 25m")
      ->check(CLI::IsMember({"unet", "25m"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "LibTorch intra-op threads")->capture_default_str();
  app.add_option("--seconds", seconds, "time spent per optimizer")->capture_default_str();
  app.add_option("--shapes-out", shapes_out, "write the parameter shapes as JSON here");
  CLI11_PARSE(app, argc, argv);

  torch::set_num_threads(threads);
  const std::vector<std::vector<int64_t>> shapes = Shapes(set);
  if (!shapes_out.empty()) std::ofstream(shapes_out) << json(shapes).dump() << "\n";

  torch::manual_seed(0);
  for (const json& params : Optimizers()) {
    std::vector<torch::Tensor> parameters;
    for (const auto& shape : shapes) {
      torch::Tensor parameter = torch::randn(shape).requires_grad_();
      parameter.mutable_grad() = torch::randn(shape) * 1e-3;
      parameters.push_back(parameter);
    }
    auto optimizer = segtune::optim::MakeOptimizer(params, parameters);
    if (!optimizer.ok()) {
      std::cerr << Label(params) << ": " << optimizer.status().message() << "\n";
      return 1;
    }
    const double step_seconds = TimeSteps(**optimizer, seconds);
    std::cout << json{{"optimizer", Label(params)}, {"seconds_per_step", step_seconds}}.dump()
              << std::endl;
  }
  return 0;
}
