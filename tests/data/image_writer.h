// Writes small PNG and JPEG files for the data tests (with libpng and
// libjpeg, as real datasets are written), and a temporary directory to hold
// them. A failure to write is a broken test: it aborts with a message.
//
// Thread-safety: the functions share no state.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace segtune::data::test_files {

struct PngSpec {
  int width = 0;
  int height = 0;
  int color_type = 2;  // PNG_COLOR_TYPE_*: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  int bit_depth = 8;   // 1, 2, 4, 8 or 16
  bool interlaced = false;
  // height * width * channels values, each below 2^bit_depth, row by row.
  std::vector<uint16_t> samples;
  std::vector<std::array<uint8_t, 3>> palette;  // palette PNGs
};

void WritePng(const std::string& path, const PngSpec& spec);

// A palette PNG of class indices, the palette being VOC-like colours.
void WritePaletteMask(const std::string& path, int width, int height,
                      const std::vector<uint8_t>& indices);
// An 8-bit grayscale PNG of class indices.
void WriteGrayMask(const std::string& path, int width, int height,
                   const std::vector<uint8_t>& indices);
// An 8-bit RGB PNG.
void WriteRgbPng(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb);

// components: 3 (RGB), 1 (grayscale) or 4 (CMYK).
void WriteJpeg(const std::string& path, int width, int height, int components,
               const std::vector<uint8_t>& pixels, int quality = 95);

// width * height RGB pixels all of one colour.
std::vector<uint8_t> SolidRgb(int width, int height, std::array<uint8_t, 3> colour);

std::string ReadBytes(const std::string& path);
void WriteBytes(const std::string& path, const std::string& bytes);

// A fresh directory under the test temp dir, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/relative, creating its parent directories.
  std::string File(const std::string& relative) const;

 private:
  std::string path_;
};

}  // namespace segtune::data::test_files
