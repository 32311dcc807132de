#!/usr/bin/env python3
"""The FFN training step of `gopeft bench grad`, in PyTorch eager, for a
side-by-side number on the same GPU: x[tokens, dim] -> Linear(dim, 4dim) ->
GELU -> Linear(4dim, dim), mean-square loss, SGD update. Prints JSON."""
import json
import sys
import time

import torch

dim = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
steps = 20
dev = "cuda"
torch.manual_seed(0)
x = torch.randn(tokens, dim, device=dev)
w1 = (torch.randn(4 * dim, dim, device=dev) * 0.02).requires_grad_()
w2 = (torch.randn(dim, 4 * dim, device=dev) * 0.02).requires_grad_()
b1 = torch.zeros(4 * dim, device=dev, requires_grad=True)
b2 = torch.zeros(dim, device=dev, requires_grad=True)
params = [w1, b1, w2, b2]


def step():
    h = torch.nn.functional.gelu(x @ w1.T + b1)
    y = h @ w2.T + b2
    loss = (y * y).mean()
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p -= 1e-3 * g
    return loss


for _ in range(3):
    step()
torch.cuda.synchronize()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    torch.cuda.synchronize()
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"framework": "pytorch-eager", "torch": torch.__version__, "dim": dim, "tokens": tokens,
                  "step_ms": 1000 * times[len(times) // 2], "device": torch.cuda.get_device_name()}))
