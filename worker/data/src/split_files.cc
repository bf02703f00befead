#include "split_files.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "deterministic_random.h"

namespace segtune::data {
namespace {

namespace fs = std::filesystem;

// Keeps the hold-out's draws apart from every other stream of the seed.
constexpr uint64_t kHoldOutStream = 0x686f'6c64'6f75'7404;  // "holdout"

absl::Status CheckExists(const fs::path& path, const std::string& why) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(path.string(), ": missing (", why, ")"));
}

absl::Status CheckDirectory(const fs::path& path, const std::string& what) {
  std::error_code error;
  if (fs::is_directory(path, error)) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(path.string(), ": no such directory (", what, ")"));
}

// Regular, non-hidden files of `directory` whose lowercased extension is in
// `extensions`, by stem. InvalidArgument when two share a stem.
absl::StatusOr<std::map<std::string, fs::path>> FilesByStem(
    const fs::path& directory, const std::vector<std::string>& extensions) {
  std::map<std::string, fs::path> files;
  std::error_code error;
  fs::directory_iterator entries(directory, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat(directory.string(), ": cannot list: ", error.message()));
  }
  for (const fs::directory_entry& entry : entries) {
    const fs::path& path = entry.path();
    const std::string name = path.filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_regular_file(error)) continue;
    const std::string extension = absl::AsciiStrToLower(path.extension().string());
    if (std::find(extensions.begin(), extensions.end(), extension) == extensions.end()) continue;
    auto [existing, inserted] = files.emplace(path.stem().string(), path);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), " and ",
                                                     existing->second.string(),
                                                     ": two files with one stem; keep one"));
    }
  }
  return files;
}

// 64-bit FNV-1a: a portable hash of a name (std::hash is not the same on
// every platform).
uint64_t HashName(const std::string& name) {
  uint64_t hash = 0xcbf2'9ce4'8422'2325;
  for (unsigned char byte : name) {
    hash ^= byte;
    hash *= 0x0000'0100'0000'01b3;
  }
  return hash;
}

// The stems of the validation split: the `count` with the smallest keys.
std::vector<std::string> HeldOutStems(const std::vector<std::string>& stems, int64_t count,
                                      uint64_t seed) {
  std::vector<std::pair<double, std::string>> keyed;
  keyed.reserve(stems.size());
  for (const std::string& stem : stems) {
    DeterministicRandom random({seed, kHoldOutStream, HashName(stem)});
    keyed.emplace_back(random.Uniform(), stem);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> held_out;
  for (int64_t i = 0; i < count; ++i) held_out.push_back(keyed[i].second);
  std::sort(held_out.begin(), held_out.end());
  return held_out;
}

}  // namespace

absl::StatusOr<std::vector<SampleFiles>> ListVocSplit(const std::string& root, Split split,
                                                      int64_t limit) {
  const fs::path base(root);
  const fs::path list =
      base / "ImageSets" / "Segmentation" / (split == Split::kTrain ? "train.txt" : "val.txt");
  std::ifstream file(list);
  if (!file) return absl::NotFoundError(absl::StrCat(list.string(), ": missing (the split list)"));
  std::vector<SampleFiles> samples;
  std::map<std::string, int> first_line;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    const std::string id(absl::StripAsciiWhitespace(line));
    if (id.empty()) continue;
    auto [previous, inserted] = first_line.emplace(id, number);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(list.string(), ":", number, ": id ", id,
                                                     " listed twice (first on line ",
                                                     previous->second, ")"));
    }
    if (limit > 0 && static_cast<int64_t>(samples.size()) == limit) continue;
    const std::string why = absl::StrCat("listed in ", list.string(), ":", number);
    SampleFiles sample{(base / "JPEGImages" / (id + ".jpg")).string(),
                       (base / "SegmentationClass" / (id + ".png")).string()};
    if (absl::Status status = CheckExists(sample.image, why); !status.ok()) return status;
    if (absl::Status status = CheckExists(sample.mask, why); !status.ok()) return status;
    samples.push_back(std::move(sample));
  }
  if (samples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(list.string(), ": lists no samples"));
  }
  return samples;
}

absl::StatusOr<std::vector<SampleFiles>> ListFolderSplit(const std::string& root, Split split,
                                                         double val_fraction, uint64_t seed,
                                                         int64_t limit) {
  const fs::path images_dir = fs::path(root) / "images";
  const fs::path masks_dir = fs::path(root) / "masks";
  if (absl::Status status = CheckDirectory(images_dir, "the folder dataset's images");
      !status.ok()) {
    return status;
  }
  if (absl::Status status = CheckDirectory(masks_dir, "the folder dataset's masks"); !status.ok()) {
    return status;
  }
  absl::StatusOr<std::map<std::string, fs::path>> images =
      FilesByStem(images_dir, {".jpg", ".jpeg", ".png"});
  if (!images.ok()) return images.status();
  absl::StatusOr<std::map<std::string, fs::path>> masks = FilesByStem(masks_dir, {".png"});
  if (!masks.ok()) return masks.status();

  for (const auto& [stem, mask] : *masks) {
    if (images->count(stem) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(mask.string(), ": a mask without an image (no ",
                       (images_dir / stem).string(), ".jpg, .jpeg or .png)"));
    }
  }
  std::vector<std::string> stems;
  for (const auto& [stem, image] : *images) {
    if (masks->count(stem) == 0) {
      return absl::NotFoundError(absl::StrCat((masks_dir / (stem + ".png")).string(),
                                              ": missing (the mask of ", image.string(), ")"));
    }
    stems.push_back(stem);  // sorted: the map's order
  }
  if (stems.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        images_dir.string(), ": ", stems.size(),
        " images with masks; a train/val hold-out needs at least 2 (.jpg, .jpeg or .png)"));
  }

  const auto total = static_cast<int64_t>(stems.size());
  const int64_t val_count = std::clamp<int64_t>(std::llround(val_fraction * total), 1, total - 1);
  const std::vector<std::string> held_out = HeldOutStems(stems, val_count, seed);
  std::vector<std::string> chosen;
  if (split == Split::kVal) {
    chosen = held_out;
  } else {
    std::set_difference(stems.begin(), stems.end(), held_out.begin(), held_out.end(),
                        std::back_inserter(chosen));
  }
  if (limit > 0 && static_cast<int64_t>(chosen.size()) > limit) chosen.resize(limit);
  std::vector<SampleFiles> samples;
  samples.reserve(chosen.size());
  for (const std::string& stem : chosen) {
    samples.push_back({images->at(stem).string(), masks->at(stem).string()});
  }
  return samples;
}

}  // namespace segtune::data
