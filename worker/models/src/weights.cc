#include "segtune/models/weights.h"

#include <algorithm>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <ATen/core/Dict.h>
#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ordered_dict_pickle.h"

namespace segtune::models {
namespace {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

void AppendDefined(const std::string& prefix,
                   const torch::OrderedDict<std::string, torch::Tensor>& tensors,
                   NamedTensors& entries) {
  for (const auto& item : tensors) {
    if (item.value().defined()) entries.emplace_back(prefix + item.key(), item.value());
  }
}

// Parameters and buffers under their state-dict names, in the order of
// Python's Module.state_dict(): per module (pre-order), its parameters, then
// its buffers. Undefined tensors (a conv's absent bias) are skipped, as
// Python skips None.
NamedTensors StateEntries(const torch::nn::Module& module) {
  NamedTensors entries;
  AppendDefined("", module.named_parameters(/*recurse=*/false), entries);
  AppendDefined("", module.named_buffers(/*recurse=*/false), entries);
  // include_self=false: the root need not be held by a shared_ptr.
  for (const auto& child : module.named_modules("", /*include_self=*/false)) {
    const std::string prefix = child.key() + ".";
    AppendDefined(prefix, child.value()->named_parameters(/*recurse=*/false), entries);
    AppendDefined(prefix, child.value()->named_buffers(/*recurse=*/false), entries);
  }
  return entries;
}

// The object torch.save pickled into `bytes`. Python's OrderedDicts (a
// state_dict()) become plain dicts; see ordered_dict_pickle.h.
absl::StatusOr<c10::IValue> Unpickle(const std::string& bytes) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(
        std::make_shared<caffe2::serialize::MemoryReadAdapter>(bytes.data(), bytes.size()));
    const auto [record, record_size] = reader.getRecord("data.pkl");
    absl::StatusOr<std::string> pickle = internal::ReplaceOrderedDicts(
        absl::string_view(static_cast<const char*>(record.get()), record_size));
    if (!pickle.ok()) return pickle.status();
    size_t position = 0;
    torch::jit::Unpickler unpickler(
        [&](char* buffer, size_t size) {
          size = std::min(size, pickle->size() - position);
          std::copy_n(pickle->data() + position, size, buffer);
          position += size;
          return size;
        },
        /*type_resolver=*/nullptr, /*obj_loader=*/nullptr,
        [&](const std::string& name) { return std::get<0>(reader.getRecord("data/" + name)); },
        // Tensors saved from a GPU load on the CPU; LoadWeights copies them
        // to wherever the module is.
        /*device=*/torch::Device(torch::kCPU));
    unpickler.set_version(reader.version());
    return unpickler.parse_ivalue();
  } catch (const c10::Error& error) {
    return absl::DataLossError(error.what_without_backtrace());
  }
}

// The name -> tensor dict a state dict file holds, in the file's order.
absl::StatusOr<NamedTensors> ReadStateDict(const std::string& bytes) {
  absl::StatusOr<c10::IValue> value = Unpickle(bytes);
  if (!value.ok()) {
    return absl::DataLossError(
        absl::StrCat("weights: not a file of torch.save: ", value.status().message()));
  }
  if (!value->isGenericDict()) {
    return absl::DataLossError(
        absl::StrCat("weights: expected a dict of tensors, found ", value->tagKind()));
  }
  NamedTensors entries;
  for (const auto& item : value->toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor()) {
      return absl::DataLossError(absl::StrCat("weights: expected a dict of tensors, found a ",
                                              item.key().tagKind(), " -> ",
                                              item.value().tagKind(), " entry"));
    }
    entries.emplace_back(item.key().toStringRef(), item.value().toTensor());
  }
  return entries;
}

std::string ShapeString(const torch::Tensor& tensor) {
  return absl::StrCat("[", absl::StrJoin(tensor.sizes(), ", "), "]");
}

// InvalidArgument naming the first entry of `loaded` that cannot be copied
// into `expected` one for one.
absl::Status CheckMatches(const NamedTensors& expected, const NamedTensors& loaded) {
  std::unordered_map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, tensor] : loaded) by_name.emplace(name, &tensor);
  for (const auto& [name, target] : expected) {
    const auto found = by_name.find(name);
    if (found == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat("weights: missing '", name, "'"));
    }
    const torch::Tensor& source = *found->second;
    if (!source.sizes().equals(target.sizes())) {
      return absl::InvalidArgumentError(absl::StrCat("weights: '", name, "' has shape ",
                                                     ShapeString(source), ", the model's is ",
                                                     ShapeString(target)));
    }
    if (source.scalar_type() != target.scalar_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weights: '", name, "' has dtype ", c10::toString(source.scalar_type()),
          ", the model's is ", c10::toString(target.scalar_type())));
    }
    if (source.layout() != torch::kStrided) {
      return absl::InvalidArgumentError(
          absl::StrCat("weights: '", name, "' is not a dense tensor"));
    }
  }
  if (loaded.size() != expected.size()) {
    std::unordered_set<std::string> known;
    for (const auto& entry : expected) known.insert(entry.first);
    for (const auto& entry : loaded) {
      if (known.count(entry.first) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("weights: unexpected '", entry.first, "'"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string SaveWeights(const torch::nn::Module& module) {
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& [name, tensor] : StateEntries(module)) {
    // detach: Python's state_dict() holds tensors that do not require grad.
    // contiguous: the trainer keeps convolution weights channels-last; the
    // file is the same whatever the layout the module trained in.
    state.insert(name, tensor.detach().cpu().contiguous());
  }
  const std::vector<char> bytes = torch::pickle_save(state);
  return std::string(bytes.begin(), bytes.end());
}

absl::Status LoadWeights(torch::nn::Module& module, const std::string& bytes) {
  absl::StatusOr<NamedTensors> loaded = ReadStateDict(bytes);
  if (!loaded.ok()) return loaded.status();
  const NamedTensors expected = StateEntries(module);
  if (absl::Status status = CheckMatches(expected, *loaded); !status.ok()) return status;
  // Every entry was checked first: the copies cannot fail halfway.
  std::unordered_map<std::string, torch::Tensor> by_name(loaded->begin(), loaded->end());
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : expected) target.copy_(by_name.at(name));
  return absl::OkStatus();
}

}  // namespace segtune::models
