// The writer, checked by reading its files back: every metadata type, tensors of several
// types and alignments, byte-identical rewrites, and what happens when a write fails.
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "unit/gguf_test_util.h"

namespace hayate::gguf {
namespace {

using namespace gguf_test;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Whether a temporary file of a write to `path` (PATH.tmp.PID, core/atomic_file.h) is left.
bool temp_left(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string prefix = p.filename().string() + ".tmp";
  for (const auto& entry : std::filesystem::directory_iterator(p.parent_path()))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) return true;
  return false;
}

// Deterministic bytes for a tensor, different for every tensor and offset.
std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + seed * 17 + (i >> 8));
  return v;
}

// Values compare by type, payload bits, string and items.
void expect_same(const Value& a, const Value& b, const std::string& where) {
  ASSERT_EQ(a.type(), b.type()) << where;
  switch (a.type()) {
    case ValueType::String:
      EXPECT_EQ(a.as_string(), b.as_string()) << where;
      break;
    case ValueType::Array: {
      EXPECT_EQ(a.array_type(), b.array_type()) << where;
      ASSERT_EQ(a.as_array().size(), b.as_array().size()) << where;
      for (size_t i = 0; i < a.as_array().size(); ++i)
        expect_same(a.as_array()[i], b.as_array()[i], where + "[" + std::to_string(i) + "]");
      break;
    }
    default:
      EXPECT_EQ(a.bits(), b.bits()) << where;
  }
}

std::vector<std::pair<std::string, Value>> every_kind_of_value() {
  return {
      {"general.architecture", Value::string("llama")},
      {"t.u8", Value::u8(250)},
      {"t.i8", Value::i8(-100)},
      {"t.u16", Value::u16(65000)},
      {"t.i16", Value::i16(-32000)},
      {"t.u32", Value::u32(4000000000u)},
      {"t.i32", Value::i32(std::numeric_limits<int32_t>::min())},
      {"t.u64", Value::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", Value::i64(-1234567890123456789)},
      {"t.f32", Value::f32(3.14159f)},
      {"t.f32.nan", Value::f32(std::nanf(""))},
      {"t.f64", Value::f64(-2.718281828459045)},
      {"t.true", Value::boolean(true)},
      {"t.false", Value::boolean(false)},
      {"t.empty_string", Value::string("")},
      {"t.unicode", Value::string("日本語 ✓ \n\t\"quoted\"")},
      {"t.strings", Value::string_array({"<s>", "</s>", "", "▁the", "\xe2\x96\x81"})},
      {"t.ints", Value::i32_array({1, -2, 3, std::numeric_limits<int32_t>::max()})},
      {"t.floats", Value::f32_array({0.5f, -1.25f, 1e-30f})},
      {"t.u64s", Value::array(ValueType::UInt64, {Value::u64(1), Value::u64(uint64_t{1} << 63)})},
      {"t.bools", Value::array(ValueType::Bool, {Value::boolean(true), Value::boolean(false)})},
      {"t.empty", Value::array(ValueType::Int32, {})},
      {"t.nested", Value::array(ValueType::Array, {Value::string_array({"a", "b"}), Value::string_array({}),
                                                   Value::string_array({"c"})})},
      {"t.nested2", Value::array(ValueType::Array,
                                 {Value::array(ValueType::Array, {Value::i32_array({1, 2}), Value::i32_array({3})})})},
  };
}

TEST(GgufWriter, EveryMetadataTypeRoundTrips) {
  const auto kvs = every_kind_of_value();
  Writer w;
  for (const auto& [k, v] : kvs) w.set(k, v);
  const std::string path = temp_path("meta.gguf");
  w.write(path);
  const auto f = File::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->find("general.alignment"), nullptr);  // 32 is the default, so it is not written
  ASSERT_EQ(f->metadata().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, kvs[i].first);
    expect_same(f->metadata()[i].second, kvs[i].second, kvs[i].first);
  }
  EXPECT_EQ(f->get("t.i64").as_i64(), -1234567890123456789);
  EXPECT_TRUE(std::isnan(f->get_f64("t.f32.nan", 0)));
  EXPECT_EQ(f->get("t.nested").as_array()[0].as_array()[1].as_string(), "b");
  std::remove(path.c_str());
}

struct TensorCase {
  const char* name;
  GgmlType type;
  std::vector<int64_t> shape;
};

class GgufWriterAlignment : public ::testing::TestWithParam<uint64_t> {};

TEST_P(GgufWriterAlignment, TensorsRoundTripByteIdenticalAndAligned) {
  const uint64_t alignment = GetParam();
  const std::vector<TensorCase> cases = {
      {"token_embd.weight", GgmlType::F32, {7, 3}},
      {"blk.0.attn_norm.weight", GgmlType::F16, {5}},
      {"blk.0.attn_q.weight", GgmlType::Q4_0, {64, 3}},
      {"blk.0.ffn_down.weight", GgmlType::Q8_0, {32, 2, 2}},
      {"blk.0.ffn_up.weight", GgmlType::Q4_K, {256, 3}},
      {"blk.0.ffn_gate.weight", GgmlType::Q6_K, {512, 1, 1, 2}},
      {"ids", GgmlType::I8, {3}},
      {"bf", GgmlType::BF16, {9, 1}},
  };
  Writer w(alignment);
  w.set("general.architecture", Value::string("llama"));
  std::vector<std::vector<uint8_t>> data;
  data.reserve(cases.size());  // the producers hold pointers to these vectors
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    int64_t n = 1;
    for (int64_t d : c.shape) n *= d;
    const GgmlTypeInfo& info = ggml_type_info(c.type);
    data.push_back(pattern(static_cast<size_t>(n / info.block_size) * info.type_size, static_cast<uint8_t>(i)));
    if (i % 2 == 0) {
      w.add_tensor(c.name, c.type, c.shape, data.back().data());
    } else {
      const std::vector<uint8_t>* src = &data.back();
      w.add_tensor(c.name, c.type, c.shape, [src](uint8_t* dst, size_t nbytes) {
        ASSERT_EQ(nbytes, src->size());
        std::copy(src->begin(), src->end(), dst);
      });
    }
  }
  const std::string path = temp_path("tensors_" + std::to_string(alignment) + ".gguf");
  w.write(path);

  const auto f = File::open(path);
  EXPECT_EQ(f->alignment(), alignment);
  if (alignment != 32) {
    EXPECT_EQ(f->get_u64("general.alignment", 0), alignment);
  }
  EXPECT_EQ(f->data_offset() % alignment, 0u);
  EXPECT_EQ(f->file_size() % alignment, 0u);
  ASSERT_EQ(f->tensors().size(), cases.size());
  const uint8_t* base = f->tensors()[0].data - f->tensors()[0].offset - f->data_offset();
  for (size_t i = 0; i < cases.size(); ++i) {
    const TensorInfo& t = f->tensors()[i];
    EXPECT_EQ(t.name, cases[i].name);
    EXPECT_EQ(t.type, cases[i].type);
    EXPECT_EQ(t.shape, cases[i].shape);
    EXPECT_EQ(t.offset % alignment, 0u) << t.name;
    EXPECT_EQ(static_cast<uint64_t>(t.data - base) % alignment, 0u) << t.name;
    ASSERT_EQ(t.nbytes, data[i].size()) << t.name;
    EXPECT_TRUE(std::equal(data[i].begin(), data[i].end(), t.data)) << t.name;
    EXPECT_EQ(f->find_tensor(cases[i].name), &t);
  }
  // Bytes between tensors are zero.
  for (size_t i = 0; i + 1 < cases.size(); ++i) {
    const TensorInfo& t = f->tensors()[i];
    for (const uint8_t* p = t.data + t.nbytes; p < f->tensors()[i + 1].data; ++p) ASSERT_EQ(*p, 0) << t.name;
  }
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufWriterAlignment, ::testing::Values(1, 8, 32, 64, 4096));

TEST(GgufWriter, RewriteOfAReadFileIsByteIdentical) {
  Writer w(64);
  for (const auto& [k, v] : every_kind_of_value()) w.set(k, v);
  const auto a = pattern(32 * 4, 1), b = pattern(34 * 3, 2);
  w.add_tensor("a", GgmlType::F32, {32}, a.data());
  w.add_tensor("b", GgmlType::Q8_0, {96}, b.data());
  const std::string first = temp_path("first.gguf"), second = temp_path("second.gguf");
  w.write(first);

  const auto f = File::open(first);
  Writer copy(f->alignment());
  copy.copy_metadata(*f);
  for (const TensorInfo& t : f->tensors()) copy.add_tensor(t.name, t.type, t.shape, t.data);
  copy.write(second);
  EXPECT_EQ(read_bytes(first), read_bytes(second));
  std::remove(first.c_str());
  std::remove(second.c_str());
}

TEST(GgufWriter, CopiedAlignmentFollowsTheWriter) {
  Writer w(64);
  w.set("k", Value::u8(1));
  const std::string path = temp_path("align64.gguf"), path2 = temp_path("align32.gguf");
  w.write(path);
  const auto f = File::open(path);
  Writer w32;
  w32.copy_metadata(*f);
  const float x[32] = {};
  w32.add_tensor("x", GgmlType::F32, {32}, x);
  w32.write(path2);
  const auto g = File::open(path2);
  EXPECT_EQ(g->alignment(), 32u);
  EXPECT_EQ(g->get_u64("general.alignment", 0), 32u);
  std::remove(path.c_str());
  std::remove(path2.c_str());
}

TEST(GgufWriter, SetReplacesInPlaceAndRemoveDeletes) {
  Writer w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("c", Value::u32(3));
  w.set("a", Value::string("one"));
  w.remove("b");
  w.remove("not there");
  const std::string path = temp_path("set.gguf");
  w.write(path);
  const auto f = File::open(path);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->metadata()[0].second.as_string(), "one");
  EXPECT_EQ(f->metadata()[1].first, "c");
  std::remove(path.c_str());
}

TEST(GgufWriter, RejectsBadTensorsWhenAdded) {
  Writer w;
  const float x[64] = {};
  w.add_tensor("x", GgmlType::F32, {64}, x);
  auto expect_bad = [&](auto&& add, const std::string& part) {
    try {
      add();
      ADD_FAILURE() << "no error for " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_TRUE(Contains(e.what(), part));
    }
  };
  expect_bad([&] { w.add_tensor("x", GgmlType::F32, {64}, x); }, "tensor x: added twice");
  expect_bad([&] { w.add_tensor("q", GgmlType::Q4_K, {64}, x); }, "block size 256");
  expect_bad([&] { w.add_tensor("z", GgmlType::F32, {4, 0}, x); }, "tensor z");
  expect_bad([&] { w.add_tensor("n", GgmlType::F32, {-4}, x); }, "tensor n");
  expect_bad([&] { w.add_tensor("s", GgmlType::F32, {}, x); }, "1 to 4 dimensions");
  expect_bad([&] { w.add_tensor("s5", GgmlType::F32, {1, 1, 1, 1, 1}, x); }, "1 to 4 dimensions");
  expect_bad([&] { w.add_tensor("t", static_cast<GgmlType>(42), {4}, x); }, "type 42");
  expect_bad([&] { w.add_tensor("", GgmlType::F32, {4}, x); }, "empty");
  expect_bad([&] { w.add_tensor("big", GgmlType::F32, {int64_t{1} << 40, int64_t{1} << 40}, x); }, "tensor big");
  expect_bad([&] { w.set("", Value::u8(0)); }, "empty");
  expect_bad([&] { w.set("bad\xff", Value::u8(0)); }, "UTF-8");
  EXPECT_THROW(Writer(0), Error);
  EXPECT_THROW(Writer(48), Error);
}

TEST(GgufWriter, FailedWriteLeavesNoFiles) {
  const std::string path = temp_path("failed.gguf");
  {
    Writer w;
    w.add_tensor("x", GgmlType::F32, {8}, [](uint8_t*, size_t) { throw std::runtime_error("producer failed"); });
    EXPECT_THROW(w.write(path), std::runtime_error);
  }
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(temp_left(path));

  // An existing file survives a failed overwrite untouched.
  write_bytes(path, {1, 2, 3});
  {
    Writer w;
    w.add_tensor("x", GgmlType::F32, {8}, [](uint8_t*, size_t) { fail(ErrorKind::Internal, "boom"); });
    EXPECT_THROW(w.write(path), Error);
  }
  EXPECT_EQ(read_bytes(path), (Bytes{1, 2, 3}));
  EXPECT_FALSE(temp_left(path));
  std::remove(path.c_str());

  const std::string bad = ::testing::TempDir() + "no_such_dir_for_hayate/x.gguf";
  try {
    Writer().write(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(StartsWith(e.what(), bad));
    EXPECT_TRUE(Contains(e.what(), "No such file or directory"));
  }
}

// A full disk (HAYATE_FAULT_DISK_FULL_AFTER makes the atomic writer fail as one would): a clear
// error naming the file, the old file untouched, no temporary file left.
TEST(GgufWriter, DiskFullLeavesTheOldFileAndNoPartialOne) {
  const std::string path = temp_path("full.gguf");
  write_bytes(path, {1, 2, 3});
  ::setenv("HAYATE_FAULT_DISK_FULL_AFTER", "1000", 1);
  try {
    Writer w;
    w.add_tensor("x", GgmlType::F32, {4096}, [](uint8_t* out, size_t n) { std::memset(out, 0, n); });
    w.write(path);
    ADD_FAILURE() << "the write should have failed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::ResourceExhausted);
    EXPECT_TRUE(StartsWith(e.what(), path)) << e.what();
    EXPECT_TRUE(Contains(e.what(), "No space left on device")) << e.what();
  }
  ::unsetenv("HAYATE_FAULT_DISK_FULL_AFTER");
  EXPECT_EQ(read_bytes(path), (Bytes{1, 2, 3}));
  EXPECT_FALSE(temp_left(path));
  std::remove(path.c_str());
}

TEST(GgufWriter, OverwritesAnExistingFile) {
  const std::string path = temp_path("overwrite.gguf");
  write_bytes(path, Bytes(10000, 0xAB));
  Writer w;
  w.set("k", Value::string("v"));
  w.write(path);
  EXPECT_EQ(File::open(path)->get_string("k", ""), "v");
  EXPECT_FALSE(temp_left(path));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace hayate::gguf
