// Names of the record enums and trial ids: the parts of store.h that do not
// touch the database.
#include <cctype>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "segtune/store/store.h"

namespace segtune::store {
namespace {

constexpr SweepState kSweepStates[] = {
    SweepState::kRunning,
    SweepState::kCompleted,
    SweepState::kCancelled,
};

// absl::string_view is not std::string_view in Debian's Abseil build.
absl::string_view AsAbsl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Finds the enumerator whose ToString is `name`; the error lists the names.
template <typename State, std::size_t N>
absl::StatusOr<State> ParseState(std::string_view name, const State (&states)[N],
                                 std::string_view what) {
  std::string accepted;
  for (State state : states) {
    if (EqualsIgnoringAsciiCase(name, ToString(state))) return state;
    absl::StrAppend(&accepted, accepted.empty() ? "" : ", ", ToString(state));
  }
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": unknown state \"", AsAbsl(name),
                                                 "\"; expected one of ", accepted));
}

}  // namespace

const char* ToString(TrialState state) {
  switch (state) {
    case TrialState::kPending: return "PENDING";
    case TrialState::kRunning: return "RUNNING";
    case TrialState::kCompleted: return "COMPLETED";
    case TrialState::kStopped: return "STOPPED";
    case TrialState::kFailed: return "FAILED";
    case TrialState::kDiverged: return "DIVERGED";
    case TrialState::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";  // only reachable through a cast of an out-of-range value
}

const char* ToString(SweepState state) {
  switch (state) {
    case SweepState::kRunning: return "RUNNING";
    case SweepState::kCompleted: return "COMPLETED";
    case SweepState::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";  // only reachable through a cast of an out-of-range value
}

bool IsFinal(TrialState state) {
  return state != TrialState::kPending && state != TrialState::kRunning;
}

absl::StatusOr<TrialState> ParseTrialState(std::string_view name) {
  return ParseState(name, kAllTrialStates, "trial state");
}

absl::StatusOr<SweepState> ParseSweepState(std::string_view name) {
  return ParseState(name, kSweepStates, "sweep state");
}

std::string TrialId(std::string_view sweep_id, int index) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%04d", index);
  return absl::StrCat(AsAbsl(sweep_id), "-", digits);
}

}  // namespace segtune::store
