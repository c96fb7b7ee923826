// The GGUF v3 writer. The file is built in a temporary file beside `path` and renamed over it only when every
// byte is written and synced (core/atomic_file.h), so readers never see a half-written model.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/atomic_file.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/text.h"

namespace hayate::gguf {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxDims = 4;

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// The GGUF encodings of scalars and strings over an atomic file.
class TempFile {
 public:
  explicit TempFile(std::string path) : file_(std::move(path)) {}

  uint64_t written() const { return file_.written(); }
  void bytes(const void* data, size_t n) { file_.write(data, n); }

  template <typename T>
  void scalar(T v) {
    bytes(&v, sizeof v);
  }

  void string(const std::string& s) {
    scalar<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }

  void zeros(uint64_t n) {
    static constexpr uint8_t kZeros[256] = {};
    while (n > 0) {
      const size_t chunk = std::min<uint64_t>(n, sizeof kZeros);
      bytes(kZeros, chunk);
      n -= chunk;
    }
  }

  void commit() { file_.commit(); }

 private:
  AtomicFile file_;
};

// Writes a value's payload (its type tag is written by the caller: keys carry one, array
// elements share their array's).
void write_payload(TempFile& out, const Value& v) {
  switch (v.type()) {
    // Raw bits, so that every value (a NaN's payload included) reads back byte-identical.
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool:
      out.scalar(static_cast<uint8_t>(v.bits()));
      break;
    case ValueType::UInt16:
    case ValueType::Int16:
      out.scalar(static_cast<uint16_t>(v.bits()));
      break;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32:
      out.scalar(static_cast<uint32_t>(v.bits()));
      break;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64:
      out.scalar(v.bits());
      break;
    case ValueType::String:
      out.string(v.as_string());
      break;
    case ValueType::Array: {
      out.scalar(static_cast<uint32_t>(v.array_type()));
      out.scalar<uint64_t>(v.as_array().size());
      for (const Value& item : v.as_array()) write_payload(out, item);
      break;
    }
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

Writer::Writer(uint64_t alignment) : alignment_(alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > std::numeric_limits<uint32_t>::max())
    fail(ErrorKind::BadInput,
         "GGUF alignment must be a power of two that fits in 32 bits, not " + std::to_string(alignment));
}

void Writer::set(const std::string& key, Value value) {
  if (key.empty()) fail(ErrorKind::BadInput, "GGUF metadata keys must not be empty");
  if (!text::is_valid_utf8(key))
    fail(ErrorKind::BadInput, "GGUF metadata key " + text::printable(key) + " is not valid UTF-8");
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void Writer::remove(const std::string& key) {
  std::erase_if(kv_, [&](const auto& kv) { return kv.first == key; });
}

void Writer::copy_metadata(const File& from) {
  for (const auto& [k, v] : from.metadata()) set(k, v);
}

void Writer::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape, const void* data) {
  if (!data) fail(ErrorKind::BadInput, "tensor " + name + ": no data given");
  add_tensor(name, type, std::move(shape), Producer([](uint8_t*, size_t) {}));
  tensors_.back().data = data;
}

void Writer::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape, Producer produce) {
  const std::string what = "tensor " + name;
  if (name.empty()) fail(ErrorKind::BadInput, "GGUF tensor names must not be empty");
  if (!produce) fail(ErrorKind::BadInput, what + ": no producer given");
  for (const auto& t : tensors_)
    if (t.name == name) fail(ErrorKind::BadInput, what + ": added twice");
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info)
    fail(ErrorKind::BadInput, what + ": type " + std::to_string(static_cast<uint32_t>(type)) + " is not a GGML type");
  if (shape.empty() || shape.size() > kMaxDims)
    fail(ErrorKind::BadInput, what + ": shape " + shape_text(shape) + " must have 1 to 4 dimensions");
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0)
      fail(ErrorKind::BadInput, what + ": shape " + shape_text(shape) + " has a dimension that is not positive");
    if (__builtin_mul_overflow(n, d, &n))
      fail(ErrorKind::BadInput, what + ": shape " + shape_text(shape) + " has too many elements");
  }
  if (shape[0] % info->block_size != 0)
    fail(ErrorKind::BadInput, what + ": shape " + shape_text(shape) + " has " + std::to_string(shape[0]) +
                                  " columns, not a multiple of the " + info->name + " block size " +
                                  std::to_string(info->block_size));
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n / info->block_size), info->type_size, &nbytes))
    fail(ErrorKind::BadInput, what + ": shape " + shape_text(shape) + " is too large");
  tensors_.push_back(PendingTensor{name, type, std::move(shape), nbytes, std::move(produce)});
}

void Writer::write(const std::string& path) const {
  // general.alignment must describe this writer's alignment, whatever was copied from elsewhere.
  std::vector<std::pair<std::string, Value>> kv = kv_;
  bool have_alignment = false;
  for (auto& [k, v] : kv) {
    if (k == "general.alignment") {
      v = Value::u32(static_cast<uint32_t>(alignment_));
      have_alignment = true;
    }
  }
  if (!have_alignment && alignment_ != kDefaultAlignment)
    kv.emplace_back("general.alignment", Value::u32(static_cast<uint32_t>(alignment_)));

  TempFile out(path);
  out.bytes("GGUF", 4);
  out.scalar(kVersion);
  out.scalar<uint64_t>(tensors_.size());
  out.scalar<uint64_t>(kv.size());
  for (const auto& [k, v] : kv) {
    out.string(k);
    out.scalar(static_cast<uint32_t>(v.type()));
    write_payload(out, v);
  }

  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    out.string(t.name);
    out.scalar(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) out.scalar(static_cast<uint64_t>(d));
    out.scalar(static_cast<uint32_t>(t.type));
    out.scalar(offset);
    offset = align_up(offset + t.nbytes, alignment_);
  }
  out.zeros(align_up(out.written(), alignment_) - out.written());

  std::vector<uint8_t> scratch;
  for (const PendingTensor& t : tensors_) {
    if (t.data) {
      out.bytes(t.data, t.nbytes);
    } else {
      scratch.assign(t.nbytes, 0);
      t.produce(scratch.data(), scratch.size());
      out.bytes(scratch.data(), scratch.size());
    }
    out.zeros(align_up(t.nbytes, alignment_) - t.nbytes);
  }
  out.commit();
}

}  // namespace hayate::gguf
