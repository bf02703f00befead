#include "segtune/data/dataset.h"

#include <cstring>
#include <exception>
#include <utility>
#include <vector>

#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "absl/strings/str_cat.h"
#include "image_io.h"
#include "shapes.h"
#include "split_files.h"

namespace segtune::data {
namespace {

constexpr int kMinLoadSize = 8;
constexpr int kMaxLoadSize = 4096;
// Masks are 8-bit and ignore_index must not be a class: at most 255 classes.
constexpr int kMaxClasses = 255;
// A split lives in memory as bytes (3 per image pixel, 1 per mask pixel);
// the cap keeps a typo in load_size from exhausting the worker's memory.
constexpr int64_t kMaxSplitBytes = int64_t{2} << 30;

const char* SplitName(Split split) { return split == Split::kTrain ? "train" : "val"; }

const char* SizeOption(Split split) { return split == Split::kTrain ? "train_size" : "val_size"; }

int64_t SizeLimit(const DatasetOptions& options, Split split) {
  return split == Split::kTrain ? options.train_size : options.val_size;
}

absl::Status CheckMemory(int64_t count, int load_size, Split split) {
  const int64_t sample_bytes = int64_t{4} * load_size * load_size;
  if (count <= kMaxSplitBytes / sample_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(SizeOption(split), ": ", count, " samples at load_size ", load_size, " need ",
                   count * sample_bytes >> 20, " MiB, over the ", kMaxSplitBytes >> 20,
                   " MiB a split may hold in memory; lower load_size or ", SizeOption(split)));
}

absl::Status Validate(const DatasetOptions& options, Split split) {
  const bool shapes = options.dataset == "shapes";
  if (!shapes && options.dataset != "voc" && options.dataset != "folder") {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset: must be shapes, voc or folder, got \"", options.dataset, "\""));
  }
  if (!shapes && options.root.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("root: the ", options.dataset, " dataset needs its directory"));
  }
  if (options.load_size < kMinLoadSize || options.load_size > kMaxLoadSize) {
    return absl::InvalidArgumentError(absl::StrCat("load_size: must be in [", kMinLoadSize, ", ",
                                                   kMaxLoadSize, "], got ", options.load_size));
  }
  if (options.num_classes < 2 || options.num_classes > kMaxClasses) {
    return absl::InvalidArgumentError(absl::StrCat("num_classes: must be in [2, ", kMaxClasses,
                                                   "] (background included), got ",
                                                   options.num_classes));
  }
  if (options.ignore_index < options.num_classes || options.ignore_index > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ignore_index: must be in [num_classes, 255] (a mask value that is no class), got ",
        options.ignore_index, " with num_classes ", options.num_classes));
  }
  const int64_t size = SizeLimit(options, split);
  if (size < (shapes ? 1 : 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        SizeOption(split),
        shapes ? ": must be >= 1 for shapes, got " : ": must be >= 0 (0: the whole split), got ",
        size));
  }
  if (options.dataset == "folder" && !(options.val_fraction > 0 && options.val_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("val_fraction: must be in (0, 1), got ", options.val_fraction));
  }
  return shapes ? CheckMemory(size, options.load_size, split) : absl::OkStatus();
}

// The first pixel, row by row, whose value is neither a class nor ignored.
absl::Status CheckClasses(const Raster& mask, const std::string& path, int num_classes,
                          int ignore_index) {
  for (size_t i = 0; i < mask.pixels.size(); ++i) {
    const int value = mask.pixels[i];
    if (value < num_classes || value == ignore_index) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": value ", value, " at (x=", i % mask.width, ", y=", i / mask.width,
        ") is not a class index (num_classes ", num_classes, ") nor ignore_index ", ignore_index));
  }
  return absl::OkStatus();
}

// Antialiased bilinear (torch's antialias=True, like PIL's BILINEAR), so a
// large photo shrinks without aliasing; plain bilinear when enlarging.
void ResizeImage(const Raster& image, int size, uint8_t* out) {
  if (image.width == size && image.height == size) {
    std::memcpy(out, image.pixels.data(), image.pixels.size());
    return;
  }
  // from_blob does not write through a const pointer; the input is only read.
  auto* pixels = const_cast<uint8_t*>(image.pixels.data());
  const at::Tensor input = at::from_blob(pixels, {1, image.height, image.width, 3}, at::kByte)
                               .permute({0, 3, 1, 2})
                               .to(at::kFloat);
  const at::Tensor resized =
      at::_upsample_bilinear2d_aa(input, {size, size}, /*align_corners=*/false);
  at::from_blob(out, {1, size, size, 3}, at::kByte)
      .copy_(resized.round().clamp(0, 255).permute({0, 2, 3, 1}));
}

// Nearest by pixel centres: output pixel y samples input row
// floor((y + 0.5) * height / size), so classes are never blended.
void ResizeMask(const Raster& mask, int size, uint8_t* out) {
  for (int y = 0; y < size; ++y) {
    const int64_t source_y = (int64_t{2} * y + 1) * mask.height / (int64_t{2} * size);
    const uint8_t* row = mask.pixels.data() + source_y * mask.width;
    for (int x = 0; x < size; ++x) {
      out[int64_t{y} * size + x] = row[(int64_t{2} * x + 1) * mask.width / (int64_t{2} * size)];
    }
  }
}

// Decodes, checks and resizes one sample into its slots of the set.
absl::Status LoadSample(const SampleFiles& files, const DatasetOptions& options, uint8_t* image_out,
                        uint8_t* mask_out) {
  absl::StatusOr<Raster> image = ReadRgbImage(files.image);
  if (!image.ok()) return image.status();
  absl::StatusOr<Raster> mask = ReadClassMask(files.mask);
  if (!mask.ok()) return mask.status();
  if (image->width != mask->width || image->height != mask->height) {
    return absl::InvalidArgumentError(absl::StrCat(files.mask, ": the mask is ", mask->width, "x",
                                                   mask->height, " but its image ", files.image,
                                                   " is ", image->width, "x", image->height));
  }
  if (absl::Status status =
          CheckClasses(*mask, files.mask, options.num_classes, options.ignore_index);
      !status.ok()) {
    return status;
  }
  ResizeImage(*image, options.load_size, image_out);
  ResizeMask(*mask, options.load_size, mask_out);
  return absl::OkStatus();
}

absl::StatusOr<SampleSet> LoadFiles(const std::vector<SampleFiles>& files,
                                    const DatasetOptions& options, Split split) {
  const auto count = static_cast<int64_t>(files.size());
  const int64_t size = options.load_size;
  if (absl::Status status = CheckMemory(count, options.load_size, split); !status.ok()) {
    return status;
  }
  SampleSet set;
  set.num_classes = options.num_classes;
  set.ignore_index = options.ignore_index;
  try {
    set.images = at::empty({count, size, size, 3}, at::kByte);
    set.masks = at::empty({count, size, size}, at::kByte);
  } catch (const std::exception& error) {  // c10::Error when memory runs out
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate the ", options.dataset, " split: ", error.what()));
  }
  uint8_t* images = set.images.data_ptr<uint8_t>();
  uint8_t* masks = set.masks.data_ptr<uint8_t>();
  set.sources.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    if (absl::Status status =
            LoadSample(files[i], options, images + i * size * size * 3, masks + i * size * size);
        !status.ok()) {
      return status;
    }
    set.sources.push_back(files[i].image);
    if (options.on_progress) options.on_progress(i + 1, count);
  }
  return set;
}

absl::StatusOr<SampleSet> LoadShapes(const DatasetOptions& options, Split split) {
  ShapesOptions shapes;
  shapes.image_size = options.load_size;
  shapes.num_classes = options.num_classes;
  shapes.size = SizeLimit(options, split);
  shapes.seed = options.seed;
  shapes.split = split;
  absl::StatusOr<SampleSet> set = MakeShapes(shapes);
  if (!set.ok()) return set.status();
  set->ignore_index = options.ignore_index;
  if (options.on_progress) options.on_progress(set->size(), set->size());
  return set;
}

absl::StatusOr<SampleSet> LoadFromDisk(const DatasetOptions& options, Split split) {
  const int64_t limit = SizeLimit(options, split);
  absl::StatusOr<std::vector<SampleFiles>> files =
      options.dataset == "voc"
          ? ListVocSplit(options.root, split, limit)
          : ListFolderSplit(options.root, split, options.val_fraction, options.seed, limit);
  if (!files.ok()) return files.status();
  return LoadFiles(*files, options, split);
}

}  // namespace

absl::StatusOr<SampleSet> LoadSplit(const DatasetOptions& options, Split split) {
  if (absl::Status status = Validate(options, split); !status.ok()) return status;
  try {
    return options.dataset == "shapes" ? LoadShapes(options, split) : LoadFromDisk(options, split);
  } catch (const std::exception& error) {
    // Out of memory while decoding or resizing, or a directory that fails
    // while being listed: the trial fails, the worker goes on.
    return absl::InternalError(absl::StrCat("loading the ", options.dataset, " ", SplitName(split),
                                            " split: ", error.what()));
  }
}

}  // namespace segtune::data
