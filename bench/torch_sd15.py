#!/usr/bin/python3
"""The PyTorch side of `scripts/bench-vs-pytorch.sh`: SD 1.5-sized networks (the same configs as
`sdvk bench sd15`, random weights) in train/'s plain-PyTorch diffusers modules, float32 on the
CPU. Prints one line per part: seconds of the best of --runs calls (after one warm-up call).

Needs Debian's python3-torch and libopenblas0-pthread (without it PyTorch falls back to the
reference BLAS, ~50x slower). Run with /usr/bin/python3 (a pyenv/venv python lacks Debian's torch).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
import torch  # noqa: E402

from unet_model import UNet2DConditionModel, unet_config  # noqa: E402
from vae_model import AutoencoderKL, vae_config  # noqa: E402


def best_of(fn, runs):
    fn()  # warm-up: first-call allocations and oneDNN kernel choice
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, choices=(256, 512), help="image size (latent = size / 8)")
    ap.add_argument("--part", default="all", choices=("unet", "vae", "all"))
    ap.add_argument("--runs", type=int, default=3, help="timed calls; the best is printed")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lat = args.size // 8
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads, float32, best of {args.runs}", flush=True)
    with torch.inference_mode():
        if args.part in ("unet", "all"):
            cfg = unet_config(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, heads=8,
                              cross_attention_dim=768, norm_num_groups=32, sample_size=64,
                              down=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",))
            unet = UNet2DConditionModel(cfg).eval()
            x, t, c = torch.randn(2, 4, lat, lat), torch.tensor([981.0, 981.0]), torch.randn(2, 77, 768)
            s = best_of(lambda: unet(x, t, c), args.runs)
            print(f"pytorch unet call (batch 2, {lat}x{lat}) {s:.2f} s", flush=True)
            del unet
        if args.part in ("vae", "all"):
            vae = AutoencoderKL(vae_config(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                                           norm_num_groups=32, sample_size=512)).eval()
            z = torch.randn(1, 4, lat, lat)
            s = best_of(lambda: vae.decode(z), args.runs)
            print(f"pytorch vae decode {args.size}x{args.size} {s:.2f} s", flush=True)


if __name__ == "__main__":
    main()
