"""The reference AutoAttack's side of scripts/compare-autoattack.ts (run by hand, never in CI).

Runs fra31/auto-attack (a checkout given by --reference; it is never committed to ardkit) on an MLP whose weights and
test points ardkit wrote, and prints one JSON line per run: the clean accuracy and the robust accuracy after each
member, read from the reference's own log ("robust accuracy after APGD-CE: 85.16% ...").

    /usr/bin/python3 scripts/torch/autoattack_reference.py --reference /tmp/aa --data /tmp/run/data.json \
        --runs '[{"version": "standard", "norm": "Linf", "eps": 0.1, "points": 256}]'

data.json: {"layers": [{"kernel": [[in][out]], "bias": [out]}, ...] (dense layers, ReLU between, tfjs' [in, out]
kernels), "x": [N * 784] in [0, 1] (NHWC with one channel, the same flat order as NCHW), "y": [N]}.
"""
import argparse
import json
import re
import sys

import torch
import torch.nn as nn


def build(layers):
    modules = [nn.Flatten()]
    for i, layer in enumerate(layers):
        kernel = torch.tensor(layer["kernel"], dtype=torch.float32)
        linear = nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            linear.weight.copy_(kernel.t())
            linear.bias.copy_(torch.tensor(layer["bias"], dtype=torch.float32))
        modules.append(linear)
        if i < len(layers) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules).eval()


class Capture:
    """Stands in for the reference's Logger: keeps its lines."""

    def __init__(self):
        self.lines = []

    def log(self, msg):
        self.lines.append(str(msg))
        print(msg, file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True, help="a checkout of fra31/auto-attack (the folder holding autoattack/)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", required=True, help="JSON list of {version, norm, eps, points, attacks?, fabRestarts?}")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, args.reference)
    from autoattack import AutoAttack  # noqa: E402  (the reference, from the checkout)

    torch.set_num_threads(args.threads)
    data = json.load(open(args.data))
    model = build(data["layers"])
    n_all = len(data["y"])
    x_all = torch.tensor(data["x"], dtype=torch.float32).reshape(n_all, 1, 28, 28)
    y_all = torch.tensor(data["y"], dtype=torch.long)
    for run in json.loads(args.runs):
        n = run["points"]
        x, y = x_all[:n], y_all[:n]
        version = run["version"]
        adversary = AutoAttack(model, norm=run["norm"], eps=run["eps"], version=version, seed=0, device="cpu",
                               attacks_to_run=run.get("attacks", []) if version == "custom" else [])
        if version == "custom":
            # FAB-T alone as the standard version runs it: one run per target class, 9 targets.
            adversary.fab.n_restarts = run.get("fabRestarts", 1)
            adversary.fab.n_target_classes = 9
            adversary.apgd_targeted.n_target_classes = 9
        capture = Capture()
        adversary.logger = capture
        adversary.run_standard_evaluation(x, y, bs=n)
        result = {"version": version, "norm": run["norm"], "eps": run["eps"], "points": n, "members": {}}
        for line in capture.lines:
            m = re.match(r"initial accuracy: ([0-9.]+)%", line)
            if m:
                result["clean"] = float(m.group(1)) / 100
            m = re.match(r"robust accuracy after ([A-Z-]+): ([0-9.]+)%", line)
            if m:
                result["members"][m.group(1).lower()] = float(m.group(2)) / 100
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
