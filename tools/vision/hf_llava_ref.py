#!/usr/bin/env python3
"""Makes a tiny random LlavaForConditionalGeneration and its exact float32 outputs for hayate.

    python3 hf_llava_ref.py --out tests/data/vision/ref

Writes OUT/hf/ (config.json, model.safetensors, tokenizer.json, tokenizer_config.json: what
`hayate convert` reads) and, for one fixed pixel tensor and prompt:
  pixels.f32        3 x 56 x 56 float32, already normalised (no image processor is involved)
  features.f32      the vision tower's selected features: hidden_states[vision_feature_layer]
                    without the class token, 16 x 64
  image_embeds.f32  the projector's output, 16 x 64 (the language model's width)
  logits.f32        the language model's logits for every prompt position, positions x vocab
  reference.json    shapes, the prompt ids, the image token id and positions, 16 greedy ids
                    (recomputed from scratch each step) with their margins, and the versions

All little-endian float32, row-major. The model is CLIP (2 layers, hidden 64, 4 heads, image 56,
patch 14, quick_gelu) + the mlp projector (gelu) + llama (2 layers, hidden 64, 4 heads, 2 KV
heads); vision_feature_layer -2, select strategy "default". Deterministic: seeded weights, CPU,
float32, eager attention, one thread. Needs torch, transformers (4.5x or 5.x), tokenizers; no
network, no GPU.
"""

import argparse
import inspect
import json
import os
import struct
import sys

IMAGE = 56
PATCH = 14
N_PATCHES = (IMAGE // PATCH) ** 2
GREEDY = 16
SPECIALS = ["<s>", "</s>", "<image>"]


def log(message):
    print(message, file=sys.stderr, flush=True)


def make_tokenizer(out_dir):
    """Byte-level BPE over the 256 byte symbols and no merges, plus three specials: every text
    encodes, and hayate's converter reads it as any GPT-2 style tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    bos = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                             special_tokens=[("<s>", bos)])
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "add_bos_token": True, "clean_up_tokenization_spaces": False,
                   "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                                    "{% if add_generation_prompt %}assistant: {% endif %}"}, f, indent=2)
    return tokenizer


def accepted(cls, **kwargs):
    """The keyword arguments this config class takes (names moved between transformers versions)."""
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    return {k: v for k, v in kwargs.items() if k in params or takes_any}


def make_config(vocab_size, image_token):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              image_size=IMAGE, patch_size=PATCH, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                              projection_dim=64, num_channels=3)
    text = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=256, rms_norm_eps=1e-5,
                       rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=vocab_size - 3,
                       eos_token_id=vocab_size - 2)
    params = inspect.signature(LlavaConfig.__init__).parameters
    token_key = "image_token_id" if "image_token_id" in params else "image_token_index"
    config = LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-2,
                         vision_feature_select_strategy="default", projector_hidden_act="gelu",
                         image_seq_length=N_PATCHES, tie_word_embeddings=False, **{token_key: image_token})
    for key in ("image_token_index", "image_token_id"):
        if hasattr(config, key):
            setattr(config, key, image_token)
    return config


def init_std(name):
    """Spreads that make attention, GELU and the argmax all matter (the default 0.02 would not)."""
    if "embed_tokens" in name:
        return 0.5
    if "lm_head" in name:
        return 0.3
    if "class_embedding" in name or "position_embedding" in name:
        return 0.5
    if "patch_embedding" in name:
        return 0.05
    if name.endswith("bias"):
        return 0.1
    if "multi_modal_projector" in name:
        return 0.15
    return 0.1


def randomise(model, seed):
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if ("norm" in name or "layrnorm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(init_std(name) * noise)


def part(model, name):
    """model.model.X in transformers >= 4.52, model.X before."""
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, name):
        return getattr(inner, name)
    return getattr(model, name)


def write_f32(path, tensor):
    import torch
    data = tensor.detach().to(torch.float32).contiguous().reshape(-1).tolist()
    with open(path, "wb") as f:
        f.write(struct.pack(f"<{len(data)}f", *data))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import LlavaForConditionalGeneration
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    hf_dir = os.path.join(args.out, "hf")
    os.makedirs(hf_dir, exist_ok=True)

    tokenizer = make_tokenizer(hf_dir)
    vocab_size = tokenizer.get_vocab_size()
    image_token = tokenizer.token_to_id("<image>")
    config = make_config(vocab_size, image_token)
    try:
        model = LlavaForConditionalGeneration._from_config(config, attn_implementation="eager")
    except TypeError:
        config._attn_implementation = "eager"
        model = LlavaForConditionalGeneration(config)
    model = model.to(torch.float32).eval()
    randomise(model, args.seed)
    model.save_pretrained(hf_dir, safe_serialization=True)
    if not os.path.isfile(os.path.join(hf_dir, "model.safetensors")):
        sys.exit(f"{hf_dir}: save_pretrained wrote no single model.safetensors: {sorted(os.listdir(hf_dir))}")

    generator = torch.Generator().manual_seed(args.seed + 1)
    pixels = torch.randn((1, 3, IMAGE, IMAGE), generator=generator, dtype=torch.float32).clamp(-2.0, 2.0)
    before = tokenizer.encode("Look at this: ").ids  # with <s>
    after = tokenizer.encode(" What is it?", add_special_tokens=False).ids
    prompt = before + [image_token] * N_PATCHES + after
    image_positions = [len(before), N_PATCHES]

    with torch.no_grad():
        tower = part(model, "vision_tower")
        out = tower(pixels, output_hidden_states=True)
        features = out.hidden_states[config.vision_feature_layer][:, 1:]
        embeds = part(model, "multi_modal_projector")(features)
        logits = model(input_ids=torch.tensor([prompt]), pixel_values=pixels, use_cache=False).logits[0]

        ids, tokens, margins = list(prompt), [], []
        for _ in range(GREEDY):
            last = model(input_ids=torch.tensor([ids]), pixel_values=pixels, use_cache=False).logits[0, -1]
            top2 = torch.topk(last, 2)
            best = int(torch.argmax(last))
            tokens.append(best)
            margins.append(float(top2.values[0] - top2.values[1]))
            ids.append(best)

    write_f32(os.path.join(args.out, "pixels.f32"), pixels[0])
    write_f32(os.path.join(args.out, "features.f32"), features[0])
    write_f32(os.path.join(args.out, "image_embeds.f32"), embeds[0])
    write_f32(os.path.join(args.out, "logits.f32"), logits)
    reference = {
        "image_size": IMAGE, "patch_size": PATCH, "n_patches": N_PATCHES,
        "features_shape": list(features[0].shape), "image_embeds_shape": list(embeds[0].shape),
        "logits_shape": list(logits.shape), "prompt": prompt, "image_token_id": image_token,
        "image_position": image_positions[0], "image_tokens": image_positions[1],
        "greedy": tokens, "greedy_margins": margins,
        "torch": torch.__version__, "transformers": transformers.__version__,
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    log(f"wrote {args.out}: prompt of {len(prompt)} ids ({N_PATCHES} image tokens at {image_positions[0]}), "
        f"greedy {tokens}")


if __name__ == "__main__":
    main()
