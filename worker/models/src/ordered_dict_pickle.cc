#include "ordered_dict_pickle.h"

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace segtune::models::internal {
namespace {

// The protocol-2 opcodes that LibTorch's unpickler reads (pickletools names).
enum Opcode : uint8_t {
  kProto = 0x80,
  kStop = '.',
  kMark = '(',
  kGlobal = 'c',
  kEmptyTuple = ')',
  kEmptyList = ']',
  kEmptyDict = '}',
  kNone = 'N',
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kBinInt = 'J',
  kLong1 = 0x8a,
  kBinFloat = 'G',
  kBinUnicode = 'X',
  kTuple = 't',
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kList = 'l',
  kDict = 'd',
  kAppends = 'e',
  kSetItem = 's',
  kSetItems = 'u',
  kBinPersId = 'Q',
  kReduce = 'R',
  kNewObj = 0x81,
  kBuild = 'b',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kBinGet = 'h',
  kLongBinGet = 'j',
};

constexpr absl::string_view kOrderedDictGlobal = "ccollections\nOrderedDict\n";

// What a value on the unpickler's stack is, as far as the rewrite cares.
enum class Kind { kOther, kEmptyTuple, kOrderedDictClass, kDictFromOrderedDict };

struct Entry {
  size_t start;  // where the opcodes that build the value begin in the output
  Kind kind;
};

struct Mark {
  size_t depth;  // stack size at the MARK
  size_t start;  // output offset of the MARK
};

struct Memo {
  Kind kind;
  bool dropped;  // put by opcodes the rewrite removed
};

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("pickle: ", what));
}

// One pass over the opcodes, simulating the unpickler's stack just enough to
// know which output bytes build which value.
class Rewriter {
 public:
  explicit Rewriter(absl::string_view in) : in_(in) {}

  absl::StatusOr<std::string> Run() {
    while (!stopped_) {
      if (absl::Status status = Step(); !status.ok()) return status;
    }
    return std::move(out_);
  }

 private:
  absl::Status Step() {
    if (pos_ >= in_.size()) return Malformed("ends without STOP");
    const size_t begin = pos_;
    const size_t out_begin = out_.size();
    const auto opcode = static_cast<uint8_t>(in_[pos_++]);
    bool copy = true;  // false: the case wrote its own output
    absl::Status status;
    switch (opcode) {
      case kProto:
        status = Skip(1);
        break;
      case kStop:
        stopped_ = true;
        break;
      case kMark:
        marks_.push_back({stack_.size(), out_begin});
        break;
      case kGlobal:
        status = Global(out_begin);
        break;
      case kEmptyTuple:
        stack_.push_back({out_begin, Kind::kEmptyTuple});
        break;
      case kEmptyList:
      case kEmptyDict:
      case kNone:
      case kNewTrue:
      case kNewFalse:
        stack_.push_back({out_begin, Kind::kOther});
        break;
      case kBinInt1:
        status = PushScalar(out_begin, 1);
        break;
      case kBinInt2:
        status = PushScalar(out_begin, 2);
        break;
      case kBinInt:
        status = PushScalar(out_begin, 4);
        break;
      case kBinFloat:
        status = PushScalar(out_begin, 8);
        break;
      case kLong1:
        status = PushSized(out_begin, 1);
        break;
      case kBinUnicode:
        status = PushSized(out_begin, 4);
        break;
      case kTuple:
      case kList:
      case kDict:
        status = Collapse();
        break;
      case kTuple1:
        status = Pack(1);
        break;
      case kTuple2:
        status = Pack(2);
        break;
      case kTuple3:
        status = Pack(3);
        break;
      case kAppends:
      case kSetItems:
        status = Fill();
        break;
      case kSetItem:
        status = SetItem();
        break;
      case kBinPersId:
        status = Pack(1);
        break;
      case kNewObj:
        status = Pack(2);
        break;
      case kReduce:
        status = Reduce(&copy);
        break;
      case kBuild:
        status = Build(&copy);
        break;
      case kBinPut:
        status = Put(out_begin, 1, &copy);
        break;
      case kLongBinPut:
        status = Put(out_begin, 4, &copy);
        break;
      case kBinGet:
        status = Get(out_begin, 1, &copy);
        break;
      case kLongBinGet:
        status = Get(out_begin, 4, &copy);
        break;
      default:
        return Malformed(absl::StrFormat("unsupported opcode 0x%02x at %d", opcode, begin));
    }
    if (!status.ok()) return status;
    if (copy) out_.append(in_.data() + begin, pos_ - begin);
    return absl::OkStatus();
  }

  absl::Status Skip(size_t n) {
    if (in_.size() - pos_ < n) return Malformed("ends inside an opcode's argument");
    pos_ += n;
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> ReadLittleEndian(size_t n) {
    const size_t begin = pos_;
    if (absl::Status status = Skip(n); !status.ok()) return status;
    uint32_t value = 0;
    for (size_t i = n; i-- > 0;) value = (value << 8) | static_cast<uint8_t>(in_[begin + i]);
    return value;
  }

  absl::StatusOr<absl::string_view> ReadLine() {
    const size_t end = in_.find('\n', pos_);
    if (end == absl::string_view::npos) return Malformed("ends inside a GLOBAL");
    absl::string_view line = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  absl::StatusOr<Entry> Pop() {
    const size_t floor = marks_.empty() ? 0 : marks_.back().depth;
    if (stack_.size() <= floor) return Malformed("pops an empty stack");
    Entry entry = stack_.back();
    stack_.pop_back();
    return entry;
  }

  absl::Status PushScalar(size_t out_begin, size_t size) {
    if (absl::Status status = Skip(size); !status.ok()) return status;
    stack_.push_back({out_begin, Kind::kOther});
    return absl::OkStatus();
  }

  // An argument preceded by its length in `length_size` bytes.
  absl::Status PushSized(size_t out_begin, size_t length_size) {
    absl::StatusOr<uint32_t> length = ReadLittleEndian(length_size);
    if (!length.ok()) return length.status();
    return PushScalar(out_begin, *length);
  }

  absl::Status Global(size_t out_begin) {
    absl::StatusOr<absl::string_view> module = ReadLine();
    if (!module.ok()) return module.status();
    absl::StatusOr<absl::string_view> name = ReadLine();
    if (!name.ok()) return name.status();
    const bool ordered_dict = *module == "collections" && *name == "OrderedDict";
    stack_.push_back({out_begin, ordered_dict ? Kind::kOrderedDictClass : Kind::kOther});
    return absl::OkStatus();
  }

  // TUPLE, LIST, DICT: everything since the MARK becomes one value.
  absl::Status Collapse() {
    if (marks_.empty()) return Malformed("collects items without a MARK");
    const Mark mark = marks_.back();
    marks_.pop_back();
    stack_.resize(mark.depth);
    stack_.push_back({mark.start, Kind::kOther});
    return absl::OkStatus();
  }

  // APPENDS, SETITEMS: the items since the MARK go into the value below it.
  absl::Status Fill() {
    if (marks_.empty()) return Malformed("collects items without a MARK");
    const Mark mark = marks_.back();
    marks_.pop_back();
    if (mark.depth == 0) return Malformed("fills a container that is not there");
    stack_.resize(mark.depth);
    return absl::OkStatus();
  }

  // `count` values become one (TUPLE1..3, BINPERSID, NEWOBJ).
  absl::Status Pack(int count) {
    Entry first{0, Kind::kOther};
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<Entry> entry = Pop();
      if (!entry.ok()) return entry.status();
      first = *entry;
    }
    stack_.push_back({first.start, Kind::kOther});
    return absl::OkStatus();
  }

  // SETITEM: a key and a value go into the dict below them.
  absl::Status SetItem() {
    for (int i = 0; i < 2; ++i) {
      if (absl::StatusOr<Entry> entry = Pop(); !entry.ok()) return entry.status();
    }
    if (stack_.empty()) return Malformed("fills a container that is not there");
    return absl::OkStatus();
  }

  // OrderedDict() becomes {}: the class and its empty arguments are replaced.
  absl::Status Reduce(bool* copy) {
    absl::StatusOr<Entry> arguments = Pop();
    if (!arguments.ok()) return arguments.status();
    absl::StatusOr<Entry> callable = Pop();
    if (!callable.ok()) return callable.status();
    if (callable->kind != Kind::kOrderedDictClass) {
      stack_.push_back({callable->start, Kind::kOther});
      return absl::OkStatus();
    }
    if (arguments->kind != Kind::kEmptyTuple) {
      return Malformed("builds an OrderedDict from arguments, not by SETITEMS");
    }
    Truncate(callable->start);
    out_.push_back(static_cast<char>(kEmptyDict));
    stack_.push_back({callable->start, Kind::kDictFromOrderedDict});
    *copy = false;
    return absl::OkStatus();
  }

  // The attributes of an OrderedDict (state_dict's _metadata) are dropped.
  absl::Status Build(bool* copy) {
    absl::StatusOr<Entry> state = Pop();
    if (!state.ok()) return state.status();
    if (stack_.empty()) return Malformed("BUILD without an object");
    if (stack_.back().kind == Kind::kDictFromOrderedDict) {
      Truncate(state->start);
      *copy = false;
    }
    return absl::OkStatus();
  }

  // The OrderedDict class is not memoized: each BINGET of it is replaced by
  // the GLOBAL, so that Reduce can remove it without leaving a memo hole.
  absl::Status Put(size_t out_begin, size_t id_size, bool* copy) {
    absl::StatusOr<uint32_t> id = ReadLittleEndian(id_size);
    if (!id.ok()) return id.status();
    if (stack_.empty()) return Malformed("memoizes an empty stack");
    const Kind kind = stack_.back().kind;
    memo_[*id] = {kind, /*dropped=*/false};
    if (kind == Kind::kOrderedDictClass) {
      *copy = false;
    } else {
      puts_.emplace_back(out_begin, *id);
    }
    return absl::OkStatus();
  }

  absl::Status Get(size_t out_begin, size_t id_size, bool* copy) {
    absl::StatusOr<uint32_t> id = ReadLittleEndian(id_size);
    if (!id.ok()) return id.status();
    const auto memo = memo_.find(*id);
    if (memo == memo_.end()) {
      return Malformed(absl::StrCat("reads memo ", *id, " before it is set"));
    }
    if (memo->second.dropped) {
      return Malformed(absl::StrCat("reuses memo ", *id, " from an OrderedDict's attributes"));
    }
    if (memo->second.kind == Kind::kOrderedDictClass) {
      out_.append(kOrderedDictGlobal.data(), kOrderedDictGlobal.size());
      *copy = false;
    }
    stack_.push_back({out_begin, memo->second.kind});
    return absl::OkStatus();
  }

  // Removes output from `offset` on; memo entries it put become unusable.
  void Truncate(size_t offset) {
    out_.resize(offset);
    while (!puts_.empty() && puts_.back().first >= offset) {
      memo_[puts_.back().second].dropped = true;
      puts_.pop_back();
    }
  }

  absl::string_view in_;
  size_t pos_ = 0;
  bool stopped_ = false;
  std::string out_;
  std::vector<Entry> stack_;
  std::vector<Mark> marks_;
  std::unordered_map<uint32_t, Memo> memo_;
  std::vector<std::pair<size_t, uint32_t>> puts_;  // (output offset, memo id), in output order
};

}  // namespace

absl::StatusOr<std::string> ReplaceOrderedDicts(absl::string_view pickle) {
  return Rewriter(pickle).Run();
}

}  // namespace segtune::models::internal
