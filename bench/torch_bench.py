"""PyTorch reference for ardkit's benchmark: the same small MNIST CNN, batch and steps on the CPU.

Called by bench/run.ts when `import torch` works (Debian: python3-torch); never needed by the build or tests.
Prints one JSON line with images/s of one PGD step, PGD-10, an adversarial-training step (PGD-10 + SGD)
and the forward pass alone.

    python3 bench/torch_bench.py --batch 128 --threads 2 --reps 1
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 0.3
STEP_SIZE = 0.01


def small_cnn():
    """ardkit's smallCnn(): conv32-conv32-pool-conv64-conv64-pool-fc200-fc200-fc10, ReLU, valid 3x3 convs."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10),
    )


def pgd(model, x, y, steps):
    """The canonical L-inf PGD loop (torchattacks' PGD): random start, sign step, projection."""
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + STEP_SIZE * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - EPS), x + EPS).clamp(0, 1)
    return x_adv.detach()


def rate(fn, batch, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    m = statistics.median(times)
    return {"imagesPerSecond": batch / m, "medianSeconds": m, "reps": reps}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=float, default=1.0)
    args = parser.parse_args()
    reps = lambda n: max(1, round(n * args.reps))

    torch.manual_seed(0)
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.arange(args.batch) % 10

    def adv_train():
        x_adv = pgd(model, x, y, 10)
        optimizer.zero_grad()
        F.cross_entropy(model(x_adv), y).backward()
        optimizer.step()

    def forward():
        with torch.no_grad():
            model(x)

    torch.set_num_threads(1)
    one_thread = rate(lambda: pgd(model, x, y, 1), args.batch, reps(30), warmup=3)
    torch.set_num_threads(args.threads)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "pgdStep": rate(lambda: pgd(model, x, y, 1), args.batch, reps(30), warmup=3),
        "pgd10": rate(lambda: pgd(model, x, y, 10), args.batch, reps(6)),
        "advTrainStep": rate(adv_train, args.batch, reps(6)),
        "pgdStepOneThread": one_thread,
        "forward": rate(forward, args.batch, reps(30), warmup=3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
