// `hayate bench model`: llama-bench-like speed of models in this process (src/bench/).
#include <fstream>
#include <iostream>

#include "bench/model_bench.h"
#include "cli/common.h"
#include "core/error.h"

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

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "measure end-to-end speed (like llama-bench)");
  bench->require_subcommand(1);

  auto o = std::make_shared<BenchModelOptions>();
  bench::BenchConfig& c = o->config;
  CLI::App* cmd = bench->add_subcommand(
      "model", "prompt processing (ppN) and generation (tgN) speed of models, with warm-up and repetitions");
  cmd->add_option("-m,--model", c.models, "GGUF model file (repeatable)")->required();
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
  cmd->add_option("--backend", c.backend, "cpu (threaded, SIMD) or reference (plain fp32, one thread)")
      ->check(CLI::IsMember({"cpu", "reference"}))
      ->capture_default_str();
  add_device_options(*cmd, c.device);
  cmd->add_option("-o,--output-format", o->format, "table (Markdown), json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  cmd->add_option("--output", o->output_file, "write the report to this file instead of stdout");
  cmd->callback([o] { run_bench_model(*o); });
}

}  // namespace hayate::cli
