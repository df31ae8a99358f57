"""PyTorch reference for ardkit's benchmark: the same small MNIST CNN, batch and steps on the CPU.

Every dense layer runs as a 1x1 convolution (`fair()`, checked against `nn.Linear` at start). Debian's python3-torch is
built with a generic reference BLAS (`torch.__config__.show()`: BLAS_INFO=generic): its `nn.Linear` runs a textbook
matrix product at about 6 GFLOP/s on 2 threads, while its convolutions run oneDNN at about 90. The wheels PyTorch users
install link an optimised BLAS, so timing `nn.Linear` here would make PyTorch look several times slower than it is. The
1x1 convolution does the same arithmetic through oneDNN.

Called by bench/run.ts when `import torch` works (Debian: python3-torch); never needed by the build or tests.
Prints one JSON line with images/s of one PGD step, PGD-10, an adversarial-training step (PGD-10 + SGD)
and the forward pass alone.

With `--cifar`, the CIFAR ResNet-18 section instead (bench/cifar.ts is ardkit's half): kuangliu's ResNet-18, the
layout of ardkit's `resNet18()`, imported from scripts/torch/param_counts.py, on a seeded uniform batch of 32x32x3
images; the forward pass alone (no_grad, for context), one PGD step in eval mode, then adversarial-training steps (PGD-`--attack-steps` in eval mode, one SGD update
in train mode), the warm-up of the training step with a one-step attack, as bench/cifar.ts does.

    python3 bench/torch_bench.py --batch 128 --threads 2 --reps 1
    /usr/bin/python3 bench/torch_bench.py --cifar --batch 32 --threads 2 --pgd-reps 3 --train-reps 2 --warmup 1
    /usr/bin/python3 bench/torch_bench.py --ceiling --threads 2
"""
import argparse
import copy
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


class DenseAsConv(nn.Module):
    """`nn.Linear` as a 1x1 convolution (oneDNN) over a [B, in, 1, 1] view: the same weights, the same function."""

    def __init__(self, linear):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone().view(linear.out_features, linear.in_features, 1, 1))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())

    def forward(self, x):
        lead = x.shape[:-1]
        y = F.conv2d(x.reshape(-1, x.shape[-1], 1, 1), self.weight, self.bias)
        return y.view(*lead, self.weight.shape[0])


def fair(model, example):
    """Replaces every nn.Linear of `model` (in place) by a DenseAsConv, after checking on `example` that the logits and
    the input gradient stay the same (to float32 rounding); returns the model."""
    reference = copy.deepcopy(model)

    def swap(module):
        for name, child in module.named_children():
            if isinstance(child, nn.Linear):
                setattr(module, name, DenseAsConv(child))
            else:
                swap(child)

    swap(model)
    mode = model.training
    model.eval()
    reference.eval()
    outs = []
    for m in (reference, model):
        x = example.clone().requires_grad_(True)
        y = m(x)
        (g,) = torch.autograd.grad(y.square().sum(), x)
        outs.append((y.detach(), g))
    for (a, ga), (b, gb) in [(outs[0], outs[1])]:
        for u, v, what in ((a, b, "logits"), (ga, gb, "input gradient")):
            rel = ((u - v).abs().max() / v.abs().max().clamp_min(1e-12)).item()
            if rel > 1e-4:
                raise SystemExit(f"torch_bench: the 1x1-convolution dense layers change the {what} (relative {rel:.2e})")
    model.train(mode)
    return model


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
    model = fair(NETWORKS["ResNet-18"](), torch.rand(2, 3, 32, 32))
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


def macs(model, example):
    """Multiply-accumulates of one forward pass of `model` on one example: every convolution (a DenseAsConv included)
    and nn.Linear, counted from its output size and kernel (bench/ceiling.ts counts ardkit's side the same way)."""
    total = [0]

    def conv_hook(module, inputs, output):
        w = module.weight
        total[0] += output[0].numel() * w.shape[1] * w.shape[2] * w.shape[3]

    def linear_hook(module, inputs, output):
        total[0] += output[0].numel() * module.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, DenseAsConv):
            hooks.append(m.register_forward_hook(lambda mod, i, o: total.__setitem__(0, total[0] + o[0].numel() * mod.weight.shape[1])))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model.eval()
        model(example[:1])
    for h in hooks:
        h.remove()
    return total[0]


def ceiling(args):
    """The compute-ceiling section (bench/ceiling.ts is ardkit's half): per network, the multiply-accumulates of one
    forward pass, and the median time of the forward pass (no_grad) and of one PGD step (forward and input gradient) in
    eval mode, on `--threads` threads."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "torch"))
    from param_counts import NETWORKS

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "networks": []}
    for name, build, shape, batch, eps in [
        ("smallCnn", small_cnn, (1, 28, 28), 128, 0.3),
        ("mlp 784-256-256-10", lambda: mlp([256, 256]), (1, 28, 28), 128, 0.3),
        ("ResNet-18 (CIFAR)", NETWORKS["ResNet-18"], (3, 32, 32), 32, 8 / 255),
    ]:
        model = fair(build(), torch.rand(2, *shape)).eval()
        x = torch.rand(batch, *shape)
        y = torch.arange(batch) % 10

        def forward():
            with torch.no_grad():
                model(x)

        reps = max(3, round(10 * args.reps))
        out["networks"].append({
            "name": name,
            "batch": batch,
            "macsPerImage": macs(model, x),
            "forward": rate(forward, batch, reps, warmup=2),
            "pgdStep": rate(lambda: pgd(model, x, y, 1, eps, eps / 4), batch, reps, warmup=2),
        })
    return out


def mlp(hidden):
    """examples/common.ts `mlp`: flatten, dense ReLU layers, dense logits."""
    layers, width = [nn.Flatten()], 784
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers, nn.Linear(width, 10))


def mnist_cnn(filters, dense):
    """examples/common.ts `mnistCnn`: 3x3 same convolutions with ReLU, each followed by a 2x2 max pool, then dense."""
    layers, channels, side = [], 1, 28
    for f in filters:
        layers += [nn.Conv2d(channels, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels, side = f, side // 2
    layers.append(nn.Flatten())
    width = channels * side * side
    if dense > 0:
        layers += [nn.Linear(width, dense), nn.ReLU()]
        width = dense
    return nn.Sequential(*layers, nn.Linear(width, 10))


EXAMPLE_NETWORKS = {
    "mlp 784-64-10": lambda: mlp([64]),
    "mlp 784-256-256-10": lambda: mlp([256, 256]),
    "cnn conv8-conv16 (student)": lambda: mnist_cnn([8, 16], 0),
    "cnn conv16-conv32-dense128 (teacher)": lambda: mnist_cnn([16, 32], 128),
}


def examples_serve(args):
    """--examples --serve: the examples section paired with ardkit's in time. Builds every network and the data, prints
    one JSON line {"ready": true, "torch": ..., "threads": ...}, then for each line "<network name>" read from stdin
    runs one epoch of it and prints {"seconds": s}. bench/examples.ts alternates these epochs with its own."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x_all = torch.rand(args.images, 1, 28, 28)
    y_all = torch.arange(args.images) % 10
    runners = {}
    for name, make in EXAMPLE_NETWORKS.items():
        model = fair(make(), torch.rand(2, 1, 28, 28))
        runners[name] = (model, torch.optim.SGD(model.parameters(), lr=0.01))
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        name = line.strip()
        if not name:
            continue
        model, optimizer = runners[name]
        t0 = time.perf_counter()
        one_epoch(model, optimizer, x_all, y_all, args)
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)


def one_epoch(model, optimizer, x_all, y_all, args):
    """One PGD-AT epoch as ardkit's fit runs it: shuffled batches, PGD-5, the SGD update, the epoch's mean loss read."""
    order = torch.randperm(args.images)
    total = torch.zeros(())
    for start in range(0, args.images, args.batch):
        idx = order[start:start + args.batch]
        x, y = x_all[idx], y_all[idx]
        x_adv = pgd(model, x, y, 5, 0.3, 0.075)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_adv), y)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(idx)
    return (total / args.images).item()


def examples(args):
    """The examples section: one PGD-AT epoch (PGD-5, eps 0.3, step 0.075, random start; plain SGD) per network, as
    ardkit's `fit` with `pgdAt` runs it (bench/examples.ts): shuffled batches, the attack, the update, the epoch's mean
    loss read at its end. One untimed epoch, then the median of --reps timed ones."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x_all = torch.rand(args.images, 1, 28, 28)
    y_all = torch.arange(args.images) % 10
    out = []
    for name, make in EXAMPLE_NETWORKS.items():
        model = fair(make(), torch.rand(2, 1, 28, 28))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

        def epoch():
            return one_epoch(model, optimizer, x_all, y_all, args)

        r = rate(epoch, args.images, int(args.reps), warmup=1)
        out.append({"name": name, "imagesPerSecond": r["imagesPerSecond"], "medianSeconds": r["medianSeconds"], "seconds": r["seconds"]})
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "images": args.images, "batch": args.batch, "networks": out}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=float, default=1.0)
    parser.add_argument("--cifar", action="store_true", help="the CIFAR ResNet-18 section instead")
    parser.add_argument("--examples", action="store_true", help="the example networks' PGD-AT epoch instead")
    parser.add_argument("--ceiling", action="store_true", help="the compute-ceiling section instead (bench/ceiling.ts)")
    parser.add_argument("--images", type=int, default=2048, help="--examples: images per epoch")
    parser.add_argument("--serve", action="store_true", help="--examples: run epochs on request (bench/examples.ts pairs them with its own)")
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
    if args.ceiling:
        print(json.dumps(ceiling(args)))
        return
    if args.examples and args.serve:
        examples_serve(args)
        return
    if args.examples:
        print(json.dumps(examples(args)))
        return
    reps = lambda n: max(1, round(n * args.reps))

    torch.manual_seed(0)
    model = fair(small_cnn(), torch.rand(2, 1, 28, 28))
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
