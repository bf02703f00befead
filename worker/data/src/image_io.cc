#include "image_io.h"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>
// After jpeglib.h: the message codes (JWRN_...).
#include <jerror.h>
#include <png.h>

#include "absl/strings/str_cat.h"

namespace segtune::data {
namespace {

// Larger sides are far beyond any segmentation dataset; refusing them keeps a
// corrupt header from asking for gigabytes.
constexpr int kMaxSide = 16384;

enum class Failure { kNone, kCorrupt, kUnsupported };

absl::Status FailureStatus(Failure failure, const std::string& path, const char* format,
                           const std::string& message) {
  if (failure == Failure::kUnsupported) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
  }
  return absl::DataLossError(
      absl::StrCat(path, ": corrupt or truncated ", format, " (", message, ")"));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed: ", std::strerror(errno)));
  }
  return bytes;
}

bool IsPng(const std::string& bytes) {
  return bytes.size() >= 8 &&
         png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0;
}

bool IsJpeg(const std::string& bytes) {
  return bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xFF &&
         static_cast<uint8_t>(bytes[1]) == 0xD8 && static_cast<uint8_t>(bytes[2]) == 0xFF;
}

// ---- PNG -------------------------------------------------------------------

enum class PngTarget { kRgbImage, kClassMask };

// libpng reports errors through OnPngError, which longjmps back into Read.
// Read keeps everything with a destructor in members, never in locals made
// after its setjmp, so the jump skips no destructor.
class PngReader {
 public:
  explicit PngReader(const std::string& bytes) : bytes_(bytes) {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, this, OnPngError, OnPngWarning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngReader() { png_destroy_read_struct(&png_, &info_, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  // Decodes into *raster; on false, failure() and message() say why.
  bool Read(PngTarget target, Raster* raster);

  Failure failure() const { return failure_; }
  const std::string& message() const { return message_; }

 private:
  static void OnPngError(png_structp png, png_const_charp message) {
    auto* reader = static_cast<PngReader*>(png_get_error_ptr(png));
    reader->failure_ = Failure::kCorrupt;
    reader->message_ = message;
    png_longjmp(png, 1);
  }
  // Warnings are about ancillary chunks (colour profiles, text); the pixels
  // are unaffected, and libpng would print them on stderr.
  static void OnPngWarning(png_structp, png_const_charp) {}

  static void ReadBytes(png_structp png, png_bytep out, png_size_t length) {
    auto* reader = static_cast<PngReader*>(png_get_io_ptr(png));
    if (length > reader->bytes_.size() - reader->offset_) png_error(png, "the file ends early");
    std::memcpy(out, reader->bytes_.data() + reader->offset_, length);
    reader->offset_ += length;
  }

  // Sets libpng's transforms for an RGB image.
  void ExpandToRgb(int color_type, int bit_depth);
  // Sets the transforms for a class mask; false (kUnsupported) for colour
  // types whose values are not class indices.
  bool KeepIndices(int color_type, int bit_depth);

  bool Reject(std::string message) {
    failure_ = Failure::kUnsupported;
    message_ = std::move(message);
    return false;
  }

  const std::string& bytes_;
  size_t offset_ = 0;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
  std::vector<png_bytep> rows_;
  Failure failure_ = Failure::kNone;
  std::string message_;
};

void PngReader::ExpandToRgb(int color_type, int bit_depth) {
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png_);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png_);
  if (bit_depth == 16) png_set_scale_16(png_);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png_);
  }
  // Also drops the alpha a palette's transparency table expands to.
  png_set_strip_alpha(png_);
}

bool PngReader::KeepIndices(int color_type, int bit_depth) {
  if (color_type == PNG_COLOR_TYPE_RGB || color_type == PNG_COLOR_TYPE_RGB_ALPHA) {
    return Reject(
        "an RGB mask: masks must hold class indices, as a palette PNG (the index is the class) or "
        "an 8-bit grayscale PNG (the value is the class); convert colours to indices first");
  }
  if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    return Reject("a gray+alpha mask: masks must be palette or 8-bit grayscale PNGs without alpha");
  }
  if (bit_depth == 16) {
    return Reject("a 16-bit mask: class indices must fit in 8 bits (palette or 8-bit grayscale)");
  }
  // Unpacks 1, 2 and 4-bit pixels to a byte each, values unchanged (no
  // scaling to 0..255, no palette lookup).
  if (bit_depth < 8) png_set_packing(png_);
  return true;
}

bool PngReader::Read(PngTarget target, Raster* raster) {
  if (png_ == nullptr || info_ == nullptr) {
    failure_ = Failure::kCorrupt;
    message_ = "libpng could not allocate its state";
    return false;
  }
  if (setjmp(png_jmpbuf(png_))) return false;
  png_set_read_fn(png_, this, ReadBytes);
  png_set_user_limits(png_, kMaxSide, kMaxSide);
  png_read_info(png_, info_);
  const int color_type = png_get_color_type(png_, info_);
  const int bit_depth = png_get_bit_depth(png_, info_);
  const int channels = target == PngTarget::kRgbImage ? 3 : 1;
  if (target == PngTarget::kRgbImage) {
    ExpandToRgb(color_type, bit_depth);
  } else if (!KeepIndices(color_type, bit_depth)) {
    return false;
  }
  png_set_interlace_handling(png_);
  png_read_update_info(png_, info_);
  raster->width = static_cast<int>(png_get_image_width(png_, info_));
  raster->height = static_cast<int>(png_get_image_height(png_, info_));
  raster->channels = channels;
  const size_t stride = size_t{1} * raster->width * channels;
  if (png_get_channels(png_, info_) != channels || png_get_rowbytes(png_, info_) != stride) {
    png_error(png_, "unexpected pixel layout after conversion");
  }
  raster->pixels.resize(stride * raster->height);
  rows_.resize(raster->height);
  for (int y = 0; y < raster->height; ++y) rows_[y] = raster->pixels.data() + y * stride;
  png_read_image(png_, rows_.data());
  // Reads up to IEND, so a file cut after its pixel data is caught too.
  png_read_end(png_, nullptr);
  return true;
}

absl::StatusOr<Raster> DecodePng(const std::string& bytes, PngTarget target,
                                 const std::string& path) {
  PngReader reader(bytes);
  Raster raster;
  if (!reader.Read(target, &raster)) {
    return FailureStatus(reader.failure(), path, "PNG", reader.message());
  }
  return raster;
}

// ---- JPEG ------------------------------------------------------------------

// Damaged entropy-coded data. libjpeg only warns about these and fills the
// missing pixels with grey; a training sample half grey is worse than an
// error. Other warnings (extra bytes between markers, a bad ICC profile)
// leave the pixels intact.
bool IsPixelDamage(int message_code) {
  switch (message_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
      return true;
    default:
      return false;
  }
}

// As PngReader: libjpeg's error_exit longjmps back into Read, whose state
// with destructors lives in members.
class JpegReader {
 public:
  JpegReader() {
    std::memset(&decompress_, 0, sizeof(decompress_));
    decompress_.err = jpeg_std_error(&errors_.base);
    errors_.base.error_exit = OnError;
    errors_.base.emit_message = OnMessage;
    errors_.reader = this;
  }
  // Safe on a never-created or half-created object (it checks its memory manager).
  ~JpegReader() { jpeg_destroy_decompress(&decompress_); }
  JpegReader(const JpegReader&) = delete;
  JpegReader& operator=(const JpegReader&) = delete;

  bool Read(const std::string& bytes, Raster* raster);

  Failure failure() const { return failure_; }
  const std::string& message() const { return message_; }

 private:
  struct Errors {
    jpeg_error_mgr base;  // first: libjpeg sees a jpeg_error_mgr*
    JpegReader* reader;
  };

  static void OnError(j_common_ptr info) {
    JpegReader* reader = reinterpret_cast<Errors*>(info->err)->reader;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    reader->failure_ = Failure::kCorrupt;
    reader->message_ = text;
    std::longjmp(reader->jump_, 1);
  }
  // Level -1 is a warning about the data, higher levels are trace output.
  static void OnMessage(j_common_ptr info, int level) {
    if (level == -1 && IsPixelDamage(info->err->msg_code)) OnError(info);
  }

  bool Reject(std::string message) {
    failure_ = Failure::kUnsupported;
    message_ = std::move(message);
    return false;
  }

  jpeg_decompress_struct decompress_;
  Errors errors_;
  std::jmp_buf jump_;
  Failure failure_ = Failure::kNone;
  std::string message_;
};

bool JpegReader::Read(const std::string& bytes, Raster* raster) {
  if (setjmp(jump_)) return false;
  jpeg_create_decompress(&decompress_);
  jpeg_mem_src(&decompress_, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&decompress_, TRUE);
  if (decompress_.jpeg_color_space == JCS_CMYK || decompress_.jpeg_color_space == JCS_YCCK) {
    return Reject("a CMYK JPEG: convert it to RGB first");
  }
  if (decompress_.image_width > kMaxSide || decompress_.image_height > kMaxSide) {
    return Reject(absl::StrCat("a ", decompress_.image_width, "x", decompress_.image_height,
                               " JPEG: sides are limited to ", kMaxSide, " pixels"));
  }
  // libjpeg converts YCbCr and grayscale to RGB itself.
  decompress_.out_color_space = JCS_RGB;
  jpeg_start_decompress(&decompress_);
  raster->width = static_cast<int>(decompress_.output_width);
  raster->height = static_cast<int>(decompress_.output_height);
  raster->channels = 3;
  const size_t stride = size_t{3} * raster->width;
  raster->pixels.resize(stride * raster->height);
  while (decompress_.output_scanline < decompress_.output_height) {
    JSAMPROW row = raster->pixels.data() + decompress_.output_scanline * stride;
    jpeg_read_scanlines(&decompress_, &row, 1);
  }
  // Reads up to the end marker, so a truncated file warns (JWRN_JPEG_EOF) here.
  jpeg_finish_decompress(&decompress_);
  return true;
}

absl::StatusOr<Raster> DecodeJpeg(const std::string& bytes, const std::string& path) {
  JpegReader reader;
  Raster raster;
  if (!reader.Read(bytes, &raster)) {
    return FailureStatus(reader.failure(), path, "JPEG", reader.message());
  }
  return raster;
}

}  // namespace

absl::StatusOr<Raster> ReadRgbImage(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  if (IsJpeg(*bytes)) return DecodeJpeg(*bytes, path);
  if (IsPng(*bytes)) return DecodePng(*bytes, PngTarget::kRgbImage, path);
  return absl::DataLossError(
      absl::StrCat(path, ": neither a JPEG nor a PNG file (", bytes->size(), " bytes)"));
}

absl::StatusOr<Raster> ReadClassMask(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  if (!IsPng(*bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a PNG file: masks must be PNGs (a lossy JPEG cannot hold class indices)"));
  }
  return DecodePng(*bytes, PngTarget::kClassMask, path);
}

}  // namespace segtune::data
