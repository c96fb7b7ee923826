// Device selection (auto, cpu or a device backend of the table in registry.cpp).
#include "backend/backend.h"

#include <charconv>

#include "backend/registry.h"
#include "core/error.h"

namespace hayate {

KvCache::~KvCache() = default;
Backend::~Backend() = default;

void Backend::matmul_parts(std::span<const Weight* const> ws, Tensor x, std::span<const Tensor> outs,
                           std::span<const Weight* const> biases) {
  if (outs.size() != ws.size() || (!biases.empty() && biases.size() != ws.size()))
    fail(ErrorKind::Internal, "matmul_parts: weights, outputs and biases differ in number");
  for (size_t i = 0; i < ws.size(); ++i) matmul(*ws[i], x, outs[i], biases.empty() ? nullptr : biases[i]);
}

void Backend::matmul_swiglu(const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out) {
  Tensor up = alloc(x.rows, up_w.rows);
  const Weight* ws[2] = {&gate_w, &up_w};
  const Tensor outs[2] = {out, up};
  matmul_parts(ws, x, outs);
  swiglu(out, up, out);
}

void Backend::add_rms_norm(Tensor x, Tensor y, const Weight& w, float eps, Tensor out) {
  add(x, y);
  rms_norm(x, w, eps, out);
}

void Backend::rope_store_kv(Tensor q, Tensor k, Tensor v, int32_t n_head, int32_t n_head_kv, const RopeParams& p,
                            KvCache& kv, int32_t layer, const Batch& batch) {
  rope(q, n_head, batch.positions, p);
  rope(k, n_head_kv, batch.positions, p);
  store_kv(kv, layer, k, v, batch);
}

void Backend::scale(Tensor, float) {
  fail(ErrorKind::Unsupported, "backend '" + name() + "' does not scale activations");
}

void Backend::geglu(Tensor, Tensor, Tensor) {
  fail(ErrorKind::Unsupported, "backend '" + name() + "' has no GELU feed-forward");
}

void Backend::layer_norm(Tensor, const Weight&, const Weight&, float, Tensor) {
  fail(ErrorKind::Unsupported, "backend '" + name() + "' has no LayerNorm (BERT encoders)");
}

void Backend::gelu(Tensor, Tensor) { fail(ErrorKind::Unsupported, "backend '" + name() + "' has no GELU"); }

void Backend::encoder_attention(Tensor, Tensor, Tensor, std::span<const int32_t>, int32_t, Tensor) {
  fail(ErrorKind::Unsupported, "backend '" + name() + "' has no bidirectional attention (BERT encoders)");
}

void Backend::matmul_gated(FfnActivation act, const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out) {
  if (act == FfnActivation::Silu) {
    matmul_swiglu(gate_w, up_w, x, out);
    return;
  }
  Tensor up = alloc(x.rows, up_w.rows);
  const Weight* ws[2] = {&gate_w, &up_w};
  const Tensor outs[2] = {out, up};
  matmul_parts(ws, x, outs);
  geglu(out, up, out);
}

void check_runs(const Backend& be, const HParams& hp) {
  std::string missing;
  for (const ArchFeature f : hp.needed_features())
    if (!be.implements(f)) missing += std::string(missing.empty() ? "" : ", ") + arch_feature_name(f);
  if (!missing.empty())
    fail(ErrorKind::Unsupported, "backend '" + be.name() + "' does not implement " + missing + ", which this " +
                                     hp.arch + " model needs; run it on the CPU (--device cpu)");
}

namespace {

std::string shape(Tensor t) { return std::to_string(t.rows) + " x " + std::to_string(t.cols); }

void check_same_shape(const char* op, const char* what, Tensor t, const char* as, Tensor x) {
  if (t.rows != x.rows || t.cols != x.cols)
    fail(ErrorKind::Internal,
         std::string(op) + ": " + what + " is " + shape(t) + ", " + as + " " + shape(x) + "; they must match");
}

}  // namespace

void check_layer_norm(Tensor x, const Weight& w, const Weight& b, Tensor out) {
  for (const Weight* p : {&w, &b}) {
    if (!*p) fail(ErrorKind::Internal, "layer_norm: the weight or bias is missing");
    if (p->type != GgmlType::F32)
      fail(ErrorKind::Unsupported,
           "layer_norm: " + p->name + " has type " + ggml_type_name(p->type) + "; LayerNorm takes f32 only");
    if (p->cols != x.cols || p->rows != 1)
      fail(ErrorKind::Internal, "layer_norm: " + p->name + " has " + std::to_string(p->rows) + " x " +
                                    std::to_string(p->cols) + " values, rows of " + std::to_string(x.cols) +
                                    " need 1 x " + std::to_string(x.cols));
  }
  if (x.cols <= 0) fail(ErrorKind::Internal, "layer_norm: rows of " + std::to_string(x.cols) + " values");
  check_same_shape("layer_norm", "out", out, "x", x);
}

void check_gelu(Tensor x, Tensor out) { check_same_shape("gelu", "out", out, "x", x); }

void check_encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                             Tensor out) {
  if (n_head <= 0 || q.cols <= 0 || q.cols % n_head != 0)
    fail(ErrorKind::Internal, "encoder_attention: rows of " + std::to_string(q.cols) + " values do not split into " +
                                  std::to_string(n_head) + " heads");
  check_same_shape("encoder_attention", "k", k, "q", q);
  check_same_shape("encoder_attention", "v", v, "q", q);
  check_same_shape("encoder_attention", "out", out, "q", q);
  int64_t rows = 0;
  for (size_t i = 0; i < seq_lens.size(); ++i) {
    if (seq_lens[i] <= 0)
      fail(ErrorKind::Internal, "encoder_attention: sequence " + std::to_string(i) + " has length " +
                                    std::to_string(seq_lens[i]) + "; each needs at least one row");
    rows += seq_lens[i];
  }
  if (rows != q.rows)
    fail(ErrorKind::Internal, "encoder_attention: the " + std::to_string(seq_lens.size()) +
                                  " sequence lengths sum to " + std::to_string(rows) + " rows, but q has " +
                                  std::to_string(q.rows));
}

void Backend::top_logits(Tensor, std::span<const int32_t>, int32_t, std::vector<TopLogits>&) {
  fail(ErrorKind::Internal, "backend '" + name() + "' does not compute top logits (max_top_logits() is 0)");
}

std::optional<int32_t> parse_gpu_layers(const std::string& text) {
  if (text.empty() || text == "auto") return std::nullopt;
  int32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 0)
    fail(ErrorKind::BadInput,
         "--gpu-layers '" + text + "' is not a layer count: give auto or a number from 0 to the model's layers");
  return n;
}

std::unique_ptr<Backend> make_backend_for(const Model& model, const std::string& cpu_backend, int n_threads,
                                          const DeviceOptions& opt, std::ostream* log) {
  check_device(opt.device);
  const BackendOptions options{n_threads, opt};
  if (opt.device != "auto" && opt.device != "cpu") {
    const BackendInfo& device = *find_backend(opt.device);
    if (!device.built) fail(ErrorKind::Unsupported, "--device " + opt.device + ": " + device.unavailable());
    auto be = device.make(options);
    check_runs(*be, model.hp);
    be->prepare(model);
    return be;
  }
  // The reference backend is the oracle: asking for it means the plain CPU path.
  if (opt.device == "auto" && cpu_backend != "reference") {
    for (const BackendInfo* device : backends()) {
      if (!device->on_device || !device->available()) continue;
      // The model fits when its weights upload within the memory budget; anything else the
      // device backend cannot do (a weight type, the memory) falls back to the CPU, saying why.
      try {
        auto be = device->make(options);
        check_runs(*be, model.hp);
        be->prepare(model);
        return be;
      } catch (const Error& e) {
        if (log)
          *log << "device auto: not using " << device->name << " (" << e.what() << "); running on the CPU\n"
               << std::flush;
      }
    }
  }
  auto be = make_backend(cpu_backend, n_threads);
  check_runs(*be, model.hp);
  be->prepare(model);
  return be;
}

}  // namespace hayate
