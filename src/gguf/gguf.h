// GGUF files (v2 and v3): a validating reader over a memory-mapped file (weights are views
// into the mapping, never copied) and a writer that streams tensors to a temporary file and
// renames it into place, so a failed write never leaves a corrupted file behind.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_types.h"
#include "core/mapped_file.h"

namespace hayate::gguf {

enum class ValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

const char* value_type_name(ValueType type);

// One metadata value. Integers keep their GGUF type (so a round trip writes the same bytes);
// the accessors convert where the value fits and throw Error(BadInput) naming `what` if not.
class Value {
 public:
  Value() = default;
  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f32(float v);
  static Value f64(double v);
  static Value boolean(bool v);
  static Value string(std::string v);
  // Arrays hold elements of one type (GGUF allows arrays of arrays; so do we).
  static Value array(ValueType element_type, std::vector<Value> items);
  static Value string_array(std::vector<std::string> items);
  static Value f32_array(const std::vector<float>& items);
  static Value i32_array(const std::vector<int32_t>& items);

  ValueType type() const { return type_; }
  bool is_integer() const;
  bool is_float() const;
  // The raw payload of a scalar: an integer's two's complement (sign-extended), 0/1 for a
  // bool, the bit pattern of a float or double. Lets a writer reproduce the exact bytes.
  uint64_t bits() const { return bits_; }

  // `what` names the value in error messages, e.g. "model.gguf: llama.block_count".
  uint64_t as_u64(std::string_view what = "value") const;
  int64_t as_i64(std::string_view what = "value") const;
  double as_f64(std::string_view what = "value") const;  // any integer or float
  bool as_bool(std::string_view what = "value") const;
  const std::string& as_string(std::string_view what = "value") const;
  ValueType array_type(std::string_view what = "value") const;
  const std::vector<Value>& as_array(std::string_view what = "value") const;

  std::string to_display(size_t max_items = 8) const;  // for `hayate info`

 private:
  ValueType type_ = ValueType::UInt8;
  uint64_t bits_ = 0;  // integer (two's complement), bool, or the bit pattern of a float/double
  std::string str_;
  ValueType elem_type_ = ValueType::UInt8;
  std::vector<Value> items_;
};

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> shape;  // GGUF order: shape[0] is the innermost (contiguous) dimension
  uint64_t offset = 0;         // relative to the start of the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the mapping (reader) — valid while the File lives

  int64_t n_elements() const;
  int64_t rows() const;  // product of shape[1..], 1 for a vector
  int64_t cols() const { return shape.empty() ? 1 : shape[0]; }
};

class File {
 public:
  // Opens and validates; throws Error naming the file, the field and what is wrong.
  static std::unique_ptr<File> open(const std::string& path);
  // Parses bytes already in memory (used by the fuzzer and tests); `bytes` must outlive the File.
  static std::unique_ptr<File> parse(std::span<const uint8_t> bytes, const std::string& name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  size_t file_size() const { return bytes_.size(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  const Value& get(std::string_view key) const;  // Error(NotFound) naming the file and key
  // Typed look-ups with defaults; a present value of the wrong type is an Error(BadInput).
  std::string get_string(std::string_view key, const std::string& fallback) const;
  uint64_t get_u64(std::string_view key, uint64_t fallback) const;
  int64_t get_i64(std::string_view key, int64_t fallback) const;
  double get_f64(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;

  // Drops the pages of [p, p + n) from resident memory when the file is memory-mapped (see
  // MappedFile::release); does nothing for a File parsed from bytes in memory.
  void release(const void* p, size_t n) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& tensor(std::string_view name) const;  // Error(NotFound)

 private:
  File() = default;
  void parse_all();

  std::string name_;
  std::unique_ptr<MappedFile> mapping_;
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;  // name -> index in tensors_
};

// Writes GGUF v3. Tensors are written in the order added, each aligned to `alignment`
// (general.alignment is written when it is not 32).
class Writer {
 public:
  explicit Writer(uint64_t alignment = 32);

  // Replaces an existing key of the same name, keeping its position.
  void set(const std::string& key, Value value);
  void remove(const std::string& key);
  // Copies every metadata entry of `from` (e.g. to keep a tokenizer when quantizing).
  void copy_metadata(const File& from);

  // The tensor's bytes come from `data`, which must stay valid until write().
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape, const void* data);
  // The tensor's bytes are produced at write time into `dst` (exactly nbytes long), so a
  // large model need never be held in memory whole.
  using Producer = std::function<void(uint8_t* dst, size_t nbytes)>;
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape, Producer produce);

  // Writes to path + ".tmp" then renames. Throws Error on any I/O failure (the temporary file
  // is removed). Duplicate tensor names or shapes that are not whole blocks are Error(BadInput).
  void write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    uint64_t nbytes;
    Producer produce;
    const void* data = nullptr;  // set instead of `produce` for tensors already in memory
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace hayate::gguf
