#!/usr/bin/python3
"""Reference data for tests/test_clip_preprocess.cpp, made with Pillow (Debian's python3-pil,
9.4.0 when committed) and numpy, offline:

    /usr/bin/python3 scripts/make_preprocess_reference.py tests/data/clip_preprocess

- in_*.png: deterministic test images (noise with hard edges, which exercises the clipping of
  each resize pass, and a smooth gradient);
- resize_<in>_<W>x<H>.png: Image.resize((W, H), Image.BICUBIC) of the input: upscaling,
  downscaling by non-integer factors, one axis only, non-square;
- gradient.jpg (quality 95) and gradient.bmp: the gradient in other formats, for reading
  through stb_image; palette_trns.png: the noise image as a 16-colour palette with a
  transparent index, and palette_as_rgb.png its convert("RGB"); grey.png: the noise image in
  mode L; params_pil.png: the gradient as RGBA with a "parameters" text chunk
  holding non-Latin-1 text (Pillow writes it as iTXt) and a Latin-1 "Comment" (tEXt), the way
  other Stable Diffusion tools write their metadata;
- pixel_values.safetensors: the whole CLIPImageProcessor pipeline with OpenAI CLIP's mean and
  std, for in_noise and in_gradient, as <image>_<shortest edge>_<crop>, float32 [1,3,crop,crop]:
  (32, 32), (64, 48) and (20, 24) (a crop larger than the image: transformers pads with zeros);
  small sizes keep the file small, the code path is the one 224 takes. Computed the way
  transformers 4.x does it: convert("RGB"), get_resize_output_image_size, PIL bicubic resize, center_crop,
  astype(float64) * (1/255) -> float32, (x - mean) / std in float32.
"""
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

PARAMETERS = ("a watercolor of a fox \u72d0, \u00e9t\u00e9\nsecond line\nNegative prompt: blurry\n"
              "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 45x61, Model: \"a:b\"")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def images():
    rng = np.random.RandomState(1234)
    noise = rng.randint(0, 256, size=(23, 37, 3), dtype=np.uint8)
    noise[5:12, 3:20] = 255  # hard-edged blocks: overshoot past 0 and 255
    noise[14:20, 20:33] = 0
    y, x = np.mgrid[0:61, 0:45]
    grad = np.stack([x * 255 // 44, y * 255 // 60, (x + y) * 255 // 104], axis=-1).astype(np.uint8)
    return {"noise": Image.fromarray(noise, "RGB"), "gradient": Image.fromarray(grad, "RGB")}


RESIZES = {
    "noise": [(64, 41), (13, 9), (37, 10), (20, 50), (100, 7), (5, 23)],
    "gradient": [(30, 40), (224, 304), (17, 61), (45, 19)],
}


def shortest_edge_size(h, w, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)


def center_crop(a, ch, cw):  # a: HWC, transformers.image_transforms.center_crop
    h, w = a.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return a[top:top + ch, left:left + cw]
    nh, nw = max(ch, h), max(cw, w)
    out = np.zeros((nh, nw, 3), a.dtype)
    tp, lp = int(np.ceil((nh - h) / 2)), int(np.ceil((nw - w) / 2))
    out[tp:tp + h, lp:lp + w] = a
    top, left = top + tp, left + lp
    return out[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


def clip_preprocess(img, size, crop):
    img = img.convert("RGB")
    h, w = shortest_edge_size(img.height, img.width, size)
    a = np.array(img.resize((w, h), Image.BICUBIC, reducing_gap=None))
    a = center_crop(a, crop, crop)
    a = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    a = (a - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return a.transpose(2, 0, 1)[None].astype(np.float32)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(out):
    os.makedirs(out, exist_ok=True)
    ims = images()
    for name, im in ims.items():
        im.save(os.path.join(out, f"in_{name}.png"))
        for w, h in RESIZES[name]:
            im.resize((w, h), Image.BICUBIC).save(os.path.join(out, f"resize_{name}_{w}x{h}.png"))
    grad = ims["gradient"]
    grad.save(os.path.join(out, "gradient.jpg"), quality=95)
    grad.save(os.path.join(out, "gradient.bmp"))
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("parameters", PARAMETERS)
    info.add_text("Comment", "caf\u00e9")
    pal = ims["noise"].convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.save(os.path.join(out, "palette_trns.png"), transparency=3)
    pal.convert("RGB").save(os.path.join(out, "palette_as_rgb.png"))
    ims["noise"].convert("L").save(os.path.join(out, "grey.png"))
    rgba = grad.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(os.path.join(out, "params_pil.png"), pnginfo=info)
    tensors = {}
    for name, im in ims.items():
        for size, crop in ((32, 32), (64, 48), (20, 24)):
            tensors[f"{name}_{size}_{crop}"] = clip_preprocess(im, size, crop)
    write_safetensors(os.path.join(out, "pixel_values.safetensors"), tensors)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/clip_preprocess")
