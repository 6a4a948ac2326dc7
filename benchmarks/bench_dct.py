"""Cost of F-EP's gradient modulation next to one video-model step.

Times DCT3 + IDCT3 on a (4, 16, 16, 16) float32 gradient (4 areas, 16 frames, 16x16 mask grid) and
one forward+backward of r2plus1d_18 (weights=None, parameters frozen) at 1x3x16x112x112, and prints
their ratio. Run: ``make bench`` or ``python benchmarks/bench_dct.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, median_time, write_result  # noqa: E402

from fep.ep.dct import dct3, frequency_response, idct3  # noqa: E402


def main() -> None:
    torch.manual_seed(0)
    grad = torch.randn(4, 16, 16, 16)
    response = frequency_response(grad.shape[-3:], "gaussian", 0.25, 0.25)
    dct_s = median_time(lambda: idct3(dct3(grad) * response), repeats=51, warmup=5)

    model = torchvision.models.video.r2plus1d_18(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    video = torch.randn(1, 3, 16, 112, 112, requires_grad=True)

    def step():
        video.grad = None
        model(video)[0, 0].backward()

    model_s = median_time(step, repeats=5, warmup=1)
    result = {
        **machine(),
        "dct3_idct3_4x16x16x16_ms": dct_s * 1e3,
        "r2plus1d_18_fwd_bwd_ms": model_s * 1e3,
        "ratio": dct_s / model_s,
    }
    print(f"machine: {result['processor']}, {result['threads']} threads, torch {result['torch']}")
    print(f"DCT3+IDCT3 on (4,16,16,16) float32 : {dct_s * 1e3:8.3f} ms (median of 51)")
    print(f"r2plus1d_18 fwd+bwd 1x3x16x112x112 : {model_s * 1e3:8.1f} ms (median of 5)")
    print(f"ratio                              : {dct_s / model_s:.5f}")
    print(f"written: {write_result('dct', result)}")


if __name__ == "__main__":
    main()
