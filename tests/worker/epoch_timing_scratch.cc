#include <cstdio>
#include <torch/torch.h>
#include "segtune/train/trainer.h"
using nlohmann::json;
int main() {
  torch::set_num_threads(1);
  json config = {
      {"params", {{"optimizer", {{"name", "SGD"}, {"lr", 0.05}, {"momentum", 0.9}}}}},
      {"data", {{"dataset", "shapes"}, {"image_size", 32}, {"num_classes", 4}, {"train_size", 128}, {"val_size", 32}, {"seed", 7}}},
      {"model", {{"arch", "unet"}, {"base_channels", 8}, {"depth", 3}}},
      {"training", {{"batch_size", 16}, {"seed", 0}}},
      {"epochs", 8}};
  segtune::train::TrainOptions options;
  options.on_epoch = [](const segtune::train::EpochReport& r) {
    std::printf("epoch %d:", r.epoch);
    for (auto& [k, v] : r.metrics) std::printf(" %s=%.4f", k.c_str(), v);
    std::printf("\n");
    return true;
  };
  auto t0 = std::chrono::steady_clock::now();
  auto result = segtune::train::RunTrial(config, options);
  std::printf("outcome %d reason '%s' total %.3f s\n", (int)result.outcome, result.reason.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  config["params"]["optimizer"] = {{"name", "SGD"}, {"lr", 1e6}};
  result = segtune::train::RunTrial(config, options);
  std::printf("absurd: outcome %d reason '%s'\n", (int)result.outcome, result.reason.c_str());
  config["params"]["optimizer"] = {{"name", "Adam"}, {"lr", 0.01}};
  config["epochs"] = 8;
  result = segtune::train::RunTrial(config, options);
}
