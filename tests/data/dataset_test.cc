// LoadSplit on generated Pascal VOC and folder trees: what loads, how it is
// resized and split, and how every kind of bad data is reported.
#include "segtune/data/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "image_writer.h"

namespace segtune::data {
namespace {

using test_files::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kVocSide = 16;

// The mask of a generated VOC sample: a 1-pixel border of 255 (ignore), class
// 1 on the left half, `right_class` on the right.
std::vector<uint8_t> VocMask(uint8_t right_class) {
  std::vector<uint8_t> mask;
  for (int y = 0; y < kVocSide; ++y) {
    for (int x = 0; x < kVocSide; ++x) {
      const bool border = x == 0 || y == 0 || x == kVocSide - 1 || y == kVocSide - 1;
      mask.push_back(border ? 255 : x < kVocSide / 2 ? 1 : right_class);
    }
  }
  return mask;
}

std::array<uint8_t, 3> ColourOf(int i) {
  return {static_cast<uint8_t>(30 + 40 * i), static_cast<uint8_t>(200 - 30 * i), 90};
}

void WriteVocSample(const TempDir& dir, const std::string& id, int i) {
  test_files::WriteJpeg(dir.File("JPEGImages/" + id + ".jpg"), kVocSide, kVocSide, 3,
                        test_files::SolidRgb(kVocSide, kVocSide, ColourOf(i)));
  test_files::WritePaletteMask(dir.File("SegmentationClass/" + id + ".png"), kVocSide, kVocSide,
                               VocMask(static_cast<uint8_t>(2 + i % 3)));
}

void WriteList(const TempDir& dir, const std::string& split, const std::string& text) {
  std::ofstream(dir.File("ImageSets/Segmentation/" + split + ".txt")) << text;
}

// train: c, a, b (not sorted: the list's order is kept); val: d, e.
void WriteVocTree(const TempDir& dir) {
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < static_cast<int>(ids.size()); ++i) WriteVocSample(dir, ids[i], i);
  WriteList(dir, "train", "c\na\n\nb\n");
  WriteList(dir, "val", "d\r\ne\r\n");
}

DatasetOptions VocOptions(const TempDir& dir) {
  DatasetOptions options;
  options.dataset = "voc";
  options.root = dir.path();
  options.load_size = 8;
  options.num_classes = 5;
  return options;
}

std::string Basename(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

std::vector<std::string> Basenames(const SampleSet& set) {
  std::vector<std::string> names;
  for (const std::string& source : set.sources) names.push_back(Basename(source));
  return names;
}

SampleSet LoadOrDie(const DatasetOptions& options, Split split) {
  absl::StatusOr<SampleSet> set = LoadSplit(options, split);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : SampleSet{};
}

TEST(VocTest, LoadsBothSplitsInListOrderResized) {
  TempDir dir;
  WriteVocTree(dir);
  const DatasetOptions options = VocOptions(dir);
  std::vector<std::pair<int64_t, int64_t>> progress;
  DatasetOptions with_progress = options;
  with_progress.on_progress = [&progress](int64_t done, int64_t total) {
    progress.emplace_back(done, total);
  };
  const SampleSet train = LoadOrDie(with_progress, Split::kTrain);
  EXPECT_EQ(progress, (std::vector<std::pair<int64_t, int64_t>>{{1, 3}, {2, 3}, {3, 3}}));
  ASSERT_EQ(train.size(), 3);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{3, 8, 8, 3}));
  EXPECT_EQ(train.masks.sizes(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(train.images.scalar_type(), torch::kByte);
  EXPECT_EQ(train.masks.scalar_type(), torch::kByte);
  EXPECT_EQ(train.num_classes, 5);
  EXPECT_EQ(train.ignore_index, 255);
  EXPECT_EQ(Basenames(train), (std::vector<std::string>{"c.jpg", "a.jpg", "b.jpg"}));
  EXPECT_EQ(train.sources[0], dir.path() + "/JPEGImages/c.jpg");

  // Sample 0 is "c" (i = 2): its colour, within JPEG's loss, and its mask
  // sampled at pixel centres 1, 3, ..., 15 of 16: the border at 15 is the
  // last row and column, class 1 left of source column 8, class 4 right.
  const torch::Tensor image = train.images[0].to(torch::kInt);
  for (int channel = 0; channel < 3; ++channel) {
    const int expected = ColourOf(2)[channel];
    EXPECT_LE((image.select(2, channel) - expected).abs().max().item<int>(), 3) << channel;
  }
  const torch::Tensor mask = train.masks[0];
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      const int expected = (y == 7 || x == 7) ? 255 : x < 4 ? 1 : 4;
      EXPECT_EQ(mask[y][x].item<int>(), expected) << "y " << y << " x " << x;
    }
  }

  const SampleSet val = LoadOrDie(options, Split::kVal);
  EXPECT_EQ(Basenames(val), (std::vector<std::string>{"d.jpg", "e.jpg"}));
}

TEST(VocTest, SizeCapsTakeTheFirstOfTheList) {
  TempDir dir;
  WriteVocTree(dir);
  DatasetOptions options = VocOptions(dir);
  options.train_size = 2;
  options.val_size = 1;
  EXPECT_EQ(Basenames(LoadOrDie(options, Split::kTrain)),
            (std::vector<std::string>{"c.jpg", "a.jpg"}));
  EXPECT_EQ(Basenames(LoadOrDie(options, Split::kVal)), (std::vector<std::string>{"d.jpg"}));
  // A cap above the split's size loads it all.
  options.train_size = 10;
  EXPECT_EQ(LoadOrDie(options, Split::kTrain).size(), 3);
}

TEST(VocTest, ListedIdWithoutImageOrMaskIsNotFoundNamingTheFileAndTheLine) {
  TempDir dir;
  WriteVocTree(dir);
  std::filesystem::remove(dir.path() + "/JPEGImages/a.jpg");
  absl::Status status = LoadSplit(VocOptions(dir), Split::kTrain).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(dir.path() + "/JPEGImages/a.jpg"), HasSubstr("train.txt:2")));

  std::filesystem::remove(dir.path() + "/SegmentationClass/e.png");
  status = LoadSplit(VocOptions(dir), Split::kVal).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(dir.path() + "/SegmentationClass/e.png"));
}

TEST(VocTest, BadListsAreReportedNamingTheList) {
  TempDir dir;
  WriteVocTree(dir);
  const std::string list = dir.path() + "/ImageSets/Segmentation/train.txt";
  WriteList(dir, "train", "\n  \n");
  absl::Status status = LoadSplit(VocOptions(dir), Split::kTrain).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(list), HasSubstr("no samples")));

  WriteList(dir, "train", "a\nb\na\n");
  status = LoadSplit(VocOptions(dir), Split::kTrain).status();
  EXPECT_THAT(status.message(), AllOf(HasSubstr(list + ":3"), HasSubstr("twice")));

  std::filesystem::remove(list);
  status = LoadSplit(VocOptions(dir), Split::kTrain).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(list));
}

// ---- folder ------------------------------------------------------------------

constexpr int kFolderSide = 8;

// Image i: a flat colour, written as PNG, JPG or JPEG by turns (PNGs decode
// exactly); mask i: gray PNG, class i % 3 with a column of 255 at x = 0.
void WriteFolderTree(const TempDir& dir, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string stem = "s" + std::to_string(10 + i);
    const std::vector<uint8_t> pixels =
        test_files::SolidRgb(kFolderSide, kFolderSide, ColourOf(i % 5));
    switch (i % 3) {
      case 0:
        test_files::WriteRgbPng(dir.File("images/" + stem + ".png"), kFolderSide, kFolderSide,
                                pixels);
        break;
      case 1:
        test_files::WriteJpeg(dir.File("images/" + stem + ".jpg"), kFolderSide, kFolderSide, 3,
                              pixels);
        break;
      default:
        test_files::WriteJpeg(dir.File("images/" + stem + ".JPEG"), kFolderSide, kFolderSide, 3,
                              pixels);
    }
    std::vector<uint8_t> mask(kFolderSide * kFolderSide, static_cast<uint8_t>(i % 3));
    for (int y = 0; y < kFolderSide; ++y) mask[y * kFolderSide] = 255;
    test_files::WriteGrayMask(dir.File("masks/" + stem + ".png"), kFolderSide, kFolderSide, mask);
  }
}

DatasetOptions FolderOptions(const TempDir& dir) {
  DatasetOptions options;
  options.dataset = "folder";
  options.root = dir.path();
  options.load_size = kFolderSide;
  options.num_classes = 3;
  options.val_fraction = 0.3;
  options.seed = 5;
  return options;
}

std::vector<std::string> Stems(const SampleSet& set) {
  std::vector<std::string> stems;
  for (const std::string& source : set.sources) {
    stems.push_back(std::filesystem::path(source).stem().string());
  }
  return stems;
}

TEST(FolderTest, LoadsImagesOfEveryExtensionWithTheirMasks) {
  TempDir dir;
  WriteFolderTree(dir, 10);
  // Not images: ignored.
  std::ofstream(dir.File("images/notes.txt")) << "hello";
  std::ofstream(dir.File("images/.hidden.png")) << "not a png";
  const DatasetOptions options = FolderOptions(dir);
  const SampleSet train = LoadOrDie(options, Split::kTrain);
  const SampleSet val = LoadOrDie(options, Split::kVal);
  ASSERT_EQ(train.size(), 7);
  ASSERT_EQ(val.size(), 3);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{7, 8, 8, 3}));
  EXPECT_EQ(train.num_classes, 3);
  for (const SampleSet* set : {&train, &val}) {
    for (int64_t n = 0; n < set->size(); ++n) {
      const int i = std::stoi(Stems(*set)[n].substr(1)) - 10;
      const torch::Tensor mask = set->masks[n].to(torch::kInt);
      EXPECT_EQ(mask.select(1, 0).min().item<int>(), 255) << set->sources[n];
      EXPECT_TRUE(mask.narrow(1, 1, kFolderSide - 1).eq(i % 3).all().item<bool>())
          << set->sources[n];
      const torch::Tensor image = set->images[n].to(torch::kInt);
      for (int channel = 0; channel < 3; ++channel) {
        const torch::Tensor difference =
            (image.select(2, channel) - ColourOf(i % 5)[channel]).abs();
        // PNGs are exact; JPEGs within a few levels.
        EXPECT_LE(difference.max().item<int>(), i % 3 == 0 ? 0 : 3) << set->sources[n];
      }
    }
  }
}

TEST(FolderTest, HoldOutIsDeterministicDisjointSortedAndSeeded) {
  TempDir dir;
  WriteFolderTree(dir, 10);
  DatasetOptions options = FolderOptions(dir);
  const std::vector<std::string> train = Stems(LoadOrDie(options, Split::kTrain));
  const std::vector<std::string> val = Stems(LoadOrDie(options, Split::kVal));
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
  EXPECT_TRUE(std::is_sorted(val.begin(), val.end()));
  std::set<std::string> all(train.begin(), train.end());
  all.insert(val.begin(), val.end());
  EXPECT_EQ(all.size(), 10U);  // disjoint and complete
  EXPECT_EQ(Stems(LoadOrDie(options, Split::kVal)), val);

  // Another seed holds out other stems (checked once for these two seeds).
  options.seed = 6;
  EXPECT_NE(Stems(LoadOrDie(options, Split::kVal)), val);

  // Caps take the first stems of each split.
  options.seed = 5;
  options.train_size = 2;
  options.val_size = 1;
  EXPECT_EQ(Stems(LoadOrDie(options, Split::kTrain)),
            (std::vector<std::string>{train[0], train[1]}));
  EXPECT_EQ(Stems(LoadOrDie(options, Split::kVal)), (std::vector<std::string>{val[0]}));
}

TEST(FolderTest, AddingAnImageMovesAtMostOneOtherBetweenSplits) {
  TempDir dir;
  WriteFolderTree(dir, 10);
  const DatasetOptions options = FolderOptions(dir);
  const std::vector<std::string> before = Stems(LoadOrDie(options, Split::kVal));
  WriteFolderTree(dir, 11);  // rewrites the same 10 and adds s20
  const std::vector<std::string> after = Stems(LoadOrDie(options, Split::kVal));
  std::vector<std::string> moved;
  std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(),
                                std::back_inserter(moved));
  moved.erase(std::remove(moved.begin(), moved.end(), "s20"), moved.end());
  EXPECT_LE(moved.size(), 1U);
}

TEST(FolderTest, ResizesNonSquareImagesAndMasks) {
  TempDir dir;
  // 48x24: image red ramps along x, green along y; mask class x / 16.
  std::vector<uint8_t> rgb;
  std::vector<uint8_t> mask;
  for (int y = 0; y < 24; ++y) {
    for (int x = 0; x < 48; ++x) {
      rgb.insert(rgb.end(), {static_cast<uint8_t>(5 * x), static_cast<uint8_t>(10 * y), 50});
      mask.push_back(static_cast<uint8_t>(x / 16));
    }
  }
  for (const std::string stem : {"a", "b"}) {
    test_files::WriteRgbPng(dir.File("images/" + stem + ".png"), 48, 24, rgb);
    test_files::WriteGrayMask(dir.File("masks/" + stem + ".png"), 48, 24, mask);
  }
  DatasetOptions options = FolderOptions(dir);
  options.load_size = 12;
  const SampleSet set = LoadOrDie(options, Split::kTrain);
  ASSERT_EQ(set.size(), 1);
  // Nearest by centres: columns 2, 6, ..., 46 of 48.
  const torch::Tensor expected_row =
      torch::tensor({0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, torch::kByte);
  for (int y = 0; y < 12; ++y) EXPECT_TRUE(torch::equal(set.masks[0][y], expected_row)) << y;
  // A ramp keeps its value at output pixel centres, away from the edges:
  // output x covers input [4x, 4x + 4), centre 4x + 1.5 -> red 5 * (4x + 1.5).
  const torch::Tensor image = set.images[0].to(torch::kInt);
  for (int x = 1; x < 11; ++x) EXPECT_NEAR(image[6][x][0].item<int>(), 20 * x + 7.5, 1) << x;
  // Rows: output y covers input [2y, 2y + 2), centre 2y + 0.5 -> green 10 * (2y + 0.5).
  for (int y = 1; y < 11; ++y) EXPECT_NEAR(image[y][6][1].item<int>(), 20 * y + 5, 1) << y;
  EXPECT_TRUE(image.select(2, 2).eq(50).all().item<bool>());
}

TEST(FolderTest, UnpairedFilesAreReportedNamingThem) {
  TempDir dir;
  WriteFolderTree(dir, 4);
  std::filesystem::remove(dir.path() + "/masks/s11.png");
  absl::Status status = LoadSplit(FolderOptions(dir), Split::kTrain).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(dir.path() + "/masks/s11.png"), HasSubstr("s11.jpg")));

  WriteFolderTree(dir, 4);
  test_files::WriteGrayMask(dir.File("masks/orphan.png"), 8, 8, std::vector<uint8_t>(64, 0));
  status = LoadSplit(FolderOptions(dir), Split::kVal).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(dir.path() + "/masks/orphan.png"), HasSubstr("without an image")));
}

TEST(FolderTest, TwoImagesWithOneStemAreReported) {
  TempDir dir;
  WriteFolderTree(dir, 3);
  test_files::WriteRgbPng(dir.File("images/s11.png"), 8, 8, test_files::SolidRgb(8, 8, {1, 2, 3}));
  const absl::Status status = LoadSplit(FolderOptions(dir), Split::kTrain).status();
  EXPECT_THAT(status.message(), AllOf(HasSubstr("s11.png"), HasSubstr("s11.jpg")));
}

TEST(FolderTest, TooFewImagesOrNoDirectoriesAreReported) {
  TempDir dir;
  absl::Status status = LoadSplit(FolderOptions(dir), Split::kTrain).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(dir.path() + "/images"));

  WriteFolderTree(dir, 1);
  status = LoadSplit(FolderOptions(dir), Split::kTrain).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(dir.path() + "/images"), HasSubstr("at least 2")));
}

// ---- bad data, through the folder layout ---------------------------------------

class BadDataTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteFolderTree(dir_, 2); }

  absl::Status LoadBoth() {
    for (Split split : {Split::kTrain, Split::kVal}) {
      absl::Status status = LoadSplit(FolderOptions(dir_), split).status();
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  TempDir dir_;
};

TEST_F(BadDataTest, SizeMismatchNamesTheMaskTheImageAndBothSizes) {
  test_files::WriteGrayMask(dir_.File("masks/s10.png"), 8, 6, std::vector<uint8_t>(48, 0));
  const absl::Status status = LoadBoth();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(dir_.path() + "/masks/s10.png"), HasSubstr("8x6"),
                    HasSubstr(dir_.path() + "/images/s10.png"), HasSubstr("8x8")));
}

TEST_F(BadDataTest, ClassOutOfRangeNamesTheFileValueAndFirstPixel) {
  std::vector<uint8_t> mask(64, 1);
  mask[2 * 8 + 5] = 3;  // num_classes is 3
  mask[6 * 8 + 1] = 200;
  test_files::WriteGrayMask(dir_.File("masks/s11.png"), 8, 8, mask);
  const absl::Status status = LoadBoth();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(dir_.path() + "/masks/s11.png"), HasSubstr("value 3 at (x=5, y=2)")));
}

TEST_F(BadDataTest, IgnoreIndexIsTheOnlyValueAllowedAboveTheClasses) {
  std::vector<uint8_t> mask(64, 1);
  mask[1 * 8 + 1] = 254;
  test_files::WriteGrayMask(dir_.File("masks/s10.png"), 8, 8, mask);
  test_files::WriteGrayMask(dir_.File("masks/s11.png"), 8, 8, mask);
  EXPECT_THAT(LoadBoth().message(), HasSubstr("value 254 at (x=1, y=1)"));

  DatasetOptions options = FolderOptions(dir_);
  options.ignore_index = 254;
  for (Split split : {Split::kTrain, Split::kVal}) {
    const SampleSet set = LoadOrDie(options, split);
    EXPECT_EQ(set.ignore_index, 254);
    ASSERT_EQ(set.size(), 1);
    EXPECT_EQ(set.masks[0][1][1].item<int>(), 254);
  }
}

TEST_F(BadDataTest, CorruptAndTruncatedImagesAreDataLossNamingTheFile) {
  const std::string jpeg = dir_.path() + "/images/s11.jpg";
  const std::string bytes = test_files::ReadBytes(jpeg);
  test_files::WriteBytes(jpeg, bytes.substr(0, bytes.size() - 40));
  absl::Status status = LoadBoth();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(jpeg));

  test_files::WriteBytes(jpeg, bytes);
  const std::string png = dir_.path() + "/images/s10.png";
  std::string png_bytes = test_files::ReadBytes(png);
  png_bytes[png_bytes.size() - 20] ^= 0x5A;
  test_files::WriteBytes(png, png_bytes);
  status = LoadBoth();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(png));
}

TEST_F(BadDataTest, CorruptMaskIsDataLossNamingIt) {
  const std::string mask = dir_.path() + "/masks/s10.png";
  const std::string bytes = test_files::ReadBytes(mask);
  test_files::WriteBytes(mask, bytes.substr(0, bytes.size() / 2));
  const absl::Status status = LoadBoth();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(mask));
}

TEST_F(BadDataTest, RgbMaskIsRejectedNamingIt) {
  const std::string mask = dir_.path() + "/masks/s11.png";
  test_files::WriteRgbPng(mask, 8, 8, test_files::SolidRgb(8, 8, {128, 0, 0}));
  const absl::Status status = LoadBoth();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(mask), HasSubstr("RGB mask")));
}

// ---- options -------------------------------------------------------------------

TEST(DatasetOptionsTest, BadOptionsAreRejectedNamingTheOption) {
  struct Case {
    std::string name;
    std::string dataset;
    void (*change)(DatasetOptions&);
    std::string option;
  };
  const std::vector<Case> cases = {
      {"dataset", "shapes", [](DatasetOptions& o) { o.dataset = "cityscapes"; }, "dataset: "},
      {"root", "voc", [](DatasetOptions& o) { o.root.clear(); }, "root: "},
      {"small load_size", "shapes", [](DatasetOptions& o) { o.load_size = 4; }, "load_size: "},
      {"large load_size", "voc", [](DatasetOptions& o) { o.load_size = 8192; }, "load_size: "},
      {"one class", "folder", [](DatasetOptions& o) { o.num_classes = 1; }, "num_classes: "},
      {"256 classes", "voc", [](DatasetOptions& o) { o.num_classes = 256; }, "num_classes: "},
      {"ignore a class", "voc", [](DatasetOptions& o) { o.ignore_index = 2; }, "ignore_index: "},
      {"ignore 256", "folder", [](DatasetOptions& o) { o.ignore_index = 256; }, "ignore_index: "},
      {"shapes size", "shapes", [](DatasetOptions& o) { o.train_size = 0; }, "train_size: "},
      {"negative cap", "voc", [](DatasetOptions& o) { o.train_size = -1; }, "train_size: "},
      {"memory", "shapes", [](DatasetOptions& o) { o.train_size = 1000; }, "train_size: "},
      {"val_fraction 0", "folder", [](DatasetOptions& o) { o.val_fraction = 0; }, "val_fraction: "},
      {"val_fraction 1", "folder", [](DatasetOptions& o) { o.val_fraction = 1; }, "val_fraction: "},
  };
  for (const Case& bad : cases) {
    DatasetOptions options;
    options.dataset = bad.dataset;
    options.root = "/nonexistent";  // never reached: options are checked first
    options.load_size = 1024;       // 1000 samples of it exceed the memory cap
    options.train_size = 4;
    bad.change(options);
    const absl::Status status = LoadSplit(options, Split::kTrain).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(bad.option)) << bad.name;
  }
}

}  // namespace
}  // namespace segtune::data
