#!/usr/bin/env python3
"""Writes the small test images of tests/data/images/ and, beside them in expected/, what PIL
makes of them: the decoded RGB bytes (after ImageOps.exif_transpose and convert("RGB"), as
Hugging Face's load_image and convert_to_rgb do) and PIL resizes of some of them. hayate's
unit tests compare its decoder and resampler with these bytes exactly.

Needs numpy and Pillow (Debian: python3-numpy python3-pil). Deterministic: a fixed seed.
Run from the repository root:  python3 tools/vision/make_test_images.py
"""
import io
import json
import os

import numpy as np
from PIL import Image, ImageOps

OUT = "tests/data/images"
rng = np.random.default_rng(19)


def picture(w, h):
    """Gradients plus noise plus a bright square: edges and smooth areas both."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1))
    g = (y * 255 // max(h - 1, 1))
    b = ((x + y) * 7) % 256
    img = np.stack([r, g, b], axis=-1).astype(np.int32)
    img += rng.integers(-20, 21, size=img.shape)
    img[h // 4: h // 2, w // 3: w // 2] = [250, 240, 30]
    return np.clip(img, 0, 255).astype(np.uint8)


def exif_bytes(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def main():
    os.makedirs(OUT + "/expected", exist_ok=True)
    files = {}
    files["rgb_37x23.png"] = lambda f: Image.fromarray(picture(37, 23)).save(f, "PNG")
    files["rgb_61x45.jpg"] = lambda f: Image.fromarray(picture(61, 45)).save(f, "JPEG", quality=90)
    files["grey_50x31.png"] = lambda f: Image.fromarray(picture(50, 31)[:, :, 1]).save(f, "PNG")
    files["grey_33x17.jpg"] = lambda f: Image.fromarray(picture(33, 17)[:, :, 0]).save(f, "JPEG", quality=85)
    rgba = np.dstack([picture(40, 30), rng.integers(0, 256, size=(30, 40), dtype=np.uint8)])
    files["rgba_40x30.png"] = lambda f: Image.fromarray(rgba, "RGBA").save(f, "PNG")
    files["la_21x13.png"] = lambda f: Image.fromarray(rgba[:13, :21, 1:3].copy(), "LA").save(f, "PNG")
    pal = Image.fromarray(picture(29, 19)).quantize(16)
    pal.info["transparency"] = 3
    files["palette_29x19.png"] = lambda f: pal.save(f, "PNG", transparency=3)
    files["rgb_interlaced_26x18.png"] = lambda f: Image.fromarray(picture(26, 18)).save(f, "PNG", interlace=1)
    files["rgb_30x20.webp"] = lambda f: Image.fromarray(picture(30, 20)).save(f, "WEBP", lossless=True)
    files["rgba_30x20.webp"] = lambda f: Image.fromarray(rgba[:20, :30].copy(), "RGBA").save(f, "WEBP", lossless=True)
    frames = [Image.fromarray(picture(24, 16)).quantize(32), Image.fromarray(picture(24, 16)[::-1].copy()).quantize(32)]
    files["anim_24x16.gif"] = lambda f: frames[0].save(f, "GIF", save_all=True, append_images=frames[1:], duration=50)
    base = picture(48, 32)
    for o in range(1, 9):
        files[f"exif{o}_48x32.jpg"] = (lambda o: lambda f: Image.fromarray(base).save(
            f, "JPEG", quality=92, exif=exif_bytes(o)))(o)
    files["photo_1024x768.jpg"] = lambda f: Image.fromarray(picture(1024, 768)).save(f, "JPEG", quality=85)

    manifest = {}
    for name, write in files.items():
        buf = io.BytesIO()
        write(buf)
        data = buf.getvalue()
        with open(f"{OUT}/{name}", "wb") as f:
            f.write(data)
        if name.startswith("photo"):
            continue
        im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        rgb = im.convert("RGB")
        entry = {"width": rgb.width, "height": rgb.height}
        with open(f"{OUT}/expected/{name}.rgb", "wb") as f:
            f.write(rgb.tobytes())
        # PIL's resize in both directions and all three filters, for the resampler's exact test.
        resized = []
        for (w, h, filt) in [(17, 11, "bicubic"), (53, 41, "bicubic"), (19, 29, "bilinear"), (9, 7, "area")]:
            resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "area": Image.BOX}[filt]
            out = rgb.resize((w, h), resample=resample)
            fname = f"{name}.{w}x{h}.{filt}.rgb"
            with open(f"{OUT}/expected/{fname}", "wb") as f:
                f.write(out.tobytes())
            resized.append({"width": w, "height": h, "filter": filt, "file": fname})
        entry["resized"] = resized
        manifest[name] = entry
    with open(f"{OUT}/expected/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
