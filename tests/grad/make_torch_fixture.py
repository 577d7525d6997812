#!/usr/bin/python3
"""PyTorch reference gradients for condense's autograd (ctest label `grad`, torch_fixture_test.cpp).

Run with Debian's PyTorch:  /usr/bin/python3 tests/grad/make_torch_fixture.py
Writes into tests/grad/data/ (committed; regenerate only when this script changes):

  lenet5.npz    Caffe LeNet-5 (conv5x5x20, maxpool2, conv5x5x50, maxpool2, fc500 + relu, fc10) with
                mean cross-entropy. Weights and inputs come from an integer hash that the C++ test
                recomputes bit for bit (no 1.7 MB weight file): hash_uniform below. Holds the input,
                labels, loss and the gradient of every parameter ("grad.<name>"), fc1.weight's
                (500 x 800) in factored form: it is dY^T X over the batch (rank 4), so the file
                holds PyTorch's dY ("grad.fc1.weight.dy", 4 x 500) and X ("grad.fc1.weight.x",
                4 x 800), checked here to reproduce p.grad; 30 KB instead of 1 MB.
  resblock.onnx A ResNet basic block in training mode (conv3x3-BN-relu-conv3x3-BN + identity, relu),
                then global average pool, fc 10 and mean cross-entropy, exported with
                torch.onnx.export(training=TrainingMode.TRAINING): BatchNormalization nodes carry
                training_mode=1.
  resblock.npz  Its input, labels, loss, every parameter gradient ("grad.<onnx initializer name>")
                and the running statistics after the step as ONNX defines them
                ("running.<initializer name>": r * momentum + batch * (1 - momentum), biased batch
                variance; PyTorch's own running_var uses the unbiased one).
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data")


def hash_uniform(n, seed):
    """n floats in [0, 1): ((k * 2654435761 + seed * 40503 + 12345) mod 2^32) / 2^32, k = 0..n-1.

    Exact in integer arithmetic, so the C++ test reproduces it bit for bit."""
    k = np.arange(n, dtype=np.uint64)
    v = (k * np.uint64(2654435761) + np.uint64(seed * 40503 + 12345)) % np.uint64(2**32)
    return (v.astype(np.float64) / 2.0**32).astype(np.float32)


def hash_param(shape, seed, bound):
    """Uniform in [-bound, bound): (2u - 1) * bound in float32."""
    u = hash_uniform(int(np.prod(shape)), seed)
    return ((u * np.float32(2) - np.float32(1)) * np.float32(bound)).reshape(shape)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


# Parameter name -> (shape, hash seed, bound); the C++ test holds the same table.
LENET_PARAMS = {
    "conv1.weight": ((20, 1, 5, 5), 1, 0.2),
    "conv1.bias": ((20,), 2, 0.2),
    "conv2.weight": ((50, 20, 5, 5), 3, 0.045),
    "conv2.bias": ((50,), 4, 0.045),
    "fc1.weight": ((500, 800), 5, 0.035),
    "fc1.bias": ((500,), 6, 0.035),
    "fc2.weight": ((10, 500), 7, 0.045),
    "fc2.bias": ((10,), 8, 0.045),
}
LENET_BATCH = 4


def make_lenet5():
    model = LeNet5()
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape, seed, bound = LENET_PARAMS[name]
            assert tuple(p.shape) == shape, name
            p.copy_(torch.from_numpy(hash_param(shape, seed, bound)))
    x = torch.from_numpy(hash_uniform(LENET_BATCH * 28 * 28, 100).reshape(LENET_BATCH, 1, 28, 28))
    labels = torch.tensor([3, 7, 0, 9], dtype=torch.int64)
    # fc1's input and output gradient, for the factored form of its weight gradient.
    saved = {}
    model.fc1.register_forward_hook(lambda m, inp, out: saved.update(x=inp[0]))
    model.fc1.register_full_backward_hook(lambda m, gin, gout: saved.update(dy=gout[0]))
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    arrays = {"input": x.numpy(), "labels": labels.numpy(), "loss": np.float32(loss.item())}
    for name, p in model.named_parameters():
        if name != "fc1.weight":
            arrays["grad." + name] = p.grad.numpy()
    dy, fx = saved["dy"].detach().numpy(), saved["x"].detach().numpy()
    full = model.fc1.weight.grad.numpy()
    factored = dy.astype(np.float64).T @ fx.astype(np.float64)
    assert np.abs(factored - full).max() <= 1e-6 * np.abs(full).max(), "fc1 factors"
    arrays["grad.fc1.weight.dy"] = dy
    arrays["grad.fc1.weight.x"] = fx
    np.savez_compressed(os.path.join(OUT, "lenet5.npz"), **arrays)
    print(f"lenet5: loss {loss.item():.6f}")


class BasicBlockNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, 10)

    def forward(self, x, labels):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y = F.relu(y + x)
        y = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        return F.cross_entropy(self.fc(y), labels)


def make_resblock():
    torch.manual_seed(0)
    c = 8
    model = BasicBlockNet(c)
    model.bn1.momentum = 0.25  # ONNX momentum 0.75: the attribute must survive import
    with torch.no_grad():  # non-trivial affine parameters and running statistics
        for bn in (model.bn1, model.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(4, c, 6, 6)
    labels = torch.tensor([1, 4, 4, 8], dtype=torch.int64)
    path = os.path.join(OUT, "resblock.onnx")
    model.train()
    torch.onnx.export(model, (x, labels), path, input_names=["input", "labels"],
                      output_names=["loss"], opset_version=15,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    # The export traced one training-mode forward, which updated the running statistics, and
    # wrote the updated ones: the step starts from those.
    before = {n: b.clone() for n, b in model.named_buffers()}
    model.zero_grad()
    loss = model(x, labels)
    loss.backward()
    arrays = {"input": x.numpy(), "labels": labels.numpy(), "loss": np.float32(loss.item())}
    for name, p in model.named_parameters():
        arrays["grad." + name] = p.grad.numpy()
    # Running statistics as ONNX defines them (biased batch variance), from the batch itself.
    with torch.no_grad():
        h1 = model.conv1(x)
        y1 = F.relu(F.batch_norm(h1, None, None, model.bn1.weight, model.bn1.bias, True))
        h2 = model.conv2(y1)
    for bn, h, prefix in ((model.bn1, h1, "bn1"), (model.bn2, h2, "bn2")):
        m = 1.0 - bn.momentum  # ONNX momentum
        mean = h.mean(dim=(0, 2, 3)).numpy()
        var = h.var(dim=(0, 2, 3), unbiased=False).numpy()
        arrays[f"running.{prefix}.running_mean"] = before[prefix + ".running_mean"].numpy() * m + mean * (1 - m)
        arrays[f"running.{prefix}.running_var"] = before[prefix + ".running_var"].numpy() * m + var * (1 - m)
    np.savez_compressed(os.path.join(OUT, "resblock.npz"), **arrays)
    print(f"resblock: loss {loss.item():.6f}")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    make_lenet5()
    make_resblock()
