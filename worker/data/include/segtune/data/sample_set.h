// A dataset split held in memory as 8-bit images and masks, the form every
// dataset (shapes, voc, folder) is loaded into before training starts.
//
// Thread-safety: a plain value; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace segtune::data {

struct SampleSet {
  at::Tensor images;  // [N, H, W, 3] uint8 RGB, contiguous (rows copy fast when cropping)
  at::Tensor masks;   // [N, H, W] uint8 class indices in [0, num_classes), or ignore_index
  int num_classes = 0;
  int ignore_index = 255;  // mask value of pixels no loss or metric counts
  // Per sample, where it came from, for error messages: the image file, or
  // "shapes train #12".
  std::vector<std::string> sources;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

}  // namespace segtune::data
