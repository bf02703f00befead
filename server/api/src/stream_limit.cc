#include "stream_limit.h"

#include "absl/strings/str_cat.h"

namespace segtune::api {

StreamLimit::Slot& StreamLimit::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (limit_ != nullptr) limit_->open_--;
    limit_ = other.limit_;
    other.limit_ = nullptr;
  }
  return *this;
}

StreamLimit::Slot::~Slot() {
  if (limit_ != nullptr) limit_->open_--;
}

absl::StatusOr<StreamLimit::Slot> StreamLimit::Acquire() {
  // Counted first and taken back when over: no lock, and never more than
  // max open at once.
  if (open_.fetch_add(1) >= max_) {
    open_--;
    return absl::ResourceExhaustedError(
        absl::StrCat("too many ", what_, " open at once: the limit is ", max_.load()));
  }
  return Slot(this);
}

}  // namespace segtune::api
