// The reader against hand-built files: valid ones, and one corruption of each field. Every
// error must name the file and the field.
#include <cstdio>
#include <limits>

#include "unit/gguf_test_util.h"

namespace hayate::gguf {
namespace {

using namespace gguf_test;

constexpr uint32_t kU8 = 0, kU32 = 4, kI32 = 5, kBool = 7, kString = 8, kArray = 9, kU64 = 10;

// Checks the error of parsing `f`: its kind, and that it starts with the file name and
// mentions each of `parts`.
void expect_error(const RawFile& f, ErrorKind kind, std::initializer_list<std::string> parts) {
  ErrorKind got = ErrorKind::Internal;
  const std::string msg = parse_error(f.build(), "model.gguf", &got);
  EXPECT_EQ(kind_name(got), std::string(kind_name(kind))) << msg;
  EXPECT_TRUE(StartsWith(msg, "model.gguf: "));
  for (const auto& p : parts) EXPECT_TRUE(Contains(msg, p));
}

RawKv alignment_kv(uint32_t type, Bytes payload) { return {"general.alignment", type, std::move(payload)}; }

TEST(GgufReader, ParsesMinimalFile) {
  const Bytes bytes = minimal_raw_file().build();
  const auto f = File::parse(bytes, "m.gguf");
  EXPECT_EQ(f->name(), "m.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->file_size(), bytes.size());
  EXPECT_EQ(f->get_string("general.architecture", ""), "llama");
  ASSERT_EQ(f->tensors().size(), 1u);
  const TensorInfo& t = f->tensor("w");
  EXPECT_EQ(t.type, GgmlType::F32);
  EXPECT_EQ(t.shape, std::vector<int64_t>{8});
  EXPECT_EQ(t.nbytes, 32u);
  EXPECT_EQ(t.n_elements(), 8);
  EXPECT_EQ(t.rows(), 1);
  EXPECT_EQ(t.cols(), 8);
  EXPECT_EQ(t.data, bytes.data() + f->data_offset());
  EXPECT_EQ(f->data_offset() % 32, 0u);
}

TEST(GgufReader, ReadsVersion2) {
  RawFile raw = minimal_raw_file();
  raw.version = 2;
  EXPECT_EQ(File::parse(raw.build(), "v2.gguf")->version(), 2u);
}

TEST(GgufReader, FileWithoutTensorsMayOmitTrailingPadding) {
  RawFile raw;
  raw.kvs.push_back({"a", kU8, payload<uint8_t>(1)});
  raw.alignment = 1;
  const auto f = File::parse(raw.build(), "kv.gguf");
  EXPECT_EQ(f->metadata().size(), 1u);
  EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufReader, LookupsAndTheirErrors) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back({"llama.block_count", kU32, payload<uint32_t>(32)});
  raw.kvs.push_back({"neg", kI32, payload<int32_t>(-5)});
  const auto f = File::parse(raw.build(), "m.gguf");
  EXPECT_EQ(f->get_u64("llama.block_count", 0), 32u);
  EXPECT_EQ(f->get_i64("neg", 0), -5);
  EXPECT_EQ(f->get_u64("missing", 7), 7u);
  EXPECT_DOUBLE_EQ(f->get_f64("llama.block_count", 0), 32.0);
  EXPECT_TRUE(f->get_bool("missing", true));
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_EQ(f->find_tensor("missing"), nullptr);
  try {
    f->get("missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_TRUE(Contains(e.what(), "m.gguf"));
    EXPECT_TRUE(Contains(e.what(), "missing"));
  }
  EXPECT_THROW(f->tensor("nope"), Error);
  try {
    f->get_u64("neg", 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_TRUE(StartsWith(e.what(), "m.gguf: neg"));
  }
  try {
    f->get_string("llama.block_count", "");
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(StartsWith(e.what(), "m.gguf: llama.block_count"));
    EXPECT_TRUE(Contains(e.what(), "u32"));
  }
}

TEST(GgufReader, RejectsBadMagic) {
  RawFile raw = minimal_raw_file();
  raw.magic = 0x464c457f;  // an ELF file
  expect_error(raw, ErrorKind::BadInput, {"header", "magic"});
}

TEST(GgufReader, RejectsVersion1And99) {
  RawFile raw = minimal_raw_file();
  raw.version = 1;
  expect_error(raw, ErrorKind::Unsupported, {"header", "version 1"});
  raw.version = 99;
  expect_error(raw, ErrorKind::Unsupported, {"header", "version 99"});
  raw.version = 0x03000000;
  expect_error(raw, ErrorKind::Unsupported, {"big-endian"});
}

TEST(GgufReader, RejectsHugeCounts) {
  RawFile raw = minimal_raw_file();
  raw.kv_count = std::numeric_limits<uint64_t>::max();
  expect_error(raw, ErrorKind::BadInput, {"kv_count"});
  raw = minimal_raw_file();
  raw.kv_count = 1'000'000;
  expect_error(raw, ErrorKind::BadInput, {"kv_count"});
  raw = minimal_raw_file();
  raw.tensor_count = uint64_t{1} << 60;
  expect_error(raw, ErrorKind::BadInput, {"tensor_count"});
}

TEST(GgufReader, RejectsHugeStringLengths) {
  RawFile raw = minimal_raw_file();
  Bytes huge;
  put<uint64_t>(huge, uint64_t{1} << 62);
  raw.kvs.push_back({"tokenizer.chat_template", kString, huge});
  expect_error(raw, ErrorKind::BadInput, {"key tokenizer.chat_template", "string length"});

  // The key itself: a length field with no such bytes behind it.
  Bytes bytes = minimal_raw_file().build();
  uint64_t len = uint64_t{1} << 40;
  std::memcpy(bytes.data() + 24, &len, 8);
  const std::string msg = parse_error(bytes, "model.gguf");
  EXPECT_TRUE(StartsWith(msg, "model.gguf: metadata entry #0 key"));
  EXPECT_TRUE(Contains(msg, "string length"));
}

TEST(GgufReader, RejectsUnknownValueTypes) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back({"general.foo", 13, payload<uint32_t>(0)});
  expect_error(raw, ErrorKind::BadInput, {"key general.foo", "unknown value type 13"});

  raw = minimal_raw_file();
  Bytes arr;
  put<uint32_t>(arr, 4000);
  put<uint64_t>(arr, 1);
  raw.kvs.push_back({"general.bar", kArray, arr});
  expect_error(raw, ErrorKind::BadInput, {"key general.bar", "unknown value type 4000"});
}

TEST(GgufReader, RejectsHugeArrayCounts) {
  RawFile raw = minimal_raw_file();
  Bytes arr;
  put<uint32_t>(arr, kString);
  put<uint64_t>(arr, uint64_t{1} << 61);
  raw.kvs.push_back({"tokenizer.ggml.tokens", kArray, arr});
  expect_error(raw, ErrorKind::BadInput, {"key tokenizer.ggml.tokens", "array of"});
}

TEST(GgufReader, RejectsDeeplyNestedArrays) {
  RawFile raw = minimal_raw_file();
  Bytes arr;
  for (int i = 0; i < 100; ++i) {
    put<uint32_t>(arr, kArray);
    put<uint64_t>(arr, 1);
  }
  put<uint32_t>(arr, kU8);
  put<uint64_t>(arr, 0);
  raw.kvs.push_back({"deep", kArray, arr});
  expect_error(raw, ErrorKind::BadInput, {"key deep", "nested"});
}

TEST(GgufReader, RejectsBoolNotZeroOrOne) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back({"general.flag", kBool, payload<uint8_t>(2)});
  expect_error(raw, ErrorKind::BadInput, {"key general.flag", "bool"});
}

TEST(GgufReader, RejectsBadKeys) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back({"", kU8, payload<uint8_t>(1)});
  expect_error(raw, ErrorKind::BadInput, {"metadata entry #1", "empty"});
  raw = minimal_raw_file();
  raw.kvs.push_back({"bad\xff", kU8, payload<uint8_t>(1)});
  expect_error(raw, ErrorKind::BadInput, {"key bad\\xFF", "UTF-8"});
}

TEST(GgufReader, RejectsDuplicateKey) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back({"general.architecture", kString, string_payload("gpt2")});
  expect_error(raw, ErrorKind::BadInput, {"key general.architecture", "duplicate"});
}

TEST(GgufReader, RejectsBadAlignment) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back(alignment_kv(kU32, payload<uint32_t>(0)));
  expect_error(raw, ErrorKind::BadInput, {"general.alignment", "power of two", "found 0"});
  raw.kvs.back().payload = payload<uint32_t>(48);
  expect_error(raw, ErrorKind::BadInput, {"general.alignment", "power of two", "found 48"});
  raw.kvs.back() = alignment_kv(kU64, payload<uint64_t>(32));
  expect_error(raw, ErrorKind::BadInput, {"general.alignment", "u32", "u64"});
  raw.kvs.back() = alignment_kv(kString, string_payload("32"));
  expect_error(raw, ErrorKind::BadInput, {"general.alignment", "string"});
}

TEST(GgufReader, HonoursDeclaredAlignment) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back(alignment_kv(kU32, payload<uint32_t>(64)));
  raw.alignment = 64;
  raw.tensors.push_back({"v", {8}, 0, 64});
  raw.data_bytes = 96;
  const Bytes bytes = raw.build();
  const auto f = File::parse(bytes, "a.gguf");
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->tensor("v").data, bytes.data() + f->data_offset() + 64);
}

TEST(GgufReader, RejectsUnknownTensorType) {
  RawFile raw = minimal_raw_file();
  raw.tensors.push_back({"blk.3.attn_q.weight", {32}, 42, 0});
  expect_error(raw, ErrorKind::Unsupported,
               {"model.gguf: tensor blk.3.attn_q.weight has type 42, which this build does not support"});
}

TEST(GgufReader, RejectsMisalignedOffset) {
  RawFile raw = minimal_raw_file();
  raw.tensors[0].offset = 4;
  raw.data_bytes = 64;
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "offset 4", "alignment 32"});
}

TEST(GgufReader, RejectsTensorPastEndOfFile) {
  RawFile raw = minimal_raw_file();
  raw.tensors.push_back({"big", {1024}, 0, 32});
  expect_error(raw, ErrorKind::BadInput, {"tensor big", "past the end"});
  raw.tensors.back().offset = std::numeric_limits<uint64_t>::max() - 31;  // aligned, but start overflows
  expect_error(raw, ErrorKind::BadInput, {"tensor big", "past the end"});
}

TEST(GgufReader, RejectsBadShapes) {
  RawFile raw = minimal_raw_file();
  raw.tensors[0].dims = {uint64_t{1} << 32, uint64_t{1} << 32};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "overflows"});
  raw.tensors[0].dims = {1u << 31, 1u << 31, 1u << 31};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "overflows"});
  raw.tensors[0].dims = {std::numeric_limits<uint64_t>::max()};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "dimension 0"});
  raw.tensors[0].dims = {8, 0};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "dimension 1 is 0"});
  raw.tensors[0].dims = {};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "0 dimensions"});
  raw.tensors[0].dims = {1, 1, 1, 1, 8};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "5 dimensions"});
  // f32 with 2^62 elements fits in int64 but its byte size does not fit in 64 bits.
  raw.tensors[0].dims = {uint64_t{1} << 62};
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "bytes overflows"});
}

TEST(GgufReader, RejectsPartialBlocks) {
  RawFile raw = minimal_raw_file();
  raw.tensors[0] = {"blk.0.ffn_up.weight", {16, 2}, static_cast<uint32_t>(GgmlType::Q4_0), 0};
  expect_error(raw, ErrorKind::BadInput, {"tensor blk.0.ffn_up.weight", "block size 32"});
}

TEST(GgufReader, RejectsDuplicateTensorName) {
  RawFile raw = minimal_raw_file();
  raw.tensors.push_back({"w", {8}, 0, 32});
  raw.data_bytes = 64;
  expect_error(raw, ErrorKind::BadInput, {"tensor w", "duplicate"});
}

TEST(GgufReader, RejectsEmptyTensorName) {
  RawFile raw = minimal_raw_file();
  raw.tensors[0].name = "";
  expect_error(raw, ErrorKind::BadInput, {"tensor #0", "empty"});
}

// A valid file with a bit of everything, cut at every length: each cut that loses part of a
// tensor (or anything before) must be an Error, never a crash.
TEST(GgufReader, TruncatedAtEveryByte) {
  RawFile raw = minimal_raw_file();
  Bytes arr;
  put<uint32_t>(arr, kString);
  put<uint64_t>(arr, 2);
  put_string(arr, "<s>");
  put_string(arr, "</s>");
  raw.kvs.push_back({"tokenizer.ggml.tokens", kArray, arr});
  raw.kvs.push_back({"general.flag", kBool, payload<uint8_t>(1)});
  raw.tensors.push_back({"q", {32, 2}, static_cast<uint32_t>(GgmlType::Q8_0), 32});
  raw.data_bytes = 32 + 68;
  const Bytes full = raw.build();
  const auto f = File::parse(full, "full.gguf");
  const TensorInfo& last = f->tensor("q");
  const size_t needed = f->data_offset() + last.offset + last.nbytes;
  ASSERT_EQ(needed, full.size());
  for (size_t cut = 0; cut < full.size(); ++cut) {
    // A copy of exactly `cut` bytes, so that reading past it is caught by the sanitizers.
    const Bytes part(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    try {
      File::parse(part, "cut.gguf");
      ADD_FAILURE() << "a file cut at " << cut << " of " << full.size() << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_TRUE(StartsWith(e.what(), "cut.gguf: ")) << "cut at " << cut;
    }
  }
}

// Every byte of a small file set to a few values: parsing may succeed or throw Error, and
// whatever parses has tensors inside the bytes.
TEST(GgufReader, ByteCorruptionNeverCrashes) {
  RawFile raw = minimal_raw_file();
  raw.kvs.push_back({"general.alignment", kU32, payload<uint32_t>(32)});
  raw.kvs.push_back({"n", kU64, payload<uint64_t>(7)});
  const Bytes full = raw.build();
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t v : {uint8_t{0}, uint8_t{1}, uint8_t{0x7f}, uint8_t{0x80}, uint8_t{0xff}}) {
      Bytes b = full;
      b[i] = v;
      try {
        const auto f = File::parse(b, "x.gguf");
        for (const TensorInfo& t : f->tensors()) {
          EXPECT_GE(t.data, b.data());
          EXPECT_LE(t.data + t.nbytes, b.data() + b.size());
        }
      } catch (const Error&) {
      }
    }
  }
}

TEST(GgufReader, OpenNamesThePath) {
  RawFile raw = minimal_raw_file();
  raw.tensors[0].type = 42;
  const std::string path = temp_path("bad_type.gguf");
  write_bytes(path, raw.build());
  try {
    File::open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(StartsWith(e.what(), path + ": tensor w has type 42"));
  }
  write_bytes(path, minimal_raw_file().build());
  const auto f = File::open(path);
  EXPECT_EQ(f->name(), path);
  EXPECT_EQ(f->tensor("w").data[0], 1);
  std::remove(path.c_str());

  try {
    File::open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_TRUE(Contains(e.what(), path));
  }
}

}  // namespace
}  // namespace hayate::gguf
