// The safetensors reader's validation, the shard index, and the tensor conversion helpers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/safetensors.h"
#include "convert/tensor_convert.h"
#include "core/error.h"
#include "core/fp16.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("hayate_st_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A safetensors file from a header written by hand (the writer would refuse a bad one).
void write_raw(const std::string& path, const std::string& header, size_t data_bytes, size_t cut = 0) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>(header.size() >> (8 * i));
  bytes += header;
  bytes.append(data_bytes, '\x01');
  bytes.resize(bytes.size() - cut);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorKind::Internal;
}

TEST(Safetensors, RoundTripsThroughTheWriter) {
  TempDir dir;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 4.0f, 5.0f, 6.0f};
  write_safetensors(dir.file("model.safetensors"),
                    {{"b.weight", "F32", {2, 3}, f32_bytes(a)}, {"a.bias", "BF16", {2}, {0x80, 0x3f, 0x00, 0x40}}});
  const SafetensorsFile f(dir.file("model.safetensors"));
  ASSERT_EQ(f.tensors().size(), 2u);
  // File order (the order of the data), not the header's alphabetical order.
  EXPECT_EQ(f.tensors()[0].name, "b.weight");
  EXPECT_EQ(f.tensors()[0].dtype, StDtype::F32);
  EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.tensors()[0].nbytes, 24u);
  float got[6];
  std::memcpy(got, f.tensors()[0].data, 24);
  EXPECT_EQ(got[2], 3.25f);
  EXPECT_EQ(f.tensors()[1].dtype, StDtype::BF16);
  EXPECT_EQ(f.tensors()[1].shape_string(), "[2]");
}

TEST(Safetensors, IgnoresMetadataAndKeepsOtherDtypesForLater) {
  TempDir dir;
  write_raw(dir.file("x.safetensors"),
            R"({"__metadata__":{"format":"pt"},"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16);
  const SafetensorsFile f(dir.file("x.safetensors"));
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].dtype, StDtype::Other);
  EXPECT_EQ(f.tensors()[0].dtype_name, "I64");
}

TEST(Safetensors, RejectsMalformedFiles) {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  std::string msg;

  std::ofstream(p, std::ios::binary) << "abc";
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("too short"), std::string::npos) << msg;

  // Found by the fuzzer: a number too large for any integer type is a JSON error too, not a crash.
  write_raw(p, R"({"w":{"dtype":"F32","shape":[7285816169765100017285816169765E59701],"data_offsets":[0,16]}})", 16);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;

  const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  write_raw(p, header, 16, /*cut=*/4);  // truncated data
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;

  write_raw(p, header, 0, /*cut=*/0);
  std::filesystem::resize_file(p, 8 + header.size() / 2);  // truncated inside the header
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("header length"), std::string::npos) << msg;

  write_raw(p, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,160]}})", 16);  // offsets past the end
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("[0, 160]"), std::string::npos) << msg;

  write_raw(p, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})", 16);  // reversed
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }), ErrorKind::BadInput);

  write_raw(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16);  // size != shape x dtype
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("needs 12"), std::string::npos) << msg;

  write_raw(p, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})", 16);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }), ErrorKind::BadInput);  // overflowing shape

  write_raw(p, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}})", 16);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }), ErrorKind::BadInput);

  write_raw(p, R"({"w":{"dtype":"F32","shape":[4]}})", 16);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }), ErrorKind::BadInput);

  write_raw(p, R"({"w": not json)", 16);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;

  write_raw(p, R"([1,2])", 0);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }), ErrorKind::BadInput);

  write_raw(p, R"({"w":{"dtype":"F4X","shape":[4],"data_offsets":[0,16]}})", 16);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("F4X"), std::string::npos) << msg;

  EXPECT_EQ(kind_of([&] { SafetensorsFile f(dir.file("missing.safetensors")); }), ErrorKind::NotFound);
}

TEST(SafetensorsModel, ReadsShardsThroughTheIndex) {
  TempDir dir;
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"a", "F32", {1}, f32_bytes({1})}});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                    {{"b", "F32", {1}, f32_bytes({2})}, {"c", "F32", {1}, f32_bytes({3})}});
  nlohmann::json index = {{"metadata", {{"total_size", 12}}},
                          {"weight_map",
                           {{"a", "model-00001-of-00002.safetensors"},
                            {"b", "model-00002-of-00002.safetensors"},
                            {"c", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(dir.file("model.safetensors.index.json")) << index.dump();
  const SafetensorsModel m(dir.str());
  EXPECT_EQ(m.file_count(), 2u);
  ASSERT_EQ(m.tensors().size(), 3u);
  ASSERT_NE(m.find("c"), nullptr);
  float v;
  std::memcpy(&v, m.find("c")->data, 4);
  EXPECT_EQ(v, 3.0f);
  EXPECT_EQ(m.find("zzz"), nullptr);

  std::string msg;
  index["weight_map"]["c"] = "model-00001-of-00002.safetensors";  // the index lies
  std::ofstream(dir.file("model.safetensors.index.json")) << index.dump();
  EXPECT_EQ(kind_of([&] { SafetensorsModel x(dir.str()); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("'c'"), std::string::npos) << msg;

  index["weight_map"]["c"] = "../elsewhere.safetensors";
  std::ofstream(dir.file("model.safetensors.index.json")) << index.dump();
  EXPECT_EQ(kind_of([&] { SafetensorsModel x(dir.str()); }), ErrorKind::BadInput);

  index["weight_map"]["c"] = "model-00003-of-00002.safetensors";
  std::ofstream(dir.file("model.safetensors.index.json")) << index.dump();
  EXPECT_EQ(kind_of([&] { SafetensorsModel x(dir.str()); }), ErrorKind::NotFound);
}

TEST(SafetensorsModel, FindsUnindexedFilesAndRejectsDuplicatesAndEmptyDirectories) {
  TempDir dir;
  std::string msg;
  EXPECT_EQ(kind_of([&] { SafetensorsModel x(dir.str()); }, &msg), ErrorKind::NotFound);
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;

  write_safetensors(dir.file("part1.safetensors"), {{"a", "F32", {1}, f32_bytes({1})}});
  write_safetensors(dir.file("part2.safetensors"), {{"b", "F32", {1}, f32_bytes({2})}});
  EXPECT_EQ(SafetensorsModel(dir.str()).tensors().size(), 2u);

  write_safetensors(dir.file("part3.safetensors"), {{"a", "F32", {1}, f32_bytes({1})}});
  EXPECT_EQ(kind_of([&] { SafetensorsModel x(dir.str()); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("also appears"), std::string::npos) << msg;
}

TEST(TensorConvert, RopeInterleaveOrderSwapsTheHalves) {
  // 2 heads of 4 rows: HF rows [h][half][j] -> GGUF rows [h][j][half].
  EXPECT_EQ(rope_interleave_order(8, 2), (std::vector<int64_t>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(rope_interleave_order(6, 1), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(rope_interleave_order(6, 2), Error);
}

TEST(TensorConvert, ConvertsTypesAndPermutesRows) {
  TempDir dir;
  const std::vector<float> v = {0.5f, -1.0f, 2.0f, 65504.0f, 1e-8f, 3.0f};
  write_safetensors(dir.file("m.safetensors"), {{"w", "F32", {3, 2}, f32_bytes(v)}});
  const SafetensorsFile f(dir.file("m.safetensors"));
  const StTensor& t = f.tensors()[0];

  std::vector<uint8_t> out(6 * 2);
  convert_tensor(t, GgmlType::F16, {}, out.data(), out.size());
  for (size_t i = 0; i < 6; ++i) {
    uint16_t h;
    std::memcpy(&h, out.data() + 2 * i, 2);
    EXPECT_EQ(h, f32_to_fp16(v[i])) << i;
  }
  convert_tensor(t, GgmlType::BF16, {2, 0, 1}, out.data(), out.size());
  uint16_t first;
  std::memcpy(&first, out.data(), 2);
  EXPECT_EQ(first, f32_to_bf16(1e-8f));  // source row 2 first

  std::vector<uint8_t> f32(24);
  convert_tensor(t, GgmlType::F32, {1, 2, 0}, f32.data(), f32.size());
  float row0[2];
  std::memcpy(row0, f32.data(), 8);
  EXPECT_EQ(row0[0], 2.0f);
  EXPECT_EQ(row0[1], 65504.0f);
  EXPECT_THROW(convert_tensor(t, GgmlType::F32, {}, f32.data(), 20), Error);
}

}  // namespace
}  // namespace hayate::convert
