// The synthetic `shapes` segmentation dataset.
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

#include "absl/status/statusor.h"
#include "segtune/data/dataset.h"
#include "segtune/data/sample_set.h"

namespace segtune::data {

struct ShapesOptions {
  int image_size = 32;
  int num_classes = 4;  // background included
  int64_t size = 0;     // samples
  uint64_t seed = 0;
  Split split = Split::kTrain;
};

// REQUIRES: options checked by LoadSplit (sizes >= 1, 2 <= num_classes <= 255),
// so the only error is ResourceExhausted when memory runs out.
absl::StatusOr<SampleSet> MakeShapes(const ShapesOptions& options);

}  // namespace segtune::data
