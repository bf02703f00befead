// Loads a dataset split into memory: the synthetic `shapes`, Pascal VOC, or a
// folder of images and class-index masks. Every file is decoded and checked
// here, before training starts, so bad data fails a trial at once with the
// name of the file instead of half-way through an epoch.
//
//   voc:    root/JPEGImages/<id>.jpg, root/SegmentationClass/<id>.png (palette
//           PNG, the palette index is the class, 255 = ignore), split lists
//           root/ImageSets/Segmentation/{train,val}.txt, one id per line, in
//           the list's order (blank lines skipped, a repeated id an error).
//   folder: root/images/<stem>.{jpg,jpeg,png} (any case), root/masks/<stem>.png
//           (8-bit grayscale or palette PNG holding class indices); hidden
//           and other files are ignored. The val split is the
//           round(val_fraction * n) stems (at least 1, at most n - 1) with the
//           smallest keys drawn from (seed, stem); both splits are sorted by
//           stem. The choice depends on the seed and the names only, and
//           adding an image moves at most one other between the splits.
//
// Images are recognised by their bytes (JPEG or PNG, whatever the name) and
// converted to RGB; masks must be PNGs whose values are class indices (RGB
// colour masks are rejected: convert colours to indices first). Every sample
// is resized to load_size x load_size, aspect ratio not kept: images by
// antialiased bilinear (torch's antialias=True, like PIL's BILINEAR), masks by
// nearest at pixel centres (classes are never blended). A split is then one
// contiguous tensor, and the loader crops image_size from it.
//
// Thread-safety: LoadSplit is safe from any thread (no shared state; torch's
// global RNG is not used).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "segtune/data/sample_set.h"

namespace segtune::data {

enum class Split { kTrain, kVal };

struct DatasetOptions {
  std::string dataset = "shapes";  // shapes | voc | folder
  std::string root;                // voc and folder: the dataset directory
  int load_size = 32;              // stored size, 8..4096 pixels (shapes: generated at this size)
  int num_classes = 4;             // 2..255, background included
  // Mask value to ignore, in [num_classes, 255]: a value that is no class.
  int ignore_index = 255;
  // shapes: number of samples (>= 1); voc and folder: at most this many
  // (0: all), the first ones in the split's order. A split may hold 2 GiB
  // (4 bytes per pixel per sample).
  int64_t train_size = 0;
  int64_t val_size = 0;
  double val_fraction = 0.2;  // folder only, in (0, 1)
  uint64_t seed = 0;          // shapes' content; folder's hold-out
  // Optional progress: (samples loaded, samples in the split after the
  // cap), after each sample (an image and its mask); shapes calls it once.
  // Called on the loading thread.
  std::function<void(int64_t, int64_t)> on_progress;
};

// InvalidArgument naming the option for bad options. For bad data, the
// status names the file: NotFound for a missing file or directory (with the
// list line or image that wants it), DataLoss for a corrupt or truncated
// image or mask, InvalidArgument for inconsistent data (image and mask
// sizes differ, a mask value >= num_classes that is not ignore_index, with
// its first position; an RGB, 16-bit or gray+alpha mask; a CMYK JPEG; a
// mask without an image; an empty split).
absl::StatusOr<SampleSet> LoadSplit(const DatasetOptions& options, Split split);

}  // namespace segtune::data
