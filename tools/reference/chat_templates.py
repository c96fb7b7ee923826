#!/usr/bin/env python3
"""Chat templates and what Hugging Face transformers renders from them, for hayate's chat tests.

    python3 chat_templates.py extract --out DIR NAME=path/to/tokenizer_config.json ...
    python3 chat_templates.py render --templates DIR --conversations conversations.json --out expected.json

`extract` copies each tokenizer_config.json's `chat_template` (a string, or a list of
{name, template}, which gives NAME-<name>.jinja) into DIR/NAME.jinja, byte for byte, with the
bos/eos token strings in DIR/NAME.json. Needs only the standard library.

`render` renders every template with every conversation, add_generation_prompt false and true,
through transformers' own `apply_chat_template(tokenize=False)` on a tiny tokenizer that carries
the template and its bos/eos tokens (so the Jinja environment, globals, filters and special-token
variables are exactly the ones transformers sets up). Templates that mention `enable_thinking`
are also rendered with {"enable_thinking": false}. A template that raises is recorded as
{"error": message, "error_type": class name}. Writes a JSON list of
{template, conversation_index, add_generation_prompt, extra, expected | error, error_type}.
When `transformers.utils.chat_template_utils.render_jinja_template` exists it renders each case
that way as well and stops if the two disagree. Needs transformers and tokenizers; no network.
"""

import argparse
import json
import os
import sys


def token_text(token):
    """tokenizer_config.json writes special tokens as strings or as AddedToken objects."""
    if isinstance(token, dict):
        return token.get("content")
    return token


def extract(args):
    os.makedirs(args.out, exist_ok=True)
    for spec in args.configs:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"{spec}: expected NAME=path/to/tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        template = config.get("chat_template")
        if template is None:
            sys.exit(f"{path}: no chat_template")
        named = [(name, template)] if isinstance(template, str) else [
            (f"{name}-{t['name']}", t["template"]) for t in template]
        tokens = {"bos_token": token_text(config.get("bos_token")),
                  "eos_token": token_text(config.get("eos_token"))}
        for out_name, text in named:
            with open(os.path.join(args.out, out_name + ".jinja"), "w", encoding="utf-8", newline="") as f:
                f.write(text)
            with open(os.path.join(args.out, out_name + ".json"), "w", encoding="utf-8") as f:
                json.dump({**tokens, "source": args.source or path}, f, ensure_ascii=False, indent=1)
                f.write("\n")
            print(f"{out_name}: {len(text)} characters")


def load_templates(folder):
    templates = []
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".jinja"):
            continue
        name = file[: -len(".jinja")]
        with open(os.path.join(folder, file), encoding="utf-8", newline="") as f:
            text = f.read()
        with open(os.path.join(folder, name + ".json"), encoding="utf-8") as f:
            tokens = json.load(f)
        templates.append((name, text, tokens.get("bos_token"), tokens.get("eos_token")))
    return templates


def tiny_tokenizer(template, bos, eos):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
    vocab = {"<unk>": 0}
    for text in specials.values():
        vocab.setdefault(text, len(vocab))
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", chat_template=template, **specials)


def direct_renderer():
    try:
        from transformers.utils.chat_template_utils import render_jinja_template
    except ImportError:
        return None

    def render(template, messages, agp, tokens, extra):
        rendered, _ = render_jinja_template(conversations=[messages], chat_template=template,
                                            add_generation_prompt=agp, **tokens, **extra)
        return rendered[0]
    return render


def render(args):
    import transformers

    with open(args.conversations, encoding="utf-8") as f:
        conversations = json.load(f)["conversations"]
    direct = direct_renderer()
    results = []
    for name, template, bos, eos in load_templates(args.templates):
        tokenizer = tiny_tokenizer(template, bos, eos)
        tokens = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
        extras = [{}]
        if "enable_thinking" in template:
            extras.append({"enable_thinking": False})
        for index, conversation in enumerate(conversations):
            messages = conversation["messages"]
            for extra in extras:
                for agp in (False, True):
                    case = {"template": name, "conversation_index": index, "add_generation_prompt": agp,
                            "extra": extra}
                    try:
                        case["expected"] = tokenizer.apply_chat_template(
                            messages, tokenize=False, add_generation_prompt=agp, **extra)
                    except Exception as e:  # the template's raise_exception, or jinja's own errors
                        case["error"] = str(e)
                        case["error_type"] = type(e).__name__
                    if direct is not None and "expected" in case:
                        again = direct(template, messages, agp, tokens, extra)
                        if again != case["expected"]:
                            sys.exit(f"{name} #{index}: render_jinja_template and apply_chat_template disagree")
                    results.append(case)
    with open(args.out, "w", encoding="utf-8") as f:  # one case a line, easy to diff
        f.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in results) + "\n]\n")
    errors = sum("error" in r for r in results)
    import jinja2
    print(f"{args.out}: {len(results)} cases ({errors} raise), transformers {transformers.__version__}, "
          f"jinja2 {jinja2.__version__}, render_jinja_template {'checked' if direct else 'absent'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("extract", help="copy chat templates out of tokenizer_config.json files")
    p.add_argument("--out", required=True, help="folder for NAME.jinja and NAME.json")
    p.add_argument("--source", help="where the configs came from, recorded in NAME.json")
    p.add_argument("configs", nargs="+", metavar="NAME=PATH")
    p.set_defaults(run=extract)
    p = sub.add_parser("render", help="render every template with every conversation through transformers")
    p.add_argument("--templates", required=True, help="folder of NAME.jinja + NAME.json")
    p.add_argument("--conversations", required=True, help="conversations.json")
    p.add_argument("--out", required=True, help="expected.json")
    p.set_defaults(run=render)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
