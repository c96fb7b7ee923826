#!/usr/bin/env python3
"""Makes tiny random Hugging Face models, and their exact float32 outputs, for hayate's tests.

    python3 make_hf_models.py --out DIR

For each of llama, llama3 (llama with llama3 RoPE scaling and tied embeddings), qwen2, qwen3 and
mistral (a sliding window of 8 positions, shorter than the 33-token prompt and the greedy run)
it writes DIR/<name>/ with:
  config.json, generation_config.json, model.safetensors   (save_pretrained, float32)
  tokenizer.json, tokenizer_config.json                     (a byte-level BPE trained here)
  logits_<i>.f32     raw little-endian float32, positions x vocab, row-major, for prompt i
  reference.json     prompts, logits shapes, 64 greedy tokens per prompt and their margins

Everything is deterministic: the training text is generated from a fixed seed, the weights
come from a seeded torch.Generator, and the forward pass runs on the CPU in float32 with the
eager attention implementation on one thread. Needs torch, transformers (4.5x or 5.x),
tokenizers and numpy; no network, no GPU.
"""

import argparse
import inspect
import json
import os
import random
import sys
import zlib

HIDDEN = 128
INTERMEDIATE = 256
LAYERS = 3
HEADS = 4
KV_HEADS = 2
MAX_POSITIONS = 512
RMS_EPS = 1e-5
ROPE_THETA = 10000.0
PROMPT_LENGTHS = (1, 7, 33)
GREEDY_TOKENS = 64

LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}

LLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

LLAMA_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
QWEN2_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN3_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)

# name: architecture, tied embeddings, RoPE scaling, tokenizer settings. bos/eos name tokens;
# an eos list becomes a list of ids in config.json, as Llama 3.1 instruct has.
MODELS = {
    "llama": dict(arch="llama", tie=False, rope=None, specials=LLAMA_SPECIALS, extra_tokens=[],
                  bos="<|begin_of_text|>", eos=["<|end_of_text|>"], pad=None, add_bos=True,
                  template=LLAMA_TEMPLATE),
    "llama3": dict(arch="llama", tie=True, rope=LLAMA3_ROPE, specials=LLAMA_SPECIALS, extra_tokens=[],
                   bos="<|begin_of_text|>", eos=["<|end_of_text|>", "<|eot_id|>"], pad=None, add_bos=True,
                   template=LLAMA_TEMPLATE),
    "qwen2": dict(arch="qwen2", tie=False, rope=None, specials=QWEN_SPECIALS, extra_tokens=[],
                  bos=None, eos=["<|im_end|>"], pad="<|endoftext|>", add_bos=False, template=QWEN2_TEMPLATE),
    # A window shorter than the longest prompt, so logits past it show whether it is honoured.
    "mistral": dict(arch="mistral", tie=False, rope=None, specials=LLAMA_SPECIALS, extra_tokens=[],
                    bos="<|begin_of_text|>", eos=["<|end_of_text|>"], pad=None, add_bos=True,
                    template=LLAMA_TEMPLATE, sliding_window=8),
    # Small Qwen3 models tie their embeddings; head_dim 48 differs from hidden / heads = 32.
    "qwen3": dict(arch="qwen3", tie=True, rope=None, specials=QWEN_SPECIALS, extra_tokens=["<think>", "</think>"],
                  bos=None, eos=["<|im_end|>"], pad="<|endoftext|>", add_bos=False, template=QWEN3_TEMPLATE),
}


def log(message):
    print(message, flush=True)


def stable_seed(name):
    # Python's hash() of a str changes from run to run; crc32 does not.
    return zlib.crc32(name.encode("utf-8"))


# --- training text -------------------------------------------------------------------------

NOUNS = ("model token layer vector matrix cache server request answer question system user "
         "engine kernel thread memory weight tensor batch sequence prompt file folder number "
         "river mountain city garden window morning evening friend teacher student book story "
         "letter house road car train computer program language word sentence idea world time").split()
VERBS = ("reads writes computes returns stores loads sends finds builds checks splits joins "
         "predicts samples counts sorts moves opens closes keeps takes gives makes sees knows").split()
ADJECTIVES = ("small large quick slow bright dark new old simple complex exact random empty full "
              "early late happy careful quiet loud green blue red first last next").split()
ADVERBS = "quickly slowly carefully always never often rarely again twice exactly".split()
PREPOSITIONS = "in on under over near behind before after with without into from".split()
NAMES = "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Oscar Peggy Trent".split()
IDENTIFIERS = ("x y z i j k n m count total value result index offset buffer data items key name "
               "size length width height left right start end first last node tree list").split()
NON_ENGLISH = [
    "Le mod\u00e8le lit le texte et pr\u00e9dit le mot suivant.",
    "Das Modell liest den Text und sagt das n\u00e4chste Wort voraus.",
    "\u6a21\u578b\u8bfb\u53d6\u6587\u672c\u5e76\u9884\u6d4b\u4e0b\u4e00\u4e2a\u8bcd\u3002",
    "\u30e2\u30c7\u30eb\u306f\u30c6\u30ad\u30b9\u30c8\u3092\u8aad\u307f\u307e\u3059\u3002",
    "\u041c\u043e\u0434\u0435\u043b\u044c \u0447\u0438\u0442\u0430\u0435\u0442 \u0442\u0435\u043a\u0441\u0442.",
    "caf\u00e9, na\u00efve, r\u00e9sum\u00e9 \U0001F600 \U0001F44D",
]


def english_sentence(rng):
    subject = rng.choice(NAMES) if rng.random() < 0.3 else "The " + rng.choice(ADJECTIVES) + " " + rng.choice(NOUNS)
    words = [subject, rng.choice(VERBS), "the", rng.choice(NOUNS)]
    if rng.random() < 0.6:
        words += [rng.choice(PREPOSITIONS), "the", rng.choice(ADJECTIVES), rng.choice(NOUNS)]
    if rng.random() < 0.3:
        words.append(rng.choice(ADVERBS))
    sentence = " ".join(words)
    if rng.random() < 0.2:
        sentence += ", and it's " + str(rng.randint(0, 9999)) + " times " + rng.choice(ADJECTIVES)
    return sentence + rng.choice([".", ".", ".", "!", "?"])


def python_snippet(rng):
    f, a, b = rng.choice(IDENTIFIERS), rng.choice(IDENTIFIERS), rng.choice(IDENTIFIERS)
    return (f"def {f}_{rng.choice(VERBS)}({a}, {b}={rng.randint(0, 100)}):\n"
            f"    \"\"\"{english_sentence(rng)}\"\"\"\n"
            f"    for i in range(len({a})):\n"
            f"        if {a}[i] > {b}:\n"
            f"            {b} += {a}[i] * {rng.randint(2, 9)}\n"
            f"    return {b}\n")


def cpp_snippet(rng):
    a, b = rng.choice(IDENTIFIERS), rng.choice(IDENTIFIERS)
    return (f"#include <vector>\n\nint {a}_{rng.choice(VERBS)}(const std::vector<int>& {a}) {{\n"
            f"  int {b} = {rng.randint(0, 100)};\n"
            f"  for (size_t i = 0; i < {a}.size(); ++i) {b} += {a}[i];  // {rng.choice(ADVERBS)}\n"
            f"  return {b};\n}}\n")


def json_snippet(rng):
    obj = {rng.choice(IDENTIFIERS): rng.randint(0, 1000), "name": rng.choice(NAMES),
           "tags": [rng.choice(NOUNS) for _ in range(3)], "ok": rng.random() < 0.5, "score": round(rng.random(), 3)}
    return json.dumps(obj, indent=2 if rng.random() < 0.5 else None)


def html_snippet(rng):
    return (f"<div class=\"{rng.choice(NOUNS)}\">\n  <p>{english_sentence(rng)}</p>\n"
            f"  <a href=\"https://example.com/{rng.choice(NOUNS)}\">{rng.choice(NAMES)}</a>\n</div>")


def training_text(seed=1234, n_items=4000):
    rng = random.Random(seed)
    items = []
    for _ in range(n_items):
        r = rng.random()
        if r < 0.55:
            items.append(" ".join(english_sentence(rng) for _ in range(rng.randint(1, 4))))
        elif r < 0.70:
            items.append(python_snippet(rng))
        elif r < 0.80:
            items.append(cpp_snippet(rng))
        elif r < 0.88:
            items.append(json_snippet(rng))
        elif r < 0.94:
            items.append(html_snippet(rng))
        else:
            items.append(rng.choice(NON_ENGLISH))
    return items


# --- tokenizer -----------------------------------------------------------------------------

def train_tokenizer(spec, vocab_size):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(spec["specials"]),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(training_text(), trainer=trainer)
    if spec["extra_tokens"]:  # added, not special: Qwen3's <think> and </think>
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in spec["extra_tokens"]])
    if spec["add_bos"]:
        bos = spec["bos"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))])
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def token_id(tokenizer, text):
    if text is None:
        return None
    i = tokenizer.token_to_id(text)
    if i is None:
        sys.exit(f"internal error: token {text!r} is not in the trained vocabulary")
    return i


def write_tokenizer_files(tokenizer, spec, out_dir):
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",  # generic: keeps tokenizer.json as it is
        "add_bos_token": spec["add_bos"],
        "add_eos_token": False,
        "bos_token": spec["bos"],
        "eos_token": spec["eos"][-1],
        "pad_token": spec["pad"],
        "unk_token": None,
        "model_max_length": MAX_POSITIONS,
        "clean_up_tokenization_spaces": False,
        "chat_template": spec["template"],
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")


def check_tokenizer_with_transformers(tokenizer, out_dir):
    """Loads the folder with AutoTokenizer, as users do; a mismatch is only a warning."""
    try:
        from transformers import AutoTokenizer
        auto = AutoTokenizer.from_pretrained(out_dir)
        text = "Hello world, it's 2024! def f(x):\n    return x"
        want = tokenizer.encode(text, add_special_tokens=False).ids
        got = auto.encode(text, add_special_tokens=False)
        if list(got) != list(want):
            log(f"  WARNING: AutoTokenizer gives {got}, tokenizers gives {want}")
        chat = auto.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
        log(f"  chat template renders {chat!r}")
    except Exception as e:  # noqa: BLE001 - a check, not a requirement
        log(f"  WARNING: AutoTokenizer check failed: {type(e).__name__}: {e}")


# --- model ---------------------------------------------------------------------------------

def config_class(arch):
    import transformers
    names = {"llama": "LlamaConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config", "mistral": "MistralConfig"}
    cls = getattr(transformers, names[arch], None)
    if cls is None:
        sys.exit(f"transformers {transformers.__version__} has no {names[arch]}; use transformers >= 4.51")
    return cls


def accepts(cls, field):
    """Whether a config class takes `field` (dataclass field in 5.x, __init__ argument in 4.x)."""
    if field in getattr(cls, "__dataclass_fields__", {}):
        return True
    try:
        return field in inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False


def rope_kwargs(cls, rope):
    params = dict(rope) if rope else {"rope_type": "default"}
    params["rope_theta"] = ROPE_THETA
    if accepts(cls, "rope_parameters"):  # transformers 5.x
        return {"rope_parameters": params}
    kwargs = {"rope_theta": ROPE_THETA}  # transformers 4.x
    if rope:
        kwargs["rope_scaling"] = dict(rope)
    return kwargs


def make_config(spec, tokenizer):
    cls = config_class(spec["arch"])
    eos = [token_id(tokenizer, t) for t in spec["eos"]]
    kwargs = dict(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=RMS_EPS,
        hidden_act="silu",
        tie_word_embeddings=spec["tie"],
        bos_token_id=token_id(tokenizer, spec["bos"] or spec["pad"]),
        eos_token_id=eos[0] if len(eos) == 1 else eos,
        pad_token_id=token_id(tokenizer, spec["pad"]),
        attention_dropout=0.0,
    )
    if spec["arch"] == "qwen3":
        kwargs["head_dim"] = 48
    if spec["arch"] in ("qwen2", "qwen3"):
        kwargs["use_sliding_window"] = False
    if spec["arch"] == "mistral":
        kwargs["sliding_window"] = spec["sliding_window"]
    kwargs.update(rope_kwargs(cls, spec["rope"]))
    return cls(**kwargs)


def make_model(config):
    import torch
    from transformers import AutoModelForCausalLM
    try:
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    except TypeError:  # an older from_config without the argument
        config._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(config)
    return model.to(torch.float32).eval()


def init_std(name, tied):
    """Spreads chosen so attention scores and logits span a few units: softmax, RoPE and the
    sampler's argmax all get exercised, which the default 0.02 would not do. Tied embeddings
    get a smaller spread: otherwise each token's own embedding dominates its logits and greedy
    decoding repeats one token forever."""
    if name.endswith("embed_tokens.weight"):
        return 0.2 if tied else 0.5
    if name.endswith("lm_head.weight"):
        return 0.3
    if name.endswith("bias"):
        return 0.1
    for part, std in (("q_proj", 0.15), ("k_proj", 0.15), ("v_proj", 0.1), ("o_proj", 0.1),
                      ("gate_proj", 0.1), ("up_proj", 0.1), ("down_proj", 0.07)):
        if part in name:
            return std
    sys.exit(f"internal error: no initialisation rule for parameter {name}")


def randomise(model, seed, tied):
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):  # tied weights are listed once
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if "norm" in name and name.endswith("weight"):  # RMSNorm scales: around 1
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(init_std(name, tied) * noise)


def logits_of(model, ids):
    import torch
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    return out.logits[0].to(torch.float32)


def greedy(model, prompt, n):
    """Greedy decoding by recomputing the whole sequence each step: no cache, no generate()
    settings, no end-of-sequence stop. Ties go to the lowest id (torch.argmax). Also returns
    each step's margin (best minus second-best logit), so a test can tell a real mismatch
    from a near-tie that rounding may flip."""
    import torch
    ids, tokens, margins = list(prompt), [], []
    for _ in range(n):
        last = logits_of(model, ids)[-1]
        top2 = torch.topk(last, 2)
        best = int(torch.argmax(last))
        tokens.append(best)
        margins.append(float(top2.values[0] - top2.values[1]))
        ids.append(best)
    return tokens, margins


def greedy_with_generate(model, prompt, n):
    """The same with model.generate and its KV cache; None when this transformers refuses.
    The model's own end-of-sequence ids are hidden meanwhile: generate() would fill them in
    and stop early, or (with min_new_tokens) mask them and change the argmax."""
    import torch
    from transformers import GenerationConfig
    saved_eos = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None
    try:
        config = GenerationConfig(max_new_tokens=n, do_sample=False, num_beams=1, eos_token_id=None,
                                  pad_token_id=model.config.pad_token_id or 0)
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt], dtype=torch.long), generation_config=config)
        return [int(t) for t in out[0, len(prompt):]]
    except Exception as e:  # noqa: BLE001 - a cross-check only
        log(f"  WARNING: model.generate failed: {type(e).__name__}: {e}")
        return None
    finally:
        model.generation_config.eos_token_id = saved_eos


def save_model(model, out_dir):
    try:
        model.save_pretrained(out_dir, safe_serialization=True)
    except TypeError:  # a transformers where safetensors is the only format
        model.save_pretrained(out_dir)
    if not os.path.isfile(os.path.join(out_dir, "model.safetensors")):
        sys.exit(f"{out_dir}: save_pretrained wrote no single model.safetensors: {sorted(os.listdir(out_dir))}")


def add_legacy_rope_keys(out_dir):
    """transformers 5 writes RoPE settings as rope_parameters; checkpoints on the Hub (and most
    converters) use rope_theta and rope_scaling. Writes both; returns the original text."""
    path = os.path.join(out_dir, "config.json")
    with open(path, encoding="utf-8") as f:
        original = f.read()
    config = json.loads(original)
    params = config.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:
        config.setdefault("rope_theta", params["rope_theta"])
        if params.get("rope_type", "default") != "default":
            config.setdefault("rope_scaling", {k: v for k, v in params.items() if k != "rope_theta"})
        else:
            config.setdefault("rope_scaling", None)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
    return original


def reload_difference(out_dir, prompt, expected):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(out_dir, attn_implementation="eager").to(torch.float32).eval()
    return float((logits_of(model, prompt) - expected).abs().max())


def compact_json(obj):
    """One top-level key a line, and one list entry a line below it: readable, yet short."""
    lines = []
    for key, value in obj.items():
        if isinstance(value, list) and value and isinstance(value[0], (list, dict)):
            inner = ",\n  ".join(json.dumps(v) for v in value)
            lines.append(f"{json.dumps(key)}: [\n  {inner}\n]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def build_model_dir(name, spec, out_root, vocab_size):
    import torch
    import transformers

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    log(f"{name}:")

    tokenizer = train_tokenizer(spec, vocab_size)
    write_tokenizer_files(tokenizer, spec, out_dir)
    check_tokenizer_with_transformers(tokenizer, out_dir)
    n_vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    log(f"  tokenizer: {n_vocab} tokens")

    config = make_config(spec, tokenizer)
    model = make_model(config)
    randomise(model, stable_seed(name), spec["tie"])
    log(f"  {type(model).__name__}: {sum(p.numel() for p in model.parameters())} parameters, "
        f"attention {getattr(model.config, '_attn_implementation', '?')}")
    if spec["tie"] and model.get_output_embeddings().weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        sys.exit(f"{name}: tie_word_embeddings is set but lm_head and embed_tokens are separate tensors")

    rng = random.Random(stable_seed(name + "/prompts"))
    special = set(tokenizer.token_to_id(t) for t in spec["specials"] + spec["extra_tokens"])
    ordinary = [i for i in range(n_vocab) if i not in special]
    prompts = [[rng.choice(ordinary) for _ in range(n)] for n in PROMPT_LENGTHS]

    reference = {
        "model": name,
        "architecture": type(model).__name__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "vocab_size": n_vocab,
        "prompts": prompts,
        "logits": [],
        "greedy": [],
        "greedy_margin": [],
        "generate_agrees": [],
    }
    all_logits = []
    for i, prompt in enumerate(prompts):
        logits = logits_of(model, prompt)
        all_logits.append(logits)
        file = f"logits_{i}.f32"
        logits.contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, file))
        reference["logits"].append({"file": file, "shape": list(logits.shape), "dtype": "float32", "order": "little-endian, row-major"})

        tokens, margins = greedy(model, prompt, GREEDY_TOKENS)
        if tokens[0] != int(torch.argmax(logits[-1])):
            sys.exit(f"{name}: greedy decoding disagrees with the prompt's last logits")
        reference["greedy"].append(tokens)
        reference["greedy_margin"].append([round(m, 6) for m in margins])
        cached = greedy_with_generate(model, prompt, GREEDY_TOKENS)
        reference["generate_agrees"].append(None if cached is None else cached == tokens)
        if cached is not None and cached != tokens:
            step = next((k for k in range(min(len(cached), len(tokens))) if cached[k] != tokens[k]), None)
            if step is None:
                log(f"  note: prompt {i}: generate() stopped after {len(cached)} tokens")
            else:
                log(f"  note: prompt {i}: generate() with its cache differs from step {step} "
                    f"(margin there {margins[step]:.2e}); reference.json keeps the recomputed tokens")
        log(f"  prompt {i}: {len(prompt)} tokens, logits {tuple(logits.shape)}, greedy {tokens[:8]}..., "
            f"smallest margin {min(margins):.3g}")

    save_model(model, out_dir)
    original_config = add_legacy_rope_keys(out_dir)
    difference = reload_difference(out_dir, prompts[-1], all_logits[-1])
    if difference > 1e-5 and original_config is not None:
        log(f"  WARNING: the model reloaded with rope_theta/rope_scaling added differs by {difference:.3g}; "
            f"config.json is left as transformers wrote it")
        with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
            f.write(original_config)
        difference = reload_difference(out_dir, prompts[-1], all_logits[-1])
    if difference > 1e-5:
        sys.exit(f"{name}: the model loaded back from {out_dir} gives logits off by {difference:.3g}")
    log(f"  reloaded from disk: logits match (largest difference {difference:.3g})")

    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        f.write(compact_json(reference))
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    log(f"  wrote {out_dir} ({size / 1e6:.2f} MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to create the model folders in")
    parser.add_argument("--vocab-size", type=int, default=1024,
                        help="BPE vocabulary size to train (default %(default)s keeps each folder near 3 MB)")
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), help="make only these models")
    args = parser.parse_args()

    try:
        import numpy  # noqa: F401
        import tokenizers
        import torch
        import transformers
    except ImportError as e:
        sys.exit(f"missing package: {e.name}; this script needs torch, transformers, tokenizers and numpy")
    torch.set_num_threads(1)  # one thread: the same sums in the same order on every run
    torch.set_default_dtype(torch.float32)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")

    os.makedirs(args.out, exist_ok=True)
    for name in args.only or MODELS:
        build_model_dir(name, MODELS[name], args.out, args.vocab_size)
    log("done")


if __name__ == "__main__":
    main()
