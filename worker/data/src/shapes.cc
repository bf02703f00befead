#include "segtune/data/shapes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>

#include <ATen/ops/empty.h>

#include "absl/strings/str_cat.h"
#include "deterministic_random.h"

namespace segtune::data {
namespace {

constexpr int kMinImageSize = 8;
constexpr int kMaxImageSize = 1024;
constexpr int kMaxClasses = 64;
constexpr int kMaxShapesPerImage = 4;
constexpr double kMinShapeFraction = 0.15;
constexpr double kMaxShapeFraction = 0.40;
constexpr double kNoiseStd = 0.08;
// Caps a dataset at 2 GiB of images: the sizes are meant to be small.
constexpr int64_t kMaxImageBytes = int64_t{2} << 30;

// Distinct RNG streams per split, so train and val never share a sample.
constexpr uint64_t kTrainStream = 0x7472'6169'6e00'0001;  // "train"
constexpr uint64_t kValStream = 0x7661'6c00'0000'0002;    // "val"

using Rgb = std::array<float, 3>;

enum class Shape { kCircle, kSquare, kTriangle };

// HSV (all in [0, 1]) to RGB.
Rgb HsvToRgb(double hue, double saturation, double value) {
  const double sector = hue * 6.0;
  const int index = static_cast<int>(std::floor(sector)) % 6;
  const double fraction = sector - std::floor(sector);
  const auto p = static_cast<float>(value * (1 - saturation));
  const auto q = static_cast<float>(value * (1 - saturation * fraction));
  const auto t = static_cast<float>(value * (1 - saturation * (1 - fraction)));
  const auto v = static_cast<float>(value);
  switch (index) {
    case 0:
      return {v, t, p};
    case 1:
      return {q, v, p};
    case 2:
      return {p, v, t};
    case 3:
      return {p, q, v};
    case 4:
      return {t, p, v};
    default:
      return {v, p, q};
  }
}

// Saturated colours with hues spread over the classes, against a grey background.
Rgb ClassColour(int class_index, int num_classes) {
  const double hue = static_cast<double>(class_index - 1) / (num_classes - 1);
  return HsvToRgb(hue, 0.9, 0.95);
}

bool Covers(Shape shape, double center_x, double center_y, double half, double x, double y) {
  const double dx = x - center_x;
  const double dy = y - center_y;
  switch (shape) {
    case Shape::kCircle:
      return dx * dx + dy * dy <= half * half;
    case Shape::kSquare:
      return std::abs(dx) <= half && std::abs(dy) <= half;
    case Shape::kTriangle: {
      // Apex at the top centre, base along the bottom edge of the bounding box.
      const double depth = dy + half;  // distance below the apex
      return depth >= 0 && depth <= 2 * half && std::abs(dx) <= depth / 2;
    }
  }
  return false;
}

// Draws sample `index` into `image` (3 planes of size*size, normalized) and
// `mask` (size*size class indices).
void DrawSample(const ShapesOptions& options, int64_t index, float* image, int64_t* mask) {
  const int size = options.image_size;
  const int64_t plane = int64_t{size} * size;
  const uint64_t stream = options.split == Split::kTrain ? kTrainStream : kValStream;
  DeterministicRandom random({options.seed, stream, static_cast<uint64_t>(index)});

  // Background: a random grey with a slight tint, class 0.
  const double grey = random.Uniform(0.15, 0.55);
  Rgb background;
  for (float& channel : background)
    channel = static_cast<float>(grey + random.Uniform(-0.05, 0.05));
  for (int channel = 0; channel < 3; ++channel) {
    std::fill(image + channel * plane, image + (channel + 1) * plane, background[channel]);
  }
  std::fill(mask, mask + plane, int64_t{0});

  const int64_t shapes = random.UniformInt(1, kMaxShapesPerImage);
  for (int64_t s = 0; s < shapes; ++s) {
    const int class_index = static_cast<int>(random.UniformInt(1, options.num_classes - 1));
    const auto shape = static_cast<Shape>((class_index - 1) % 3);
    const double half = random.Uniform(kMinShapeFraction, kMaxShapeFraction) * size / 2;
    const double center_x = random.Uniform(half, size - half);
    const double center_y = random.Uniform(half, size - half);
    const Rgb colour = ClassColour(class_index, options.num_classes);
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        // Pixel centres decide coverage.
        if (!Covers(shape, center_x, center_y, half, x + 0.5, y + 0.5)) continue;
        const int64_t pixel = int64_t{y} * size + x;
        mask[pixel] = class_index;
        for (int channel = 0; channel < 3; ++channel)
          image[channel * plane + pixel] = colour[channel];
      }
    }
  }

  for (int64_t i = 0; i < 3 * plane; ++i) {
    const double noisy = std::clamp(image[i] + kNoiseStd * random.Normal(), 0.0, 1.0);
    image[i] = (static_cast<float>(noisy) - kPixelMean) / kPixelStd;
  }
}

absl::Status Validate(const ShapesOptions& options) {
  if (options.image_size < kMinImageSize || options.image_size > kMaxImageSize) {
    return absl::InvalidArgumentError(absl::StrCat("image_size: must be in [", kMinImageSize, ", ",
                                                   kMaxImageSize, "], got ", options.image_size));
  }
  if (options.num_classes < 2 || options.num_classes > kMaxClasses) {
    return absl::InvalidArgumentError(absl::StrCat("num_classes: must be in [2, ", kMaxClasses,
                                                   "] (background included), got ",
                                                   options.num_classes));
  }
  if (options.size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("size: must be >= 1, got ", options.size));
  }
  const int64_t image_bytes = int64_t{3} * options.image_size * options.image_size * 4;
  if (options.size > kMaxImageBytes / image_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("size: ", options.size, " images of ", options.image_size, "x",
                     options.image_size, " exceed the 2 GiB an in-memory dataset may use"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SegmentationSet> MakeShapes(const ShapesOptions& options) {
  if (absl::Status status = Validate(options); !status.ok()) return status;
  const int64_t size = options.image_size;
  SegmentationSet set;
  set.num_classes = options.num_classes;
  try {
    set.images = at::empty({options.size, 3, size, size}, at::kFloat);
    set.masks = at::empty({options.size, size, size}, at::kLong);
  } catch (const std::exception& error) {  // c10::Error when memory runs out
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate the shapes dataset: ", error.what()));
  }
  float* images = set.images.data_ptr<float>();
  int64_t* masks = set.masks.data_ptr<int64_t>();
  for (int64_t index = 0; index < options.size; ++index) {
    DrawSample(options, index, images + index * 3 * size * size, masks + index * size * size);
  }
  return set;
}

}  // namespace segtune::data
