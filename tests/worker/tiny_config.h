// The trial configuration the trainer tests share: small enough that an
// epoch takes milliseconds on one CPU thread.
#pragma once

#include <utility>

#include <nlohmann/json.hpp>

namespace segtune::train {

inline nlohmann::json TinyConfig(nlohmann::json optimizer, int epochs = 2) {
  return {
      {"params", {{"optimizer", std::move(optimizer)}}},
      {"data",
       {{"dataset", "shapes"},
        {"image_size", 16},
        {"num_classes", 3},
        {"train_size", 16},
        {"val_size", 8},
        {"seed", 7}}},
      {"model", {{"arch", "unet"}, {"base_channels", 4}, {"depth", 2}}},
      {"training", {{"batch_size", 8}, {"seed", 1}}},
      {"epochs", epochs},
      {"objective", {{"metric", "val_miou"}, {"mode", "max"}}},
  };
}

}  // namespace segtune::train
