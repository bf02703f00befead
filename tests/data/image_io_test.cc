// Decoding of images and masks (worker/data/src/image_io.h, private to the
// library; this test builds with its source directory on the include path).
#include "image_io.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>

#include "image_writer.h"

namespace segtune::data {
namespace {

using test_files::PngSpec;
using test_files::TempDir;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

Raster ReadImageOrDie(const std::string& path) {
  absl::StatusOr<Raster> raster = ReadRgbImage(path);
  EXPECT_TRUE(raster.ok()) << raster.status();
  return raster.ok() ? *std::move(raster) : Raster{};
}

Raster ReadMaskOrDie(const std::string& path) {
  absl::StatusOr<Raster> raster = ReadClassMask(path);
  EXPECT_TRUE(raster.ok()) << raster.status();
  return raster.ok() ? *std::move(raster) : Raster{};
}

PngSpec Spec(int width, int height, int color_type, int bit_depth, std::vector<uint16_t> samples) {
  PngSpec spec;
  spec.width = width;
  spec.height = height;
  spec.color_type = color_type;
  spec.bit_depth = bit_depth;
  spec.samples = std::move(samples);
  return spec;
}

TEST(ImageIoTest, ReadsRgbPngExactly) {
  TempDir dir;
  const std::vector<uint8_t> rgb = {1, 2, 3, 40, 50, 60, 255, 0,  128,
                                    7, 8, 9, 10, 11, 12, 13,  14, 15};
  test_files::WriteRgbPng(dir.File("a.png"), 3, 2, rgb);
  const Raster raster = ReadImageOrDie(dir.File("a.png"));
  EXPECT_EQ(raster.width, 3);
  EXPECT_EQ(raster.height, 2);
  EXPECT_EQ(raster.channels, 3);
  EXPECT_EQ(raster.pixels, rgb);
}

TEST(ImageIoTest, ExpandsGrayPalette16BitAlphaAndInterlacedPngsToRgb) {
  TempDir dir;
  // 8-bit gray: the value in all three channels.
  test_files::WritePng(dir.File("gray.png"), Spec(2, 1, PNG_COLOR_TYPE_GRAY, 8, {10, 200}));
  EXPECT_THAT(ReadImageOrDie(dir.File("gray.png")).pixels, ElementsAre(10, 10, 10, 200, 200, 200));
  // 4-bit gray scales to 8 bits (x17).
  test_files::WritePng(dir.File("gray4.png"), Spec(2, 1, PNG_COLOR_TYPE_GRAY, 4, {1, 15}));
  EXPECT_THAT(ReadImageOrDie(dir.File("gray4.png")).pixels, ElementsAre(17, 17, 17, 255, 255, 255));
  // Palette: the colours.
  PngSpec palette = Spec(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 0});
  palette.palette = {{9, 8, 7}, {100, 110, 120}};
  test_files::WritePng(dir.File("palette.png"), palette);
  EXPECT_THAT(ReadImageOrDie(dir.File("palette.png")).pixels, ElementsAre(100, 110, 120, 9, 8, 7));
  // 16 bits scale to 8 (65535 -> 255, 257 * v -> v).
  test_files::WritePng(dir.File("rgb16.png"),
                       Spec(1, 1, PNG_COLOR_TYPE_RGB, 16, {65535, 257 * 100, 0}));
  EXPECT_THAT(ReadImageOrDie(dir.File("rgb16.png")).pixels, ElementsAre(255, 100, 0));
  // Alpha is dropped, colour kept.
  test_files::WritePng(dir.File("rgba.png"),
                       Spec(1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {30, 60, 90, 0}));
  EXPECT_THAT(ReadImageOrDie(dir.File("rgba.png")).pixels, ElementsAre(30, 60, 90));
  test_files::WritePng(dir.File("gray_alpha.png"),
                       Spec(1, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {77, 128}));
  EXPECT_THAT(ReadImageOrDie(dir.File("gray_alpha.png")).pixels, ElementsAre(77, 77, 77));
  // Interlacing is undone.
  std::vector<uint16_t> samples;
  for (int i = 0; i < 9 * 9 * 3; ++i) samples.push_back(static_cast<uint16_t>(i % 251));
  PngSpec interlaced = Spec(9, 9, PNG_COLOR_TYPE_RGB, 8, samples);
  interlaced.interlaced = true;
  test_files::WritePng(dir.File("interlaced.png"), interlaced);
  EXPECT_THAT(ReadImageOrDie(dir.File("interlaced.png")).pixels,
              ElementsAreArray(std::vector<uint8_t>(samples.begin(), samples.end())));
}

TEST(ImageIoTest, ReadsJpegsAsRgbByContentNotName) {
  TempDir dir;
  const std::string rgb_path = dir.File("colour.jpg");
  test_files::WriteJpeg(rgb_path, 16, 16, 3, test_files::SolidRgb(16, 16, {200, 40, 90}));
  const Raster colour = ReadImageOrDie(rgb_path);
  EXPECT_EQ(colour.width, 16);
  EXPECT_EQ(colour.height, 16);
  EXPECT_EQ(colour.channels, 3);
  ASSERT_EQ(colour.pixels.size(), 16U * 16 * 3);
  // Lossy, but a flat colour comes back within a few levels.
  EXPECT_NEAR(colour.pixels[0], 200, 4);
  EXPECT_NEAR(colour.pixels[1], 40, 4);
  EXPECT_NEAR(colour.pixels[2], 90, 4);

  // Grayscale JPEG, named .png: recognised by its bytes, gray in all channels.
  const std::string gray_path = dir.File("gray.png");
  test_files::WriteJpeg(gray_path, 8, 8, 1, std::vector<uint8_t>(64, 123));
  const Raster gray = ReadImageOrDie(gray_path);
  ASSERT_EQ(gray.pixels.size(), 8U * 8 * 3);
  EXPECT_NEAR(gray.pixels[0], 123, 2);
  EXPECT_EQ(gray.pixels[0], gray.pixels[1]);
  EXPECT_EQ(gray.pixels[0], gray.pixels[2]);
}

TEST(ImageIoTest, RejectsCmykJpegNamingTheFile) {
  TempDir dir;
  const std::string path = dir.File("cmyk.jpg");
  test_files::WriteJpeg(path, 8, 8, 4, std::vector<uint8_t>(8 * 8 * 4, 50));
  const absl::Status status = ReadRgbImage(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(status.message(), HasSubstr("CMYK"));
}

TEST(ImageIoTest, TruncatedOrCorruptFilesAreDataLossNamingTheFile) {
  TempDir dir;
  std::vector<uint8_t> noise;
  for (int i = 0; i < 64 * 64 * 3; ++i) noise.push_back(static_cast<uint8_t>((i * 7919) % 256));
  const std::string jpeg = dir.File("good.jpg");
  test_files::WriteJpeg(jpeg, 64, 64, 3, noise);
  const std::string png = dir.File("good.png");
  test_files::WriteRgbPng(png, 64, 64, noise);
  const std::string jpeg_bytes = test_files::ReadBytes(jpeg);
  const std::string png_bytes = test_files::ReadBytes(png);

  struct Case {
    std::string name;
    std::string bytes;
  };
  std::string scrambled_jpeg = jpeg_bytes;
  // Garbage in the entropy-coded data, well past the headers.
  for (size_t i = scrambled_jpeg.size() / 2; i < scrambled_jpeg.size() / 2 + 64; ++i) {
    scrambled_jpeg[i] = static_cast<char>(0xFF);
  }
  std::string flipped_png = png_bytes;
  flipped_png[png_bytes.size() / 2] ^= 0x55;  // inside IDAT: its CRC no longer matches
  const std::vector<Case> cases = {
      {"truncated.jpg", jpeg_bytes.substr(0, jpeg_bytes.size() / 2)},
      {"scrambled.jpg", scrambled_jpeg},
      {"header_only.jpg", jpeg_bytes.substr(0, 20)},
      {"truncated.png", png_bytes.substr(0, png_bytes.size() / 2)},
      {"no_end.png", png_bytes.substr(0, png_bytes.size() - 12)},  // IEND cut off
      {"flipped.png", flipped_png},
      {"text.jpg", "not an image at all"},
      {"empty.png", ""},
  };
  for (const Case& bad : cases) {
    const std::string path = dir.File(bad.name);
    test_files::WriteBytes(path, bad.bytes);
    const absl::Status status = ReadRgbImage(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << bad.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(path)) << bad.name;
  }
}

TEST(ImageIoTest, MissingFileIsNotFoundNamingIt) {
  TempDir dir;
  const std::string path = dir.path() + "/nothing.jpg";
  const absl::Status status = ReadRgbImage(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_EQ(ReadClassMask(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(ImageIoTest, PaletteMasksGiveTheIndexNotTheColour) {
  TempDir dir;
  test_files::WritePaletteMask(dir.File("voc.png"), 4, 1, {0, 1, 20, 255});
  const Raster mask = ReadMaskOrDie(dir.File("voc.png"));
  EXPECT_EQ(mask.channels, 1);
  EXPECT_EQ(mask.width, 4);
  EXPECT_THAT(mask.pixels, ElementsAre(0, 1, 20, 255));

  // A 4-bit palette is unpacked, indices unchanged.
  PngSpec small = Spec(3, 1, PNG_COLOR_TYPE_PALETTE, 4, {2, 0, 3});
  small.palette = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  test_files::WritePng(dir.File("palette4.png"), small);
  EXPECT_THAT(ReadMaskOrDie(dir.File("palette4.png")).pixels, ElementsAre(2, 0, 3));
}

TEST(ImageIoTest, GrayMasksGiveTheValueUnscaled) {
  TempDir dir;
  test_files::WriteGrayMask(dir.File("gray.png"), 3, 1, {0, 7, 255});
  EXPECT_THAT(ReadMaskOrDie(dir.File("gray.png")).pixels, ElementsAre(0, 7, 255));
  // 2-bit gray: 3 stays 3 (an image would read 255).
  test_files::WritePng(dir.File("gray2.png"), Spec(3, 1, PNG_COLOR_TYPE_GRAY, 2, {3, 1, 0}));
  EXPECT_THAT(ReadMaskOrDie(dir.File("gray2.png")).pixels, ElementsAre(3, 1, 0));
}

TEST(ImageIoTest, RejectsMasksThatAreNotClassIndicesNamingTheFile) {
  TempDir dir;
  struct Case {
    std::string name;
    PngSpec spec;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"rgb.png", Spec(1, 1, PNG_COLOR_TYPE_RGB, 8, {128, 0, 0}), "RGB mask"},
      {"rgba.png", Spec(1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {128, 0, 0, 255}), "RGB mask"},
      {"gray_alpha.png", Spec(1, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {1, 255}), "gray+alpha"},
      {"gray16.png", Spec(1, 1, PNG_COLOR_TYPE_GRAY, 16, {3}), "16-bit"},
  };
  for (const Case& bad : cases) {
    const std::string path = dir.File(bad.name);
    test_files::WritePng(path, bad.spec);
    const absl::Status status = ReadClassMask(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.name;
    EXPECT_THAT(status.message(), HasSubstr(path)) << bad.name;
    EXPECT_THAT(status.message(), HasSubstr(bad.reason)) << bad.name;
  }
  const std::string jpeg = dir.File("mask.png");
  test_files::WriteJpeg(jpeg, 8, 8, 1, std::vector<uint8_t>(64, 1));
  const absl::Status status = ReadClassMask(jpeg).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(jpeg));
  EXPECT_THAT(status.message(), HasSubstr("not a PNG"));
}

}  // namespace
}  // namespace segtune::data
