"""What every training script shares: device and threads, seeding, resumable checkpoints that
are also written on SIGTERM/SIGINT, progress lines, and batches of generated images.

A run lives in one folder (--run-dir): ckpt.pt (model, optimizer, step, RNG states; the
latest), config.json (the model's config), log lines on stdout. Batches are a pure function
of (--seed, step), so a resumed run sees the same data as an uninterrupted one.
"""
import json
import os
import signal
import time

import numpy as np
import torch

import shapes_data as sd


def add_common_args(ap, steps, batch, lr, save_every=200):
    ap.add_argument("--run-dir", required=True, help="folder for ckpt.pt and config.json")
    ap.add_argument("--steps", type=int, default=steps, help="train until this step count")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    ap.add_argument("--save-every", type=int, default=save_every, help="checkpoint every N steps")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--resume", action="store_true", help="continue from RUN_DIR/ckpt.pt")


def setup(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.device == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        dev = args.device
    os.makedirs(args.run_dir, exist_ok=True)
    print(f"device {dev}, threads {torch.get_num_threads()}, torch {torch.__version__}", flush=True)
    return torch.device(dev)


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop saves a checkpoint and exits after the current step."""

    def __init__(self):
        self.stop = False
        signal.signal(signal.SIGTERM, self._handler)
        signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame):
        print(f"signal {signum}: saving a checkpoint after this step", flush=True)
        self.stop = True


def save_checkpoint(run_dir, step, modules, optimizer, extra=None):
    """Writes ckpt.pt atomically (a kill mid-save leaves the previous one intact)."""
    state = {
        "step": step,
        "modules": {name: m.state_dict() for name, m in modules.items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "extra": extra or {},
    }
    path = os.path.join(run_dir, "ckpt.pt")
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_checkpoint(run_dir, modules, optimizer, device):
    """Restores modules/optimizer/RNG from RUN_DIR/ckpt.pt; returns (step, extra)."""
    state = torch.load(os.path.join(run_dir, "ckpt.pt"), map_location=device)
    for name, m in modules.items():
        m.load_state_dict(state["modules"][name])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["step"], state.get("extra", {})


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(path + ".tmp", path)


def image_batch(seed, step, batch, split="train"):
    """(images [B,3,64,64] float32 in [-1,1], captions) for a training step: images
    step*batch .. step*batch+batch-1 of the seeded stream."""
    imgs, caps = [], []
    for j in range(batch):
        image, truth = sd.sample(seed, step * batch + j, split)
        imgs.append(sd.image_to_tensor_values(image))
        caps.append(truth["caption"])
    return torch.from_numpy(np.stack(imgs)), caps


class Progress:
    """Prints 'step N loss L (parts) s/step S' every `every` steps, averaging since the last line."""

    def __init__(self, every, total):
        self.every, self.total = every, total
        self.t0 = time.time()
        self.sums = {}
        self.n = 0

    def update(self, step, **losses):
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.n += 1
        if step % self.every == 0 or step == self.total:
            dt = (time.time() - self.t0) / self.n
            parts = " ".join(f"{k} {v / self.n:.5f}" for k, v in self.sums.items())
            print(f"step {step}/{self.total} {parts} s/step {dt:.2f}", flush=True)
            self.t0, self.sums, self.n = time.time(), {}, 0
