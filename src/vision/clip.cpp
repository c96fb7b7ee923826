#include "vision/clip.h"

#include "core/error.h"
#include "quant/quant.h"

namespace hayate::vision {
namespace {

int32_t get_i32(const gguf::File& f, const char* key) {
  const int64_t v = f.get(key).as_i64(f.name() + ": " + key);
  if (v <= 0 || v > (1 << 24))
    fail(ErrorKind::BadInput, f.name() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int32_t>(v);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "{";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "}";
}

// The tensor `name` with exactly `shape` (GGUF order), viewed as `rows` rows of `cols`; a null
// Weight when it is optional and absent. Vectors and tables read on the host must be F32.
Weight tensor(const gguf::File& f, const std::string& name, const std::vector<int64_t>& shape, bool required,
              bool host_f32) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) {
    if (required)
      fail(ErrorKind::BadInput, f.name() + ": tensor " + name + " is missing (a CLIP vision tower needs it)");
    return {};
  }
  if (t->shape != shape)
    fail(ErrorKind::BadInput, f.name() + ": tensor " + name + " has shape " + shape_text(t->shape) + ", expected " +
                                  shape_text(shape) + " from the file's clip.vision.* metadata");
  if (host_f32 && t->type != GgmlType::F32)
    fail(ErrorKind::Unsupported, f.name() + ": tensor " + name + " has type " + ggml_type_name(t->type) +
                                     "; this build reads CLIP vectors and embeddings as F32 only");
  Weight w;
  w.name = name;
  w.type = t->type;
  w.cols = shape[0];
  w.rows = t->n_elements() / shape[0];
  w.data = t->data;
  return w;
}

}  // namespace

std::string block_tensor(int layer, const std::string& suffix) {
  return "v.blk." + std::to_string(layer) + "." + suffix;
}

std::unique_ptr<ClipModel> ClipModel::load(const std::string& path) { return from_file(gguf::File::open(path)); }

std::unique_ptr<ClipModel> ClipModel::from_file(std::unique_ptr<gguf::File> file) {
  const gguf::File& f = *file;
  const std::string projector = f.get_string(keys::kProjectorType, "");
  if (projector != "mlp")
    fail(ErrorKind::Unsupported, f.name() + ": " + keys::kProjectorType + " is '" + projector +
                                     "'; this build runs LLaVA's 'mlp' projector only");
  if (!f.get_bool(keys::kHasVision, false))
    fail(ErrorKind::BadInput, f.name() + ": not a vision projector (" + keys::kHasVision + " is not true)");

  auto m = std::make_unique<ClipModel>();
  ClipHParams& hp = m->hp;
  hp.image_size = get_i32(f, keys::kImageSize);
  hp.patch_size = get_i32(f, keys::kPatchSize);
  hp.n_embd = get_i32(f, keys::kEmbd);
  hp.n_ff = get_i32(f, keys::kFf);
  hp.n_layer = get_i32(f, keys::kBlocks);
  hp.n_head = get_i32(f, keys::kHeads);
  hp.proj_dim = get_i32(f, keys::kProjDim);
  hp.eps = static_cast<float>(f.get_f64(keys::kEps, 1e-5));
  hp.act = f.get_bool(keys::kUseGelu, false) ? Activation::Gelu : Activation::QuickGelu;
  if (hp.image_size % hp.patch_size != 0)
    fail(ErrorKind::BadInput, f.name() + ": image size " + std::to_string(hp.image_size) +
                                  " is not a multiple of the patch size " + std::to_string(hp.patch_size));
  if (hp.n_embd % hp.n_head != 0)
    fail(ErrorKind::BadInput, f.name() + ": embedding length is not a multiple of the head count");
  for (const auto& [key, dst] : {std::pair{keys::kMean, &hp.image_mean}, std::pair{keys::kStd, &hp.image_std}}) {
    const gguf::Value* v = f.find(key);
    if (!v) continue;
    const auto& items = v->as_array(f.name() + ": " + key);
    if (items.size() != 3) fail(ErrorKind::BadInput, f.name() + ": " + key + " must hold 3 values (R, G, B)");
    for (size_t c = 0; c < 3; ++c) (*dst)[c] = static_cast<float>(items[c].as_f64(f.name() + ": " + key));
  }
  hp.n_run = hp.n_layer - 1;
  if (const gguf::Value* v = f.find(keys::kFeatureLayer)) {
    const auto& items = v->as_array(f.name() + ": " + keys::kFeatureLayer);
    if (items.size() != 1)
      fail(ErrorKind::Unsupported,
           f.name() + ": " + keys::kFeatureLayer + " lists several layers (stacked features); this build takes one");
    const int64_t k = items[0].as_i64(f.name() + ": " + keys::kFeatureLayer);
    if (k < 0 || k > hp.n_layer)
      fail(ErrorKind::BadInput, f.name() + ": " + keys::kFeatureLayer + " " + std::to_string(k) + " is outside 0.." +
                                    std::to_string(hp.n_layer));
    hp.n_run = static_cast<int32_t>(k);
  }

  const int64_t d = hp.n_embd, p = hp.patch_size;
  m->patch_embd = tensor(f, "v.patch_embd.weight", {p, p, 3, d}, true, false);
  if (m->patch_embd.type != GgmlType::F32 && m->patch_embd.type != GgmlType::F16)
    fail(ErrorKind::Unsupported, f.name() + ": v.patch_embd.weight must be F32 or F16");
  m->patch_embd.cols = 3 * p * p;  // the convolution as a matrix over flattened patches
  m->patch_embd.rows = d;
  m->patch_bias = tensor(f, "v.patch_embd.bias", {d}, false, true);
  m->class_embd = tensor(f, "v.class_embd", {d}, true, true);
  m->pos_embd = tensor(f, "v.position_embd.weight", {d, hp.n_positions()}, true, true);
  m->pre_ln_w = tensor(f, "v.pre_ln.weight", {d}, true, true);
  m->pre_ln_b = tensor(f, "v.pre_ln.bias", {d}, true, true);
  const int64_t ff = hp.n_ff;
  for (int il = 0; il < hp.n_run; ++il) {
    ClipLayer l;
    auto vec = [&](const char* s, int64_t n) { return tensor(f, block_tensor(il, s), {n}, true, true); };
    auto mat = [&](const char* s, int64_t cols, int64_t rows) {
      return tensor(f, block_tensor(il, s), {cols, rows}, true, false);
    };
    l.ln1_w = vec("ln1.weight", d);
    l.ln1_b = vec("ln1.bias", d);
    l.q_w = mat("attn_q.weight", d, d);
    l.q_b = vec("attn_q.bias", d);
    l.k_w = mat("attn_k.weight", d, d);
    l.k_b = vec("attn_k.bias", d);
    l.v_w = mat("attn_v.weight", d, d);
    l.v_b = vec("attn_v.bias", d);
    l.o_w = mat("attn_out.weight", d, d);
    l.o_b = vec("attn_out.bias", d);
    l.ln2_w = vec("ln2.weight", d);
    l.ln2_b = vec("ln2.bias", d);
    l.up_w = mat("ffn_up.weight", d, ff);
    l.up_b = vec("ffn_up.bias", ff);
    l.down_w = mat("ffn_down.weight", ff, d);
    l.down_b = vec("ffn_down.bias", d);
    m->layers.push_back(l);
  }
  const int64_t out = hp.proj_dim;
  m->mm0_w = tensor(f, "mm.0.weight", {d, out}, true, false);
  m->mm0_b = tensor(f, "mm.0.bias", {out}, true, true);
  m->mm2_w = tensor(f, "mm.2.weight", {out, out}, true, false);
  m->mm2_b = tensor(f, "mm.2.bias", {out}, true, true);
  for (const Weight* w : backend_weights(*m))
    if (w->rows > 1 && !quant::is_supported_weight_type(w->type))
      fail(ErrorKind::Unsupported, f.name() + ": tensor " + w->name + " has type " + ggml_type_name(w->type) +
                                       ", which this build does not support");
  m->file = std::move(file);
  return m;
}

std::vector<const Weight*> backend_weights(const ClipModel& m) {
  std::vector<const Weight*> out{&m.patch_embd};
  if (m.patch_bias) out.push_back(&m.patch_bias);
  for (const ClipLayer& l : m.layers)
    for (const Weight* w :
         {&l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b, &l.o_w, &l.o_b, &l.up_w, &l.up_b, &l.down_w, &l.down_b})
      out.push_back(w);
  for (const Weight* w : {&m.mm0_w, &m.mm0_b, &m.mm2_w, &m.mm2_b}) out.push_back(w);
  return out;
}

}  // namespace hayate::vision
