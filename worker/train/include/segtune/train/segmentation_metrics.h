// Segmentation quality from a confusion matrix: per-class and mean IoU, pixel
// accuracy. Pixels whose truth is the ignore index never enter the matrix.
//
// Thread-safety: none; a matrix belongs to one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace segtune::train {

// Pixel counts by (true class, predicted class).
class ConfusionMatrix {
 public:
  // REQUIRES: num_classes >= 1.
  explicit ConfusionMatrix(int num_classes);

  // REQUIRES: both classes in [0, num_classes).
  void Add(int true_class, int predicted_class, int64_t pixels = 1);

  // Adds a whole matrix given row-major, index true_class * num_classes +
  // predicted_class. REQUIRES: counts.size() == num_classes^2.
  void AddCounts(const std::vector<int64_t>& counts);

  int64_t count(int true_class, int predicted_class) const;
  int num_classes() const { return num_classes_; }

  // Intersection / union of class c, or nothing when c is absent from both
  // the truth and the prediction (its IoU is undefined, not 0).
  std::optional<double> ClassIoU(int c) const;

  // Mean over classes with a non-zero union (present in the truth or the
  // prediction) of intersection / union; classes absent from both do not
  // count. 0 when the matrix is empty.
  double MeanIoU() const;

  // Correctly classified pixels / all pixels; 0 when the matrix is empty.
  double PixelAccuracy() const;

 private:
  int num_classes_;
  std::vector<int64_t> counts_;  // row-major, rows = true class
};

// One batch's confusion counts, as a [num_classes^2] int64 tensor (row-major,
// row = true class) on the inputs' device: masks and predictions are [B, H, W]
// int64 class indices; pixels whose truth is ignore_index are skipped.
// REQUIRES: every other truth and every prediction in [0, num_classes).
at::Tensor ConfusionCounts(const at::Tensor& masks, const at::Tensor& predictions,
                           int64_t num_classes, int64_t ignore_index);

}  // namespace segtune::train
