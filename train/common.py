"""What every training script shares: device and threads, seeding, resumable checkpoints that
are also written on SIGTERM/SIGINT, progress lines, and batches of generated images.

A run lives in one folder (--run-dir): ckpt.safetensors (model, optimizer, step, RNG states; the
latest), config.json (the model's config), log lines on stdout. Batches are a pure function
of (--seed, step), so a resumed run sees the same data as an uninterrupted one.
"""
import copy
import json
import math
import os
import random
import signal
import time

import numpy as np
import torch

import safetensors_io

import shapes_data as sd


def add_common_args(ap, steps, batch, lr, save_every=200):
    ap.add_argument("--run-dir", required=True, help="folder for ckpt.safetensors and config.json")
    ap.add_argument("--steps", type=int, default=steps, help="train until this step count")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    ap.add_argument("--save-every", type=int, default=save_every, help="checkpoint every N steps")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--resume", action="store_true", help="continue from RUN_DIR/ckpt.safetensors")


def add_lr_schedule_args(ap, warmup):
    ap.add_argument("--warmup", type=int, default=warmup, help="linear warm-up steps (from step 0)")
    ap.add_argument("--lr-decay-from", type=int, default=-1,
                    help="cosine-decay the learning rate from this step to --lr-min x lr at --steps "
                         "(-1: constant after warm-up)")
    ap.add_argument("--lr-min", type=float, default=0.02, help="final learning rate, a fraction of --lr")


def learning_rate(args, step):
    """--lr after a linear warm-up (it avoids the early blow-ups AdamW can have at full rate),
    cosine-decayed from --lr-decay-from to --lr-min x --lr at --steps."""
    lr = args.lr * min(1.0, (step + 1) / args.warmup)
    if 0 <= args.lr_decay_from <= step:
        t = (step - args.lr_decay_from) / max(1, args.steps - args.lr_decay_from)
        lr *= args.lr_min + (1 - args.lr_min) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return lr


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
    """Writes RUN_DIR/ckpt.safetensors atomically (a kill mid-save leaves the previous one).

    Tensors: modules.NAME.KEY (weights), optimizer.INDEX.KEY (Adam moments), torch_rng,
    cuda_rng.I; everything else (step, extra, optimizer hyperparameters) is JSON in the
    metadata. No pickle, so a checkpoint can be committed and loaded without running code."""
    tensors = {}
    for name, m in modules.items():
        for key, value in m.state_dict().items():
            tensors[f"modules.{name}.{key}"] = value.detach().cpu().numpy()
    opt_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        opt_meta = {"param_groups": sd["param_groups"], "scalars": {}}
        for index, state in sd["state"].items():
            for key, value in state.items():
                if torch.is_tensor(value):
                    tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().numpy()
                else:
                    opt_meta["scalars"].setdefault(str(index), {})[key] = value
    tensors["torch_rng"] = torch.get_rng_state().numpy()
    if torch.cuda.is_available():
        for i, r in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda_rng.{i}"] = r.numpy()
    meta = {"step": step, "extra": extra or {}, "optimizer": opt_meta}
    safetensors_io.save(os.path.join(run_dir, "ckpt.safetensors"), tensors, {"state": json.dumps(meta)})


def module_state(run_dir, name, tensors=None):
    """The state dict of module NAME in RUN_DIR/ckpt.safetensors (or in its `tensors`, already
    read); RNG and optimizer untouched."""
    if tensors is None:
        tensors = safetensors_io.load(os.path.join(run_dir, "ckpt.safetensors"))
    prefix = f"modules.{name}."
    return {k[len(prefix):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith(prefix)}


def load_grown(model, run_dir, name, part, zero, tensors=None):
    """Loads RUN_DIR's checkpointed module NAME into `model`, which may have submodules the old
    one lacks, all named `...{part}N` (e.g. ".resnets.", ".attentions."): each of those gets
    its layer `zero` (e.g. "conv2", "proj_out"; or a tuple of names) zeroed, which makes it an
    identity (its outputs are added to residuals), so the grown model starts out computing what
    the old one did.
    Any other difference is an error (`tensors`: the checkpoint, when already read). Returns
    how many submodules were added."""
    old, own = module_state(run_dir, name, tensors), model.state_dict()
    extra = [k for k in old if k not in own]
    if extra:
        raise SystemExit(f"--init-from {run_dir}: keys this model does not have: {extra[:5]}")
    new = set()
    for k in own:
        if k not in old:
            if part not in k:
                raise SystemExit(f"--init-from {run_dir}: {k} is missing and is not in a {part.strip('.')} block")
            head, tail = k.split(part, 1)
            new.add(head + part + tail.split(".", 1)[0])
    model.load_state_dict(old, strict=False)
    with torch.no_grad():
        for sub in new:
            for z in ((zero,) if isinstance(zero, str) else zero):
                layer = model.get_submodule(f"{sub}.{z}")
                layer.weight.zero_()
                layer.bias.zero_()
    return len(new)


def require_same_flag(run_dir, key, value, flag):
    """Stops unless RUN_DIR's checkpoint was trained with `flag` as this run gives it (its
    extra[key]): resumed the other way, its modules or optimizer state would not fit."""
    saved = checkpoint_state(run_dir)["extra"].get(key, False)
    if saved != value:
        raise SystemExit(f"{run_dir} was trained {'with' if saved else 'without'} {flag}: resume it the same way")


def checkpoint_state(run_dir):
    """RUN_DIR/ckpt.safetensors' JSON metadata: step, extra, optimizer hyperparameters."""
    return json.loads(safetensors_io.load_metadata(os.path.join(run_dir, "ckpt.safetensors"))["state"])


def load_checkpoint(run_dir, modules, optimizer, device, tensors=None):
    """Restores modules/optimizer/RNG from RUN_DIR/ckpt.safetensors (or its `tensors`, already
    read); returns (step, extra)."""
    if tensors is None:
        tensors = safetensors_io.load(os.path.join(run_dir, "ckpt.safetensors"))
    meta = checkpoint_state(run_dir)
    for name, m in modules.items():
        m.load_state_dict(module_state(run_dir, name, tensors))
    if optimizer is not None and meta["optimizer"] is None:
        print(f"{run_dir}: no optimizer state in the checkpoint (a slim copy): the optimizer starts fresh",
              flush=True)
    elif optimizer is not None:
        state = {}
        for k, v in tensors.items():
            if k.startswith("optimizer."):
                _, index, key = k.split(".", 2)
                state.setdefault(int(index), {})[key] = torch.from_numpy(v).to(device)
        for index, scalars in meta["optimizer"]["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    torch.set_rng_state(torch.from_numpy(tensors["torch_rng"]))
    if torch.cuda.is_available() and "cuda_rng.0" in tensors:
        torch.cuda.set_rng_state_all([torch.from_numpy(tensors[f"cuda_rng.{i}"])
                                      for i in range(torch.cuda.device_count()) if f"cuda_rng.{i}" in tensors])
    return meta["step"], meta.get("extra", {})


def resume(args, modules, optimizer, device):
    """(0, {}), or with --resume the step and `extra` dict RUN_DIR's checkpoint holds (modules,
    optimizer, RNG restored)."""
    if not args.resume:
        return 0, {}
    step, extra = load_checkpoint(args.run_dir, modules, optimizer, device)
    print(f"resumed at step {step}", flush=True)
    return step, extra


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(path + ".tmp", path)


def image_batch(seed, step, batch, split="train"):
    """(images [B,3,64,64] float32 in [-1,1], captions, scenes) for a training step: images
    step*batch .. step*batch+batch-1 of the seeded stream, and their ground truths."""
    imgs, caps, scenes = [], [], []
    for j in range(batch):
        image, truth = sd.sample(seed, step * batch + j, split)
        imgs.append(sd.image_to_tensor_values(image))
        caps.append(truth["caption"])
        scenes.append(truth)
    return torch.from_numpy(np.stack(imgs)), caps, scenes


def off_palette_batch(seed, step, batch, margin=100):
    """(images [B,3,64,64], scenes) of scenes whose objects take random RGB colours instead of
    named ones, each at least `margin` (RGB distance) from the background and from every palette
    colour that makes a held-out pair with the object's shape: shapes in colours no caption
    names, never a held-out pair. Step s draws scenes s*batch on."""
    imgs, scenes = [], []
    for j in range(batch):
        index = step * batch + j
        truth = sd.sample_truth(seed, index)
        rng = random.Random(f"{seed}:rgb:{index}")
        avoid = [sd.BACKGROUNDS[truth["background"]]]
        for o in truth["objects"]:
            near = avoid + [sd.COLOURS[c] for c, shape in sd.HELD_OUT if shape == o["shape"]]
            while True:
                rgb = tuple(rng.randrange(256) for _ in range(3))
                if all(math.dist(rgb, c) >= margin for c in near):
                    break
            o["colour"] = rgb
        truth["caption"] = None
        imgs.append(sd.image_to_tensor_values(sd.render(truth)))
        scenes.append(truth)
    return torch.from_numpy(np.stack(imgs)), scenes


def moved_twin(truth, seed, index):
    """Re-captions `truth` and returns its twin: the same scene with every object moved to
    another position (objects kept apart), captioned with the same random choices, so the two
    captions differ only in where things are; None when no placement is found."""
    rng = random.Random(f"{seed}:twin:{index}")
    for _ in range(20):
        twin = copy.deepcopy(truth)
        for o in twin["objects"]:
            old = sd.POSITIONS[o["position"]]
            o["position"] = rng.choice([p for p in sd.POSITIONS if p != o["position"]])
            new = sd.POSITIONS[o["position"]]
            o["center"] = [o["center"][0] - old[0] + new[0], o["center"][1] - old[1] + new[1]]
        objs = twin["objects"]
        if len(objs) == 1 or sd._boxes_apart(objs[0], objs[1]):
            return recaption_pair(truth, twin, seed, index)
    return None


def recaption_pair(truth, twin, seed, index):
    """Captions `truth` and `twin` with the same random choices (so the captions differ only
    where the scenes do); returns the twin."""
    truth["caption"] = sd.caption(truth, random.Random(f"{seed}:caption:{index}"))
    twin["caption"] = sd.caption(twin, random.Random(f"{seed}:caption:{index}"))
    return twin


def swapped_twin(truth, seed, index):
    """Re-captions `truth` and returns its twin: the same scene with the two objects' shapes or
    colours swapped (a seeded choice; positions and sizes stay), captioned with the same random
    choices, so the two captions differ only in which colour goes with which shape; None for
    one object, two alike, or when every swap would make a held-out pair or only trade the
    objects' places (two red objects of one size: their caption need not say where)."""
    if len(truth["objects"]) != 2:
        return None
    rng = random.Random(f"{seed}:swap:{index}")
    for key in rng.sample(["shape", "colour"], 2):
        a, b = truth["objects"]
        if a[key] == b[key]:
            continue
        twin = copy.deepcopy(truth)
        ta, tb = twin["objects"]
        ta[key], tb[key] = tb[key], ta[key]
        if any((o["colour"], o["shape"]) in sd.HELD_OUT for o in (ta, tb)):
            continue
        kinds = sorted((o["shape"], o["colour"], o["size"]) for o in (a, b))
        if sorted((o["shape"], o["colour"], o["size"]) for o in (ta, tb)) == kinds:
            continue  # the same two objects in each other's places: a moved twin, no swap
        return recaption_pair(truth, twin, seed, index)
    return None


def _alike(truth):
    a, b = truth["objects"]
    return (a["shape"], a["colour"]) == (b["shape"], b["colour"])


def altered_twin(truth, seed, index):
    """Re-captions `truth` and returns its twin: the same scene with one object's shape (two
    times in three) or colour changed to another (never a held-out pair, never a copy of the
    other object), captioned with the same random choices, so the two captions differ in one
    word: the mistakes reranking has to catch in a UNet's candidates."""
    rng = random.Random(f"{seed}:alter:{index}")
    for _ in range(20):
        twin = copy.deepcopy(truth)
        o = rng.choice(twin["objects"])
        key = "shape" if rng.random() < 2 / 3 else "colour"
        choices = sd.SHAPES if key == "shape" else list(sd.COLOURS)
        o[key] = rng.choice([v for v in choices if v != o[key]])
        if (o["colour"], o["shape"]) in sd.HELD_OUT:
            continue
        if len(twin["objects"]) == 2 and _alike(twin) != _alike(truth):
            continue  # "two red squares" <-> "a red square and a blue square": not a one-word change
        return recaption_pair(truth, twin, seed, index)
    return None


def counted_twin(truth, seed, index):
    """Re-captions `truth` and returns its twin: the same scene with one object more (one
    object's shape with one object's colour at a free position, any size: the extra object a
    UNet draws when it miscounts) or, for two objects, one fewer (one time in three). A twin of three
    objects has no caption (None): it can only serve as a negative. None when no free
    position is found."""
    rng = random.Random(f"{seed}:count:{index}")
    objs = truth["objects"]
    if len(objs) == 2 and rng.random() < 1 / 3:
        twin = copy.deepcopy(truth)
        del twin["objects"][rng.randrange(2)]
        return recaption_pair(truth, twin, seed, index)
    for _ in range(20):
        # A UNet's extra object takes its shape and colour from the prompt's objects, not
        # always from the same one: "a red cross and a blue triangle" gets a red triangle.
        shape, colour = rng.choice(objs)["shape"], rng.choice(objs)["colour"]
        if (colour, shape) in sd.HELD_OUT - {(o["colour"], o["shape"]) for o in objs}:
            continue  # no held-out pair the scene does not already hold
        extra = sd._sample_object(rng, shape, colour, rng.choice(list(sd.SIZES)), rng.choice(list(sd.POSITIONS)))
        if all(sd._boxes_apart(extra, o) for o in objs):
            twin = copy.deepcopy(truth)
            twin["objects"].append(extra)
            if len(twin["objects"]) == 2:
                return recaption_pair(truth, twin, seed, index)
            twin["caption"] = None  # "three ..." is not a caption the demo knows
            return twin
    return None


def twin_batch(seed, step, batch, swaps=False, alters=0.0, counts=0.0):
    """A batch of batch/2 scenes whose captions state positions, and their moved twins (see
    moved_twin): captions that differ only in positions are each other's hardest negatives,
    which a batch of random scenes almost never holds. With `swaps`, a scene of two different
    objects gets its swapped twin instead (see swapped_twin), whether or not its caption
    states positions. With `alters`, that share of the scenes gets its altered twin instead
    (one object's shape or colour changed, see altered_twin); with `counts`, that share gets
    its counted twin (one object more or fewer, see counted_twin). Returns (images
    [B,3,64,64], captions, scenes) like image_batch, where a caption may be None (an image that
    is only a negative); step s draws from scenes 4*s*batch on."""
    imgs, caps, scenes = [], [], []
    index = 4 * step * batch
    while len(caps) < batch:
        truth = sd.sample_truth(seed, index)
        kind = random.Random(f"{seed}:kind:{index}").random()
        alter = alters and kind < alters
        count = counts and alters <= kind < alters + counts
        twin = (alter and altered_twin(truth, seed, index)) or (count and counted_twin(truth, seed, index)) or \
            (swaps and swapped_twin(truth, seed, index)) or moved_twin(truth, seed, index)
        index += 1
        if twin is None or twin["caption"] == truth["caption"]:
            continue  # a caption that states no position has no position twin
        for t in (truth, twin):
            imgs.append(sd.image_to_tensor_values(sd.render(t)))
            caps.append(t["caption"])
            scenes.append(t)
    return torch.from_numpy(np.stack(imgs[:batch])), caps[:batch], scenes[:batch]


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
