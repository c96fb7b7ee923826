#!/usr/bin/env python3
"""Writes strings.json: the test strings that hayate's tokenizers must split exactly as
Hugging Face `tokenizers` does (hf_token_ids.py produces the expected ids).

The list is built from fixed pieces only (no randomness, no network), so running this script
again gives the same file byte for byte:

    python3 tools/reference/make_strings.py --out tools/reference/strings.json
"""

import argparse
import json
import sys

PROSE = [
    "Hello world",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "A tokenizer splits text into pieces; a model predicts the next piece.",
    "Mr. Smith went to Washington D.C. on Jan. 5th at 3 p.m.",
    "\"Quoted text,\" she said, 'and single quotes.'",
    "Parentheses (like these) and [brackets] and {braces}.",
    "em\u2014dash, en\u2013dash, ellipsis\u2026 and \u201csmart quotes\u201d",
    "ALL CAPS SENTENCE WITH SHOUTING",
    "camelCaseIdentifier and snake_case_identifier and kebab-case-identifier",
    "e-mail: someone@example.com",
    "Question? Answer! Interrobang?! Dots...",
    "tab\tseparated\tvalues",
    "Line one\nLine two\nLine three",
    "Windows\r\nline\r\nendings",
    "trailing spaces   ",
    "   leading spaces",
    "multiple     spaces     inside",
    "Once upon a time, in a land far, far away, there lived a small tokenizer who dreamed of "
    "becoming a large language model. Every day it split sentences into words, and words into "
    "pieces, and pieces into bytes.",
]

CONTRACTIONS = [
    "I'm", "don't", "WE'LL", "you're", "they've", "she'd", "it's", "can't", "won't",
    "I'M HERE", "DON'T STOP", "We'Re", "o'clock", "rock 'n' roll", "'tis", "students' books",
    "I've been", "you'd've", "y'all", "ma'am",
]

NUMBERS = [
    "1", "12", "123", "1234", "12345", "1234567", "1234567890123", "3.14159", "-42", "+7",
    "1,000,000", "1.000.000,50", "0.000001", "1e-10", "6.022e23", "0x1F", "0b1010", "007",
    "+1 (555) 123-4567", "555-0100", "+44 20 7946 0958", "2024-01-15", "12:30:45",
    "v1.2.3", "50%", "$19.99", "\u20ac5,00", "\u00a5100", "1/2", "3rd", "21st century",
    "99 bottles", "100000000000000000000",
]

CODE = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)\n",
    "if __name__ == \"__main__\":\n    main()\n",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\n",
    "    # indented comment\n        deeper\n",
    "#include <vector>\n\nint main() {\n  std::vector<int> v{1, 2, 3};\n  return 0;\n}\n",
    "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }",
    "auto p = std::make_unique<Foo>(42);  // owner",
    "x->y = *ptr++; a <<= 2; b >>= 3; c &&= d;",
    "fn main() {\n    println!(\"Hello, {}!\", name);\n}\n",
    "func main() {\n\tfmt.Println(\"hi\")\n}\n",
    "const f = (x) => x ** 2; let s = `template ${f(3)}`;",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "{\"name\": \"hayate\", \"version\": 1, \"tags\": [\"llm\", \"c++\"], \"ok\": true, \"none\": null}",
    "{\n  \"nested\": {\n    \"a\": [1, 2.5, -3e4],\n    \"b\": \"\\u00e9\"\n  }\n}",
    "<!DOCTYPE html>\n<html>\n<head><title>Test</title></head>\n<body><p class=\"x\">Hi &amp; bye</p></body>\n</html>",
    "<div id=\"main\" style=\"color: red;\">&lt;escaped&gt;</div>",
    "#!/bin/bash\nset -euo pipefail\necho \"$HOME\" | grep -v '^#' > /dev/null 2>&1",
    "key: value\nlist:\n  - one\n  - two\n",
    "[section]\nname = \"value\"\n",
    "a = b == c != d <= e >= f",
    "/* block comment */ // line comment",
    "regex: ^[A-Za-z0-9_.+-]+@[A-Za-z0-9-]+\\.[a-z]{2,}$",
    "C:\\Users\\name\\Documents\\file.txt",
    "path/to/some/file_name.cpp:123:45: error: expected ';'",
]

CJK = [
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",  # 你好，世界！
    "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002",  # 我爱北京天安门。
    "\u673a\u5668\u5b66\u4e60\u662f\u4eba\u5de5\u667a\u80fd\u7684\u4e00\u4e2a\u5206\u652f\u3002",
    "\u4eca\u65e5\u306f\u3044\u3044\u5929\u6c17\u3067\u3059\u306d\u3002",  # 今日はいい天気ですね。
    "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57",  # カタカナとひらがなと漢字
    "\u6771\u4eac\u30bf\u30ef\u30fc\u306f333\u30e1\u30fc\u30c8\u30eb\u3067\u3059\u3002",
    "\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4!",  # 안녕하세요, 세계!
    "\ud55c\uad6d\uc5b4 \ud615\ud0dc\uc18c \ubd84\uc11d\uae30",  # 한국어 형태소 분석기
    "\u4e2d\u6587 English \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4 mixed",
    "\uff21\uff22\uff23\uff11\uff12\uff13",  # full-width ABC123
    "\u300c\u5f15\u7528\u300d\u3068\u300e\u4e8c\u91cd\u5f15\u7528\u300f",
    "\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b\u4e5d\u5341",
]

EMOJI = [
    "\U0001F600",  # grinning face
    "I love pizza \U0001F355\U0001F355\U0001F355",
    "\U0001F44D\U0001F3FD",  # thumbs up, medium skin tone
    "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466",  # family (ZWJ)
    "\U0001F469\u200D\U0001F4BB coding",  # woman technologist (ZWJ)
    "\U0001F3F3\uFE0F\u200D\U0001F308",  # rainbow flag
    "\U0001F1EF\U0001F1F5 \U0001F1FA\U0001F1F8 \U0001F1E9\U0001F1EA",  # flags JP US DE
    "\u2764\uFE0F",  # red heart with variation selector
    "1\uFE0F\u20E3",  # keycap 1
    "\U0001F9D1\U0001F3FF\u200D\U0001F680",  # astronaut, dark skin tone
    "emoji\U0001F525in\U0001F525words",
    "\u2603\u2600\u2601\u2602",  # weather symbols (BMP)
]

SCRIPTS = [
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",  # Arabic
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 123 \u0648 English",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",  # Hebrew
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",  # Russian
    "\u0421\u042a\u0415\u0428\u042c \u0416\u0415 \u0415\u0429\u0401",  # Russian caps with Ё
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",  # Greek
    "\u03b1\u03b2\u03b3 \u0394\u03a9 \u03c0\u03c1",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",  # Hindi
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092e\u0947\u0902 \u0969\u096a",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",  # Thai
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e44\u0e21\u0e48\u0e21\u0e35\u0e0a\u0e48\u0e2d\u0e07\u0e27\u0e48\u0e32\u0e07",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8",  # Georgian
    "\u0540\u0561\u0575\u0565\u0580\u0565\u0576",  # Armenian
    "Tiếng Việt có dấu",
    "T\u00fcrk\u00e7e \u0131\u0130 \u015f\u011f",
    "Polski: \u017c\u00f3\u0142\u0107 \u0119\u015b\u0144",
    "Mixed: Hello \u041f\u0440\u0438\u0432\u0435\u0442 \u4f60\u597d \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd",
]

ACCENTS = [
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade",  # precomposed
    "cafe\u0301 nai\u0308ve",  # combining acute and diaeresis (NFD)
    "\u00c5ngstr\u00f6m vs A\u030angstro\u0308m",
    "Z\u0351\u036b\u0343a\u0310\u0352l\u0357g\u0344o\u0308",  # stacked combining marks
    "\u00df \u1e9e \u00e6 \u00f8 \u0153 \u00fe \u00f0",
    "\ufb01 \ufb02 ligatures",
    "\u2460\u2461\u2462 \u2160\u2161\u2162",  # circled and roman numerals
    "e\u0300\u0301\u0302\u0303\u0304",
    "\u0131\u0307",  # dotless i + combining dot
]

SPECIAL_TEXT = [
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<s>[INST] hi [/INST]</s>",
    "<think>\nLet me think.\n</think>\nAnswer.",
    "<|im_start|",
    "< |im_start| >",
    "<<|im_start|>>",
    "<|unknown_token|>",
    "</s><s><unk><pad>",
]

URLS_MATH = [
    "https://www.example.com/path/to/page?query=1&lang=en#section-2",
    "http://localhost:8080/v1/chat/completions",
    "ftp://files.example.org/pub/file-1.2.3.tar.gz",
    "www.github.com/owner/repo/blob/main/README.md",
    "E = mc^2",
    "\u222b_0^\u221e e^{-x^2} dx = \u221a\u03c0 / 2",
    "\u2200x \u2208 \u211d, \u2203y: y > x",
    "a\u00b2 + b\u00b2 = c\u00b2",
    "\\frac{a}{b} + \\sum_{i=1}^{n} x_i",
    "f(x) = 3x^2 - 2x + 1; f'(x) = 6x - 2",
    "2 + 2 = 4, 7 * 6 = 42, 10 / 3 \u2248 3.333",
    "\u00b1\u00d7\u00f7\u2260\u2264\u2265\u221e",
]

WHITESPACE = [
    " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", " \n ", "\n \n",
    "\r\n", "\r", " \t \t ", "\t\n\t", "\u00a0", "a\u00a0b", "\u3000",
    "  \n\n  indented after blank lines", "word\n\n\nword", "end with newline\n",
    "\n\nstart with newlines", "a  b   c    d     e", "   \n", "\n   ", "x \n y",
    "\u200b zero width space", "\u2028line separator", "\ufeffBOM at start",
]

SINGLES = ["", "a", "Z", "0", "!", ".", "_", "-", "'", "\"", "\\", "@", "#", "~", "`",
           "\u00e9", "\u4e2d", "\U0001F600", "\u0301", "\x00", "\x7f"]


def generated():
    """Variations built by rule: long words, repeats, number runs, whitespace mixes."""
    out = [
        "a" * 100,
        "supercalifragilisticexpialidocious",
        "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
        "x" * 1000,
        "ab" * 300,
        "\u4e2d" * 64,
        "!" * 50,
        "=" * 80,
        "- " * 30,
        ". . . " * 10,
        "0123456789" * 10,
        "\U0001F600" * 20,
        "hello " * 50,
    ]
    for n in (1, 2, 3, 4, 5, 8, 16, 33):
        out.append(" " * n + "x")
    for n in (1, 2, 3, 5, 9):
        out.append("x" + "\n" * n + "y")
    for n in (2, 3, 4, 7):
        out.append("\t" * n + "return")
    for d in range(1, 13):
        out.append("".join(str((i * 7 + 3) % 10) for i in range(d)))
    for word in ("the", "The", "THE", " the", "  the"):
        out.append(word + " end")
    return out


def build():
    groups = [PROSE, CONTRACTIONS, NUMBERS, CODE, CJK, EMOJI, SCRIPTS, ACCENTS, SPECIAL_TEXT,
              URLS_MATH, WHITESPACE, SINGLES, generated()]
    strings = []
    seen = set()
    for group in groups:
        for s in group:
            if s not in seen:  # keep the first occurrence, in a stable order
                seen.add(s)
                strings.append(s)
    return strings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="strings.json", help="where to write the JSON list (default: %(default)s)")
    args = parser.parse_args()
    strings = build()
    if len(strings) < 220:
        sys.exit(f"only {len(strings)} strings; the tokenizer tests expect at least 220")
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(strings, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(strings)} strings to {args.out}")


if __name__ == "__main__":
    main()
