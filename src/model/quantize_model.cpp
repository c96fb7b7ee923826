// `hayate quantize`: every 2-D weight (and 3-D stack of experts) is dequantized from the input file and requantized to
// the type the file-type mix chooses for it; vectors (norms, biases) and metadata are kept.
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/synth.h"
#include "quant/mix.h"
#include "quant/quant.h"

namespace hayate {
namespace {

int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

}  // namespace

void quantize_model(const std::string& in, const std::string& out, const std::string& file_type, int n_threads,
                    std::ostream& log) {
  const auto ft = quant::file_type_from_name(file_type);
  if (!ft)
    fail(ErrorKind::BadInput,
         "unknown quantization type '" + file_type + "' (choose one of: " + quant::file_type_names() + ")");
  auto src = gguf::File::open(in);
  const std::string arch = src->get_string("general.architecture", "");
  const int n_layers = static_cast<int>(src->get_i64(arch + ".block_count", 0));

  gguf::Writer w(src->alignment());
  w.copy_metadata(*src);
  w.set("general.file_type", gguf::Value::u32(quant::file_type_gguf_id(*ft)));
  w.set("general.quantization_version", gguf::Value::u32(2));

  auto pool = std::make_shared<ThreadPool>(n_threads);
  size_t in_bytes = 0, out_bytes = 0;
  for (const gguf::TensorInfo& t : src->tensors()) {
    in_bytes += t.nbytes;
    // A 3-D tensor is a stack of expert matrices: quantized row by row like one tall matrix.
    const bool matrix = (t.shape.size() == 2 || t.shape.size() == 3) && t.name.size() > 7 &&
                        t.name.compare(t.name.size() - 7, 7, ".weight") == 0;
    if (!matrix || !quant::traits(t.type)) {
      w.add_tensor(t.name, t.type, t.shape, t.data);
      out_bytes += t.nbytes;
      continue;
    }
    const GgmlType type = quant::choose_tensor_type(*ft, t.name, layer_of(t.name), n_layers, t.shape[0], 2);
    const int64_t cols = t.shape[0], rows = t.shape[1] * (t.shape.size() == 3 ? t.shape[2] : 1);
    out_bytes += ggml_row_size(type, cols) * static_cast<size_t>(rows);
    log << "quantize: " << t.name << " " << ggml_type_name(t.type) << " -> " << ggml_type_name(type) << "\n";
    const GgmlType from = t.type;
    const uint8_t* data = t.data;
    w.add_tensor(t.name, type, t.shape, [=](uint8_t* dst, size_t) {
      const size_t in_row = ggml_row_size(from, cols), out_row = ggml_row_size(type, cols);
      const int64_t chunk = 16;
      std::vector<std::vector<float>> buf(static_cast<size_t>(pool->size()),
                                          std::vector<float>(static_cast<size_t>(cols)));
      pool->parallel_for((rows + chunk - 1) / chunk, [&](int64_t c, int thread) {
        for (int64_t r = c * chunk; r < std::min(rows, (c + 1) * chunk); ++r) {
          quant::dequantize_row(from, data + r * in_row, buf[thread].data(), cols);
          quant::quantize_row(type, buf[thread].data(), dst + r * out_row, cols);
        }
      });
    });
  }
  w.write(out);
  log << "quantize: " << in << " (" << (in_bytes >> 20) << " MiB) -> " << out << " (" << (out_bytes >> 20) << " MiB, "
      << file_type << ")\n";
}

}  // namespace hayate
