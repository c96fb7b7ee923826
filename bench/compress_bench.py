#!/usr/bin/env python3
"""Benchmarks of `hayate compress` (issue 17), printed as Markdown for docs/benchmarks.md.

  python3 bench/compress_bench.py [--bin build/bin/hayate] [--device cpu|cuda] [-m MODEL] [--skip-1mb]

Sections: lossless bits per byte and ratio on the demo model's held-out stories against gzip -9,
xz -9e and zstd -19 --long, with speeds; a 1 MiB exact round trip; the seed's by-size report
(100, 500, 1,000, 5,000 characters: latency, ratio, quality); semantic mode on the held-out
stories (one document, and each story alone in a batch); batch throughput; the cache hit rate of
`hayate serve` after preloading common texts. Times are wall clock on this machine; hayate's
exclude loading the model (the CLI reports its own compress/decompress time).
"""
import argparse, json, os, random, re, resource, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT = os.path.join(ROOT, "tools/demo-model/data/heldout_text.txt")


def run(cmd, stdin=None):
    t0 = time.time()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, input=stdin, capture_output=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return p.stdout, p.stderr.decode(errors="replace"), time.time() - t0, cpu


def reported_seconds(stderr):
    m = re.search(r"in ([0-9.]+) s", stderr)
    return float(m.group(1)) if m else float("nan")


class Hayate:
    def __init__(self, args):
        self.bin, self.extra = args.bin, []
        if args.device:
            self.extra += ["--device", args.device]
        if args.model:
            self.extra += ["-m", args.model]
        if args.threads:
            self.extra += ["-t", str(args.threads)]

    def compress(self, data, *flags):
        out, err, wall, cpu = run([self.bin, "compress", *self.extra, *flags], data)
        return out, reported_seconds(err), err

    def decompress(self, data):
        out, err, wall, cpu = run([self.bin, "decompress", *self.extra], data)
        return out, reported_seconds(err)


def tool(cmd_c, cmd_d, data):
    c, _, tc, _ = run(cmd_c, data)
    d, _, td, _ = run(cmd_d, c)
    assert d == data
    return len(c), tc, td


def row(name, n_in, n_out, tc, td):
    kib = n_in / 1024
    return (f"| {name} | {n_out:,} | {8 * n_out / n_in:.3f} | {n_in / n_out:.2f}x | {tc:.2f} | {td:.2f} | "
            f"{kib / tc:.1f} | {kib / td:.1f} |")


def lossless_table(h, data, title):
    print(f"\n{title} ({len(data):,} bytes)\n")
    print("| compressor | bytes | bits/byte | ratio | compress s | decompress s | compress KiB/s | decompress KiB/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    f, tc, _ = h.compress(data)
    d, td = h.decompress(f)
    assert d == data, "hayate round trip is not exact"
    print(row("hayate (model)", len(data), len(f), tc, td))
    for name, c, dcmd in [("gzip -9", ["gzip", "-9", "-c"], ["gzip", "-d", "-c"]),
                          ("xz -9e", ["xz", "-9e", "-c"], ["xz", "-d", "-c"]),
                          ("zstd -19 --long", ["zstd", "-19", "--long", "-q", "-c"], ["zstd", "-d", "--long", "-q", "-c"])]:
        n, tc, td = tool(c, dcmd, data)
        print(row(name, len(data), n, tc, td))


def stories():
    return [s.strip() for s in open(HELDOUT, encoding="utf-8").read().split("\n\n") if s.strip()]


def by_size(h):
    text = open(HELDOUT, "rb").read()
    print("\nBy input size (prefixes of the held-out stories; semantic: `--semantic --lead-tokens 12`)\n")
    print("| chars | lossless bytes | lossless ratio | compress ms | decompress ms | semantic bytes | semantic ratio "
          "| cosine | word F1 | semantic ms | reconstruct ms |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (100, 500, 1000, 5000):
        data = text[:n]
        f, tc, _ = h.compress(data)
        d, td = h.decompress(f)
        assert d == data
        s, ts, err = h.compress(data, "--semantic", "--lead-tokens", "12", "--min-length", "50")
        q = re.search(r"cosine ([0-9.]+), word F1 ([0-9.]+)", err)
        _, tr = h.decompress(s)
        cos, f1 = (q.group(1), q.group(2)) if q else ("(kept whole)", "1")
        print(f"| {n:,} | {len(f)} | {n / len(f):.2f}x | {tc * 1000:.0f} | {td * 1000:.0f} | {len(s)} | "
              f"{n / len(s):.2f}x | {cos} | {f1} | {ts * 1000:.0f} | {tr * 1000:.0f} |")


def semantic(h, tmp):
    text = open(HELDOUT, "rb").read()
    print("\nSemantic mode on the held-out stories\n")
    print("| input | lead tokens | bytes | ratio | cosine | word F1 | compress s | reconstruct s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for lead in (12, 24):
        s, ts, err = h.compress(text, "--semantic", "--lead-tokens", str(lead))
        q = re.search(r"cosine ([0-9.]+), word F1 ([0-9.]+)", err)
        _, tr = h.decompress(s)
        cos, f1 = (q.group(1), q.group(2)) if q else ("1 (kept whole: the exact file is smaller)", "1")
        print(f"| all 80 stories, one file | {lead} | {len(s)} | {len(text) / len(s):.2f}x | {cos} | "
              f"{f1} | {ts:.2f} | {tr:.2f} |")
    d = os.path.join(tmp, "stories")
    os.makedirs(d, exist_ok=True)
    for i, s in enumerate(stories()):
        open(os.path.join(d, f"{i:03d}.txt"), "w").write(s)
    report = os.path.join(tmp, "sem.json")
    _, err, wall, _ = run([h.bin, "compress", *h.extra, "--batch", d, "--out-dir", d + ".sem", "--semantic",
                           "--lead-tokens", "12", "--min-length", "50", "--report", report])
    items = json.load(open(report))
    n_in = sum(i["bytes"] for i in items)
    n_out = sum(i["compressed_bytes"] for i in items if i["ok"])
    cos = sum(i["quality"]["cosine"] for i in items) / len(items)
    f1 = sum(i["quality"]["word_f1"] for i in items) / len(items)
    print(f"| each story its own file (batch of {len(items)}) | 12 | {n_out:,} in all | {n_in / n_out:.2f}x | "
          f"{cos:.3f} (mean) | {f1:.3f} (mean) | {wall:.2f} ({60 * len(items) / wall:.0f} texts/min, with loading) | |")


def batch(h, tmp):
    d = os.path.join(tmp, "stories")
    print("\nLossless batch of the 80 held-out stories (`hayate compress --batch`, wall time with model loading)\n")
    print("| grouping | groups | bytes in | bytes out | ratio | seconds | texts/min |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for flags, name in (([], "by similarity (0.8)"), (["--no-group"], "none (file order)")):
        report = os.path.join(tmp, "b.json")
        _, err, wall, _ = run([h.bin, "compress", *h.extra, "--batch", d, "--out-dir", d + ".hyz", "--report", report,
                               *flags])
        items = json.load(open(report))
        n_in = sum(i["bytes"] for i in items)
        n_out = sum(i["compressed_bytes"] for i in items)
        groups = max(i["group"] for i in items) + 1
        print(f"| {name} | {groups} | {n_in:,} | {n_out:,} | {n_in / n_out:.2f}x | {wall:.2f} | "
              f"{60 * len(items) / wall:.0f} |")


def one_mib(h):
    text = open(HELDOUT, "rb").read()
    data = bytearray()
    i = 0
    while len(data) < (1 << 20):  # the stories with a block of every byte value every 64 KiB
        data += text
        if i % 3 == 0:
            data += bytes(range(256))
        i += 1
    data = bytes(data[:1 << 20])
    lossless_table(h, data, "1 MiB exact round trip (the held-out stories repeated, with raw bytes; xz and zstd "
                   "see the repeats, the model's 512-token windows do not)")


def cache_hit_rate(h, tmp):
    texts = stories()
    common = texts[:16]
    preload = os.path.join(tmp, "preload.json")
    json.dump(common, open(preload, "w"))
    p = subprocess.Popen([h.bin, "serve", "--port", "0", "--compress-preload", preload, "--compress-rate-limit-rpm",
                          "0", *h.extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)", p.stdout.readline()).group(1))
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if urllib.request.urlopen(url + "/health").status == 200:
                    break
            except Exception:
                time.sleep(0.1)
        rng = random.Random(17)
        # Requests: 70% one of the 16 common texts, 30% one of the other 64 (Zipf-like traffic).
        lat = []
        for _ in range(300):
            t = rng.choice(common) if rng.random() < 0.7 else rng.choice(texts[16:])
            body = json.dumps({"text": t}).encode()
            t0 = time.time()
            urllib.request.urlopen(urllib.request.Request(url + "/v1/compress", body)).read()
            lat.append(time.time() - t0)
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        rate = float(re.search(r"^compression_cache_hit_rate (\S+)", metrics, re.M).group(1))
        lat.sort()
        print("\nResponse cache of `hayate serve` (16 common stories preloaded; 300 requests, 70% of them for those "
              "16, the rest spread over 64 others)\n")
        print("| hit rate | p50 latency ms | p95 latency ms | requests/min (one client) |")
        print("| ---: | ---: | ---: | ---: |")
        print(f"| {rate:.1%} | {lat[len(lat) // 2] * 1000:.1f} | {lat[int(len(lat) * .95)] * 1000:.1f} | "
              f"{60 * len(lat) / sum(lat):.0f} |")
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/hayate"))
    ap.add_argument("--device", default="")
    ap.add_argument("-m", "--model", default="")
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("--skip-1mb", action="store_true")
    args = ap.parse_args()
    h = Hayate(args)
    with tempfile.TemporaryDirectory() as tmp:
        lossless_table(h, open(HELDOUT, "rb").read(), "Lossless, the demo model's 80 held-out stories")
        by_size(h)
        semantic(h, tmp)
        batch(h, tmp)
        cache_hit_rate(h, tmp)
        if not args.skip_1mb:
            one_mib(h)


if __name__ == "__main__":
    main()
