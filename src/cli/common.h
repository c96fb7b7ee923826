#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/sampling_params.h"
#include "engine/output.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace hayate::cli {

// Options shared by the commands that load a model.
struct ModelOptions {
  std::string path;  // empty or "embedded:hayate-demo": the embedded default
  std::string backend = "cpu";
  int threads = 0;
  int32_t ctx_size = 0;  // 0: min(model's trained context, 4096)
  DeviceOptions device{"auto"};
  // The engine's KV cache and step size, which the automatic --gpu-layers leaves room for.
  int32_t kv_blocks = 0;  // 0: two contexts
  int32_t kv_block_size = 16;
  int32_t batch_tokens = 512;
};

void add_model_options(CLI::App& cmd, ModelOptions& o);
// -n, --stop, --ignore-eos and the sampling options (cmd_run.cpp): `run` and `chat` take them.
void add_generation_options(CLI::App& cmd, GenerateOptions& g);
void add_sampling_options(CLI::App& cmd, SamplingParams& s);
void add_backend_option(CLI::App& cmd, std::string& backend);  // --backend: the host backends of the table
// --device, --gpu-memory-fraction, --cuda-graphs, --gpu-layers
void add_device_options(CLI::App& cmd, DeviceOptions& d);

// The embedded default model (tools/demo-model/, linked into the program): its name, which
// load_model takes as a path like an empty one. Random-weight models come from `hayate synth`.
std::string default_model_path();

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the file has no tokenizer
  std::unique_ptr<Backend> backend;
  int32_t n_ctx = 0;
  double load_seconds = 0;
};
LoadedModel load_model(const ModelOptions& o);

std::string human_bytes(size_t bytes);

// Registration of each subcommand (one file each).
void add_run_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_eval_suite_commands(CLI::App& eval);  // cmd_eval_suites.cpp: gsm8k, humaneval, JGLUE
#ifdef HAYATE_HAVE_SERVER
void add_serve_command(CLI::App& app);
#endif
void add_gateway_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_bench_probe_command(CLI::App* bench);  // cmd_probe.cpp
void add_report_command(CLI::App& app);
void add_compress_command(CLI::App& app);
void add_decompress_command(CLI::App& app);
void add_cache_command(CLI::App& app);   // cmd_cache.cpp: hayate cache stats|clear
void add_store_commands(CLI::App& app);  // cmd_store.cpp: hayate pull|list|rm|show
void add_rag_command(CLI::App& app);     // cmd_rag.cpp: hayate rag create|list|stats|delete|ingest|remove|search

}  // namespace hayate::cli
