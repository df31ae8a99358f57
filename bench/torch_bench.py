"""PyTorch reference for ardkit's benchmark: the same small MNIST CNN, batch and steps on the CPU.

Called by bench/run.ts when `import torch` works (Debian: python3-torch); never needed by the build or tests.
Prints one JSON line with images/s of one PGD step, PGD-10, an adversarial-training step (PGD-10 + SGD)
and the forward pass alone.

With `--cifar`, the CIFAR ResNet-18 section instead (bench/cifar.ts is ardkit's half): kuangliu's ResNet-18, the
layout of ardkit's `resNet18()`, imported from scripts/torch/param_counts.py, on a seeded uniform batch of 32x32x3
images; the forward pass alone (no_grad, for context), one PGD step in eval mode, then adversarial-training steps (PGD-`--attack-steps` in eval mode, one SGD update
in train mode), the warm-up of the training step with a one-step attack, as bench/cifar.ts does.

    python3 bench/torch_bench.py --batch 128 --threads 2 --reps 1
    /usr/bin/python3 bench/torch_bench.py --cifar --batch 32 --threads 2 --pgd-reps 3 --train-reps 2 --warmup 1
"""
import argparse
import json
import os
import statistics
import sys
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


def pgd(model, x, y, steps, eps=EPS, step_size=STEP_SIZE):
    """The canonical L-inf PGD loop (torchattacks' PGD): random start, sign step, projection."""
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
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
    return {"imagesPerSecond": batch / m, "medianSeconds": m, "reps": reps, "seconds": times}


def cifar(args):
    """The CIFAR ResNet-18 section (see the module's docstring); returns what bench/types.ts calls CifarTorchResult."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "torch"))
    from param_counts import NETWORKS, trainable  # kuangliu's ResNet-18, the layout ardkit's resNet18() builds

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = NETWORKS["ResNet-18"]()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.arange(args.batch) % 10

    def attack(steps):
        model.eval()  # as ardkit's fit: the attack on running statistics
        return pgd(model, x, y, steps, args.eps, args.step_size)

    def adv_train(steps):
        x_adv = attack(steps)
        model.train()  # the update on batch statistics
        optimizer.zero_grad()
        F.cross_entropy(model(x_adv), y).backward()
        optimizer.step()

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    forward_rate = rate(forward, args.batch, args.pgd_reps, warmup=args.warmup)
    pgd_step = rate(lambda: attack(1), args.batch, args.pgd_reps, warmup=args.warmup)
    rate(lambda: adv_train(1), args.batch, args.warmup, warmup=0)
    adv_train_step = rate(lambda: adv_train(args.attack_steps), args.batch, args.train_reps, warmup=0)
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "params": trainable(model),
        "forward": forward_rate,
        "pgdStep": pgd_step,
        "advTrainStep": adv_train_step,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=float, default=1.0)
    parser.add_argument("--cifar", action="store_true", help="the CIFAR ResNet-18 section instead")
    parser.add_argument("--eps", type=float, default=8 / 255, help="--cifar: the attack's epsilon")
    parser.add_argument("--step-size", type=float, default=2 / 255, help="--cifar: the attack's step")
    parser.add_argument("--attack-steps", type=int, default=10, help="--cifar: PGD steps of the training step")
    parser.add_argument("--pgd-reps", type=int, default=3, help="--cifar: timed PGD steps")
    parser.add_argument("--train-reps", type=int, default=2, help="--cifar: timed adversarial-training steps")
    parser.add_argument("--warmup", type=int, default=1, help="--cifar: untimed calls before each measurement")
    args = parser.parse_args()
    if args.cifar:
        print(json.dumps(cifar(args)))
        return
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
