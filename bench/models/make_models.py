#!/usr/bin/python3
"""Exports the benchmark's zoo models (mlp, lenet5, gemm4096) to ONNX with PyTorch.

    /usr/bin/python3 bench/models/make_models.py --out build/bench-models [--opset 13]

Writes OUT/<name>.onnx with a dynamic batch dimension "N". The architectures are the ones in
bench/peers/torch_bench.py, so PyTorch's column of the benchmark runs the same networks. Weights are
PyTorch's default init from seed 0 (timing does not depend on them). `condense zoo NAME` builds the
same architectures natively; run_peers.sh uses it instead with --models-from condense.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import torch_bench  # noqa: E402

ZOO = ("mlp", "lenet5", "gemm4096")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("names", nargs="*", default=list(ZOO))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    for name in a.names:
        ctor, shape = torch_bench.MODELS[name]
        model = ctor().eval()
        x = torch.rand((1,) + shape)
        path = os.path.join(a.out, name + ".onnx")
        tmp = path + ".tmp"
        with torch.no_grad():
            torch.onnx.export(model, x, tmp, opset_version=a.opset, input_names=["input"],
                              output_names=["output"],
                              dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        os.replace(tmp, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
