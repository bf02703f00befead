#include "segtune/train/segmentation_metrics.h"

#include <cstddef>

#include <ATen/ops/bincount.h>

namespace segtune::train {

ConfusionMatrix::ConfusionMatrix(int num_classes)
    : num_classes_(num_classes), counts_(static_cast<std::size_t>(num_classes) * num_classes, 0) {}

void ConfusionMatrix::Add(int true_class, int predicted_class, int64_t pixels) {
  counts_[static_cast<std::size_t>(true_class) * num_classes_ + predicted_class] += pixels;
}

void ConfusionMatrix::AddCounts(const std::vector<int64_t>& counts) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += counts[i];
}

int64_t ConfusionMatrix::count(int true_class, int predicted_class) const {
  return counts_[static_cast<std::size_t>(true_class) * num_classes_ + predicted_class];
}

std::optional<double> ConfusionMatrix::ClassIoU(int c) const {
  int64_t true_pixels = 0;       // row sum
  int64_t predicted_pixels = 0;  // column sum
  for (int other = 0; other < num_classes_; ++other) {
    true_pixels += count(c, other);
    predicted_pixels += count(other, c);
  }
  const int64_t intersection = count(c, c);
  const int64_t union_pixels = true_pixels + predicted_pixels - intersection;
  if (union_pixels == 0) return std::nullopt;
  return static_cast<double>(intersection) / static_cast<double>(union_pixels);
}

double ConfusionMatrix::MeanIoU() const {
  double iou_sum = 0;
  int classes_present = 0;
  for (int c = 0; c < num_classes_; ++c) {
    if (const std::optional<double> iou = ClassIoU(c)) {
      iou_sum += *iou;
      ++classes_present;
    }
  }
  return classes_present == 0 ? 0.0 : iou_sum / classes_present;
}

double ConfusionMatrix::PixelAccuracy() const {
  int64_t correct = 0;
  int64_t total = 0;
  for (int c = 0; c < num_classes_; ++c) correct += count(c, c);
  for (int64_t pixels : counts_) total += pixels;
  return total == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(total);
}

at::Tensor ConfusionCounts(const at::Tensor& masks, const at::Tensor& predictions,
                           int64_t num_classes, int64_t ignore_index) {
  at::Tensor cells = masks.mul(num_classes).add(predictions);
  if (ignore_index < 0 || ignore_index >= num_classes) {
    cells = cells.masked_select(masks.ne(ignore_index));
  }
  return at::bincount(cells.flatten(), {}, num_classes * num_classes);
}

}  // namespace segtune::train
