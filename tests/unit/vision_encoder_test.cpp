// The CLIP encoder and LLaVA projector against a plain float64 reference written here from the
// definitions (CLIP ViT, LLaVA's "default" feature select), on random-weight towers, on the
// reference and cpu backends; the CUDA backend against the cpu one when a GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "backend/backend.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "support/test_util.h"
#include "vision/clip.h"
#include "vision/encoder.h"
#include "vision/synth.h"

namespace hayate::vision {
namespace {

using Mat = std::vector<double>;  // row-major

std::string make_tower(ClipSynthOptions o, const std::string& tag) {
  const std::string path = test::temp_path("clip-" + tag + ".gguf");
  std::ostringstream log;
  synth_mmproj(o, path, log);
  return path;
}

std::vector<float> some_image(int side, uint64_t seed) {
  std::vector<float> chw(static_cast<size_t>(3 * side * side));
  uint64_t s = seed;
  for (float& v : chw) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<float>(static_cast<double>(s >> 11) * 0x1p-53 * 4.0 - 2.0);  // normalised pixels span about ±2
  }
  return chw;
}

const float* f32(const Weight& w) { return static_cast<const float*>(w.data); }

// y (n x rows) = x (n x cols) W^T + b
Mat linear(const Mat& x, const Weight& w, const Weight& b) {
  const int64_t n = static_cast<int64_t>(x.size()) / w.cols;
  Mat y(static_cast<size_t>(n * w.rows));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < w.rows; ++o) {
      double s = b ? f32(b)[o] : 0.0;
      for (int64_t i = 0; i < w.cols; ++i) s += x[t * w.cols + i] * static_cast<double>(f32(w)[o * w.cols + i]);
      y[t * w.rows + o] = s;
    }
  return y;
}

Mat norm(Mat x, int64_t d, const Weight& w, const Weight& b, double eps) {
  for (size_t r = 0; r < x.size(); r += d) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += x[r + i];
    mean /= d;
    for (int64_t i = 0; i < d; ++i) var += (x[r + i] - mean) * (x[r + i] - mean);
    const double inv = 1.0 / std::sqrt(var / d + eps);
    for (int64_t i = 0; i < d; ++i) x[r + i] = (x[r + i] - mean) * inv * f32(w)[i] + f32(b)[i];
  }
  return x;
}

// The tower as the definitions read, in float64: pixels -> selected features -> projection.
std::pair<Mat, Mat> reference(const ClipModel& m, const std::vector<float>& chw) {
  const ClipHParams& hp = m.hp;
  const int64_t S = hp.image_size, p = hp.patch_size, side = S / p, d = hp.n_embd, n = hp.n_positions();
  const int64_t hd = hp.head_dim();
  Mat x(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < d; ++i) x[i] = f32(m.class_embd)[i] + f32(m.pos_embd)[i];
  for (int64_t py = 0; py < side; ++py)
    for (int64_t px = 0; px < side; ++px) {
      const int64_t r = 1 + py * side + px;
      for (int64_t o = 0; o < d; ++o) {  // the convolution at this patch
        double s = 0;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t ky = 0; ky < p; ++ky)
            for (int64_t kx = 0; kx < p; ++kx)
              s += static_cast<double>(f32(m.patch_embd)[((o * 3 + c) * p + ky) * p + kx]) *
                   chw[(c * S + py * p + ky) * S + px * p + kx];
        x[r * d + o] = s + f32(m.pos_embd)[r * d + o];
      }
    }
  x = norm(x, d, m.pre_ln_w, m.pre_ln_b, hp.eps);
  for (const ClipLayer& l : m.layers) {
    const Mat h = norm(x, d, l.ln1_w, l.ln1_b, hp.eps);
    const Mat q = linear(h, l.q_w, l.q_b), k = linear(h, l.k_w, l.k_b), v = linear(h, l.v_w, l.v_b);
    Mat a(x.size(), 0.0);
    for (int64_t head = 0; head < hp.n_head; ++head)
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> s(static_cast<size_t>(n));
        double max = -1e300, sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < hd; ++e) dot += q[i * d + head * hd + e] * k[j * d + head * hd + e];
          s[j] = dot / std::sqrt(static_cast<double>(hd));
          max = std::max(max, s[j]);
        }
        for (double& e : s) sum += (e = std::exp(e - max));
        for (int64_t j = 0; j < n; ++j)
          for (int64_t e = 0; e < hd; ++e) a[i * d + head * hd + e] += s[j] / sum * v[j * d + head * hd + e];
      }
    const Mat o = linear(a, l.o_w, l.o_b);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    Mat up = linear(norm(x, d, l.ln2_w, l.ln2_b, hp.eps), l.up_w, l.up_b);
    for (double& u : up)
      u = hp.act == Activation::Gelu ? 0.5 * u * (1 + std::erf(u / std::sqrt(2.0))) : u / (1 + std::exp(-1.702 * u));
    const Mat down = linear(up, l.down_w, l.down_b);
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  Mat features(x.begin() + d, x.end());
  Mat h = linear(features, m.mm0_w, m.mm0_b);
  for (double& u : h) u = 0.5 * u * (1 + std::erf(u / std::sqrt(2.0)));
  return {features, linear(h, m.mm2_w, m.mm2_b)};
}

// max |a - b| / max |b|: relative to the tensor's scale, so near-zero entries do not dominate.
double rel_err(const std::vector<float>& a, const Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

struct Case {
  const char* backend;
  bool gelu;
  int feature_layer;
};

class EncoderVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(EncoderVsReference, FeaturesAndProjectionWithin1e5) {
  ClipSynthOptions o;
  o.use_gelu = GetParam().gelu;
  o.feature_layer = GetParam().feature_layer;
  o.n_layer = 3;
  o.proj_dim = 48;
  auto m = ClipModel::load(make_tower(o, std::string(GetParam().backend) + (o.use_gelu ? "-gelu" : "-quick")));
  EXPECT_EQ(m->hp.n_run, o.feature_layer >= 0 ? o.feature_layer : 2);
  EXPECT_EQ(m->layers.size(), static_cast<size_t>(m->hp.n_run));
  auto be = make_backend(GetParam().backend, 2);
  ClipEncoder enc(*m, *be, 2);
  const std::vector<float> image = some_image(56, 3);
  const std::vector<float> features = enc.features(image, 56, 56);
  const std::vector<float> embedded = enc.project(features);
  ASSERT_EQ(features.size(), static_cast<size_t>(16 * 64));
  ASSERT_EQ(embedded.size(), static_cast<size_t>(16 * 48));
  const auto [ref_features, ref_embedded] = reference(*m, image);
  EXPECT_LT(rel_err(features, ref_features), 1e-5);
  EXPECT_LT(rel_err(embedded, ref_embedded), 1e-5);
  EXPECT_EQ(enc.embed(image, 56, 56), embedded);  // the same image, the same rows
}

INSTANTIATE_TEST_SUITE_P(Backends, EncoderVsReference,
                         ::testing::Values(Case{"reference", false, -1}, Case{"cpu", false, -1}, Case{"cpu", true, 3},
                                           Case{"reference", true, 1}));

TEST(Encoder, DifferentImagesGiveDifferentRows) {
  auto m = ClipModel::load(make_tower({}, "diff"));
  auto be = make_backend("cpu", 2);
  ClipEncoder enc(*m, *be, 2);
  EXPECT_NE(enc.embed(some_image(56, 1), 56, 56), enc.embed(some_image(56, 2), 56, 56));
}

TEST(Encoder, RefusesWrongSizes) {
  auto m = ClipModel::load(make_tower({}, "sizes"));
  auto be = make_backend("reference", 1);
  ClipEncoder enc(*m, *be, 1);
  try {
    enc.features(some_image(42, 1), 42, 42);
    FAIL() << "a 42x42 image was accepted by a 56 px tower";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("takes 56x56"), std::string::npos) << e.what();
  }
  EXPECT_THROW(enc.features(std::vector<float>(10), 56, 56), Error);
  EXPECT_THROW(enc.project(std::vector<float>(63)), Error);
}

TEST(ClipLoad, RefusesOtherProjectorsAndBadShapes) {
  const std::string path = make_tower({}, "load");
  auto file = gguf::File::open(path);
  gguf::Writer w;
  w.copy_metadata(*file);
  w.set(keys::kProjectorType, gguf::Value::string("resampler"));
  for (const auto& t : file->tensors()) w.add_tensor(t.name, t.type, t.shape, t.data);
  const std::string other = test::temp_path("resampler.gguf");
  w.write(other);
  try {
    ClipModel::load(other);
    FAIL() << "a resampler projector was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("'resampler'"), std::string::npos) << e.what();
  }
  gguf::Writer bad;
  bad.copy_metadata(*file);
  bad.set(keys::kEmbd, gguf::Value::u32(32));
  for (const auto& t : file->tensors()) bad.add_tensor(t.name, t.type, t.shape, t.data);
  const std::string wrong = test::temp_path("wrong-width.gguf");
  bad.write(wrong);
  try {
    ClipModel::load(wrong);
    FAIL() << "a tower whose tensors do not match its width was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("v.patch_embd.weight has shape"), std::string::npos) << e.what();
  }
}

TEST(Encoder, CudaAgreesWithCpu) {
  if (!cuda_built() || cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  ClipSynthOptions o;
  o.type = "f16";
  auto m = ClipModel::load(make_tower(o, "cuda"));
  auto cpu = make_backend("cpu", 2);
  auto gpu = make_cuda_backend({});
  ClipEncoder on_cpu(*m, *cpu, 2), on_gpu(*m, *gpu, 2);
  const std::vector<float> image = some_image(56, 9);
  const std::vector<float> a = on_cpu.embed(image, 56, 56), b = on_gpu.embed(image, 56, 56);
  EXPECT_LT(rel_err(b, Mat(a.begin(), a.end())), 2e-3);  // f16 weights: the kernels round activations differently
}

}  // namespace
}  // namespace hayate::vision
