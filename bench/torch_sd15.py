#!/usr/bin/python3
"""The PyTorch side of `scripts/bench-vs-pytorch.sh`: SD 1.5-sized networks (the same configs as
`sdvk bench sd15`, random weights) in train/'s plain-PyTorch diffusers modules, float32 on the
CPU (or --device cuda, --dtype float16 for a GPU reference). Prints one line per part: seconds of the best of --runs calls (after one warm-up call).

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


def best_of(fn, runs, device):
    def timed():
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()  # kernels run asynchronously: wait before reading the clock
        return time.perf_counter() - t0

    timed()  # warm-up: first-call allocations and oneDNN/cuDNN kernel choice
    return min(timed() for _ in range(runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, choices=(256, 512), help="image size (latent = size / 8)")
    ap.add_argument("--part", default="all", choices=("unet", "vae", "all"))
    ap.add_argument("--runs", type=int, default=3, help="timed calls; the best is printed")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda): a GPU reference for a GPU run")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float16"),
                    help="weights and activations (float16 only on a GPU)")
    args = ap.parse_args()
    dev, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lat = args.size // 8
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"pytorch {torch.__version__}, {where}, {args.dtype}, best of {args.runs}", flush=True)
    with torch.inference_mode():
        if args.part in ("unet", "all"):
            cfg = unet_config(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, heads=8,
                              cross_attention_dim=768, norm_num_groups=32, sample_size=64,
                              down=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",))
            unet = UNet2DConditionModel(cfg).eval().to(dev, dtype)
            x, c = torch.randn(2, 4, lat, lat).to(dev, dtype), torch.randn(2, 77, 768).to(dev, dtype)
            t = torch.tensor([981.0, 981.0], device=dev)
            s = best_of(lambda: unet(x, t, c), args.runs, dev)
            print(f"pytorch unet call (batch 2, {lat}x{lat}) {s:.2f} s", flush=True)
            del unet
        if args.part in ("vae", "all"):
            vae = AutoencoderKL(vae_config(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                                           norm_num_groups=32, sample_size=512)).eval().to(dev, dtype)
            z = torch.randn(1, 4, lat, lat).to(dev, dtype)
            s = best_of(lambda: vae.decode(z), args.runs, dev)
            print(f"pytorch vae decode {args.size}x{args.size} {s:.2f} s", flush=True)


if __name__ == "__main__":
    main()
