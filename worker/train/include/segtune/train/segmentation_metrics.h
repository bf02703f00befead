// Segmentation quality from a confusion matrix: mean IoU and pixel accuracy.
//
// Thread-safety: none; a matrix belongs to one thread.
#pragma once

#include <cstdint>
#include <vector>

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

}  // namespace segtune::train
