#include "gguf/info.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "gguf/text.h"

namespace hayate::gguf {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string type_text(const Value& v) {
  if (v.type() != ValueType::Array) return value_type_name(v.type());
  return std::string("array[") + value_type_name(v.array_type()) + "]";
}

std::string human_bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.2f %s", v, kUnits[unit]);
  return buf;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string pad_left(const std::string& s, size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

struct Totals {
  uint64_t parameters = 0;
  uint64_t bytes = 0;
};

Totals totals(const File& f) {
  Totals t;
  for (const TensorInfo& ti : f.tensors()) {
    t.parameters += static_cast<uint64_t>(ti.n_elements());
    t.bytes += ti.nbytes;
  }
  return t;
}

void json_value(const Value& v, std::ostream& out, size_t max_items) {
  switch (v.type()) {
    case ValueType::String:
      out << text::json_string(v.as_string());
      return;
    case ValueType::Bool:
      out << (v.as_bool() ? "true" : "false");
      return;
    case ValueType::Float32:
    case ValueType::Float64:
      // JSON has no NaN or infinity.
      out << (std::isfinite(v.as_f64()) ? v.to_display() : "null");
      return;
    case ValueType::Array: {
      const auto& items = v.as_array();
      out << '[';
      for (size_t i = 0; i < items.size() && i < max_items; ++i) {
        if (i) out << ", ";
        json_value(items[i], out, max_items);
      }
      out << ']';
      return;
    }
    default:
      out << v.to_display();  // integers
  }
}

}  // namespace

void print_info(const File& f, std::ostream& out, bool show_all_array_items) {
  const size_t max_items = show_all_array_items ? std::numeric_limits<size_t>::max() : 8;
  out << "file:      " << f.name() << "\n"
      << "format:    GGUF v" << f.version() << ", alignment " << f.alignment() << ", " << f.file_size() << " bytes ("
      << human_bytes(f.file_size()) << "), data section at byte " << f.data_offset() << "\n\n";

  out << "metadata (" << f.metadata().size() << " entries):\n";
  size_t key_width = 0, type_width = 0;
  for (const auto& [k, v] : f.metadata()) {
    key_width = std::max(key_width, text::printable(k).size());
    type_width = std::max(type_width, type_text(v).size());
  }
  for (const auto& [k, v] : f.metadata())
    out << "  " << pad(text::printable(k), key_width) << "  " << pad(type_text(v), type_width) << "  "
        << v.to_display(max_items) << "\n";

  out << "\ntensors (" << f.tensors().size() << "):\n";
  if (!f.tensors().empty()) {
    const size_t index_width = std::max<size_t>(1, std::to_string(f.tensors().size() - 1).size());
    size_t name_width = 4, type_width_t = 4, shape_width = 5, bytes_width = 5;
    for (const TensorInfo& t : f.tensors()) {
      name_width = std::max(name_width, text::printable(t.name).size());
      type_width_t = std::max(type_width_t, std::string(ggml_type_name(t.type)).size());
      shape_width = std::max(shape_width, shape_text(t.shape).size());
      bytes_width = std::max(bytes_width, std::to_string(t.nbytes).size());
    }
    out << "  " << pad_left("#", index_width) << "  " << pad("name", name_width) << "  " << pad("type", type_width_t)
        << "  " << pad("shape", shape_width) << "  " << pad_left("bytes", bytes_width) << "  offset\n";
    for (size_t i = 0; i < f.tensors().size(); ++i) {
      const TensorInfo& t = f.tensors()[i];
      out << "  " << pad_left(std::to_string(i), index_width) << "  " << pad(text::printable(t.name), name_width)
          << "  " << pad(ggml_type_name(t.type), type_width_t) << "  " << pad(shape_text(t.shape), shape_width) << "  "
          << pad_left(std::to_string(t.nbytes), bytes_width) << "  " << t.offset << "\n";
    }
  }

  const Totals sum = totals(f);
  out << "\ntotal: " << f.tensors().size() << " tensors, " << sum.parameters << " parameters, " << sum.bytes
      << " bytes (" << human_bytes(sum.bytes) << ")\n";
}

void print_info_json(const File& f, std::ostream& out, size_t max_array_items) {
  out << "{\"file\": " << text::json_string(f.name()) << ", \"version\": " << f.version()
      << ", \"alignment\": " << f.alignment() << ", \"data_offset\": " << f.data_offset()
      << ", \"file_size\": " << f.file_size() << ",\n \"metadata\": [";
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    const auto& [k, v] = f.metadata()[i];
    out << (i ? ",\n  " : "\n  ") << "{\"key\": " << text::json_string(k) << ", \"type\": \""
        << value_type_name(v.type()) << "\"";
    if (v.type() == ValueType::Array)
      out << ", \"element_type\": \"" << value_type_name(v.array_type()) << "\", \"count\": " << v.as_array().size();
    out << ", \"value\": ";
    json_value(v, out, max_array_items);
    out << "}";
  }
  out << "],\n \"tensors\": [";
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    out << (i ? ",\n  " : "\n  ") << "{\"name\": " << text::json_string(t.name) << ", \"type\": \""
        << ggml_type_name(t.type) << "\", \"shape\": [";
    for (size_t d = 0; d < t.shape.size(); ++d) out << (d ? ", " : "") << t.shape[d];
    out << "], \"offset\": " << t.offset << ", \"nbytes\": " << t.nbytes << "}";
  }
  const Totals sum = totals(f);
  out << "],\n \"tensor_count\": " << f.tensors().size() << ", \"parameter_count\": " << sum.parameters
      << ", \"tensor_bytes\": " << sum.bytes << "}\n";
}

}  // namespace hayate::gguf
