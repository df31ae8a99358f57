"""Carlini & Wagner's L2 attack (arXiv 1608.04644) in PyTorch, the reference for scripts/compare-cw-l2.ts.

Written from the paper and its code (carlini/nn_robust_attacks, l2_attack.py), with the settings ardkit's cwL2
documents, so that the two implementations can be compared number for number:

- x' = lo + (hi - lo) * (tanh(w) + 1) / 2, w0 = atanh((2 (x - lo) / (hi - lo) - 1) * (1 - 1e-6));
- per point, minimise ||x' - x||_2^2 + c * f(x'), f = max(z_y - max_{j != y} z_j, -kappa)
  (targeted: max(max_{j != t} z_j - z_t, -kappa)), with Adam (beta 0.9, 0.999, eps 1e-8; PyTorch's update rule);
- every iteration keeps, per point, the adversarial x' (argmax(z + kappa e_y) != y) of smallest L2 distance;
- early abort every ceil(steps / 10) iterations: a point whose objective has not fallen by 0.01 % since the last check
  stops for the rest of the round (the paper checks the batch's total; ardkit and this script check per point);
- binary search over c per point: c0 = initial_const; after a round that broke the point c_hi = min(c_hi, c), else
  c_lo = max(c_lo, c); then c = (c_lo + c_hi) / 2 when c_hi < 1e10, else 10 c. Each round restarts from w0 with
  Adam's state reset.

Usage (Debian's python3-torch; run by scripts/compare-cw-l2.ts):
    /usr/bin/python3 scripts/torch/cw_l2_reference.py PROBLEM.json
PROBLEM.json holds the MLP's weights (784-H-10, ReLU), the points, their labels and the settings. Prints one JSON object:
{"success": [0/1 per point], "distance": [L2 per point, 0 where not broken], "seconds": ...}.
"""
import json
import math
import sys
import time

import torch


def mlp(problem):
    """The MLP x -> relu(x W1 + b1) W2 + b2 from the weights ardkit trained (row-major, [in, out])."""
    w1 = torch.tensor(problem["w1"], dtype=torch.float32).reshape(problem["inputs"], problem["hidden"])
    b1 = torch.tensor(problem["b1"], dtype=torch.float32)
    w2 = torch.tensor(problem["w2"], dtype=torch.float32).reshape(problem["hidden"], problem["classes"])
    b2 = torch.tensor(problem["b2"], dtype=torch.float32)

    def model(x):
        return torch.relu(x.reshape(x.shape[0], -1) @ w1 + b1) @ w2 + b2

    return model


def margin(z, labels):
    """z_l - max_{j != l} z_j per point."""
    onehot = torch.nn.functional.one_hot(labels, z.shape[1]).bool()
    own = z[onehot]
    others = z.masked_fill(onehot, -math.inf).max(dim=1).values
    return own - others


def cw_l2(model, x, labels, s):
    lo, hi = s["bounds"]
    kappa = s["kappa"]
    targeted = s["targeted"]
    steps = s["steps"]
    lr = s["learningRate"]
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    batch = x.shape[0]
    rows = (batch,) + (1,) * (x.dim() - 1)
    period = math.ceil(steps / 10)

    def to_box(w):
        return torch.clamp((torch.tanh(w) + 1) * ((hi - lo) / 2) + lo, lo, hi)

    def f(z):
        m = margin(z, labels)
        return torch.clamp(-m if targeted else m, min=-kappa)

    def adversarial(z):
        shift = torch.nn.functional.one_hot(labels, z.shape[1]).float() * (-kappa if targeted else kappa)
        predicted = (z + shift).argmax(dim=1)
        return predicted == labels if targeted else predicted != labels

    unit = torch.clamp((x - lo) / (hi - lo) * 2 - 1, -1, 1)
    w0 = torch.atanh(unit * (1 - 1e-6))
    c = torch.full((batch,), s["initialConst"])
    c_lo = torch.zeros(batch)
    c_hi = torch.full((batch,), 1e10)
    best = x.clone()
    best_distance = torch.full((batch,), math.inf)

    for _ in range(s["binarySearchSteps"]):
        w = w0.clone()
        m = torch.zeros_like(x)
        v = torch.zeros_like(x)
        active = torch.ones(batch, dtype=torch.bool)
        previous = torch.zeros(batch)
        round_success = torch.zeros(batch, dtype=torch.bool)
        for k in range(steps):
            w_var = w.clone().requires_grad_(True)
            xa = to_box(w_var)
            z = model(xa)
            distance = ((xa - x) ** 2).reshape(batch, -1).sum(dim=1)
            loss = distance + c * f(z)
            (grad,) = torch.autograd.grad(loss.sum(), w_var)
            with torch.no_grad():
                xa = xa.detach()
                distance = distance.detach()
                loss = loss.detach()
                success = active & adversarial(z.detach())
                closer = success & (distance < best_distance)
                best_distance = torch.where(closer, distance, best_distance)
                best = torch.where(closer.reshape(rows), xa, best)
                round_success = round_success | success
                if s["abortEarly"] and k % period == 0:
                    if k > 0:
                        stalled = loss > previous - previous.abs() * 1e-4
                        active = active & ~stalled
                    previous = torch.where(active, loss, previous)
                a = active.reshape(rows)
                t = k + 1
                m_new = m * beta1 + grad * (1 - beta1)
                v_new = v * beta2 + grad ** 2 * (1 - beta2)
                step = (m_new / (1 - beta1 ** t)) / (torch.sqrt(v_new / (1 - beta2 ** t)) + adam_eps) * lr
                m = torch.where(a, m_new, m)
                v = torch.where(a, v_new, v)
                w = torch.where(a, w - step, w)
            if s["abortEarly"] and k % period == 0 and k > 0 and not bool(active.any()):
                break
        high = torch.where(round_success, torch.minimum(c_hi, c), c_hi)
        low = torch.where(round_success, c_lo, torch.maximum(c_lo, c))
        c = torch.where(high < 1e10, (low + high) / 2, c * 10)
        c_hi, c_lo = high, low

    found = best_distance < math.inf
    return found, torch.where(found, best_distance.sqrt(), torch.zeros(batch))


def main():
    with open(sys.argv[1]) as fh:
        problem = json.load(fh)
    torch.manual_seed(0)
    model = mlp(problem)
    x = torch.tensor(problem["x"], dtype=torch.float32).reshape(problem["points"], problem["inputs"])
    labels = torch.tensor(problem["y"], dtype=torch.int64)
    start = time.time()
    found, distance = cw_l2(model, x, labels, problem["settings"])
    print(json.dumps({
        "success": [int(v) for v in found.tolist()],
        "distance": [float(v) for v in distance.tolist()],
        "seconds": time.time() - start,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
