// `hayate bench model`: llama-bench-like speed of models in this process; `hayate bench serve`:
// a load generator for OpenAI-compatible servers (src/bench/).
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "bench/model_bench.h"
#include "bench/serve_bench.h"
#include "cli/common.h"
#include "core/error.h"
#include "store/store.h"

namespace hayate::cli {
namespace {

struct BenchModelOptions {
  bench::BenchConfig config;
  std::string format = "table";
  std::string output_file;
};

void run_bench_model(const BenchModelOptions& o) {
  const bench::SystemInfo system = bench::collect_system_info();
  const std::vector<bench::BenchResult> results = bench::run_model_bench(o.config, std::cerr);
  const std::string report = o.format == "json"  ? bench::format_json(system, results)
                             : o.format == "csv" ? bench::format_csv(system, results)
                                                 : bench::format_table(system, results);
  if (o.output_file.empty()) {
    std::cout << report << std::flush;
    return;
  }
  std::ofstream f(o.output_file, std::ios::binary);
  if (!f) fail(ErrorKind::BadInput, o.output_file + ": cannot open for writing (--output)");
  f << report;
  f.close();
  if (!f) fail(ErrorKind::ResourceExhausted, o.output_file + ": write failed");
  std::cerr << "bench: wrote " << o.format << " to " << o.output_file << "\n";
}

void write_file(const std::string& path, const std::string& text, const char* option) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::BadInput, path + ": cannot open for writing (" + option + ")");
  f << text;
  f.close();
  if (!f) fail(ErrorKind::ResourceExhausted, path + ": write failed");
}

void run_bench_serve(bench::ServeBenchConfig c, const std::string& out_file) {
  if (c.api_key.empty())
    for (const char* name : {"HAYATE_API_KEY", "OPENAI_API_KEY"})
      if (const char* v = std::getenv(name); v && *v) {
        c.api_key = v;
        break;
      }
  if (!out_file.empty()) write_file(out_file, "", "--out");  // fail before the run, not after it
  const bench::ServeBenchResult result = bench::run_serve_bench(c, std::cerr);
  std::cout << bench::format_serve_table(result) << std::flush;
  if (!out_file.empty()) {
    write_file(out_file, bench::format_serve_json(result), "--out");
    std::cerr << "bench serve: wrote " << out_file << "\n";
  }
  if (result.interrupted) {  // like a shell: 128 + SIGINT, after the results so far are out
    std::cout.flush();
    std::exit(130);
  }
  // A soak run that failed a check exits 1 (a script or cron job running it unattended sees it).
  for (const bench::TargetResult& t : result.targets)
    for (const bench::RunResult& r : t.runs)
      for (const bench::SoakCheck& check : r.soak_checks)
        if (check.passed == false) {
          std::cerr << "bench serve: the soak failed its check " << check.name << ": " << check.detail << "\n";
          std::cout.flush();
          std::exit(1);
        }
}

void add_bench_serve_command(CLI::App* bench) {
  auto c = std::make_shared<bench::ServeBenchConfig>();
  auto out = std::make_shared<std::string>();
  auto no_progress = std::make_shared<bool>(false);
  bench::WorkloadConfig& w = c->workload;
  CLI::App* cmd = bench->add_subcommand(
      "serve",
      "load-test OpenAI-compatible servers (hayate, llama.cpp, vLLM, Ollama): streamed requests, TTFT, "
      "inter-token latency, throughput, errors, server CPU/memory/GPU");
  cmd->footer(
      "Modes: concurrency (a run per --concurrency value, each --requests requests), rate (Poisson\n"
      "arrivals at each --rate), soak (--duration seconds at the first --concurrency, a snapshot every\n"
      "--snapshot-every seconds; --state/--resume, judged at the end), overload (doubling concurrency, or rate when "
      "--rate is given, until\n"
      "more than --error-threshold of the requests fail). Ctrl-C stops and keeps what was measured.\n"
      "Token counts come from the server's usage (stream_options.include_usage). The results JSON\n"
      "(--out) is described in docs/bench-serve-results.md.");
  cmd->add_option("--url", c->urls, "base URL of a server, http://HOST:PORT (repeatable: one after another)")
      ->required();
  cmd->add_option("--label", c->labels, "a name for each --url in the results (default: the URL)");
  cmd->add_option("--model", c->model, "model name to request (default: the first of /v1/models)");
  cmd->add_option("--api-key", c->api_key, "bearer key (default: $HAYATE_API_KEY or $OPENAI_API_KEY)");
  cmd->add_option("-w,--workload", w.name,
                  "story (short prompt, long answer), long (the seed's 2,000-token story, end-of-generation "
                  "ignored), summary (long document, short answer), chat (multi-turn, history kept), retention "
                  "(--turns-turn chats: a made-up fact in turn 1 asked back in the last; scored), mixed (stories, long "
                  "documents, clients hanging up after a few tokens, "
                  "embeddings: the soak's mix), fixed (a /v1/completions prompt of exactly --prompt-tokens tokens) "
                  "jsonl (--file) or rag (RAG chat questions about planted facts of a generated corpus, "
                  "which it ingests into the collection bench-rag first; the stage timings reported)")
      ->check(CLI::IsMember({"story", "long", "summary", "chat", "retention", "mixed", "fixed", "jsonl", "rag"}))
      ->capture_default_str();
  cmd->add_option("--prompt-tokens", w.prompt_tokens,
                  "fixed: prompt tokens, calibrated against the server (default 128); summary: document words "
                  "(default 1000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-n,--max-tokens", w.max_tokens,
                  "tokens to generate per request (default: story 256, long 2000, summary 64, retention 64, else 128)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--turns", w.turns, "chat, retention: turns per conversation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--file", w.file,
                  "jsonl: one request per line, {\"prompt\": ...} or {\"messages\": [...]}, optional \"max_tokens\"");
  cmd->add_option("--temperature", w.temperature, "sampling temperature")
      ->check(CLI::Range(0.0, 2.0))
      ->capture_default_str();
  cmd->add_flag("--ignore-eos", w.ignore_eos,
                "ask the server to ignore end-of-generation tokens, so every answer is --max-tokens long");
  cmd->add_option("--mode", c->mode, "concurrency, rate, soak or overload")
      ->check(CLI::IsMember({"concurrency", "rate", "soak", "overload"}))
      ->capture_default_str();
  cmd->add_option("-c,--concurrency", c->concurrency, "concurrent streams, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--ladder", c->ladder,
                  "a named concurrency ladder instead of --concurrency: seed (1, 5, 10, 20 users)")
      ->check(CLI::IsMember({"seed"}));
  cmd->add_option("--rate", c->rates, "requests per second (Poisson), comma-separated")->delimiter(',');
  cmd->add_option("--requests", c->requests,
                  "requests per run (default: max(10, 4 x concurrency), retention turns x concurrency; rate mode "
                  "max(20, 10 s of arrivals))")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--duration", c->duration_s, "soak: seconds (default 60); other modes: a limit per run")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--snapshot-every", c->snapshot_every_s, "soak: seconds between snapshots")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--state", c->state_file,
                  "soak: write the run's state to this file after every snapshot (atomically), for --resume");
  cmd->add_flag("--resume", c->resume, "soak: continue the run saved in --state (same --url, -c, -w, --duration)");
  cmd->add_option("--warmup", c->soak.warmup_s, "soak: seconds before resident memory is judged")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--window", c->soak.window_s,
                  "soak: seconds of the first and last windows whose TTFT p99 are compared")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-rss-growth", c->soak.max_rss_growth_pct,
                  "soak: percent the server's RSS may grow after warm-up (needs --pid)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-ttft-drift", c->soak.max_ttft_drift_pct,
                  "soak: percent the last window's TTFT p99 may differ from the first window's")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-concurrency", c->max_concurrency,
                  "overload: the last step; rate mode: most requests in flight")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--error-threshold", c->error_threshold, "overload: the failed fraction where errors \"begin\"")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--pid", c->pid, "sample CPU and resident memory of this server process (/proc)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--sample-interval", c->sample_interval_s, "seconds between resource samples")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  cmd->add_option("--timeout", c->timeout_s, "seconds a request may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", c->seed, "seed of the Poisson arrivals")->capture_default_str();
  cmd->add_option("--out", *out, "write the results JSON to this file");
  cmd->add_flag("--no-progress", *no_progress, "no progress bar (it is shown only when stderr is a terminal)");
  cmd->callback([c, out, no_progress] {
    c->progress = !*no_progress;
    run_bench_serve(*c, *out);
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "measure end-to-end speed (like llama-bench)");
  bench->require_subcommand(1);
  add_bench_probe_command(bench);

  auto o = std::make_shared<BenchModelOptions>();
  bench::BenchConfig& c = o->config;
  CLI::App* cmd = bench->add_subcommand(
      "model", "prompt processing (ppN) and generation (tgN) speed of models, with warm-up and repetitions");
  cmd->add_option("-m,--model", c.models, "GGUF model file or a name in the store (repeatable)")->required();
  cmd->add_option("-p,--n-prompt", c.n_prompt, "prompt lengths, comma-separated (0 = no pp test)")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", c.n_gen, "generation lengths, comma-separated (0 = no tg test)")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-t,--threads", c.threads, "thread counts, comma-separated (0 = all cores)")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", c.repetitions, "timed runs of each test (after one warm-up run)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("-b,--batch-size", c.n_batch, "prompt tokens per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_backend_option(*cmd, c.backend);
  add_device_options(*cmd, c.device);
  cmd->add_option("-o,--output-format", o->format, "table (Markdown), json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  cmd->add_option("--output", o->output_file, "write the report to this file instead of stdout");
  cmd->callback([o] {
    for (std::string& m : o->config.models) m = store::resolve_model(m).string();
    run_bench_model(*o);
  });
  add_bench_serve_command(bench);
}

}  // namespace hayate::cli
