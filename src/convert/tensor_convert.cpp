#include "convert/tensor_convert.h"

#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "quant/quant.h"

namespace hayate::convert {

namespace {

size_t source_element_size(StDtype d) { return d == StDtype::F32 ? 4 : 2; }

void row_to_f32(StDtype dtype, const uint8_t* src, float* dst, int64_t n) {
  switch (dtype) {
    case StDtype::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);  // the mapping may be unaligned
      return;
    case StDtype::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = fp16_to_f32(h);
      }
      return;
    case StDtype::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case StDtype::Other:
      break;
  }
  fail(ErrorKind::Internal, "row_to_f32: unconvertible dtype");
}

bool same_type(StDtype s, GgmlType d) {
  return (s == StDtype::F32 && d == GgmlType::F32) || (s == StDtype::F16 && d == GgmlType::F16) ||
         (s == StDtype::BF16 && d == GgmlType::BF16);
}

}  // namespace

std::vector<int64_t> rope_interleave_order(int64_t rows, int64_t n_head) {
  if (n_head <= 0 || rows % (2 * n_head) != 0) {
    fail(ErrorKind::BadInput, std::to_string(rows) + " rows cannot be split into " + std::to_string(n_head) +
                                  " heads of an even size for the RoPE permutation");
  }
  const int64_t head_dim = rows / n_head;
  const int64_t half = head_dim / 2;
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t h = 0; h < n_head; ++h) {
    for (int64_t j = 0; j < half; ++j) {
      for (int64_t t = 0; t < 2; ++t)
        order[static_cast<size_t>(h * head_dim + 2 * j + t)] = h * head_dim + t * half + j;
    }
  }
  return order;
}

void convert_tensor(const StTensor& src, GgmlType dst_type, const std::vector<int64_t>& row_order, uint8_t* dst,
                    size_t dst_bytes, float offset) {
  if (src.dtype == StDtype::Other) {
    fail(ErrorKind::Unsupported, *src.file + ": tensor '" + src.name + "' has dtype " + src.dtype_name +
                                     "; hayate converts F32, F16 and BF16 tensors only");
  }
  const int64_t rows = src.shape.empty() ? 1 : src.shape[0];
  const int64_t cols = rows == 0 ? 0 : src.n_elements() / rows;
  const size_t src_row = static_cast<size_t>(cols) * source_element_size(src.dtype);
  const size_t dst_row = ggml_row_size(dst_type, cols);
  if (dst_bytes != dst_row * static_cast<size_t>(rows) || src.nbytes != src_row * static_cast<size_t>(rows)) {
    fail(ErrorKind::Internal, "convert_tensor: size mismatch for " + src.name);
  }
  if (!row_order.empty() && row_order.size() != static_cast<size_t>(rows)) {
    fail(ErrorKind::Internal, "convert_tensor: row order of the wrong length for " + src.name);
  }
  const auto source_row = [&](int64_t r) {
    const int64_t s = row_order.empty() ? r : row_order[static_cast<size_t>(r)];
    return src.data + static_cast<size_t>(s) * src_row;
  };

  if (same_type(src.dtype, dst_type) && offset == 0.0f) {
    if (row_order.empty()) {
      std::memcpy(dst, src.data, dst_bytes);
    } else {
      for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + static_cast<size_t>(r) * dst_row, source_row(r), dst_row);
    }
    return;
  }

  std::vector<float> buf(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    row_to_f32(src.dtype, source_row(r), buf.data(), cols);
    if (offset != 0.0f)
      for (float& v : buf) v += offset;
    uint8_t* out = dst + static_cast<size_t>(r) * dst_row;
    switch (dst_type) {
      case GgmlType::F32:
        std::memcpy(out, buf.data(), dst_row);
        break;
      case GgmlType::F16:
        for (int64_t i = 0; i < cols; ++i) {
          const uint16_t h = f32_to_fp16(buf[static_cast<size_t>(i)]);
          std::memcpy(out + 2 * i, &h, 2);
        }
        break;
      case GgmlType::BF16:
        for (int64_t i = 0; i < cols; ++i) {
          const uint16_t h = f32_to_bf16(buf[static_cast<size_t>(i)]);
          std::memcpy(out + 2 * i, &h, 2);
        }
        break;
      default:
        quant::quantize_matrix(dst_type, buf.data(), out, 1, cols);
        break;
    }
  }
}

}  // namespace hayate::convert
