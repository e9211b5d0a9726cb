#!/usr/bin/env python3
"""PyTorch's own timing of torchvision CNNs, the peer of `convlens bench --onnx`: forward of one 224×224
image and Grad-CAM of its top logit at the model's Grad-CAM module (forward with a hook, backward,
channel weights, ReLU'd sum, bilinear upsampling to 224), each the median of timed repetitions after
two warm-ups. Same models and seed as export_torchvision.py; prints one JSON line.

  /usr/bin/python3 packages/node/test/torch/peer_torchvision.py --models resnet18,squeezenet1_1 --reps 10
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision import MODELS, build  # noqa: E402


def timed(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="resnet18,squeezenet1_1")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = {"peer": "pytorch-cpu", "torch": torch.__version__, "threads": torch.get_num_threads(), "models": {}}
    for name in a.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"--models: unknown model '{name}' (known: {', '.join(MODELS)})")
        layer = MODELS[name][0]
        model = build(name, a.seed)
        x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))

        def forward():
            with torch.no_grad():
                model(x)

        # Frozen weights and a hook that makes the layer's output a leaf: backward computes only the
        # gradient w.r.t. that activation, as convlens's Grad-CAM does (no weight or input gradients).
        for q in model.parameters():
            q.requires_grad_(False)
        module = dict(model.named_modules())[layer]
        acts = {}

        def leaf(_m, _i, o):
            acts["a"] = o.detach().requires_grad_(True)
            return acts["a"]

        module.register_forward_hook(leaf)

        def gradcam():
            y = model(x)
            y[0, y[0].argmax()].backward()
            act, g = acts["a"].detach(), acts["a"].grad
            cam = F.relu((act * g.mean((2, 3), keepdim=True)).sum(1, keepdim=True))
            return F.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=True)

        out["models"][name] = {
            "layer": layer,
            "forward_ms": round(1000 * timed(forward, a.reps), 3),
            "gradcam_ms": round(1000 * timed(gradcam, a.reps), 3),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
