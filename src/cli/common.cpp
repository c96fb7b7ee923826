#include "cli/common.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "backend/registry.h"
#include "cli/embedded_model.h"
#include "core/error.h"
#include "forward/placement.h"
#include "gguf/gguf.h"
#include "store/store.h"

namespace hayate::cli {

void add_model_options(CLI::App& cmd, ModelOptions& o) {
  cmd.add_option("-m,--model", o.path,
                 "GGUF model file or a name in the store (hayate list; default: the embedded demo model)");
  add_backend_option(cmd, o.backend);
  add_device_options(cmd, o.device);
  cmd.add_option("-t,--threads", o.threads, "worker threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("-c,--ctx-size", o.ctx_size, "context size in tokens (0 = model's, at most 4096)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

void add_backend_option(CLI::App& cmd, std::string& backend) {
  cmd.add_option("--backend", backend, host_backend_help())
      ->check(CLI::IsMember(host_backend_names()))
      ->capture_default_str();
}

void add_device_options(CLI::App& cmd, DeviceOptions& d) {
  cmd.add_option("--device", d.device, device_help())->check(CLI::IsMember(device_choices()))->capture_default_str();
  cmd.add_option("--gpu-memory-fraction", d.gpu_memory_fraction,
                 "share of the GPU's free memory the CUDA backend may take (weights, KV cache, scratch)")
      ->check(CLI::Range(1e-6, 1.0))
      ->capture_default_str();
  // Graphs by default (issue 12, stage 4: +11-14% tg128 on an H100, every test passing under them).
  d.cuda_graphs = true;
  cmd.add_flag("--cuda-graphs,!--no-cuda-graphs", d.cuda_graphs,
               "capture each forward step as a CUDA graph and replay it (on by default; --no-cuda-graphs: launch "
               "kernels one by one)");
  cmd.add_option_function<std::string>(
         "--gpu-layers", [&d](const std::string& text) { d.gpu_layers = parse_gpu_layers(text); }, kGpuLayersHelp)
      ->check(CLI::Validator(
          [](const std::string& text) {
            try {
              parse_gpu_layers(text);
              return std::string();
            } catch (const Error& e) {  // CLI11 names the option itself
              const std::string why = e.what(), flag = "--gpu-layers ";
              return why.rfind(flag, 0) == 0 ? why.substr(flag.size()) : why;
            }
          },
          "auto|N"))
      ->default_str("auto");
  cmd.add_option("--tensor-parallel", d.tensor_parallel, kTensorParallelHelp)
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

void add_sampling_options(CLI::App& cmd, SamplingParams& s) {
  cmd.add_option("--temp", s.temperature, "temperature (0 = greedy)")->capture_default_str();
  cmd.add_option("--top-k", s.top_k, "top-k (0 = off)")->capture_default_str();
  cmd.add_option("--top-p", s.top_p, "top-p (1 = off)")->capture_default_str();
  cmd.add_option("--min-p", s.min_p, "min-p (0 = off)")->capture_default_str();
  cmd.add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1 = off)")->capture_default_str();
  cmd.add_option("--repeat-last-n", s.repeat_last_n, "tokens the repetition penalty looks back on")
      ->capture_default_str();
  cmd.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (0 = off)")->capture_default_str();
  cmd.add_option("--presence-penalty", s.presence_penalty, "presence penalty (0 = off)")->capture_default_str();
  cmd.add_option("-s,--seed", s.seed, "random seed (same seed, same text)");
}

std::string default_model_path() { return kEmbeddedModelName; }

LoadedModel load_model(const ModelOptions& o) {
  LoadedModel lm;
  const auto t0 = std::chrono::steady_clock::now();
  if (o.path.empty() || o.path == kEmbeddedModelName)
    lm.model = Model::from_file(gguf::File::parse(embedded_model(), kEmbeddedModelName));
  else
    lm.model = Model::load(store::resolve_model(o.path).string());  // a file, else a name in the store
  if (lm.model->file->find("tokenizer.ggml.tokens")) lm.tokenizer = Tokenizer::from_gguf(*lm.model->file);
  lm.n_ctx = o.ctx_size > 0 ? o.ctx_size : std::min(lm.model->hp.n_ctx_train, 4096);
  lm.model->use_context(lm.n_ctx);  // LongRoPE's factors follow the context, as llama.cpp's do
  PlacementHints hints;
  hints.kv_positions = o.kv_blocks > 0 ? int64_t{o.kv_blocks} * o.kv_block_size : 2 * int64_t{lm.n_ctx};
  hints.batch_tokens = o.batch_tokens;
  lm.backend = place_model(*lm.model, o.backend, o.threads, o.device, hints, &std::cerr);
  lm.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return lm;
}

std::string human_bytes(size_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  return buf;
}

}  // namespace hayate::cli
