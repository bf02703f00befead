// Which files make up a split of an on-disk dataset (the layouts are in
// segtune/data/dataset.h). Only names are read here, no pixels, so a missing
// or unpaired file fails before anything is decoded.
//
// Thread-safety: the functions share no state; call them from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "segtune/data/dataset.h"

namespace segtune::data {

struct SampleFiles {
  std::string image;
  std::string mask;
};

// The samples of `split`, in the split's order (voc: its list file's;
// folder: sorted by stem), at most `limit` of them (0: all), each file
// checked to exist. NotFound names a missing file or directory,
// InvalidArgument a bad list or an unpaired file.
absl::StatusOr<std::vector<SampleFiles>> ListVocSplit(const std::string& root, Split split,
                                                      int64_t limit);

// Holds out the round(val_fraction * n) stems (at least 1, at most n - 1)
// whose keys drawn from (seed, stem) are smallest, so the choice depends on
// the seed and the names only, and adding a file moves at most one other
// between the splits.
absl::StatusOr<std::vector<SampleFiles>> ListFolderSplit(const std::string& root, Split split,
                                                         double val_fraction, uint64_t seed,
                                                         int64_t limit);

}  // namespace segtune::data
