#!/usr/bin/env python3
"""Trains hayate's demo model: a byte-level BPE tokenizer and a small Llama on make_corpus.py's data.

    python3 train.py --data DIR --out OUT [--minutes 7] [--max-steps N]

Needs torch, transformers (5.x) and tokenizers on one CUDA GPU; no network. Writes OUT/hf/:
  tokenizer.json, tokenizer_config.json   byte-level BPE (Qwen2's digit-by-digit pre-tokenizer), ChatML
  config.json, generation_config.json, model.safetensors   save_pretrained, weights in float16
  reference_ppl.json   the held-out text's token ids and PyTorch's mean NLL / perplexity on them
  reference.json, logits_<i>.f32   float32 logits of a few prompts (positions x vocab, little-endian),
                       computed on the CPU (eager attention, one thread) from the saved weights
  pytorch_eval.json    PyTorch's greedy exact-match accuracy on the held-out eval files
  train_log.json       settings, parameter count, loss curve, tokens/s, wall time

Every reference figure comes from the float16-rounded weights upcast to float32 (what hayate
converts), with TF32 off. The logits are computed on the CPU (the GPU's kernels were 1.1e-3 off a
float64 pass, too far for issue 7's 1e-4 check); the GPU is for training and the other figures.
Training: bf16 autocast, fused AdamW, linear warm-up then cosine decay driven by the wall-clock
budget (--minutes), so it stops in time and still saves.
"""

import argparse
import gzip
import hashlib
import inspect
import json
import lzma
import math
import os
import random
import sys
import time
import traceback

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
EVAL_FILES = ["heldout_addition.jsonl", "heldout_world.jsonl", "heldout_other.jsonl"]


def log(message):
    print(message, flush=True)


def chatml(messages):
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


# The device call's transfer is capped at 64 MiB with the checkout; xz makes the corpus 4 MB (gzip -9: 10 MB).
CORPUS_FILES = [("train.jsonl.xz", lzma.open), ("train.jsonl.gz", gzip.open), ("train.jsonl", open)]


def read_rows(data_dir):
    """The training rows as text, and which file they came from with the sha256 of train.jsonl's bytes."""
    found = [(name, opener) for name, opener in CORPUS_FILES if os.path.exists(os.path.join(data_dir, name))]
    if not found:
        sys.exit(f"train.py: {data_dir} holds none of {', '.join(name for name, _ in CORPUS_FILES)}")
    if len(found) > 1:
        sys.exit(f"train.py: {data_dir} holds {' and '.join(name for name, _ in found)}; keep one of them")
    name, opener = found[0]
    digest, rows = hashlib.sha256(), []
    with opener(os.path.join(data_dir, name), "rb") as f:
        for line in f:
            digest.update(line)
            r = json.loads(line)
            rows.append(chatml(r["messages"]) if "messages" in r else r["text"])
    return rows, {"file": name, "train_jsonl_sha256": digest.hexdigest(), "rows": len(rows)}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- tokenizer -------------------------------------------------------------------------------

def train_tokenizer(texts, vocab_size):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    plain = (t.replace("<|im_start|>", "\n").replace("<|im_end|>", "\n") for t in texts)
    tokenizer.train_from_iterator(plain, trainer=trainer)
    tokenizer.add_special_tokens(SPECIALS)  # already there from the trainer; makes sure they are special
    return tokenizer


def write_tokenizer_files(tokenizer, out_dir, n_ctx):
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": n_ctx,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHATML_TEMPLATE,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")


# --- model -----------------------------------------------------------------------------------

def accepts(cls, field):
    if field in getattr(cls, "__dataclass_fields__", {}):
        return True
    try:
        return field in inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False


def make_model(args, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    kwargs = dict(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True), hidden_size=args.hidden,
        intermediate_size=args.intermediate, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, max_position_embeddings=args.ctx, rms_norm_eps=1e-5, hidden_act="silu",
        tie_word_embeddings=True, bos_token_id=tokenizer.token_to_id("<|endoftext|>"),
        eos_token_id=tokenizer.token_to_id("<|im_end|>"), pad_token_id=tokenizer.token_to_id("<|endoftext|>"),
        attention_dropout=0.0, attention_bias=False, mlp_bias=False, initializer_range=0.02)
    if accepts(LlamaConfig, "rope_parameters"):  # transformers 5.x
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
    else:
        kwargs["rope_theta"] = 10000.0
    config = LlamaConfig(**kwargs)
    torch.manual_seed(args.seed)
    return LlamaForCausalLM(config)


def add_legacy_rope_keys(out_dir):
    """transformers 5 writes rope_parameters; add the rope_theta key that Hub checkpoints have."""
    path = os.path.join(out_dir, "config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    params = config.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:
        config.setdefault("rope_theta", params["rope_theta"])
        config.setdefault("rope_scaling", None)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


# --- training --------------------------------------------------------------------------------

def token_stream(tokenizer, texts):
    """All rows, each followed by <|endoftext|>, as one int32 tensor plus each row's start."""
    import numpy as np
    import torch
    eot = tokenizer.token_to_id("<|endoftext|>")
    ids, starts, total = [], [], 0
    for lo in range(0, len(texts), 50000):
        for enc in tokenizer.encode_batch(texts[lo:lo + 50000], add_special_tokens=False):
            row = enc.ids + [eot]
            starts.append(total)
            total += len(row)
            ids.append(np.asarray(row, dtype=np.int32))
    return torch.from_numpy(np.concatenate(ids)), torch.tensor(starts, dtype=torch.long)


def lr_at(step, progress, args):
    warm = min(1.0, (step + 1) / args.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return args.lr * warm * (args.min_lr_ratio + (1 - args.min_lr_ratio) * cosine)


def train(model, stream, starts, args, device):
    import torch
    starts = starts[starts + args.ctx + 1 <= len(stream)]
    stream = stream.to(device)
    gen = torch.Generator().manual_seed(args.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    offsets = torch.arange(args.ctx + 1, device=device)
    budget = args.minutes * 60.0
    t0 = time.time()
    curve, step, tokens = [], 0, 0
    model.train()
    while True:
        elapsed = time.time() - t0
        progress = elapsed / budget
        if args.max_steps:
            progress = max(progress, step / args.max_steps)
        if progress >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, progress, args)
        pick = starts[torch.randint(len(starts), (args.batch,), generator=gen)]
        batch = stream[pick.to(device)[:, None] + offsets[None, :]].long()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=batch[:, :-1], use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                                                 batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += args.batch * args.ctx
        if step % args.log_every == 0 or step == 1:
            elapsed = time.time() - t0
            curve.append({"step": step, "seconds": round(elapsed, 1), "loss": round(loss.item(), 4),
                          "lr": opt.param_groups[0]["lr"]})
            log(f"step {step:6d}  {elapsed:6.1f} s  loss {loss.item():.4f}  lr {opt.param_groups[0]['lr']:.2e}  "
                f"{tokens / max(elapsed, 1e-9) / 1e3:.0f}k tok/s")
    seconds = time.time() - t0
    log(f"trained {step} steps, {tokens / 1e6:.1f}M tokens in {seconds:.1f} s ({tokens / seconds / 1e3:.0f}k tok/s)")
    return {"steps": step, "tokens": tokens, "seconds": round(seconds, 1), "curve": curve,
            "tokens_per_second": round(tokens / seconds)}


# --- reference figures -----------------------------------------------------------------------

def perplexity(model, ids, ctx, device):
    """Non-overlapping windows of ctx tokens, each from an empty cache; every token after a
    window's first is predicted. The same definition as `hayate eval perplexity`."""
    import torch
    nll = []
    with torch.no_grad():
        for lo in range(0, len(ids), ctx):
            window = ids[lo:lo + ctx]
            if len(window) < 2:
                continue
            x = torch.tensor([window], device=device)
            logits = model(input_ids=x, use_cache=False).logits[0].float()
            nll.append(torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="none").double().cpu())
    nll = torch.cat(nll)
    mean = float(nll.mean())
    return {"n_predicted": len(nll), "mean_nll": mean, "perplexity": math.exp(mean),
            "std_error_nll": float(nll.std() / math.sqrt(len(nll)))}


def greedy_accuracy(model, tokenizer, items, device, max_new=24):
    """Greedy decoding (no cache, ties to the lowest id) until <|im_end|>; exact match after trimming."""
    import torch
    im_end = tokenizer.token_to_id("<|im_end|>")
    encoded = [tokenizer.encode(i["prompt"], add_special_tokens=False).ids for i in items]
    outputs = [None] * len(items)
    by_length = {}
    for k, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(k)
    with torch.no_grad():
        for group in by_length.values():
            for lo in range(0, len(group), 256):
                ks = group[lo:lo + 256]
                x = torch.tensor([encoded[k] for k in ks], device=device)
                done = torch.zeros(len(ks), dtype=torch.bool, device=device)
                gen = []
                for _ in range(max_new):
                    nxt = model(input_ids=x, use_cache=False).logits[:, -1].float().argmax(-1)
                    gen.append(nxt)
                    done |= nxt == im_end
                    x = torch.cat([x, nxt[:, None]], dim=1)
                    if bool(done.all()):
                        break
                gen = torch.stack(gen, dim=1).tolist()
                for k, row in zip(ks, gen):
                    row = row[:row.index(im_end)] if im_end in row else row
                    outputs[k] = tokenizer.decode(row, skip_special_tokens=False).strip()
    per_task, per_shape, results = {}, {}, []
    for item, out in zip(items, outputs):
        ok = out == item["answer"].strip()
        task = item.get("task", "all")
        hit, n = per_task.get(task, (0, 0))
        per_task[task] = (hit + ok, n + 1)
        if "shape" in item:  # recipe 2's world items: entity-first or entity-last question
            hit, n = per_shape.get(item["shape"], (0, 0))
            per_shape[item["shape"]] = (hit + ok, n + 1)
        results.append({"answer": item["answer"], "output": out, "correct": ok})
    correct = sum(r["correct"] for r in results)
    return {"n": len(items), "correct": correct, "accuracy": correct / max(1, len(items)),
            "per_task": {t: {"n": n, "accuracy": h / n} for t, (h, n) in sorted(per_task.items())},
            "per_shape": {s: {"n": n, "accuracy": h / n} for s, (h, n) in sorted(per_shape.items())},
            "wrong_examples": [r for r in results if not r["correct"]][:10]}


def write_logits(model, prompts, out_dir):
    """Logits of the CPU model (cpu_reference_model) with one thread: the same sums in the same
    order on every run, as tools/reference/make_hf_models.py computes its references."""
    import torch
    entries = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for i, ids in enumerate(prompts):
                logits = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False).logits[0].float()
                file = f"logits_{i}.f32"
                logits.contiguous().numpy().astype("<f4").tofile(os.path.join(out_dir, file))
                entries.append({"file": file, "shape": list(logits.shape)})
    finally:
        torch.set_num_threads(threads)
    return entries


def cpu_reference_model(hf_dir):
    """The saved float16 weights, read back and upcast to float32 on the CPU, eager attention."""
    import torch
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(hf_dir, attn_implementation="eager").to(torch.float32).eval()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="make_corpus.py's output folder")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=7.0, help="wall-clock budget of the training loop")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: the budget decides)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--intermediate", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--eval-limit", type=int, default=0, help="score only the first N items of each eval file")
    args = p.parse_args()

    import tokenizers
    import torch
    import transformers
    t_start = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = "cuda"
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
        f"{torch.cuda.get_device_name(0)}")
    hf_dir = os.path.join(args.out, "hf")
    os.makedirs(hf_dir, exist_ok=True)

    texts, corpus = read_rows(args.data)
    log(f"{len(texts)} training rows from {corpus['file']}, train.jsonl sha256 {corpus['train_jsonl_sha256']} "
        f"({time.time() - t_start:.1f} s)")
    tokenizer = train_tokenizer(texts[:150000], args.vocab_size)
    write_tokenizer_files(tokenizer, hf_dir, args.ctx)
    sample = tokenizer.encode("<|im_start|>user\nWhat is 47 + 38?<|im_end|>").tokens
    log(f"tokenizer: {tokenizer.get_vocab_size(with_added_tokens=True)} tokens ({time.time() - t_start:.1f} s); {sample}")
    stream, starts = token_stream(tokenizer, texts)
    del texts
    log(f"{len(stream) / 1e6:.1f}M training tokens in {len(starts)} rows ({time.time() - t_start:.1f} s)")

    model = make_model(args, tokenizer).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"LlamaForCausalLM: {n_params / 1e6:.2f}M parameters (tied embeddings)")
    torch.backends.cuda.matmul.allow_tf32 = True
    stats = train(model, stream, starts, args, device)

    stats.update({"parameters": n_params, "args": vars(args), "corpus": corpus,
                  "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                  "transformers": transformers.__version__, "tokenizers": tokenizers.__version__})

    # Reference figures on the float16-rounded weights, in float32 without TF32. Saving comes
    # first and each later part is guarded, so a failure there still leaves a usable model.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    model.eval()
    text = open(os.path.join(args.data, "heldout_text.txt"), encoding="utf-8").read()
    text_ids = tokenizer.encode(text, add_special_tokens=False).ids
    ppl_unrounded = guarded("perplexity before rounding", lambda: perplexity(model, text_ids, args.ctx, device))
    model = model.half()
    model.save_pretrained(hf_dir)
    add_legacy_rope_keys(hf_dir)
    model = model.float()
    write_json(os.path.join(hf_dir, "train_log.json"), stats)
    log(f"saved {hf_dir} ({time.time() - t_start:.1f} s)")

    def reference_ppl():
        ppl = perplexity(model, text_ids, args.ctx, device)
        ppl.update({"ctx": args.ctx, "weights": "float16-rounded, computed in float32",
                    "unrounded_float32": ppl_unrounded, "token_ids": text_ids})
        write_json(os.path.join(hf_dir, "reference_ppl.json"), ppl, indent=None)
        log(f"held-out text: {len(text_ids)} tokens, perplexity {ppl['perplexity']:.4f} (before rounding "
            f"{ppl_unrounded['perplexity'] if ppl_unrounded else float('nan'):.4f})")
    guarded("reference perplexity", reference_ppl)

    evals = {name: read_jsonl(os.path.join(args.data, name)) for name in EVAL_FILES}

    def reference_logits():
        prompts = [tokenizer.encode(evals["heldout_addition.jsonl"][0]["prompt"], add_special_tokens=False).ids,
                   tokenizer.encode(evals["heldout_world.jsonl"][0]["prompt"], add_special_tokens=False).ids,
                   text_ids[:64]]
        cpu_model = cpu_reference_model(hf_dir)
        write_json(os.path.join(hf_dir, "reference.json"), {
            "prompts": prompts, "vocab_size": cpu_model.config.vocab_size,
            "logits": write_logits(cpu_model, prompts, hf_dir), "device": "cpu", "threads": 1, "dtype": "float32",
            "attention": getattr(cpu_model.config, "_attn_implementation", None), "torch_version": torch.__version__,
            "transformers_version": transformers.__version__}, indent=None)
        log(f"reference logits of {len(prompts)} prompts on the CPU ({time.time() - t_start:.1f} s)")
    guarded("reference logits", reference_logits)

    def pytorch_eval():
        scores = {}
        for name, items in evals.items():
            items = items[:args.eval_limit] if args.eval_limit else items
            scores[name] = greedy_accuracy(model, tokenizer, items, device)
            log(f"PyTorch {name}: {scores[name]['accuracy']:.4f} ({scores[name]['correct']}/{scores[name]['n']}) "
                + " ".join(f"{t}={v['accuracy']:.3f}" for t, v in scores[name]["per_task"].items()))
            for w in scores[name]["wrong_examples"][:3]:
                log(f"    wrong: want {w['answer']!r} got {w['output']!r}")
        write_json(os.path.join(hf_dir, "pytorch_eval.json"), scores)
    guarded("PyTorch accuracy", pytorch_eval)

    stats["total_seconds"] = round(time.time() - t_start, 1)
    write_json(os.path.join(hf_dir, "train_log.json"), stats)
    log(f"done in {time.time() - t_start:.1f} s; wrote {hf_dir}: {sorted(os.listdir(hf_dir))}")


def guarded(what, fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - report and go on: the saved model is what matters
        log(f"ERROR in {what}:")
        traceback.print_exc()
        sys.stdout.flush()
        return None


def write_json(path, obj, indent=1):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
