// `hayate compress` and `hayate decompress`: lossless files coded with the model's probabilities
// (or a semantic summary the model writes out again), one file or a directory in a batch.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "compress/batch.h"
#include "compress/compressor.h"
#include "core/clock.h"
#include "core/error.h"
#include "engine/engine.h"

namespace hayate::cli {
namespace {

namespace fs = std::filesystem;

struct CompressOptions {
  ModelOptions model;
  std::string input = "-", output = "-";
  std::string method = "model";  // model | zstd | stored
  bool semantic = false, quiet = false, no_group = false;
  compress::SemanticOptions sem;
  std::string batch_dir, out_dir, report;
  double threshold = 0.8;
  int32_t sequences = 16;
};

std::string read_input(const std::string& path) {
  if (path == "-") {
    std::ios::sync_with_stdio(false);
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_output(const std::string& path, std::string_view bytes) {
  if (path == "-") {
    std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::cout.flush();
    if (!std::cout) fail(ErrorKind::ResourceExhausted, "writing to stdout failed");
    return;
  }
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::BadInput, path + ": cannot open for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail(ErrorKind::ResourceExhausted, path + ": write failed");
}

std::string_view as_chars(const std::vector<uint8_t>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The model, its coder and, when asked, an engine on a second backend of the same model.
struct Loaded {
  LoadedModel lm;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<compress::Compressor> compressor;
};

std::unique_ptr<Loaded> load(const CompressOptions& o, bool with_engine) {
  auto l = std::make_unique<Loaded>();
  l->lm = load_model(o.model);
  if (!l->lm.tokenizer) fail(ErrorKind::BadInput, "the model has no tokenizer, which compression needs");
  if (with_engine) {
    EngineConfig ec;
    ec.n_ctx = l->lm.n_ctx;
    l->engine = std::make_unique<Engine>(
        *l->lm.model, make_backend_for(*l->lm.model, o.model.backend, o.model.threads, o.model.device, nullptr),
        l->lm.tokenizer.get(), ec);
  }
  compress::ModelLogitsOptions mo;
  mo.n_ctx = l->lm.n_ctx;
  mo.max_sequences = o.sequences;
  l->compressor = std::make_unique<compress::Compressor>(*l->lm.model, *l->lm.tokenizer, std::move(l->lm.backend),
                                                         l->engine.get(), mo);
  return l;
}

void say(const CompressOptions& o, const std::string& line) {
  if (!o.quiet) std::cerr << "hayate: " << line << "\n";
}

std::string stats(size_t in, size_t out, double seconds) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%zu -> %zu bytes (ratio %.2fx, %.3f bits/byte) in %.2f s (%.1f KiB/s)", in, out,
                out ? static_cast<double>(in) / static_cast<double>(out) : 0.0,
                in ? 8.0 * static_cast<double>(out) / static_cast<double>(in) : 0.0, seconds,
                seconds > 0 ? static_cast<double>(in) / 1024 / seconds : 0.0);
  return buf;
}

void draw_progress(size_t done, size_t total) {
  if (!::isatty(STDERR_FILENO)) {
    if (done == total) std::cerr << "hayate: " << done << "/" << total << " items\n";
    return;
  }
  const size_t width = 30, filled = total ? width * done / total : width;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
            << (done == total ? "\n" : "") << std::flush;
}

void run_batch_dir(const CompressOptions& o) {
  if (!fs::is_directory(o.batch_dir)) fail(ErrorKind::NotFound, o.batch_dir + ": not a directory");
  fs::path in_dir = fs::path(o.batch_dir).lexically_normal();
  if (!in_dir.has_filename()) in_dir = in_dir.parent_path();  // "dir/"
  const fs::path out_dir = o.out_dir.empty() ? fs::path(in_dir.string() + ".hyz") : fs::path(o.out_dir);
  fs::create_directories(out_dir);
  std::vector<compress::BatchItem> items;
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(o.batch_dir))
    if (e.is_regular_file()) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) items.push_back({p.filename().string(), read_input(p.string())});

  auto l = load(o, true);
  compress::BatchOptions bo;
  bo.semantic = o.semantic;
  bo.semantic_options = o.sem;
  bo.group = !o.no_group;
  bo.threshold = o.threshold;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<compress::BatchOutcome> results =
      compress::run_batch(*l->compressor, items, bo, o.quiet ? std::function<void(size_t, size_t)>{} : draw_progress);
  const double seconds = seconds_since(t0);

  nlohmann::json report = nlohmann::json::array();
  size_t in = 0, out = 0, failed = 0;
  int32_t groups = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const compress::BatchOutcome& r = results[i];
    groups = std::max(groups, r.group + 1);
    nlohmann::json j = {{"name", r.name}, {"ok", r.ok}, {"group", r.group}, {"bytes", items[i].text.size()}};
    if (r.ok) {
      write_output((out_dir / (r.name + ".hyz")).string(), as_chars(r.file));
      in += items[i].text.size();
      out += r.file.size();
      j["compressed_bytes"] = r.file.size();
      if (o.semantic) j["quality"] = {{"cosine", r.quality.cosine}, {"word_f1", r.quality.word_f1}};
    } else {
      ++failed;
      j["error"] = r.error;
      std::cerr << "hayate: " << r.name << ": " << r.error << "\n";
    }
    report.push_back(std::move(j));
  }
  say(o, std::to_string(items.size() - failed) + " of " + std::to_string(items.size()) + " items into " +
             out_dir.string() + " (" + std::to_string(groups) + " groups by similarity), " + stats(in, out, seconds) +
             ", " +
             std::to_string(static_cast<int>(seconds > 0 ? 60.0 * static_cast<double>(items.size()) / seconds : 0)) +
             " items/min");
  if (!o.report.empty()) write_output(o.report, report.dump(2) + "\n");
}

void run_compress(const CompressOptions& o) {
  if (!o.batch_dir.empty()) return run_batch_dir(o);
  const std::string input = read_input(o.input);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint8_t> file;
  if (o.method == "stored" || o.method == "zstd") {
    file = o.method == "zstd" ? compress::compress_zstd(input) : compress::compress_stored(input);
    write_output(o.output, as_chars(file));
    say(o, o.method + ": " + stats(input.size(), file.size(), seconds_since(t0)));
    return;
  }
  auto l = load(o, o.semantic);
  const auto t1 = std::chrono::steady_clock::now();
  if (o.semantic) {
    const compress::SemanticResult r = l->compressor->compress_semantic(input, o.sem);
    file = r.file;
    write_output(o.output, as_chars(file));
    char q[160];
    std::snprintf(q, sizeof q, "; summary %d of %d tokens, quality: cosine %.3f, word F1 %.3f", r.summary_tokens,
                  r.original_tokens, r.quality.cosine, r.quality.word_f1);
    say(o, std::string(r.kept_whole ? "semantic (kept whole: below the minimum length): " : "semantic: ") +
               stats(input.size(), file.size(), seconds_since(t1)) + (r.kept_whole ? "" : q));
    return;
  }
  file = l->compressor->compress(input);
  write_output(o.output, as_chars(file));
  say(o, stats(input.size(), file.size(), seconds_since(t1)) + "; model " +
             l->lm.model->file->get_string("general.name", "?") + " on " + l->compressor->source().compute_path());
}

void run_decompress(const CompressOptions& o) {
  const std::string input = read_input(o.input);
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  const compress::Container c = compress::read_container(bytes);
  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  if (c.method == compress::Method::Stored || c.method == compress::Method::Zstd) {
    out = compress::decompress(c, nullptr, nullptr);
  } else {
    auto l = load(o, c.method == compress::Method::Semantic);
    const auto t1 = std::chrono::steady_clock::now();
    out = l->compressor->decompress(bytes);
    say(o, std::string(c.method == compress::Method::Semantic ? "reconstructed " : "decompressed ") +
               std::to_string(input.size()) + " -> " + std::to_string(out.size()) + " bytes in " +
               std::to_string(seconds_since(t1)) + " s");
  }
  write_output(o.output, out);
  (void)t0;
}

void add_common(CLI::App* cmd, CompressOptions& o) {
  add_model_options(*cmd, o.model);
  cmd->add_option("input", o.input, "file to read ('-' or nothing: stdin)");
  cmd->add_option("-o,--output", o.output, "file to write ('-' or nothing: stdout)");
  cmd->add_option("--sequences", o.sequences, "windows coded side by side (decompression runs them as one batch)")
      ->check(CLI::Range(1, 255))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o.quiet, "print no statistics on stderr");
}

}  // namespace

void add_compress_command(CLI::App& app) {
  auto o = std::make_shared<CompressOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compress", "compress text losslessly with the model's next-token probabilities (or --semantic: a summary)");
  add_common(cmd, *o);
  cmd->add_option("--method", o->method, "model (arithmetic coding with the model), zstd or stored")
      ->check(CLI::IsMember({"model", "zstd", "stored"}))
      ->capture_default_str();
  cmd->add_flag("--semantic", o->semantic, "lossy: keep a summary that the model expands again on decompression");
  cmd->add_option("--lead-tokens", o->sem.lead_tokens, "semantic: most tokens kept of each paragraph")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-summary-tokens", o->sem.max_summary_tokens,
                  "semantic: most summary tokens in all (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--target-ratio", o->sem.target_ratio,
                  "semantic: shorten the summary until the file is this much smaller")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-length", o->sem.min_length, "semantic: texts shorter than this many bytes are kept whole")
      ->capture_default_str();
  cmd->add_option("--summary", o->sem.method,
                  "semantic summary method: lead (first sentences) or prompt (the model summarises)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, compress::SummaryMethod>{
          {"lead", compress::SummaryMethod::Lead}, {"prompt", compress::SummaryMethod::Prompt}}));
  cmd->add_option("--batch", o->batch_dir, "compress every file of this directory (grouped by similarity)");
  cmd->add_option("--out-dir", o->out_dir, "--batch: where NAME.hyz files go (default: DIR.hyz)");
  cmd->add_option("--threshold", o->threshold, "--batch: embedding cosine for two texts to share a group")
      ->capture_default_str();
  cmd->add_flag("--no-group", o->no_group, "--batch: keep the files' order instead of grouping by similarity");
  cmd->add_option("--report", o->report, "--batch: write a JSON report of every item here");
  cmd->callback([o] { run_compress(*o); });
}

void add_decompress_command(CLI::App& app) {
  auto o = std::make_shared<CompressOptions>();
  CLI::App* cmd = app.add_subcommand("decompress", "restore what `hayate compress` wrote (same model, same backend)");
  add_common(cmd, *o);
  cmd->callback([o] { run_decompress(*o); });
}

}  // namespace hayate::cli
