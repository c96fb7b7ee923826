#include <bit>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/text.h"

namespace hayate::gguf {
namespace {

bool is_signed_integer(ValueType t) {
  return t == ValueType::Int8 || t == ValueType::Int16 || t == ValueType::Int32 || t == ValueType::Int64;
}

bool is_unsigned_integer(ValueType t) {
  return t == ValueType::UInt8 || t == ValueType::UInt16 || t == ValueType::UInt32 || t == ValueType::UInt64;
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

std::string format_float(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back as this float
  return std::string(buf, result.ptr);
}

[[noreturn]] void wrong_type(std::string_view what, const char* expected, ValueType found) {
  fail(ErrorKind::BadInput,
       std::string(what) + ": expected " + expected + ", found a value of type " + value_type_name(found));
}

}  // namespace

const char* value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UInt8:
      return "u8";
    case ValueType::Int8:
      return "i8";
    case ValueType::UInt16:
      return "u16";
    case ValueType::Int16:
      return "i16";
    case ValueType::UInt32:
      return "u32";
    case ValueType::Int32:
      return "i32";
    case ValueType::Float32:
      return "f32";
    case ValueType::Bool:
      return "bool";
    case ValueType::String:
      return "string";
    case ValueType::Array:
      return "array";
    case ValueType::UInt64:
      return "u64";
    case ValueType::Int64:
      return "i64";
    case ValueType::Float64:
      return "f64";
  }
  return "unknown";
}

// Signed values are stored sign-extended, so as_i64 is a plain cast of the bits.
Value Value::u8(uint8_t v) {
  Value x;
  x.type_ = ValueType::UInt8;
  x.bits_ = v;
  return x;
}
Value Value::u16(uint16_t v) {
  Value x;
  x.type_ = ValueType::UInt16;
  x.bits_ = v;
  return x;
}
Value Value::u32(uint32_t v) {
  Value x;
  x.type_ = ValueType::UInt32;
  x.bits_ = v;
  return x;
}
Value Value::u64(uint64_t v) {
  Value x;
  x.type_ = ValueType::UInt64;
  x.bits_ = v;
  return x;
}
Value Value::i8(int8_t v) {
  Value x;
  x.type_ = ValueType::Int8;
  x.bits_ = static_cast<uint64_t>(int64_t{v});
  return x;
}
Value Value::i16(int16_t v) {
  Value x;
  x.type_ = ValueType::Int16;
  x.bits_ = static_cast<uint64_t>(int64_t{v});
  return x;
}
Value Value::i32(int32_t v) {
  Value x;
  x.type_ = ValueType::Int32;
  x.bits_ = static_cast<uint64_t>(int64_t{v});
  return x;
}
Value Value::i64(int64_t v) {
  Value x;
  x.type_ = ValueType::Int64;
  x.bits_ = static_cast<uint64_t>(v);
  return x;
}
Value Value::f32(float v) {
  Value x;
  x.type_ = ValueType::Float32;
  x.bits_ = std::bit_cast<uint32_t>(v);
  return x;
}
Value Value::f64(double v) {
  Value x;
  x.type_ = ValueType::Float64;
  x.bits_ = std::bit_cast<uint64_t>(v);
  return x;
}
Value Value::boolean(bool v) {
  Value x;
  x.type_ = ValueType::Bool;
  x.bits_ = v ? 1 : 0;
  return x;
}

Value Value::string(std::string v) {
  Value x;
  x.type_ = ValueType::String;
  x.str_ = std::move(v);
  return x;
}

Value Value::array(ValueType element_type, std::vector<Value> items) {
  if (value_type_name(element_type) == std::string_view("unknown"))
    fail(ErrorKind::BadInput,
         "array element type " + std::to_string(static_cast<uint32_t>(element_type)) + " is not a GGUF value type");
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].type() != element_type)
      fail(ErrorKind::BadInput, std::string("array of ") + value_type_name(element_type) + ": item " +
                                    std::to_string(i) + " has type " + value_type_name(items[i].type()));
  }
  Value x;
  x.type_ = ValueType::Array;
  x.elem_type_ = element_type;
  x.items_ = std::move(items);
  return x;
}

Value Value::string_array(std::vector<std::string> items) {
  std::vector<Value> values;
  values.reserve(items.size());
  for (auto& s : items) values.push_back(string(std::move(s)));
  return array(ValueType::String, std::move(values));
}

Value Value::f32_array(const std::vector<float>& items) {
  std::vector<Value> values;
  values.reserve(items.size());
  for (float f : items) values.push_back(f32(f));
  return array(ValueType::Float32, std::move(values));
}

Value Value::i32_array(const std::vector<int32_t>& items) {
  std::vector<Value> values;
  values.reserve(items.size());
  for (int32_t v : items) values.push_back(i32(v));
  return array(ValueType::Int32, std::move(values));
}

bool Value::is_integer() const { return is_signed_integer(type_) || is_unsigned_integer(type_); }

bool Value::is_float() const { return type_ == ValueType::Float32 || type_ == ValueType::Float64; }

uint64_t Value::as_u64(std::string_view what) const {
  if (is_unsigned_integer(type_)) return bits_;
  if (!is_signed_integer(type_)) wrong_type(what, "an unsigned integer", type_);
  const auto v = static_cast<int64_t>(bits_);
  if (v < 0)
    fail(ErrorKind::BadInput, std::string(what) + ": expected an unsigned integer, found " + std::to_string(v));
  return static_cast<uint64_t>(v);
}

int64_t Value::as_i64(std::string_view what) const {
  if (is_signed_integer(type_)) return static_cast<int64_t>(bits_);
  if (!is_unsigned_integer(type_)) wrong_type(what, "an integer", type_);
  if (bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(ErrorKind::BadInput,
         std::string(what) + ": " + std::to_string(bits_) + " does not fit in a signed 64-bit integer");
  return static_cast<int64_t>(bits_);
}

double Value::as_f64(std::string_view what) const {
  if (type_ == ValueType::Float32) return std::bit_cast<float>(static_cast<uint32_t>(bits_));
  if (type_ == ValueType::Float64) return std::bit_cast<double>(bits_);
  if (is_unsigned_integer(type_)) return static_cast<double>(bits_);
  if (is_signed_integer(type_)) return static_cast<double>(static_cast<int64_t>(bits_));
  wrong_type(what, "a number", type_);
}

bool Value::as_bool(std::string_view what) const {
  if (type_ != ValueType::Bool) wrong_type(what, "a bool", type_);
  return bits_ != 0;
}

const std::string& Value::as_string(std::string_view what) const {
  if (type_ != ValueType::String) wrong_type(what, "a string", type_);
  return str_;
}

ValueType Value::array_type(std::string_view what) const {
  if (type_ != ValueType::Array) wrong_type(what, "an array", type_);
  return elem_type_;
}

const std::vector<Value>& Value::as_array(std::string_view what) const {
  if (type_ != ValueType::Array) wrong_type(what, "an array", type_);
  return items_;
}

std::string Value::to_display(size_t max_items) const {
  switch (type_) {
    case ValueType::UInt8:
    case ValueType::UInt16:
    case ValueType::UInt32:
    case ValueType::UInt64:
      return std::to_string(bits_);
    case ValueType::Int8:
    case ValueType::Int16:
    case ValueType::Int32:
    case ValueType::Int64:
      return std::to_string(static_cast<int64_t>(bits_));
    case ValueType::Float32:
      return format_float(std::bit_cast<float>(static_cast<uint32_t>(bits_)));
    case ValueType::Float64:
      return format_double(std::bit_cast<double>(bits_));
    case ValueType::Bool:
      return bits_ ? "true" : "false";
    case ValueType::String:
      return text::quoted(str_, 80);
    case ValueType::Array:
      break;
  }
  // Short arrays in full; long ones (a 150k-token vocabulary) as a head and a count.
  const bool cut = items_.size() > max_items;
  const size_t shown = cut ? std::min<size_t>(max_items, 3) : items_.size();
  std::string out = "[";
  for (size_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    out += items_[i].type() == ValueType::String ? text::quoted(items_[i].str_, 32) : items_[i].to_display(max_items);
  }
  if (cut) out += (shown ? ", ... (" : "... (") + std::to_string(items_.size()) + " items)";
  out += "]";
  return out;
}

}  // namespace hayate::gguf
