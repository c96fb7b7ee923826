// Value: typed accessors, conversions only where the value fits, and the display form.
#include <limits>

#include "unit/gguf_test_util.h"

namespace hayate::gguf {
namespace {

using namespace gguf_test;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(GgufValue, IntegersConvertWhereTheyFit) {
  EXPECT_EQ(Value::u8(200).as_u64(), 200u);
  EXPECT_EQ(Value::u8(200).as_i64(), 200);
  EXPECT_EQ(Value::i8(-5).as_i64(), -5);
  EXPECT_EQ(Value::i16(300).as_u64(), 300u);
  EXPECT_EQ(Value::i32(-7).as_f64(), -7.0);
  EXPECT_EQ(Value::u64(std::numeric_limits<uint64_t>::max()).as_u64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(Value::i64(std::numeric_limits<int64_t>::min()).as_i64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Value::u64(uint64_t{1} << 62).as_i64(), int64_t{1} << 62);
  EXPECT_TRUE(Value::u16(1).is_integer());
  EXPECT_FALSE(Value::u16(1).is_float());
  EXPECT_TRUE(Value::f64(1).is_float());
  EXPECT_FALSE(Value::boolean(true).is_integer());

  EXPECT_TRUE(
      Contains(error_of([] { Value::i32(-1).as_u64("m.gguf: llama.block_count"); }), "m.gguf: llama.block_count"));
  EXPECT_TRUE(Contains(error_of([] { Value::i8(-1).as_u64("v"); }), "-1"));
  EXPECT_TRUE(Contains(error_of([] { Value::u64(std::numeric_limits<uint64_t>::max()).as_i64("big"); }),
                       "big: 18446744073709551615"));
  EXPECT_TRUE(Contains(error_of([] { Value::f32(1.5f).as_u64("ctx"); }), "ctx: expected an unsigned integer"));
  EXPECT_TRUE(Contains(error_of([] { Value::f32(1.5f).as_i64("ctx"); }), "f32"));
  EXPECT_TRUE(Contains(error_of([] { Value::boolean(true).as_i64("b"); }), "bool"));
}

TEST(GgufValue, FloatsBoolsStringsArrays) {
  EXPECT_FLOAT_EQ(static_cast<float>(Value::f32(0.25f).as_f64()), 0.25f);
  EXPECT_DOUBLE_EQ(Value::f64(1e300).as_f64(), 1e300);
  EXPECT_TRUE(Value::boolean(true).as_bool());
  EXPECT_FALSE(Value::boolean(false).as_bool());
  EXPECT_EQ(Value::string("hi").as_string(), "hi");
  const Value a = Value::string_array({"x", "y"});
  EXPECT_EQ(a.type(), ValueType::Array);
  EXPECT_EQ(a.array_type(), ValueType::String);
  EXPECT_EQ(a.as_array().at(1).as_string(), "y");
  EXPECT_EQ(Value::f32_array({1, 2}).array_type(), ValueType::Float32);
  EXPECT_EQ(Value::i32_array({}).as_array().size(), 0u);

  EXPECT_TRUE(Contains(error_of([] { Value::string("3").as_f64("general.x"); }), "general.x: expected a number"));
  EXPECT_TRUE(
      Contains(error_of([] { Value::u8(1).as_bool("flag"); }), "flag: expected a bool, found a value of type u8"));
  EXPECT_TRUE(Contains(error_of([] { Value::u8(1).as_string("s"); }), "s: expected a string"));
  EXPECT_TRUE(Contains(error_of([] { Value::u8(1).as_array("arr"); }), "arr: expected an array"));
  EXPECT_TRUE(Contains(error_of([] { Value::u8(1).array_type("arr"); }), "arr: expected an array"));
  EXPECT_TRUE(Contains(error_of([] {
                         Value::array(ValueType::Int32, {Value::i32(1), Value::u8(2)});
                       }),
                       "item 1 has type u8"));
  EXPECT_TRUE(Contains(error_of([] { Value::array(static_cast<ValueType>(77), {}); }), "77"));
}

TEST(GgufValue, TypeNames) {
  EXPECT_STREQ(value_type_name(ValueType::UInt8), "u8");
  EXPECT_STREQ(value_type_name(ValueType::Float64), "f64");
  EXPECT_STREQ(value_type_name(ValueType::Array), "array");
  EXPECT_STREQ(value_type_name(static_cast<ValueType>(99)), "unknown");
}

TEST(GgufValue, Display) {
  EXPECT_EQ(Value::u32(42).to_display(), "42");
  EXPECT_EQ(Value::i64(-42).to_display(), "-42");
  EXPECT_EQ(Value::f32(0.1f).to_display(), "0.1");
  EXPECT_EQ(Value::f64(1e-6).to_display(), "1e-06");
  EXPECT_EQ(Value::boolean(true).to_display(), "true");
  EXPECT_EQ(Value::string("a\"b\n").to_display(), "\"a\\\"b\\n\"");
  EXPECT_EQ(Value::string("日本").to_display(), "\"日本\"");
  EXPECT_EQ(Value::string("\x01\xff").to_display(), "\"\\x01\\xFF\"");
  const std::string long_text(500, 'x');
  const std::string shown = Value::string(long_text).to_display();
  EXPECT_LT(shown.size(), 100u);
  EXPECT_TRUE(StartsWith(shown, "\"xxxx"));
  EXPECT_EQ(shown.substr(shown.size() - 4), "\"...");

  EXPECT_EQ(Value::i32_array({1, 2, 3}).to_display(), "[1, 2, 3]");
  EXPECT_EQ(Value::string_array({"<s>", "</s>"}).to_display(), "[\"<s>\", \"</s>\"]");
  std::vector<int32_t> many(1000);
  for (int i = 0; i < 1000; ++i) many[i] = i;
  EXPECT_EQ(Value::i32_array(many).to_display(), "[0, 1, 2, ... (1000 items)]");
  EXPECT_EQ(Value::i32_array(many).to_display(2), "[0, 1, ... (1000 items)]");
  EXPECT_EQ(Value::i32_array(many).to_display(0), "[... (1000 items)]");
  EXPECT_EQ(Value::i32_array({}).to_display(), "[]");
  const Value nested = Value::array(ValueType::Array, {Value::i32_array({1}), Value::i32_array({})});
  EXPECT_EQ(nested.to_display(), "[[1], []]");
  EXPECT_EQ(Value::i32_array(many).to_display(std::numeric_limits<size_t>::max()).size(),
            Value::i32_array(many).to_display(1000).size());
}

}  // namespace
}  // namespace hayate::gguf
