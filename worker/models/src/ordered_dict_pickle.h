// Makes Python's pickle of a state dict readable by LibTorch's unpickler.
//
// Python's `model.state_dict()` is a collections.OrderedDict carrying a
// `_metadata` attribute; torch.save pickles it as OrderedDict() filled by
// SETITEMS, then a BUILD that sets the attribute. LibTorch's unpickler reads
// every OrderedDict() as None (it expects them only as a tensor's unused
// backward hooks) and cannot BUILD a dict, so it fails on such files. This
// rewrite walks the opcodes, replaces every OrderedDict() by an empty dict
// and drops the BUILD of a dict together with its argument (the attributes,
// which carry no tensors). Everything else is copied unchanged.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace segtune::models::internal {

// The rewritten protocol-2 pickle; DataLoss naming the problem when `pickle`
// is malformed or uses an opcode LibTorch's unpickler does not read.
absl::StatusOr<std::string> ReplaceOrderedDicts(absl::string_view pickle);

}  // namespace segtune::models::internal
