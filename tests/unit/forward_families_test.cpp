// gemma3 and phi3 through the forward pass against a direct float64 computation written here from
// transformers' description of the two models (no KV cache, no backend): interleaved windowed and
// global layers with their own RoPE bases, post-norms, GELU-tanh, scaled embeddings and queries
// (gemma3); fused projections viewed as parts, LongRoPE's factors and attention factor (phi3). The
// transformers references (tests/data/hf/gemma3, phi3) check the same end to end from config.json.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <sstream>

#include "backend/backend.h"
#include "backend/cpu/host_backend.h"
#include "core/error.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "support/forward_runs.h"
#include "support/test_util.h"

namespace hayate {
namespace {

using Vec = std::vector<double>;

Vec row_of(const Weight& w, int64_t r) {
  std::vector<float> f(static_cast<size_t>(w.cols));
  quant::dequantize_row(w.type, w.row(r), f.data(), w.cols);
  return Vec(f.begin(), f.end());
}

Vec matvec(const Weight& w, const Vec& x) {
  Vec out(static_cast<size_t>(w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    const Vec row = row_of(w, r);
    for (size_t i = 0; i < x.size(); ++i) out[static_cast<size_t>(r)] += row[i] * x[i];
  }
  return out;
}

// RMSNorm of each group of w.cols values.
Vec norm(const Vec& x, const Weight& w, double eps) {
  const Vec g = row_of(w, 0);
  Vec out(x.size());
  for (size_t s = 0; s < x.size(); s += g.size()) {
    double ss = 0;
    for (size_t i = 0; i < g.size(); ++i) ss += x[s + i] * x[s + i];
    const double inv = 1 / std::sqrt(ss / static_cast<double>(g.size()) + eps);
    for (size_t i = 0; i < g.size(); ++i) out[s + i] = x[s + i] * inv * g[i];
  }
  return out;
}

// Rotate-half RoPE of every head (gemma3 and phi3 are both Neox-style).
void rope(Vec& x, int32_t heads, const Model& m, int32_t layer, int32_t pos) {
  const HParams& hp = m.hp;
  const bool local = !hp.swa_layers.empty() && hp.windowed(layer);
  const double theta = local ? hp.rope_theta_swa : hp.rope_theta;
  const double scale = local ? 1.0 : hp.rope_freq_scale;
  const auto* factors = m.rope_freqs ? static_cast<const float*>(m.rope_freqs.data) : nullptr;
  const int32_t half = hp.n_rot / 2;
  for (int32_t h = 0; h < heads; ++h)
    for (int32_t i = 0; i < half; ++i) {
      double freq = std::pow(theta, -2.0 * i / hp.n_rot) * scale;
      if (factors) freq /= factors[i];
      const double c = std::cos(pos * freq) * hp.rope_attn_factor, s = std::sin(pos * freq) * hp.rope_attn_factor;
      double& a = x[static_cast<size_t>(h * hp.head_dim + i)];
      double& b = x[static_cast<size_t>(h * hp.head_dim + i + half)];
      const double x0 = a, x1 = b;
      a = x0 * c - x1 * s;
      b = x0 * s + x1 * c;
    }
}

double act(FfnActivation a, double g) {
  if (a == FfnActivation::Silu) return g / (1 + std::exp(-g));
  return 0.5 * g * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (g + 0.044715 * g * g * g)));
}

// Logits of every position of `tokens`, the whole sequence at once.
std::vector<float> direct(const Model& m, const std::vector<int32_t>& tokens) {
  const HParams& hp = m.hp;
  const size_t n = tokens.size(), hd = static_cast<size_t>(hp.head_dim);
  std::vector<Vec> x;
  for (const int32_t t : tokens) {
    Vec e = row_of(m.tok_embd, t);
    for (double& v : e) v *= hp.embd_scale;
    x.push_back(e);
  }
  const double score_scale = hp.attn_scale > 0 ? hp.attn_scale : 1 / std::sqrt(static_cast<double>(hd));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& l = m.layers[static_cast<size_t>(il)];
    std::vector<Vec> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      const Vec h = norm(x[t], l.attn_norm, hp.rms_eps);
      q[t] = matvec(l.wq, h);
      k[t] = matvec(l.wk, h);
      v[t] = matvec(l.wv, h);
      if (l.q_norm) q[t] = norm(q[t], l.q_norm, hp.rms_eps);
      if (l.k_norm) k[t] = norm(k[t], l.k_norm, hp.rms_eps);
      rope(q[t], hp.n_head, m, il, static_cast<int32_t>(t));
      rope(k[t], hp.n_head_kv, m, il, static_cast<int32_t>(t));
    }
    for (size_t t = 0; t < n; ++t) {
      const size_t first = hp.windowed(il) && t + 1 > static_cast<size_t>(hp.sliding_window)
                               ? t + 1 - static_cast<size_t>(hp.sliding_window)
                               : 0;
      Vec attn(static_cast<size_t>(hp.q_dim()));
      for (int32_t h = 0; h < hp.n_head; ++h) {
        const size_t qo = static_cast<size_t>(h) * hd, ko = static_cast<size_t>(h / (hp.n_head / hp.n_head_kv)) * hd;
        Vec s;
        double top = -1e300, sum = 0;
        for (size_t p = first; p <= t; ++p) {
          double d = 0;
          for (size_t i = 0; i < hd; ++i) d += q[t][qo + i] * k[p][ko + i];
          s.push_back(d * score_scale);
          top = std::max(top, s.back());
        }
        for (double& e : s) sum += (e = std::exp(e - top));
        for (size_t p = first; p <= t; ++p)
          for (size_t i = 0; i < hd; ++i) attn[qo + i] += s[p - first] / sum * v[p][ko + i];
      }
      Vec o = matvec(l.wo, attn);
      if (l.post_attn_norm) o = norm(o, l.post_attn_norm, hp.rms_eps);
      for (size_t i = 0; i < o.size(); ++i) x[t][i] += o[i];
      const Vec h = norm(x[t], l.ffn_norm, hp.rms_eps);
      const Vec g = matvec(l.ffn_gate, h), u = matvec(l.ffn_up, h);
      Vec a(g.size());
      for (size_t i = 0; i < g.size(); ++i) a[i] = act(hp.ffn_act, g[i]) * u[i];
      Vec d = matvec(l.ffn_down, a);
      if (l.post_ffn_norm) d = norm(d, l.post_ffn_norm, hp.rms_eps);
      for (size_t i = 0; i < d.size(); ++i) x[t][i] += d[i];
    }
  }
  std::vector<float> logits;
  for (size_t t = 0; t < n; ++t) {
    const Vec out = matvec(m.output, norm(x[t], m.output_norm, hp.rms_eps));
    logits.insert(logits.end(), out.begin(), out.end());
  }
  return logits;
}

SynthOptions small(const std::string& arch) {
  SynthOptions o;
  o.arch = arch;
  o.n_embd = 64;
  o.n_layer = 3;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 96;
  o.n_ctx = 128;
  o.file_type = "f32";
  o.seed = 5;
  return o;
}

std::unique_ptr<Model> load(const SynthOptions& o, const std::string& tag) {
  const std::string path = test::temp_path("families-" + tag + ".gguf");
  std::ostringstream log;
  synth_model(o, path, log);
  return Model::load(path);
}

void expect_backends_match_direct(const Model& m, size_t n_tokens) {
  const std::vector<int32_t> tokens = test::some_tokens(static_cast<int>(n_tokens), m.hp.n_vocab);
  const std::vector<float> want = direct(m, tokens);
  for (const char* backend : {"reference", "cpu"})
    for (const size_t chunk : {n_tokens, size_t{5}, size_t{1}}) {
      auto be = make_backend(backend, 2);
      be->prepare(m);
      const std::vector<float> got = test::run_tokens(m, *be, tokens, chunk);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_LE(test::max_relative_error(got.data(), want.data(), want.size()), 1e-4)
          << backend << ", chunks of " << chunk;
    }
}

TEST(Gemma3Forward, MatchesADirectComputation) {
  SynthOptions o = small("gemma3");
  o.head_dim = 24;
  o.sliding_window = 4;
  o.swa_pattern = {true, false, true};
  o.rope_theta = 100000.0f;
  o.rope_theta_swa = 10000.0f;
  o.attn_scale = 0.125f;
  const auto m = load(o, "gemma3");
  EXPECT_EQ(m->hp.swa_layers, (std::vector<bool>{true, false, true}));
  EXPECT_FLOAT_EQ(m->hp.embd_scale, 8.0f);
  EXPECT_EQ(m->hp.ffn_act, FfnActivation::GeluTanh);
  ASSERT_TRUE(m->layers[0].post_attn_norm && m->layers[0].post_ffn_norm);
  expect_backends_match_direct(*m, 13);  // past the window of 4
}

TEST(Gemma3Forward, FilesWithoutAPatternUseLlamaCppsPeriodOfSix) {
  SynthOptions o = small("gemma3");
  o.n_layer = 7;
  o.sliding_window = 4;
  const auto m = load(o, "gemma3-period");
  EXPECT_EQ(m->hp.swa_layers, (std::vector<bool>{true, true, true, true, true, false, true}));
  EXPECT_FLOAT_EQ(m->hp.rope_theta_swa, 10000.0f);
}

TEST(Phi3Forward, MatchesADirectComputationWithEitherFactorSet) {
  SynthOptions o = small("phi3");
  o.long_rope_original = 8;
  const auto m = load(o, "phi3");
  EXPECT_FALSE(m->layers[0].wqkv);  // read through its q, k, v views only
  EXPECT_EQ(m->layers[0].wk.rows, m->hp.kv_dim());
  EXPECT_EQ(m->layers[0].ffn_up.rows, m->hp.n_ff);
  // The derived LongRoPE factor: sqrt(1 + ln(128 / 8) / ln 8).
  EXPECT_NEAR(m->hp.rope_attn_factor, std::sqrt(1 + std::log(16.0) / std::log(8.0)), 1e-6);
  EXPECT_EQ(m->rope_freqs.data, m->rope_long.data);  // loaded for its trained context of 128
  expect_backends_match_direct(*m, 11);
  m->use_context(8);  // within the original context: the short factors
  EXPECT_EQ(m->rope_freqs.data, m->rope_short.data);
  expect_backends_match_direct(*m, 6);
}

// A backend that lacks every ArchFeature.
class PlainBackend : public HostBackend {
 public:
  std::string name() const override { return "plain"; }
  KvType kv_type() const override { return KvType::F32; }
  bool implements(ArchFeature) const override { return false; }
  void matmul(const Weight&, Tensor, Tensor, const Weight*) override {}
  void attention(KvCache&, int32_t, Tensor, const Batch&, int32_t, int32_t, int32_t, Tensor) override {}
};

TEST(ArchFeatures, ABackendWithoutThemIsRefusedByName) {
  SynthOptions o = small("gemma3");
  o.sliding_window = 4;
  const auto gemma = load(o, "gemma3-refused");
  PlainBackend plain;
  try {
    check_runs(plain, gemma->hp);
    FAIL() << "gemma3 accepted by a backend without its features";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    const std::string msg = e.what();
    for (const char* part : {"plain", "gemma3", "GELU", "sliding windows on some layers", "--device cpu"})
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
  // forward() refuses it too, before computing anything.
  auto kv = plain.make_kv_cache(gemma->hp, 1, 16);
  Batch b;
  b.sequences.push_back({{0}});
  b.add(1, 0, 0, true);
  EXPECT_THROW(forward(*gemma, b, *kv, plain), Error);
  // llama needs none of them.
  EXPECT_NO_THROW(check_runs(plain, load(small("llama"), "llama-plain")->hp));
}

}  // namespace
}  // namespace hayate
