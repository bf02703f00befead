#include "segtune/data/loader.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <utility>

#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include "deterministic_random.h"

namespace segtune::data {
namespace {

// Keep the loader's draws apart from each other and from the datasets'.
constexpr uint64_t kShuffleStream = 0x7368'7566'666c'6503;  // "shuffle"
constexpr uint64_t kAugmentStream = 0x6175'676d'656e'7405;  // "augment"

// Where CopySample writes an image's values: channel c of pixel (y, x)
// goes y * row + x * pixel + c * channel floats after the image's first.
struct ImageLayout {
  int64_t row = 0;
  int64_t pixel = 0;
  int64_t channel = 0;
};

// NCHW (three planes) for Contiguous, NHWC (interleaved) for ChannelsLast.
ImageLayout LayoutOf(at::MemoryFormat format, int64_t size) {
  if (format == at::MemoryFormat::ChannelsLast) return {3 * size, 3, 1};
  return {size, 1, size * size};
}

// Copies the size x size crop at (top, left) of one sample, mirrored if
// `flip`, converting bytes to normalized floats laid out as `layout` says
// and mask bytes to int64. `image` and `mask` point at the sample's first
// stored pixel; `width` is the stored width.
void CopySample(const uint8_t* image, const uint8_t* mask, int64_t width, int64_t size, int64_t top,
                int64_t left, bool flip, const std::array<std::array<float, 256>, 3>& normalized,
                const ImageLayout& layout, float* image_out, int64_t* mask_out) {
  const std::array<float, 256>& red = normalized[0];
  const std::array<float, 256>& green = normalized[1];
  const std::array<float, 256>& blue = normalized[2];
  const int64_t step = layout.pixel;
  for (int64_t y = 0; y < size; ++y) {
    const int64_t source = (top + y) * width + left;
    const uint8_t* pixels = image + 3 * source;
    const uint8_t* classes = mask + source;
    float* red_out = image_out + y * layout.row;
    float* green_out = red_out + layout.channel;
    float* blue_out = green_out + layout.channel;
    int64_t* mask_row = mask_out + y * size;
    // Separate loops per direction and for the mask: the mask's widening
    // then vectorizes, and the pixel loop has no per-pixel branch.
    if (flip) {
      const uint8_t* last = pixels + 3 * (size - 1);
      for (int64_t x = 0; x < size; ++x) {
        red_out[x * step] = red[last[-3 * x]];
        green_out[x * step] = green[last[-3 * x + 1]];
        blue_out[x * step] = blue[last[-3 * x + 2]];
      }
      for (int64_t x = 0; x < size; ++x) mask_row[x] = classes[size - 1 - x];
    } else {
      for (int64_t x = 0; x < size; ++x) {
        red_out[x * step] = red[pixels[3 * x]];
        green_out[x * step] = green[pixels[3 * x + 1]];
        blue_out[x * step] = blue[pixels[3 * x + 2]];
      }
      for (int64_t x = 0; x < size; ++x) mask_row[x] = classes[x];
    }
  }
}

}  // namespace

Loader::Loader(const SampleSet& set, const LoaderOptions& options)
    : set_(set),
      options_(options),
      batches_per_epoch_(options.batch_size >= 1
                             ? (set.size() + options.batch_size - 1) / options.batch_size
                             : 0) {
  TORCH_CHECK(set.size() >= 1, "Loader: the sample set is empty");
  TORCH_CHECK(set.images.dim() == 4 && set.images.size(3) == 3 &&
                  set.images.scalar_type() == at::kByte && set.images.is_contiguous(),
              "Loader: images must be contiguous uint8 [N, H, W, 3]");
  TORCH_CHECK(set.masks.dim() == 3 && set.masks.scalar_type() == at::kByte &&
                  set.masks.is_contiguous() && set.masks.sizes() == set.images.sizes().slice(0, 3),
              "Loader: masks must be contiguous uint8 [N, H, W] matching the images");
  TORCH_CHECK(options.batch_size >= 1, "Loader: batch_size must be >= 1, got ", options.batch_size);
  TORCH_CHECK(options.crop_size >= 1 && options.crop_size <= set.images.size(1) &&
                  options.crop_size <= set.images.size(2),
              "Loader: crop_size must be in [1, ", std::min(set.images.size(1), set.images.size(2)),
              "] (the stored size), got ", options.crop_size);
  TORCH_CHECK(options.prefetch_batches >= 1, "Loader: prefetch_batches must be >= 1, got ",
              options.prefetch_batches);
  TORCH_CHECK(options.memory_format == at::MemoryFormat::Contiguous ||
                  options.memory_format == at::MemoryFormat::ChannelsLast,
              "Loader: memory_format must be Contiguous or ChannelsLast, got ",
              options.memory_format);
  for (int channel = 0; channel < 3; ++channel) {
    for (int value = 0; value < 256; ++value) {
      normalized_[channel][value] =
          (static_cast<float>(value) / 255.0F - options.mean[channel]) / options.std[channel];
    }
  }
  producer_ = std::thread(&Loader::Produce, this);
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wanted_.notify_all();
  producer_.join();
}

std::shared_ptr<const Loader::EpochPlan> Loader::MakePlan(int64_t epoch) const {
  const int64_t count = set_.size();
  const int64_t size = options_.crop_size;
  const int64_t height = set_.images.size(1);
  const int64_t width = set_.images.size(2);
  auto plan = std::make_shared<EpochPlan>();
  plan->order.resize(count);
  std::iota(plan->order.begin(), plan->order.end(), int64_t{0});
  if (!options_.shuffle_seed) {
    plan->crops.assign(count, Crop{(height - size) / 2, (width - size) / 2, false});
    return plan;
  }
  // Fisher-Yates with our own uniform draws: std::shuffle's are not portable.
  DeterministicRandom shuffle(
      {*options_.shuffle_seed, kShuffleStream, static_cast<uint64_t>(epoch)});
  for (int64_t i = count - 1; i > 0; --i) {
    std::swap(plan->order[i], plan->order[shuffle.UniformInt(0, i)]);
  }
  // One stream for the epoch's crops, drawn in sample order, so sample i's
  // crop depends on (seed, epoch, i) and the sizes only, not on the order or
  // the batch size. (Seeding a stream per sample would cost more than
  // copying its pixels.) The flip is drawn whether or not flips are on, so
  // turning them on keeps the crops.
  DeterministicRandom augment(
      {*options_.shuffle_seed, kAugmentStream, static_cast<uint64_t>(epoch)});
  plan->crops.resize(count);
  for (Crop& crop : plan->crops) {
    crop.top = augment.UniformInt(0, height - size);
    crop.left = augment.UniformInt(0, width - size);
    crop.flip = augment.UniformInt(0, 1) == 1 && options_.flip;
  }
  return plan;
}

void Loader::StartEpoch(int64_t epoch) {
  std::shared_ptr<const EpochPlan> plan = MakePlan(epoch);
  std::deque<Batch> stale;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    plan_ = std::move(plan);
    ++generation_;
    next_to_make_ = 0;
    next_to_take_ = 0;
    stale.swap(queue_);
    failure_ = nullptr;
  }
  wanted_.notify_all();
  // `stale` frees its batches here, outside the lock.
}

std::optional<Batch> Loader::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (plan_ == nullptr || next_to_take_ >= batches_per_epoch_) return std::nullopt;
  if (queue_.empty() && failure_ == nullptr) {
    const auto start = std::chrono::steady_clock::now();
    produced_.wait(lock, [this] { return !queue_.empty() || failure_ != nullptr; });
    wait_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  // Batches made before the failure come first.
  if (queue_.empty()) std::rethrow_exception(failure_);
  Batch batch = std::move(queue_.front());
  queue_.pop_front();
  ++next_to_take_;
  lock.unlock();
  wanted_.notify_all();
  return batch;
}

int64_t Loader::batches_per_epoch() const { return batches_per_epoch_; }

double Loader::wait_seconds() const { return wait_seconds_; }

void Loader::Produce() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wanted_.wait(lock, [this] {
      return stopping_ ||
             (plan_ != nullptr && failure_ == nullptr && next_to_make_ < batches_per_epoch_ &&
              static_cast<int64_t>(queue_.size()) < options_.prefetch_batches);
    });
    if (stopping_) return;
    const std::shared_ptr<const EpochPlan> plan = plan_;
    const uint64_t generation = generation_;
    const int64_t index = next_to_make_++;
    lock.unlock();
    std::optional<Batch> batch;
    std::exception_ptr failure;
    try {
      batch = MakeBatch(*plan, index);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) continue;  // StartEpoch ran meanwhile
    if (failure != nullptr) {
      failure_ = failure;
    } else {
      queue_.push_back(*std::move(batch));
    }
    produced_.notify_all();
  }
}

Batch Loader::MakeBatch(const EpochPlan& plan, int64_t index) const {
  const int64_t size = options_.crop_size;
  const int64_t height = set_.images.size(1);
  const int64_t width = set_.images.size(2);
  const int64_t first = index * options_.batch_size;
  const int64_t count = std::min<int64_t>(options_.batch_size, set_.size() - first);
  Batch batch{at::empty({count, 3, size, size}, at::kFloat, options_.memory_format),
              at::empty({count, size, size}, at::kLong)};
  const ImageLayout layout = LayoutOf(options_.memory_format, size);
  const uint8_t* images = set_.images.data_ptr<uint8_t>();
  const uint8_t* masks = set_.masks.data_ptr<uint8_t>();
  float* image_out = batch.images.data_ptr<float>();
  int64_t* mask_out = batch.masks.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t sample = plan.order[first + i];
    const Crop& crop = plan.crops[sample];
    CopySample(images + sample * height * width * 3, masks + sample * height * width, width, size,
               crop.top, crop.left, crop.flip, normalized_, layout, image_out + i * 3 * size * size,
               mask_out + i * size * size);
  }
  return batch;
}

}  // namespace segtune::data
