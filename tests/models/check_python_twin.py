"""Checks that bench/reference/models.py is the twin of segtune's C++ models,
weights going both ways, for each case segtune_models_twin_tool knows:

  1. the tool writes the C++ model's weights (SaveWeights), an input and the
     C++ eval-mode output;
  2. here the twin loads those weights with torch.load and
     load_state_dict(strict=True) (same names, order and shapes) and must
     give the same output (allclose, rtol 1e-5, atol 1e-6);
  3. here a twin of other weights saves torch.save(model.state_dict()) and its
     output; the tool loads them with LoadWeights and must give that output.

  /usr/bin/python3 tests/models/check_python_twin.py BUILD/bin/segtune_models_twin_tool

Exits 77 (ctest: skipped) when this Python has no torch.
"""
import glob
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print("skipped: this Python cannot import torch")
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench", "reference"))
from models import make_model  # noqa: E402

RTOL = 1e-5
ATOL = 1e-6


def twin_of(case):
    return make_model(case["arch"], case["num_classes"], case["base_channels"], case["depth"],
                      in_channels=case["in_channels"])


def check_cpp_to_python(base):
    """The twin with the C++ weights computes the C++ output. Returns the case."""
    case = torch.load(base + ".case.pt")
    model = twin_of(case)
    weights = torch.load(base + ".weights.pt")
    expected_names = list(model.state_dict())
    if list(weights) != expected_names:
        raise AssertionError(f"{base}: names or order differ:\n  C++:    {list(weights)}\n"
                             f"  Python: {expected_names}")
    model.load_state_dict(weights, strict=True)
    model.eval()
    with torch.no_grad():
        output = model(case["input"])
    difference = (output - case["output"]).abs().max().item()
    if not torch.allclose(output, case["output"], rtol=RTOL, atol=ATOL):
        raise AssertionError(f"{base}: twin output differs from C++ by up to {difference}")
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{os.path.basename(base)}: C++ weights give the C++ output in Python "
          f"(max difference {difference}, {parameters} parameters)")
    return case


def write_python_weights(base, case):
    """Weights of Python's own (other seed, moved BatchNorm statistics)."""
    torch.manual_seed(123)
    model = twin_of(case)
    size = case["input"].shape[-1]
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, case["in_channels"], size, size) * 3 - 1)
    model.eval()
    with torch.no_grad():
        output = model(case["input"])
    torch.save(model.state_dict(), base + ".python.weights.pt")
    torch.save(output, base + ".python.output.pt")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tool = sys.argv[1]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="segtune-twin-") as directory:
        subprocess.run([tool, "dump", directory], check=True)
        bases = sorted(path[:-len(".case.pt")]
                       for path in glob.glob(os.path.join(directory, "*.case.pt")))
        if not bases:
            raise AssertionError("the tool wrote no cases")
        for base in bases:
            write_python_weights(base, check_cpp_to_python(base))
        subprocess.run([tool, "check", directory], check=True)
    print("ok")


if __name__ == "__main__":
    main()
