#include "image_writer.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

namespace segtune::data::test_files {
namespace {

[[noreturn]] void Die(const std::string& what, const std::string& path) {
  std::fprintf(stderr, "image_writer: %s: %s\n", path.c_str(), what.c_str());
  std::abort();
}

int Channels(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
      return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    default:
      return 4;
  }
}

// Rows as libpng wants them: one byte per sample below 8 bits (packed by
// png_set_packing), two big-endian bytes at 16 bits.
std::vector<std::vector<png_byte>> Rows(const PngSpec& spec) {
  const int per_row = spec.width * Channels(spec.color_type);
  const int bytes_per_sample = spec.bit_depth == 16 ? 2 : 1;
  std::vector<std::vector<png_byte>> rows(spec.height);
  for (int y = 0; y < spec.height; ++y) {
    rows[y].resize(per_row * bytes_per_sample);
    for (int i = 0; i < per_row; ++i) {
      const uint16_t value = spec.samples[y * per_row + i];
      if (bytes_per_sample == 2) {
        rows[y][2 * i] = static_cast<png_byte>(value >> 8);
        rows[y][2 * i + 1] = static_cast<png_byte>(value & 0xFF);
      } else {
        rows[y][i] = static_cast<png_byte>(value);
      }
    }
  }
  return rows;
}

}  // namespace

void WritePng(const std::string& path, const PngSpec& spec) {
  if (spec.samples.size() !=
      static_cast<size_t>(spec.width) * spec.height * Channels(spec.color_type)) {
    Die("sample count does not match the size", path);
  }
  std::vector<std::vector<png_byte>> rows = Rows(spec);
  std::vector<png_bytep> row_pointers;
  for (auto& row : rows) row_pointers.push_back(row.data());
  std::vector<png_color> palette;
  for (const auto& colour : spec.palette) palette.push_back({colour[0], colour[1], colour[2]});

  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) Die("cannot create", path);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) Die("libpng failed", path);
  png_init_io(png, file);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  png_write_info(png, info);
  if (spec.bit_depth < 8) png_set_packing(png);
  png_write_image(png, row_pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

void WritePaletteMask(const std::string& path, int width, int height,
                      const std::vector<uint8_t>& indices) {
  PngSpec spec;
  spec.width = width;
  spec.height = height;
  spec.color_type = PNG_COLOR_TYPE_PALETTE;
  spec.samples.assign(indices.begin(), indices.end());
  // 256 entries, so 255 (ignore) is a valid index; VOC-like colours.
  for (int i = 0; i < 256; ++i) {
    spec.palette.push_back({static_cast<uint8_t>((i * 128) & 0xFF),
                            static_cast<uint8_t>((i * 64) & 0xFF), static_cast<uint8_t>(255 - i)});
  }
  WritePng(path, spec);
}

void WriteGrayMask(const std::string& path, int width, int height,
                   const std::vector<uint8_t>& indices) {
  PngSpec spec;
  spec.width = width;
  spec.height = height;
  spec.color_type = PNG_COLOR_TYPE_GRAY;
  spec.samples.assign(indices.begin(), indices.end());
  WritePng(path, spec);
}

void WriteRgbPng(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb) {
  PngSpec spec;
  spec.width = width;
  spec.height = height;
  spec.color_type = PNG_COLOR_TYPE_RGB;
  spec.samples.assign(rgb.begin(), rgb.end());
  WritePng(path, spec);
}

void WriteJpeg(const std::string& path, int width, int height, int components,
               const std::vector<uint8_t>& pixels, int quality) {
  if (pixels.size() != static_cast<size_t>(width) * height * components) {
    Die("pixel count does not match the size", path);
  }
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) Die("cannot create", path);
  jpeg_compress_struct compress;
  jpeg_error_mgr errors;
  compress.err = jpeg_std_error(&errors);  // exits on error: fine for a test helper
  jpeg_create_compress(&compress);
  jpeg_stdio_dest(&compress, file);
  compress.image_width = width;
  compress.image_height = height;
  compress.input_components = components;
  compress.in_color_space = components == 3 ? JCS_RGB : components == 1 ? JCS_GRAYSCALE : JCS_CMYK;
  jpeg_set_defaults(&compress);
  jpeg_set_quality(&compress, quality, TRUE);
  jpeg_start_compress(&compress, TRUE);
  while (compress.next_scanline < compress.image_height) {
    auto* row = const_cast<JSAMPLE*>(pixels.data()) +
                static_cast<size_t>(compress.next_scanline) * width * components;
    jpeg_write_scanlines(&compress, &row, 1);
  }
  jpeg_finish_compress(&compress);
  jpeg_destroy_compress(&compress);
  std::fclose(file);
}

std::vector<uint8_t> SolidRgb(int width, int height, std::array<uint8_t, 3> colour) {
  std::vector<uint8_t> pixels;
  pixels.reserve(static_cast<size_t>(width) * height * 3);
  for (int i = 0; i < width * height; ++i)
    pixels.insert(pixels.end(), colour.begin(), colour.end());
  return pixels;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) Die("cannot read", path);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << bytes;
  if (!file) Die("cannot write", path);
}

TempDir::TempDir() {
  std::string pattern = ::testing::TempDir() + "segtune_data_XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed", pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(const std::string& relative) const {
  const std::filesystem::path full = std::filesystem::path(path_) / relative;
  std::filesystem::create_directories(full.parent_path());
  return full.string();
}

}  // namespace segtune::data::test_files
