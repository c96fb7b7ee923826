#!/usr/bin/env python3
"""Tiny random gemma3, phi3 and mistral models with their exact float32 outputs, for hayate's tests.

    python3 make_family_models.py --out DIR

Writes DIR/mistral, DIR/gemma3 and DIR/phi3 in the layout of make_hf_models.py (config.json,
model.safetensors, tokenizer files, logits_<i>.f32, reference.json), reusing its tokenizer,
prompt, greedy and file-writing code; only the configurations and weight spreads are new here.

  mistral  MistralForCausalLM, sliding_window 8 (exactly make_hf_models.py's entry)
  gemma3   Gemma3ForCausalLM: layers sliding / full / sliding with a window of 8, different RoPE
           bases per layer kind and linear scaling (factor 2) on the full layer only, head_dim 48
           with query_pre_attn_scalar 64, q/k norms, pre+post norms (weights around 0, as Gemma's
           x * (1 + w) norm has them), GELU-tanh, tied embeddings scaled by sqrt(hidden)
  phi3     Phi3ForCausalLM: fused qkv_proj and gate_up_proj, LongRoPE with
           original_max_position_embeddings 8 and max_position_embeddings 128; every prompt but the
           last is longer than 8, so transformers uses the long factors for all of them; the last
           (5 ids) stays within 8 and exercises the short factors. transformers picks the factors
           per call by the sequence's length; hayate (as llama.cpp) by its context size, so
           reference.json gets "ctx_size" (the context each prompt is to be run with: 128, or 8
           for the short one) and the short prompt keeps only the 3 greedy tokens whose whole
           sequence stays within 8 positions

CPU only, one thread, eager attention, float32; about 20 s. Needs torch, transformers (4.5x or
5.x), tokenizers and numpy.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_hf_models as base  # noqa: E402

LAYER_TYPES = ["sliding_attention", "full_attention", "sliding_attention"]
GEMMA_WINDOW = 8
GEMMA_GLOBAL_THETA = 100000.0
GEMMA_LOCAL_THETA = 10000.0
GEMMA_LINEAR_FACTOR = 2.0
GEMMA_HEAD_DIM = 48
GEMMA_QUERY_SCALAR = 64
PHI3_ORIGINAL_CONTEXT = 8
PHI3_MAX_POSITIONS = 128
PHI3_ROPE_DIM = base.HIDDEN // base.HEADS
PHI3_SHORT = [round(1.0 + 0.03 * i, 4) for i in range(PHI3_ROPE_DIM // 2)]
PHI3_LONG = [round(1.0 + 0.6 * i, 4) for i in range(PHI3_ROPE_DIM // 2)]

GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"]
PHI3_SPECIALS = ["<s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
GEMMA_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}{%- set role = 'model' %}{%- else %}{%- set role = message['role'] %}{%- endif %}"
    "{{- '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<start_of_turn>model\\n' }}{%- endif %}"
)
PHI3_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- else %}{{- eos_token }}{%- endif %}"
)

MODELS = {
    "mistral": dict(base.MODELS["mistral"], prompts=base.PROMPT_LENGTHS),
    "gemma3": dict(arch="gemma3", tie=True, rope=None, specials=GEMMA_SPECIALS, extra_tokens=[],
                   bos="<bos>", eos=["<eos>", "<end_of_turn>"], pad="<pad>", add_bos=True,
                   template=GEMMA_TEMPLATE, prompts=base.PROMPT_LENGTHS),
    "phi3": dict(arch="phi3", tie=False, rope=None, specials=PHI3_SPECIALS, extra_tokens=[],
                 bos="<s>", eos=["<|endoftext|>", "<|end|>"], pad="<|endoftext|>", add_bos=True,
                 template=PHI3_TEMPLATE, prompts=(9, 12, 33, 5)),
}


def fail(message):
    sys.exit(f"make_family_models: {message}")


def build_config(cls, attempts):
    """The first keyword set the installed class accepts; transformers 4.x and 5.x name RoPE
    settings differently, and a refused set raises rather than being silently dropped."""
    errors = []
    for label, kwargs in attempts:
        try:
            config = cls(**kwargs)
            base.log(f"  config built with the {label} keywords")
            return config
        except Exception as e:  # noqa: BLE001 - try the next spelling
            errors.append(f"{label}: {type(e).__name__}: {e}")
    fail("no keyword set was accepted:\n  " + "\n  ".join(errors))


def common_kwargs(spec, tokenizer):
    eos = [base.token_id(tokenizer, t) for t in spec["eos"]]
    return dict(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        hidden_size=base.HIDDEN, intermediate_size=base.INTERMEDIATE, num_hidden_layers=base.LAYERS,
        num_attention_heads=base.HEADS, num_key_value_heads=base.KV_HEADS,
        tie_word_embeddings=spec["tie"], bos_token_id=base.token_id(tokenizer, spec["bos"]),
        eos_token_id=eos[0] if len(eos) == 1 else eos, pad_token_id=base.token_id(tokenizer, spec["pad"]),
        attention_dropout=0.0,
    )


def gemma3_rope_of(config):
    """(global theta, local theta, global rope parameters) as the built config holds them."""
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and "full_attention" in params:
        full, local = params["full_attention"], params["sliding_attention"]
        return full.get("rope_theta"), local.get("rope_theta"), full, local
    scaling = getattr(config, "rope_scaling", None) or {}
    return config.rope_theta, config.rope_local_base_freq, scaling, {}


def make_gemma3_config(spec, tokenizer):
    import transformers
    cls = getattr(transformers, "Gemma3TextConfig", None)
    if cls is None:
        fail(f"transformers {transformers.__version__} has no Gemma3TextConfig")
    kwargs = common_kwargs(spec, tokenizer)
    kwargs.update(head_dim=GEMMA_HEAD_DIM, query_pre_attn_scalar=GEMMA_QUERY_SCALAR, sliding_window=GEMMA_WINDOW,
                  layer_types=list(LAYER_TYPES), max_position_embeddings=base.MAX_POSITIONS, rms_norm_eps=1e-6,
                  hidden_activation="gelu_pytorch_tanh", final_logit_softcapping=None, attn_logit_softcapping=None,
                  attention_bias=False)
    linear = {"rope_type": "linear", "factor": GEMMA_LINEAR_FACTOR}
    v5 = dict(kwargs, rope_parameters={
        "full_attention": dict(linear, rope_theta=GEMMA_GLOBAL_THETA),
        "sliding_attention": {"rope_type": "default", "rope_theta": GEMMA_LOCAL_THETA}})
    v4 = dict(kwargs, rope_theta=GEMMA_GLOBAL_THETA, rope_local_base_freq=GEMMA_LOCAL_THETA, rope_scaling=dict(linear))
    attempts = ([("rope_parameters", v5)] if base.accepts(cls, "rope_parameters") else []) + [("rope_theta", v4)]
    config = build_config(cls, attempts)
    full_theta, local_theta, full, local = gemma3_rope_of(config)
    if (full_theta, local_theta) != (GEMMA_GLOBAL_THETA, GEMMA_LOCAL_THETA):
        fail(f"gemma3 config holds RoPE bases {full_theta}/{local_theta}, not {GEMMA_GLOBAL_THETA}/{GEMMA_LOCAL_THETA}")
    if full.get("rope_type", full.get("type")) != "linear" or float(full.get("factor", 0)) != GEMMA_LINEAR_FACTOR:
        fail(f"gemma3 config lost the linear scaling of its full layers: {full}")
    if local and local.get("rope_type", "default") != "default":
        fail(f"gemma3 config scales the sliding layers' RoPE too: {local}")
    if list(config.layer_types) != LAYER_TYPES:
        fail(f"gemma3 config has layer_types {config.layer_types}")
    return config


def make_phi3_config(spec, tokenizer):
    import transformers
    cls = getattr(transformers, "Phi3Config", None)
    if cls is None:
        fail(f"transformers {transformers.__version__} has no Phi3Config")
    kwargs = common_kwargs(spec, tokenizer)
    kwargs.update(max_position_embeddings=PHI3_MAX_POSITIONS, rms_norm_eps=base.RMS_EPS, hidden_act="silu",
                  resid_pdrop=0.0, embd_pdrop=0.0, sliding_window=None)
    if base.accepts(cls, "original_max_position_embeddings"):
        kwargs["original_max_position_embeddings"] = PHI3_ORIGINAL_CONTEXT
    factors = {"short_factor": list(PHI3_SHORT), "long_factor": list(PHI3_LONG)}
    v5 = dict(kwargs, rope_parameters=dict(factors, rope_type="longrope", rope_theta=base.ROPE_THETA,
                                           original_max_position_embeddings=PHI3_ORIGINAL_CONTEXT))
    v4 = dict(kwargs, rope_theta=base.ROPE_THETA, rope_scaling=dict(factors, type="longrope"))
    attempts = ([("rope_parameters", v5)] if base.accepts(cls, "rope_parameters") else []) + [("rope_scaling", v4)]
    config = build_config(cls, attempts)
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if params.get("rope_type", params.get("type")) not in ("longrope", "su") or params.get("long_factor") != PHI3_LONG:
        fail(f"phi3 config does not hold the LongRoPE settings: {params}")
    return config


def make_config(spec, tokenizer):
    if spec["arch"] == "gemma3":
        return make_gemma3_config(spec, tokenizer)
    if spec["arch"] == "phi3":
        return make_phi3_config(spec, tokenizer)
    return ORIGINAL_MAKE_CONFIG(spec, tokenizer)


STDS = (("embed_tokens", None), ("lm_head", 0.3), ("qkv_proj", 0.15), ("q_proj", 0.15), ("k_proj", 0.15),
        ("v_proj", 0.1), ("o_proj", 0.1), ("gate_up_proj", 0.1), ("gate_proj", 0.1), ("up_proj", 0.1),
        ("down_proj", 0.07))


def randomise(model, seed, tied):
    import torch
    if model.config.model_type not in ("gemma3_text", "phi3"):
        return ORIGINAL_RANDOMISE(model, seed, tied)
    gemma = model.config.model_type == "gemma3_text"
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if "norm" in name and name.endswith("weight"):
                # Gemma's RMSNorm scales by 1 + w, so its weights sit around 0, except q/k norms at
                # 1 (a scale of 2): unit-RMS q and k would otherwise leave attention nearly flat.
                centre = 1.0 if not gemma or name.endswith(("q_norm.weight", "k_norm.weight")) else 0.0
                p.copy_(centre + 0.1 * noise)
                continue
            std = next((s for part, s in STDS if part in name), "missing")
            if std == "missing":
                fail(f"no initialisation rule for parameter {name}")
            if std is None:  # the scaled Gemma table would otherwise swamp every layer's output
                std = 0.15 if gemma else (0.2 if tied else 0.5)
            p.copy_(std * noise)


ORIGINAL_MAKE_CONFIG = base.make_config
ORIGINAL_RANDOMISE = base.randomise


def limit_phi3_reference(out_dir):
    """Adds "ctx_size" and cuts the short prompt's greedy run where transformers would switch to
    the long factors (a sequence longer than the original context)."""
    import json
    path = os.path.join(out_dir, "reference.json")
    with open(path, encoding="utf-8") as f:
        ref = json.load(f)
    ctx, keep = [], []
    for prompt in ref["prompts"]:
        short = len(prompt) <= PHI3_ORIGINAL_CONTEXT
        ctx.append(PHI3_ORIGINAL_CONTEXT if short else PHI3_MAX_POSITIONS)
        keep.append(PHI3_ORIGINAL_CONTEXT - len(prompt) if short else None)
    for i, n in enumerate(keep):
        if n is not None:
            for key in ("greedy", "greedy_margin"):
                ref[key][i] = ref[key][i][:n]
            ref["generate_agrees"][i] = None
    ref["ctx_size"] = ctx
    with open(path, "w", encoding="utf-8") as f:
        f.write(base.compact_json(ref))
    base.log(f"  phi3: ctx_size {ctx}; greedy runs kept {[len(g) for g in ref['greedy']]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to create the model folders in")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS))
    args = parser.parse_args()
    try:
        import numpy  # noqa: F401
        import tokenizers
        import torch
        import transformers
    except ImportError as e:
        fail(f"missing package: {e.name}")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    base.log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    # make_hf_models.py's build_model_dir reads these module globals: point them at this file's.
    base.make_config = make_config
    base.randomise = randomise
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name in args.only or MODELS:
        spec = MODELS[name]
        base.PROMPT_LENGTHS = spec["prompts"]
        try:
            base.build_model_dir(name, spec, args.out, args.vocab_size)
            if name == "phi3":
                limit_phi3_reference(os.path.join(args.out, name))
        except SystemExit as e:  # one family failing must not cost the others their references
            base.log(f"{name} FAILED: {e}")
            failed.append(name)
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            base.log(f"{name} FAILED: {type(e).__name__}: {e}")
            failed.append(name)
    base.log("done" if not failed else f"done; FAILED: {' '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
