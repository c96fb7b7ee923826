#include "bench/model_bench.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "backend/backend.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/session.h"
#include "forward/placement.h"
#include "quant/mix.h"

namespace hayate::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Test {
  bool generation = false;  // tg (decode steps) rather than pp (one prompt)
  int32_t n = 0;

  std::string label() const { return (generation ? "tg" : "pp") + std::to_string(n); }
  // A tg test first feeds a one-token prompt, so that every timed step attends to a cache.
  int32_t positions() const { return generation ? n + 1 : n; }
};

// The columns every row of one model repeats.
struct ModelFacts {
  std::string file, path, name, arch, file_type;
  uint64_t size_bytes = 0, n_params = 0;

  void fill(BenchResult& r) const {
    r.model_file = file;
    r.model_path = path;
    r.model_name = name;
    r.arch = arch;
    r.file_type = file_type;
    r.model_size_bytes = size_bytes;
    r.n_params = n_params;
  }
};

std::string to_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string file_type_of(const gguf::File& f) {
  if (const gguf::Value* v = f.find("general.file_type"); v && v->is_integer()) {
    const uint64_t id = v->as_u64(f.name() + ": general.file_type");
    if (id <= UINT32_MAX)
      if (const auto ft = quant::file_type_from_gguf_id(static_cast<uint32_t>(id))) return quant::file_type_name(*ft);
  }
  // No file type this build can name (another writer's mix): the matrix type holding most bytes.
  std::map<GgmlType, uint64_t> bytes;
  for (const auto& t : f.tensors())
    if (t.shape.size() >= 2) bytes[t.type] += t.nbytes;
  if (bytes.empty()) return "";
  const auto most =
      std::max_element(bytes.begin(), bytes.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return to_upper(ggml_type_name(most->first));
}

ModelFacts describe(const Model& m, const std::string& path) {
  ModelFacts d;
  d.path = path;
  d.file = std::filesystem::path(path).filename().string();
  d.name = m.file->get_string("general.name", "");
  d.arch = m.hp.arch;
  d.file_type = file_type_of(*m.file);
  d.size_bytes = m.weight_bytes();
  for (const auto& t : m.file->tensors()) d.n_params += static_cast<uint64_t>(t.n_elements());
  return d;
}

std::vector<Test> tests_of(const BenchConfig& c) {
  std::vector<Test> out;
  for (int32_t n : c.n_prompt)
    if (n > 0) out.push_back({false, n});
  for (int32_t n : c.n_gen)
    if (n > 0) out.push_back({true, n});
  return out;
}

std::vector<int> thread_counts(const BenchConfig& c) {
  // The reference backend runs on the calling thread whatever it is asked for.
  if (c.backend == "reference") return {1};
  const int all = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<int> out;
  for (int t : c.threads) {
    const int n = t > 0 ? t : all;
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

void validate(const BenchConfig& c) {
  if (c.models.empty()) fail(ErrorKind::BadInput, "bench: no model given; name one or more with -m FILE");
  if (c.repetitions < 1) fail(ErrorKind::BadInput, "bench: repetitions must be at least 1 (-r)");
  if (c.n_batch < 1) fail(ErrorKind::BadInput, "bench: the batch size must be at least 1 (-b)");
  if (c.threads.empty()) fail(ErrorKind::BadInput, "bench: no thread count given (-t)");
  for (int t : c.threads)
    if (t < 0) fail(ErrorKind::BadInput, "bench: thread count " + std::to_string(t) + " is negative (-t)");
  for (const auto* lengths : {&c.n_prompt, &c.n_gen})
    for (int32_t n : *lengths)
      if (n < 0) fail(ErrorKind::BadInput, "bench: test length " + std::to_string(n) + " is negative (-p/-n)");
  if (tests_of(c).empty()) fail(ErrorKind::BadInput, "bench: nothing to measure: every -p and -n length is 0");
}

std::vector<int32_t> random_tokens(int32_t count, int32_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  std::vector<int32_t> out(static_cast<size_t>(count));
  for (int32_t& id : out) id = pick(rng);
  return out;
}

// One run of `t` on an empty sequence; returns the seconds of its timed part.
double run_once(Session& s, const Test& t, const std::vector<int32_t>& tokens) {
  s.reset();
  if (!t.generation) {
    const auto t0 = Clock::now();
    s.feed(tokens, false);
    return seconds_since(t0);
  }
  s.feed(std::span<const int32_t>(tokens.data(), 1), false);
  const auto t0 = Clock::now();
  for (int32_t i = 1; i <= t.n; ++i) s.feed(std::span<const int32_t>(&tokens[static_cast<size_t>(i)], 1), false);
  return seconds_since(t0);
}

BenchResult run_test(const Model& model, Backend& backend, const Test& t, const BenchConfig& c) {
  BenchResult r;
  r.test = t.label();
  r.n_prompt = t.generation ? 0 : t.n;
  r.n_gen = t.generation ? t.n : 0;
  r.n_batch = c.n_batch;

  const std::vector<int32_t> tokens = random_tokens(t.positions(), model.hp.n_vocab, c.seed);
  reset_peak_resident_memory();
  Session session(model, backend, t.positions(), 16, c.n_batch);
  run_once(session, t, tokens);  // warm-up: page in the weights, wake the threads
  for (int i = 0; i < c.repetitions; ++i) {
    const double seconds = run_once(session, t, tokens);
    r.samples_seconds.push_back(seconds);
    r.samples_ts.push_back(seconds > 0 ? t.n / seconds : 0);
  }
  r.ts = summarize(r.samples_ts);
  r.rss_bytes = resident_memory_bytes();
  // The two come from different files (statm, status) that the kernel updates a page apart.
  r.rss_peak_bytes = std::max<uint64_t>(peak_resident_memory_bytes(), r.rss_bytes);
  return r;
}

std::string progress_line(const BenchResult& r) {
  char speed[64];
  std::snprintf(speed, sizeof speed, "%.2f ± %.2f t/s", r.ts.mean, r.ts.stddev);
  return "bench: " + r.model_file + " " + r.backend + " t=" + std::to_string(r.n_threads) + " " + r.test + ": " +
         speed + "\n";
}

// The tests' KV cache and batch, which the automatic --gpu-layers leaves room for.
PlacementHints bench_hints(const BenchConfig& c, const std::vector<Test>& tests) {
  PlacementHints h;
  h.batch_tokens = c.n_batch;
  h.kv_positions = 1;
  for (const Test& t : tests) h.kv_positions = std::max<int64_t>(h.kv_positions, t.positions());
  return h;
}

}  // namespace

std::vector<BenchResult> run_model_bench(const BenchConfig& config, std::ostream& progress) {
  validate(config);
  const std::vector<Test> tests = tests_of(config);
  const std::string cpu = collect_system_info().cpu_model;
  std::vector<BenchResult> results;
  for (const std::string& path : config.models) {
    progress << "bench: loading " << path << "\n" << std::flush;
    const std::unique_ptr<Model> model = Model::load(path);
    const ModelFacts facts = describe(*model, path);
    for (const Test& t : tests)
      if (t.positions() > model->hp.n_ctx_train)
        fail(ErrorKind::BadInput, path + ": " + t.label() + " needs " + std::to_string(t.positions()) +
                                      " positions, over the model's trained context of " +
                                      std::to_string(model->hp.n_ctx_train) + "; choose a shorter -p/-n");
    for (int n_threads : thread_counts(config)) {
      const std::unique_ptr<Backend> backend =
          place_model(*model, config.backend, n_threads, config.device, bench_hints(config, tests), &progress);
      for (const Test& t : tests) {
        BenchResult r = run_test(*model, *backend, t, config);
        facts.fill(r);
        r.backend = backend->name();
        r.device = !backend->device_name().empty() ? backend->device_name() : cpu.empty() ? "cpu" : cpu;
        if (backend->device_memory_bytes() > 0) r.gpu_memory_bytes = backend->device_memory_bytes();
        r.n_threads = n_threads;
        progress << progress_line(r) << std::flush;
        results.push_back(std::move(r));
      }
    }
  }
  return results;
}

}  // namespace hayate::bench
