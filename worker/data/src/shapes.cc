#include "shapes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <vector>

#include <ATen/ops/empty.h>

#include "absl/strings/str_cat.h"
#include "deterministic_random.h"

namespace segtune::data {
namespace {

constexpr int kMaxShapesPerImage = 4;
constexpr double kMinShapeFraction = 0.15;
constexpr double kMaxShapeFraction = 0.40;
constexpr double kNoiseStd = 0.08;

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

// Draws sample `index` into `image` (size*size RGB pixels, interleaved) and
// `mask` (size*size class indices). `canvas` is scratch space for the
// noise-free colours, 3*size*size floats in [0, 1].
void DrawSample(const ShapesOptions& options, int64_t index, std::vector<float>& canvas,
                uint8_t* image, uint8_t* mask) {
  const int size = options.image_size;
  const int64_t pixels = int64_t{size} * size;
  const uint64_t stream = options.split == Split::kTrain ? kTrainStream : kValStream;
  DeterministicRandom random({options.seed, stream, static_cast<uint64_t>(index)});

  // Background: a random grey with a slight tint, class 0.
  const double grey = random.Uniform(0.15, 0.55);
  Rgb background;
  for (float& channel : background)
    channel = static_cast<float>(grey + random.Uniform(-0.05, 0.05));
  for (int64_t pixel = 0; pixel < pixels; ++pixel)
    std::copy(background.begin(), background.end(), canvas.begin() + 3 * pixel);
  std::fill(mask, mask + pixels, uint8_t{0});

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
        mask[pixel] = static_cast<uint8_t>(class_index);
        std::copy(colour.begin(), colour.end(), canvas.begin() + 3 * pixel);
      }
    }
  }

  for (int64_t i = 0; i < 3 * pixels; ++i) {
    const double noisy = std::clamp(canvas[i] + kNoiseStd * random.Normal(), 0.0, 1.0);
    image[i] = static_cast<uint8_t>(std::lround(noisy * 255.0));
  }
}

}  // namespace

absl::StatusOr<SampleSet> MakeShapes(const ShapesOptions& options) {
  const int64_t size = options.image_size;
  SampleSet set;
  set.num_classes = options.num_classes;
  try {
    set.images = at::empty({options.size, size, size, 3}, at::kByte);
    set.masks = at::empty({options.size, size, size}, at::kByte);
  } catch (const std::exception& error) {  // c10::Error when memory runs out
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate the shapes dataset: ", error.what()));
  }
  const char* split = options.split == Split::kTrain ? "train" : "val";
  std::vector<float> canvas(3 * size * size);
  uint8_t* images = set.images.data_ptr<uint8_t>();
  uint8_t* masks = set.masks.data_ptr<uint8_t>();
  set.sources.reserve(options.size);
  for (int64_t index = 0; index < options.size; ++index) {
    DrawSample(options, index, canvas, images + index * 3 * size * size,
               masks + index * size * size);
    set.sources.push_back(absl::StrCat("shapes ", split, " #", index));
  }
  return set;
}

}  // namespace segtune::data
