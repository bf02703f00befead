// The synthetic `shapes` segmentation dataset and the in-memory dataset type
// the trainer consumes.
//
// A shapes image is image_size x image_size RGB: a noisy background (class 0)
// with 1-4 filled shapes drawn over it (later shapes cover earlier ones).
// Class c in 1..num_classes-1 is one shape, (c-1) % 3 = circle, square,
// triangle, in one colour, its hue spread evenly over the classes, so every
// class looks different. Each shape's size is 15-40% of the image. Every
// sample is determined by (seed, split, index) alone, so a dataset is
// identical on every run and machine and its train and val splits differ.
//
// Thread-safety: MakeShapes is safe from any thread (it touches no shared
// state, torch's global RNG included).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace segtune::data {

// A segmentation dataset held in memory, in contiguous tensors.
struct SegmentationSet {
  at::Tensor images;  // [N, 3, H, W] float32, normalized (see kPixelMean)
  at::Tensor masks;   // [N, H, W] int64 class indices in [0, num_classes)
  int num_classes = 0;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// Images are normalized as (value - kPixelMean) / kPixelStd, value in [0, 1].
inline constexpr float kPixelMean = 0.5F;
inline constexpr float kPixelStd = 0.25F;

enum class Split { kTrain, kVal };

struct ShapesOptions {
  int image_size = 32;  // 8..1024 pixels
  int num_classes = 4;  // 2..64, background included
  int64_t size = 0;     // samples, >= 1
  uint64_t seed = 0;
  Split split = Split::kTrain;
};

// Generates the dataset. InvalidArgument names the bad option.
absl::StatusOr<SegmentationSet> MakeShapes(const ShapesOptions& options);

}  // namespace segtune::data
