#!/usr/bin/env python3
"""Exports torchvision CNNs (random weights, fixed seed, no download) to ONNX and records PyTorch's own
outputs for fixed seeded images, so convlens can be checked against PyTorch (test/onnx-torch.test.ts).

For each model, into OUT/<name>/: model.onnx; image_<i>.png (224×224 RGB, what convlens reads);
logits.npy, probs.npy (N,1000); saliency.npy (N,224,224: |d top logit / d input| max over channels,
on the torch-normalized input); gradcam_raw.npy (N,h,w) and gradcam.npy (N,224,224: ReLU'd Grad-CAM of
the top logit at `layer`, bilinear with align_corners=True as convlens upsamples); and OUT/meta.json.
Runs on Debian's python3-torch / python3-torchvision (1.13 / 0.14): /usr/bin/python3.

  /usr/bin/python3 packages/node/test/torch/export_torchvision.py --out /tmp/x [--models resnet18,...]
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image  # a dependency of torchvision

# Model → (Grad-CAM module, ONNX opset): the last block of spatial features of each network.
MODELS = {
    "resnet18": ("layer4", 13),
    "mobilenet_v2": ("features.18", 17),
    "efficientnet_b0": ("features.8", 15),
    "squeezenet1_1": ("features.12", 17),
}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def build(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    # Fresh batch norms are identities at inference (mean 0, var 1, weight 1, bias 0): give them
    # statistics, so folding them into the convs is actually tested.
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    return model.eval()


def images(n: int, seed: int) -> np.ndarray:
    """Smooth random colour images (noise upsampled from 14×14), so gradients are not pure pixel noise."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 14, 14, generator=g)
    img = F.interpolate(low, size=(224, 224), mode="bilinear", align_corners=False)
    img = (img + 0.15 * torch.rand(n, 3, 224, 224, generator=g)).clamp(0, 1)
    return (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def normalize(imgs: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255 - MEAN) / STD


def saliency64(ref: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    out = ref(x)
    out[0, out[0].argmax()].backward()
    return x.grad.abs().amax(1)


def stable_image(ref: torch.nn.Module, seed: int, tries: int = 20) -> np.ndarray:
    """The first image from `seed` on whose saliency is continuous: unchanged (1e-5 relative) by 1e-6 noise."""
    for k in range(tries):
        img = images(1, seed + 7919 * k)
        x = normalize(img).double()
        a = saliency64(ref, x)
        b = saliency64(ref, x + 1e-6 * torch.randn(x.shape, generator=torch.Generator().manual_seed(k), dtype=x.dtype))
        if ((a - b).abs().max() / a.abs().max()).item() < 1e-5:
            return img[0]
    raise SystemExit(f"no image without max-pool near-ties in {tries} tries (seed {seed})")


def record(name: str, layer: str, opset: int, out: str, n: int, seed: int) -> dict:
    model = build(name, seed)
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    imgs = images(n, seed)
    x = normalize(imgs)
    # Random classifiers give near-equal logits (std ~0.07): scale the last layer so they spread like a
    # trained model's (std 3), or probabilities would all be ~1/1000 and their check would prove little.
    last = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))][-1]
    with torch.no_grad():
        s = 3 / model(x).std().item()
        last.weight.mul_(s)
        last.bias.mul_(s)
    path = os.path.join(folder, "model.onnx")
    torch.onnx.export(
        model,
        x[:1],
        path,
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )
    # The references are computed in float64: gradients through max-pooling jump where a window's top two
    # values nearly tie (ResNet-18's stem has windows within 3e-7), so torch's own float32 saliency is 2%
    # off its float64 one there, while convlens (float32) is within 2e-6 of the float64 answer.
    # Images are also kept off those ties: one whose float64 saliency moves when nudged by 1e-6 is replaced.
    ref = copy.deepcopy(model).double()
    imgs = np.stack([stable_image(ref, seed * 1000 + i) for i in range(n)])
    x = normalize(imgs).double()
    acts = {}
    module = dict(ref.named_modules())[layer]
    hook = module.register_forward_hook(lambda _m, _i, o: acts.__setitem__("a", o))
    x.requires_grad_(True)
    logits = ref(x)
    hook.remove()
    acts["a"].retain_grad()
    top = logits.argmax(1)
    logits.gather(1, top[:, None]).sum().backward()
    a, g = acts["a"].detach(), acts["a"].grad
    cam = F.relu((a * g.mean((2, 3), keepdim=True)).sum(1))
    cam_up = F.interpolate(cam[:, None], size=(224, 224), mode="bilinear", align_corners=True)[:, 0]
    saliency = x.grad.abs().amax(1)
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(os.path.join(folder, f"image_{i}.png"))
    save = {
        "logits": logits.detach().numpy(),
        "probs": torch.softmax(logits.detach(), 1).numpy(),
        "saliency": saliency.numpy(),
        "gradcam_raw": cam.numpy(),
        "gradcam": cam_up.numpy(),
    }
    for k, v in save.items():
        np.save(os.path.join(folder, f"{k}.npy"), v.astype(np.float32))
    # PyTorch's own forward time at batch 1 (median of 10 after a warm-up): the bench's peer number.
    with torch.no_grad():
        x1 = x[:1].detach().float()
        model(x1)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            model(x1)
            times.append(time.perf_counter() - t)
    return {
        "name": name,
        "onnx": os.path.relpath(path, out),
        "opset": opset,
        "layer": layer,
        "layer_shape": list(a.shape[1:]),
        "targets": top.tolist(),
        "torch_ms": float(np.median(times) * 1000),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": []}
    for name in a.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"--models: unknown model '{name}' (known: {', '.join(MODELS)})")
        layer, opset = MODELS[name]
        meta["models"].append(record(name, layer, opset, a.out, a.batch, a.seed))
        print(f"{name}: exported (opset {opset}), Grad-CAM at {layer}", flush=True)
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
