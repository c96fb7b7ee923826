#!/usr/bin/env python3
"""Makes tiny random Mixture-of-Experts models, and their exact float32 outputs, for hayate's tests.

    python3 make_hf_moe.py --out DIR

Writes DIR/<name>/ for
  qwen3_moe         Qwen3MoeForCausalLM, 8 experts, top-2, norm_topk_prob true, q/k norms, head_dim 48,
                    tied embeddings
  qwen3_moe_unnorm  the same with norm_topk_prob false (routing weights not renormalised), 2 layers
  mixtral           MixtralForCausalLM, 4 experts, top-2, sliding_window 8 (shorter than the 33-id prompt)
with the files make_hf_models.py writes (config.json, model.safetensors, tokenizer files,
logits_<i>.f32, reference.json). The safetensors file always holds the per-expert tensors checkpoints
on the Hub have (Mixtral: block_sparse_moe.experts.N.w1/w2/w3, Qwen3-MoE: mlp.experts.N.gate_proj/...):
transformers 5 keeps experts fused in memory (experts.gate_up_proj [E, 2I, H], experts.down_proj
[E, H, I]); when save_pretrained writes that layout the script splits it back and checks that the
folder reloads to identical logits. reference.json records which layout transformers saved.

CPU only, one thread, eager attention (and eager experts where transformers has a switch for it).
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_hf_models as base  # noqa: E402  (shared tokenizer, greedy and file helpers)

EXPERTS_SEED_SALT = "/moe"

MODELS = {
    "qwen3_moe": dict(arch="qwen3_moe", tie=True, layers=3, experts=8, top_k=2, expert_ff=32, norm_topk=True,
                      sliding_window=None, specials=base.QWEN_SPECIALS, extra_tokens=["<think>", "</think>"],
                      bos=None, eos=["<|im_end|>"], pad="<|endoftext|>", add_bos=False,
                      template=base.QWEN3_TEMPLATE, rope=None),
    "qwen3_moe_unnorm": dict(arch="qwen3_moe", tie=True, layers=2, experts=8, top_k=2, expert_ff=32, norm_topk=False,
                             sliding_window=None, specials=base.QWEN_SPECIALS, extra_tokens=["<think>", "</think>"],
                             bos=None, eos=["<|im_end|>"], pad="<|endoftext|>", add_bos=False,
                             template=base.QWEN3_TEMPLATE, rope=None),
    "mixtral": dict(arch="mixtral", tie=False, layers=3, experts=4, top_k=2, expert_ff=48, norm_topk=True,
                    sliding_window=8, specials=base.LLAMA_SPECIALS, extra_tokens=[],
                    bos="<|begin_of_text|>", eos=["<|end_of_text|>"], pad=None, add_bos=True,
                    template=base.LLAMA_TEMPLATE, rope=None),
}

log = base.log


def config_class(arch):
    import transformers
    name = {"qwen3_moe": "Qwen3MoeConfig", "mixtral": "MixtralConfig"}[arch]
    cls = getattr(transformers, name, None)
    if cls is None:
        sys.exit(f"transformers {transformers.__version__} has no {name}")
    return cls


def make_config(spec, tokenizer):
    cls = config_class(spec["arch"])
    eos = [base.token_id(tokenizer, t) for t in spec["eos"]]
    kwargs = dict(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        hidden_size=base.HIDDEN,
        num_hidden_layers=spec["layers"],
        num_attention_heads=base.HEADS,
        num_key_value_heads=base.KV_HEADS,
        max_position_embeddings=base.MAX_POSITIONS,
        rms_norm_eps=base.RMS_EPS,
        hidden_act="silu",
        tie_word_embeddings=spec["tie"],
        bos_token_id=base.token_id(tokenizer, spec["bos"] or spec["pad"]),
        eos_token_id=eos[0] if len(eos) == 1 else eos,
        pad_token_id=base.token_id(tokenizer, spec["pad"]),
        attention_dropout=0.0,
        num_experts_per_tok=spec["top_k"],
        output_router_logits=False,
    )
    if spec["arch"] == "qwen3_moe":
        kwargs.update(head_dim=48, intermediate_size=base.INTERMEDIATE, moe_intermediate_size=spec["expert_ff"],
                      num_experts=spec["experts"], norm_topk_prob=spec["norm_topk"], decoder_sparse_step=1,
                      mlp_only_layers=[], use_sliding_window=False)
    else:
        kwargs.update(intermediate_size=spec["expert_ff"], num_local_experts=spec["experts"],
                      sliding_window=spec["sliding_window"], router_jitter_noise=0.0)
    config = cls(**kwargs, **base.rope_kwargs(cls, spec["rope"]))
    for key, value in kwargs.items():  # a renamed field would be kept as a stray attribute: catch it here
        if key not in ("bos_token_id", "eos_token_id", "pad_token_id") and getattr(config, key, None) != value:
            sys.exit(f"{cls.__name__}: {key} reads back as {getattr(config, key, None)!r}, not {value!r}")
        if key not in getattr(cls, "__dataclass_fields__", {}) and not base.accepts(cls, key):
            log(f"  note: {cls.__name__} has no declared field {key}")
    try:  # transformers 5 may pick a grouped-matmul kernel for experts; the loop is the plain one
        config._experts_implementation = "eager"
    except Exception as e:  # noqa: BLE001 - an optional switch
        log(f"  note: cannot set _experts_implementation: {e}")
    return config


def init_rule(name, tied):
    """Like make_hf_models.init_std, plus the router and the experts under both naming schemes."""
    if name.endswith(".gate.weight") or name.endswith(".router.weight"):
        return 0.2  # router logits spread over a few units: top-k is decided by clear gaps
    if "experts" in name:
        return 0.07 if ("down" in name or ".w2" in name) else 0.1
    return base.init_std(name, tied)


def randomise(model, seed, tied):
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(init_rule(name, tied) * noise)


def hub_names(arch, layer, expert):
    if arch == "mixtral":
        p = f"model.layers.{layer}.block_sparse_moe.experts.{expert}."
        return p + "w1.weight", p + "w3.weight", p + "w2.weight"
    p = f"model.layers.{layer}.mlp.experts.{expert}."
    return p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight"


def to_hub_layout(out_dir, spec):
    """Rewrites model.safetensors with per-expert 2-D tensors when transformers saved fused ones.
    Returns the layout transformers wrote ("per-expert" or "fused")."""
    from safetensors.torch import load_file, save_file
    path = os.path.join(out_dir, "model.safetensors")
    tensors = load_file(path)
    fused = [k for k in tensors if k.endswith("experts.gate_up_proj") or k.endswith("experts.down_proj")]
    if not fused:
        return "per-expert"
    hidden, ff, arch = base.HIDDEN, spec["expert_ff"], spec["arch"]
    out = {}
    for key, t in tensors.items():
        if arch == "mixtral" and ".mlp.gate." in key:  # Hub Mixtral names its router block_sparse_moe.gate
            out[key.replace(".mlp.gate.", ".block_sparse_moe.gate.")] = t.contiguous()
            continue
        if key not in fused:
            out[key] = t.contiguous()
            continue
        layer = int(key.split("model.layers.")[1].split(".")[0])
        n = t.shape[0]
        for e in range(n):
            gate_name, up_name, down_name = hub_names(arch, layer, e)
            m = t[e]
            if key.endswith("gate_up_proj"):
                if tuple(m.shape) == (hidden, 2 * ff):  # a transposed layout: [H, 2I]
                    m = m.t()
                if tuple(m.shape) != (2 * ff, hidden):
                    sys.exit(f"{key}: unexpected shape {tuple(t.shape)}")
                out[gate_name] = m[:ff].contiguous().clone()
                out[up_name] = m[ff:].contiguous().clone()
            else:
                if tuple(m.shape) == (ff, hidden):
                    m = m.t()
                if tuple(m.shape) != (hidden, ff):
                    sys.exit(f"{key}: unexpected shape {tuple(t.shape)}")
                out[down_name] = m.contiguous().clone()
    save_file(out, path, metadata={"format": "pt"})
    return "fused"


def build_model_dir(name, spec, out_root, vocab_size):
    import torch
    import transformers

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    log(f"{name}:")
    tokenizer = base.train_tokenizer(spec, vocab_size)
    base.write_tokenizer_files(tokenizer, spec, out_dir)
    n_vocab = tokenizer.get_vocab_size(with_added_tokens=True)

    config = make_config(spec, tokenizer)
    model = base.make_model(config)
    randomise(model, base.stable_seed(name + EXPERTS_SEED_SALT), spec["tie"])
    names = [n for n, _ in model.named_parameters() if ".layers.0." in n]
    log(f"  {type(model).__name__}: {sum(p.numel() for p in model.parameters())} parameters; layer 0: {names}")
    log(f"  experts implementation: {getattr(model.config, '_experts_implementation', 'n/a')}")

    rng = random.Random(base.stable_seed(name + "/prompts"))
    special = set(tokenizer.token_to_id(t) for t in spec["specials"] + spec["extra_tokens"])
    ordinary = [i for i in range(n_vocab) if i not in special]
    prompts = [[rng.choice(ordinary) for _ in range(n)] for n in base.PROMPT_LENGTHS]

    reference = {
        "model": name,
        "architecture": type(model).__name__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "vocab_size": n_vocab,
        "experts": spec["experts"],
        "experts_per_token": spec["top_k"],
        "norm_topk_prob": spec["norm_topk"],
        "prompts": prompts,
        "logits": [],
        "greedy": [],
        "greedy_margin": [],
        "generate_agrees": [],
    }
    all_logits = []
    for i, prompt in enumerate(prompts):
        logits = base.logits_of(model, prompt)
        all_logits.append(logits)
        file = f"logits_{i}.f32"
        logits.contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, file))
        reference["logits"].append({"file": file, "shape": list(logits.shape), "dtype": "float32",
                                    "order": "little-endian, row-major"})
        tokens, margins = base.greedy(model, prompt, base.GREEDY_TOKENS)
        reference["greedy"].append(tokens)
        reference["greedy_margin"].append([round(m, 6) for m in margins])
        cached = base.greedy_with_generate(model, prompt, base.GREEDY_TOKENS)
        reference["generate_agrees"].append(None if cached is None else cached == tokens)
        log(f"  prompt {i}: {len(prompt)} tokens, greedy {tokens[:8]}..., smallest margin {min(margins):.3g}")

    base.save_model(model, out_dir)
    base.add_legacy_rope_keys(out_dir)
    from safetensors import safe_open
    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        reference["saved_layer0_tensors"] = sorted(k for k in f.keys() if ".layers.0." in k)
    import shutil
    saved = os.path.join(out_dir, "model.safetensors")
    shutil.copyfile(saved, saved + ".as-saved")
    reference["saved_layout"] = to_hub_layout(out_dir, spec)
    try:
        difference = base.reload_difference(out_dir, prompts[-1], all_logits[-1])
    except Exception as e:  # noqa: BLE001 - judged below
        log(f"  WARNING: reloading the per-expert layout failed: {type(e).__name__}: {e}")
        difference = float("inf")
    if difference > 1e-5 and reference["saved_layout"] == "fused":
        log(f"  WARNING: the per-expert layout reloads off by {difference:.3g}; keeping the layout transformers saved")
        shutil.copyfile(saved + ".as-saved", saved)
        reference["saved_layout"] = "fused (per-expert rewrite did not reload)"
        difference = base.reload_difference(out_dir, prompts[-1], all_logits[-1])
    os.remove(saved + ".as-saved")
    if difference > 1e-5:
        sys.exit(f"{name}: the model loaded back from {out_dir} gives logits off by {difference:.3g}")
    log(f"  saved layout {reference['saved_layout']}; reloaded: largest difference {difference:.3g}")

    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        f.write(base.compact_json(reference))
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    log(f"  wrote {out_dir} ({size / 1e6:.2f} MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to create the model folders in")
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), help="make only these models")
    args = parser.parse_args()
    import tokenizers
    import torch
    import transformers
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name in args.only or MODELS:
        try:
            build_model_dir(name, MODELS[name], args.out, 1024)
        except SystemExit as e:  # one model's failure must not lose the others' output
            log(f"FAILED {name}: {e}")
            failed.append(name)
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            log(f"FAILED {name}: {type(e).__name__}: {e}")
            failed.append(name)
    log("done" if not failed else f"done, failed: {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
