// Decoding of dataset files: JPEG and PNG images to 8-bit RGB, PNG masks to
// 8-bit class indices, with libjpeg and libpng.
//
// A file is recognised by its first bytes, not its name. Every error is a
// Status that names the file: NotFound (cannot be read), DataLoss (corrupt or
// truncated), InvalidArgument (a valid file of a kind we do not accept: a
// CMYK JPEG, an RGB or 16-bit mask, ...). libjpeg and libpng report errors by
// calling back; ours jump back to the decoding call (they never exit()), so a
// bad file fails one trial, never the worker.
//
// Thread-safety: the functions share no state; call them from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace segtune::data {

// A decoded picture, rows top to bottom, pixels interleaved.
struct Raster {
  int width = 0;
  int height = 0;
  int channels = 0;             // 3 (RGB image) or 1 (class-index mask)
  std::vector<uint8_t> pixels;  // height * width * channels
};

// A JPEG (YCbCr or grayscale) or PNG (any colour type and bit depth: palette
// and gray are expanded, alpha dropped, 16 bits reduced to 8) as RGB.
absl::StatusOr<Raster> ReadRgbImage(const std::string& path);

// A PNG of class indices, one channel: for a palette PNG the palette index of
// each pixel (the Pascal VOC convention; the colours are only for viewing),
// for a grayscale PNG of 1 to 8 bits the gray value. RGB(A), gray+alpha and
// 16-bit PNGs are rejected: their values are not class indices.
absl::StatusOr<Raster> ReadClassMask(const std::string& path);

}  // namespace segtune::data
