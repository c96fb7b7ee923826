// The GGUF reader. Every count, length, type and offset in the file is checked against the
// bytes actually present before it is used, so a truncated or hostile file ends in an Error
// naming the file and the field, never in a crash or a huge allocation.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <map>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/text.h"

namespace hayate::gguf {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
// The smallest encodings, used to reject counts that cannot fit in the bytes left.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                  // empty key, type, a u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, one dim, type, offset

bool is_known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::Float64); }

// Bytes one array element takes at least in the file (its exact size for fixed-size types).
uint64_t min_element_bytes(ValueType t) {
  switch (t) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool:
      return 1;
    case ValueType::UInt16:
    case ValueType::Int16:
      return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32:
      return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64:
    case ValueType::String:
      return 8;  // a string is at least its u64 length
    case ValueType::Array:
      return 12;  // u32 element type + u64 count
  }
  return 1;
}

class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void error(const std::string& field, const std::string& what) const {
    fail(ErrorKind::BadInput, file_ + ": " + field + ": " + what);
  }

  void need(uint64_t n, const std::string& field) const {
    if (n > remaining())
      error(field, "the file ends at byte " + std::to_string(bytes_.size()) + " but " + std::to_string(n) +
                       " more bytes are needed at offset " + std::to_string(pos_) + " (truncated file?)");
  }

  template <typename T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& field) {
    const auto len = read<uint64_t>(field);
    if (len > remaining())
      error(field, "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
                       " bytes left in the file");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& file_;
  uint64_t pos_ = 0;
};

ValueType read_value_type(Cursor& in, const std::string& field) {
  const auto raw = in.read<uint32_t>(field);
  if (!is_known_value_type(raw)) in.error(field, "unknown value type " + std::to_string(raw));
  return static_cast<ValueType>(raw);
}

Value read_value(Cursor& in, ValueType type, const std::string& field, int depth) {
  switch (type) {
    case ValueType::UInt8:
      return Value::u8(in.read<uint8_t>(field));
    case ValueType::Int8:
      return Value::i8(in.read<int8_t>(field));
    case ValueType::UInt16:
      return Value::u16(in.read<uint16_t>(field));
    case ValueType::Int16:
      return Value::i16(in.read<int16_t>(field));
    case ValueType::UInt32:
      return Value::u32(in.read<uint32_t>(field));
    case ValueType::Int32:
      return Value::i32(in.read<int32_t>(field));
    case ValueType::UInt64:
      return Value::u64(in.read<uint64_t>(field));
    case ValueType::Int64:
      return Value::i64(in.read<int64_t>(field));
    case ValueType::Float32:
      return Value::f32(in.read<float>(field));
    case ValueType::Float64:
      return Value::f64(in.read<double>(field));
    case ValueType::Bool: {
      const auto b = in.read<uint8_t>(field);
      if (b > 1) in.error(field, "bool value " + std::to_string(b) + " is neither 0 nor 1");
      return Value::boolean(b == 1);
    }
    case ValueType::String:
      return Value::string(in.read_string(field));
    case ValueType::Array:
      break;
  }
  if (depth >= kMaxArrayDepth)
    in.error(field, "arrays are nested more than " + std::to_string(kMaxArrayDepth) + " levels deep");
  const ValueType elem = read_value_type(in, field);
  const auto count = in.read<uint64_t>(field);
  if (count > in.remaining() / min_element_bytes(elem))
    in.error(field, "array of " + std::to_string(count) + " " + value_type_name(elem) + " items cannot fit in the " +
                        std::to_string(in.remaining()) + " bytes left in the file");
  std::vector<Value> items;
  items.reserve(count);
  for (uint64_t i = 0; i < count; ++i) items.push_back(read_value(in, elem, field, depth + 1));
  return Value::array(elem, std::move(items));
}

uint64_t checked_count(Cursor& in, const std::string& field, uint64_t min_item_bytes, const char* items) {
  const auto count = in.read<uint64_t>(field);
  if (count > in.remaining() / min_item_bytes)
    in.error(field, std::to_string(count) + " " + items + " cannot fit in the " + std::to_string(in.remaining()) +
                        " bytes left in the file");
  return count;
}

}  // namespace

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorInfo::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

std::unique_ptr<File> File::open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->name_ = path;
  f->mapping_ = std::make_unique<MappedFile>(path);
  f->bytes_ = f->mapping_->bytes();
  f->parse_all();
  return f;
}

std::unique_ptr<File> File::parse(std::span<const uint8_t> bytes, const std::string& name) {
  std::unique_ptr<File> f(new File());
  f->name_ = name;
  f->bytes_ = bytes;
  f->parse_all();
  return f;
}

void File::parse_all() {
  Cursor in(bytes_, name_);

  // Header.
  if (bytes_.size() < 4)
    in.error("header", "the file is " + std::to_string(bytes_.size()) + " bytes, too short for a GGUF header");
  const auto magic = in.read<uint32_t>("header");
  if (magic != kMagic) in.error("header", "bad magic (the first 4 bytes are not \"GGUF\"); this is not a GGUF file");
  version_ = in.read<uint32_t>("header");
  if (version_ != 2 && version_ != 3) {
    const uint32_t swapped = __builtin_bswap32(version_);
    const std::string hint = (swapped == 2 || swapped == 3)
                                 ? "; this looks like a big-endian GGUF file, which hayate does not read"
                             : version_ == 1 ? "; re-convert the model with a current llama.cpp or `hayate convert`"
                                             : "";
    fail(ErrorKind::Unsupported, name_ + ": header: GGUF version " + std::to_string(version_) +
                                     " is not supported (hayate reads versions 2 and 3)" + hint);
  }
  const uint64_t tensor_count = checked_count(in, "tensor_count", kMinTensorInfoBytes, "tensors");
  const uint64_t kv_count = checked_count(in, "kv_count", kMinKvBytes, "metadata entries");

  // Metadata.
  kv_.clear();
  kv_.reserve(kv_count);
  std::map<std::string, uint64_t, std::less<>> key_index;
  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string where = "metadata entry #" + std::to_string(i);
    std::string key = in.read_string(where + " key");
    if (key.empty()) in.error(where, "the key is empty");
    const std::string field = "key " + text::printable(key);
    if (!text::is_valid_utf8(key)) in.error(field, "the key is not valid UTF-8");
    const auto [it, inserted] = key_index.emplace(key, i);
    if (!inserted)
      in.error(field, "duplicate key (first defined as metadata entry #" + std::to_string(it->second) + ")");
    const ValueType type = read_value_type(in, field);
    kv_.emplace_back(std::move(key), read_value(in, type, field, 0));
  }

  alignment_ = kDefaultAlignment;
  if (const Value* a = find("general.alignment")) {
    if (a->type() != ValueType::UInt32)
      in.error("key general.alignment", std::string("expected type u32, found ") + value_type_name(a->type()));
    const uint64_t v = a->as_u64();
    if (v == 0 || !std::has_single_bit(v))
      in.error("key general.alignment", "must be a non-zero power of two, found " + std::to_string(v));
    alignment_ = v;
  }

  // Tensor infos; their data is checked once the start of the data section is known.
  tensors_.clear();
  tensor_index_.clear();
  tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo t;
    t.name = in.read_string("tensor #" + std::to_string(i) + " name");
    if (t.name.empty()) in.error("tensor #" + std::to_string(i), "the name is empty");
    const std::string field = "tensor " + text::printable(t.name);
    const auto [it, inserted] = tensor_index_.emplace(t.name, i);
    if (!inserted)
      in.error(field, "duplicate tensor name (first defined as tensor #" + std::to_string(it->second) + ")");

    const auto n_dims = in.read<uint32_t>(field);
    if (n_dims == 0 || n_dims > kMaxDims)
      in.error(field,
               "has " + std::to_string(n_dims) + " dimensions; GGUF tensors have 1 to " + std::to_string(kMaxDims));
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = in.read<uint64_t>(field);
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        in.error(field, "dimension " + std::to_string(d) + " is " + std::to_string(dim) + ", not a positive size");
      t.shape.push_back(static_cast<int64_t>(dim));
      if (__builtin_mul_overflow(n_elements, t.shape.back(), &n_elements))
        in.error(field, "the number of elements overflows 64 bits");
    }

    const auto raw_type = in.read<uint32_t>(field);
    const GgmlTypeInfo* info = ggml_type_info(raw_type);
    if (!info)
      fail(ErrorKind::Unsupported, name_ + ": tensor " + text::printable(t.name) + " has type " +
                                       std::to_string(raw_type) + ", which this build does not support");
    t.type = info->type;
    if (t.shape[0] % info->block_size != 0)
      in.error(field, "has " + std::to_string(t.shape[0]) + " columns (shape[0]), not a multiple of the " + info->name +
                          " block size " + std::to_string(info->block_size));
    const auto blocks = static_cast<uint64_t>(n_elements / info->block_size);
    if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(info->type_size), &t.nbytes))
      in.error(field, "the size in bytes overflows 64 bits");

    t.offset = in.read<uint64_t>(field);
    if (t.offset % alignment_ != 0)
      in.error(field, "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                          std::to_string(alignment_));
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. A file without tensors
  // may end before that padding (llama.cpp writes vocabularies so); its empty data section
  // then starts at the end of the file, so file_size() - data_offset() never wraps.
  data_offset_ = (in.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (tensors_.empty()) data_offset_ = std::min<uint64_t>(data_offset_, bytes_.size());
  for (TensorInfo& t : tensors_) {
    uint64_t start = 0, end = 0;
    if (__builtin_add_overflow(data_offset_, t.offset, &start) || __builtin_add_overflow(start, t.nbytes, &end) ||
        end > bytes_.size())
      in.error("tensor " + text::printable(t.name),
               "data of " + std::to_string(t.nbytes) + " bytes at offset " + std::to_string(t.offset) +
                   " in the data section (which starts at byte " + std::to_string(data_offset_) +
                   ") runs past the end of the file (" + std::to_string(bytes_.size()) + " bytes)");
    t.data = bytes_.data() + start;
  }
}

void File::release(const void* p, size_t n) const {
  if (mapping_) mapping_->release(p, n);
}

const Value* File::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

const Value& File::get(std::string_view key) const {
  const Value* v = find(key);
  if (!v) fail(ErrorKind::NotFound, name_ + ": metadata key " + std::string(key) + " is missing");
  return *v;
}

std::string File::get_string(std::string_view key, const std::string& fallback) const {
  const Value* v = find(key);
  return v ? v->as_string(name_ + ": " + std::string(key)) : fallback;
}

uint64_t File::get_u64(std::string_view key, uint64_t fallback) const {
  const Value* v = find(key);
  return v ? v->as_u64(name_ + ": " + std::string(key)) : fallback;
}

int64_t File::get_i64(std::string_view key, int64_t fallback) const {
  const Value* v = find(key);
  return v ? v->as_i64(name_ + ": " + std::string(key)) : fallback;
}

double File::get_f64(std::string_view key, double fallback) const {
  const Value* v = find(key);
  return v ? v->as_f64(name_ + ": " + std::string(key)) : fallback;
}

bool File::get_bool(std::string_view key, bool fallback) const {
  const Value* v = find(key);
  return v ? v->as_bool(name_ + ": " + std::string(key)) : fallback;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
  const TensorInfo* t = find_tensor(name);
  if (!t) fail(ErrorKind::NotFound, name_ + ": tensor " + std::string(name) + " is missing");
  return *t;
}

}  // namespace hayate::gguf
