// The C++ half of check_python_twin.py, which runs it (see there):
//
//   segtune_models_twin_tool dump DIR    for each case, writes
//       <case>.case.pt     {arch, num_classes, in_channels, base_channels,
//                           depth, input, output}: the eval-mode output
//       <case>.weights.pt  SaveWeights of the model that computed it
//   segtune_models_twin_tool check DIR   for each case, reads
//       <case>.python.weights.pt  torch.save(model.state_dict()) in Python
//       <case>.python.output.pt   that model's eval-mode output on the input
//     and checks that LoadWeights into our model gives the same output.
//
// Exits 0 when all is well, 1 with a message otherwise.
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "segtune/models/model.h"
#include "segtune/models/weights.h"

namespace segtune::models {
namespace {

struct Case {
  const char* name;
  ModelSpec spec;
  int64_t image_size;
};

// Odd sizes where the architecture allows them, 1 and 3 input channels.
const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"unet_depth3", {"unet", 4, 3, 8, 3}, 16},
      {"unet_depth1", {"unet", 2, 1, 4, 1}, 9},
      {"lraspp_depth3", {"lraspp", 4, 3, 8, 3}, 40},
      {"lraspp_depth2", {"lraspp", 3, 1, 4, 2}, 33},
  };
  return cases;
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::StatusOr<c10::IValue> LoadPickle(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return torch::pickle_load(std::vector<char>(bytes->begin(), bytes->end()));
}

absl::Status Dump(const std::string& dir) {
  for (const Case& c : Cases()) {
    torch::manual_seed(7);
    absl::StatusOr<std::shared_ptr<SegmentationModel>> model = MakeModel(c.spec);
    if (!model.ok()) return model.status();
    const int64_t size = c.image_size;
    {
      // Statistics and counters away from their initial values.
      torch::NoGradGuard no_grad;
      (*model)->train();
      for (int i = 0; i < 3; ++i) {
        (*model)->forward(2 * torch::randn({4, c.spec.in_channels, size, size}) + 0.5);
      }
    }
    (*model)->eval();
    const torch::Tensor input = torch::randn({2, c.spec.in_channels, size, size});
    torch::Tensor output;
    {
      torch::NoGradGuard no_grad;
      output = (*model)->forward(input);
    }
    c10::impl::GenericDict record(c10::StringType::get(), c10::AnyType::get());
    record.insert("arch", c.spec.arch);
    record.insert("num_classes", c.spec.num_classes);
    record.insert("in_channels", c.spec.in_channels);
    record.insert("base_channels", c.spec.base_channels);
    record.insert("depth", c.spec.depth);
    record.insert("input", input);
    record.insert("output", output);
    const std::vector<char> bytes = torch::pickle_save(record);
    const std::string base = absl::StrCat(dir, "/", c.name);
    if (absl::Status status = WriteFile(base + ".case.pt", std::string(bytes.begin(), bytes.end()));
        !status.ok()) {
      return status;
    }
    if (absl::Status status = WriteFile(base + ".weights.pt", SaveWeights(**model));
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status Check(const std::string& dir) {
  for (const Case& c : Cases()) {
    const std::string base = absl::StrCat(dir, "/", c.name);
    absl::StatusOr<c10::IValue> record = LoadPickle(base + ".case.pt");
    if (!record.ok()) return record.status();
    absl::StatusOr<c10::IValue> expected = LoadPickle(base + ".python.output.pt");
    if (!expected.ok()) return expected.status();
    absl::StatusOr<std::string> weights = ReadFile(base + ".python.weights.pt");
    if (!weights.ok()) return weights.status();

    torch::manual_seed(99);  // other weights than Python's, until loaded
    absl::StatusOr<std::shared_ptr<SegmentationModel>> model = MakeModel(c.spec);
    if (!model.ok()) return model.status();
    if (absl::Status status = LoadWeights(**model, *weights); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat(c.name, ": ", status.message()));
    }
    (*model)->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor output =
        (*model)->forward(record->toGenericDict().at("input").toTensor());
    const torch::Tensor& python = expected->toTensor();
    if (!torch::allclose(output, python, /*rtol=*/1e-5, /*atol=*/1e-6)) {
      return absl::InternalError(absl::StrCat(
          c.name, ": C++ output with Python's weights differs from Python's by up to ",
          (output - python).abs().max().item<double>()));
    }
    std::cout << c.name << ": Python's weights give Python's output (max difference "
              << (output - python).abs().max().item<double>() << ")\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace segtune::models

int main(int argc, char** argv) {
  const std::string command = argc == 3 ? argv[1] : "";
  if (command != "dump" && command != "check") {
    std::cerr << "usage: " << argv[0] << " dump|check DIR\n";
    return 2;
  }
  torch::set_num_threads(1);
  try {
    const absl::Status status = command == "dump" ? segtune::models::Dump(argv[2])
                                                  : segtune::models::Check(argv[2]);
    if (!status.ok()) {
      std::cerr << command << ": " << status << "\n";
      return 1;
    }
  } catch (const c10::Error& error) {
    std::cerr << command << ": " << error.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}
