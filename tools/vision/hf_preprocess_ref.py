#!/usr/bin/env python3
"""Reference tensors for hayate's image preprocessing, from Hugging Face's image processors.

Run on a machine with transformers and Pillow (the GPU machine has them):

    python3 tools/vision/hf_preprocess_ref.py --out DIR   # default tests/data/images/ref/

The processors are the PIL-based ones on purpose: transformers 5 made the torchvision backend the
default (`CLIPImageProcessor` resizes torch tensors there, 1-2 steps of the 8-bit scale away from
PIL's bicubic) and kept the PIL path as `CLIPImageProcessorPil` / `Qwen2VLImageProcessorPil`;
transformers 4 had it as the plain class (`use_fast=False`). hayate follows PIL's resampling, so
the script refuses any other backend rather than writing a reference that cannot match.

For each case it loads the image as transformers' load_image does (PIL, exif_transpose,
convert("RGB")), runs the processor, and writes the normalised tensor as little-endian float32
in 3 x H x W order (Qwen2-VL's patches are put back into an image), plus ref/manifest.json. Once
the manifest is committed, CMake registers image_reference_test, which runs hayate's decode +
preprocess on the same files and compares within 1e-5.

--emulate follows the same steps with PIL and numpy alone (no transformers): only for checking
the test's plumbing on a machine without transformers, never to commit.
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps

# Relative to the repository, not the working directory: the reference machine may run it from anywhere.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = os.path.join(ROOT, "tests/data/images")
OUT = os.path.join(IMAGES, "ref")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# Odd sizes, grey, RGBA, LA, palette, WebP, GIF, every EXIF orientation, a photo-sized JPEG.
SMALL = ["rgb_37x23.png", "rgb_61x45.jpg", "grey_50x31.png", "grey_33x17.jpg", "rgba_40x30.png", "la_21x13.png",
         "palette_29x19.png", "rgb_interlaced_26x18.png", "rgb_30x20.webp", "rgba_30x20.webp", "anim_24x16.gif"] + \
        [f"exif{o}_48x32.jpg" for o in range(1, 9)]
CASES = [(name, {"processor": "clip", "size": 64}) for name in SMALL]
CASES += [(name, {"processor": "clip", "size": 336}) for name in ["rgb_61x45.jpg", "rgba_40x30.png"]]
CASES += [(name, {"processor": "qwen2vl", "min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280}) for name in SMALL]
CASES += [("photo_1024x768.jpg", {"processor": "clip", "size": 336}),
          ("photo_1024x768.jpg", {"processor": "qwen2vl", "min_pixels": 56 * 56, "max_pixels": 28 * 28 * 128})]


def load_image(path):
    image = ImageOps.exif_transpose(Image.open(path))
    return image.convert("RGB")


def unpatchify(pixel_values, grid_thw, patch=14, merge=2, temporal=2):
    """Qwen2-VL's (t*h*w, c*tp*p*p) patches back to 3 x H x W (the first temporal copy)."""
    t, gh, gw = (int(v) for v in grid_thw)
    x = np.asarray(pixel_values, dtype=np.float32).reshape(t, gh // merge, gw // merge, merge, merge, 3, temporal,
                                                           patch, patch)
    x = x[0, :, :, :, :, :, 0]  # (gh/m, gw/m, mh, mw, c, ph, pw)
    x = x.transpose(4, 0, 2, 5, 1, 3, 6)  # (c, gh/m, mh, ph, gw/m, mw, pw)
    return x.reshape(3, gh * patch, gw * patch)


def pil_processor_class(model):
    """The PIL-backed image processor class of `model` ("CLIP", "Qwen2VL") in transformers 5 or 4."""
    import transformers
    cls = getattr(transformers, f"{model}ImageProcessorPil", None)
    if cls is not None:
        return cls
    # transformers 4: the plain class is the PIL one (use_fast only matters to AutoImageProcessor).
    return getattr(transformers, f"{model}ImageProcessor")


def checked_pil(proc):
    name = type(proc).__name__
    backend = str(getattr(proc, "backend", "pil")).lower()
    if name.endswith("Fast") or "pil" not in backend or "torch" in backend:
        sys.exit(f"{name} uses the {backend} backend, not PIL: the reference would not be PIL's bicubic")
    return proc


def hf_tensor(image, params):
    if params["processor"] == "clip":
        cls = pil_processor_class("CLIP")
        proc = checked_pil(cls(size={"shortest_edge": params["size"]},
                               crop_size={"height": params["size"], "width": params["size"]}))
        out = proc(images=image, return_tensors="np")
        return np.asarray(out["pixel_values"][0], dtype=np.float32), type(proc).__name__
    cls = pil_processor_class("Qwen2VL")
    proc = checked_pil(cls(min_pixels=params["min_pixels"], max_pixels=params["max_pixels"]))
    out = proc(images=image, return_tensors="np")
    return unpatchify(out["pixel_values"], out["image_grid_thw"][0]), type(proc).__name__


def emulated_tensor(image, params):
    """The processors' steps by hand: PIL bicubic resize, numpy crop, rescale, normalise."""
    w, h = image.size
    if params["processor"] == "clip":
        s = params["size"]
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(s * long / short)
        size = (s, new_long) if w <= h else (new_long, s)
        arr = np.asarray(image.resize(size, resample=Image.BICUBIC))
        top, left = (arr.shape[0] - s) // 2, (arr.shape[1] - s) // 2
        arr = arr[top:top + s, left:left + s]
    else:
        import math
        f = 28
        hb, wb = round(h / f) * f, round(w / f) * f
        if hb * wb > params["max_pixels"]:
            beta = math.sqrt(h * w / params["max_pixels"])
            hb, wb = max(f, math.floor(h / beta / f) * f), max(f, math.floor(w / beta / f) * f)
        elif hb * wb < params["min_pixels"]:
            beta = math.sqrt(params["min_pixels"] / (h * w))
            hb, wb = math.ceil(h * beta / f) * f, math.ceil(w * beta / f) * f
        arr = np.asarray(image.resize((wb, hb), resample=Image.BICUBIC))
    x = (arr.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    return x.transpose(2, 0, 1).astype(np.float32), "emulated"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--emulate", action="store_true", help="PIL + numpy only (plumbing checks, not a reference)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = {"source": "emulated" if args.emulate else "transformers", "cases": []}
    if not args.emulate:
        import transformers
        import PIL
        manifest["transformers"] = transformers.__version__
        manifest["pillow"] = PIL.__version__
        manifest["numpy"] = np.__version__
    for i, (name, params) in enumerate(CASES):
        image = load_image(os.path.join(IMAGES, name))
        tensor, processor = (emulated_tensor if args.emulate else hf_tensor)(image, params)
        tensor = np.ascontiguousarray(tensor, dtype="<f4")
        assert tensor.ndim == 3 and tensor.shape[0] == 3, tensor.shape
        fname = f"{i:02d}_{name}.{params['processor']}.f32"
        tensor.tofile(os.path.join(args.out, fname))
        manifest["cases"].append(dict(params, image=name, file=fname, processor_class=processor,
                                      height=int(tensor.shape[1]), width=int(tensor.shape[2])))
        print(f"{fname}: {tensor.shape[1]}x{tensor.shape[2]} ({processor})", file=sys.stderr)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
