// Helpers for the GGUF tests: a byte-level builder for files the writer would refuse to make
// (corrupt counts, bad types, misaligned offsets), and small file utilities.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"

namespace hayate::gguf::gguf_test {

using Bytes = std::vector<uint8_t>;

// gtest assertions for messages (the tests link gtest only, not gmock's matchers).
inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

inline ::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not start with \"" << prefix << "\"";
}

template <typename T>
void put(Bytes& b, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  b.insert(b.end(), raw, raw + sizeof(T));
}

inline void put_string(Bytes& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

template <typename T>
Bytes payload(T v) {
  Bytes b;
  put(b, v);
  return b;
}

inline Bytes string_payload(const std::string& s) {
  Bytes b;
  put_string(b, s);
  return b;
}

struct RawKv {
  std::string key;
  uint32_t type;
  Bytes payload;
};

struct RawTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;  // f32
  uint64_t offset = 0;
};

// A GGUF file described field by field; build() lays it out exactly as written here, with
// no checks, so a test can set any field to any value.
struct RawFile {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count;  // defaults to tensors.size()
  std::optional<uint64_t> kv_count;      // defaults to kvs.size()
  std::vector<RawKv> kvs;
  std::vector<RawTensor> tensors;
  uint64_t alignment = 32;  // only for the padding; add a general.alignment kv to declare it
  uint64_t data_bytes = 0;

  Bytes build() const {
    Bytes b;
    put(b, magic);
    put(b, version);
    put<uint64_t>(b, tensor_count.value_or(tensors.size()));
    put<uint64_t>(b, kv_count.value_or(kvs.size()));
    for (const auto& kv : kvs) {
      put_string(b, kv.key);
      put(b, kv.type);
      b.insert(b.end(), kv.payload.begin(), kv.payload.end());
    }
    for (const auto& t : tensors) {
      put_string(b, t.name);
      put<uint32_t>(b, static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) put(b, d);
      put(b, t.type);
      put(b, t.offset);
    }
    while (b.size() % alignment != 0) b.push_back(0);
    for (uint64_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 1));
    return b;
  }
};

// A small valid file: one string key, one f32 tensor of 8 elements.
inline RawFile minimal_raw_file() {
  RawFile f;
  f.kvs.push_back({"general.architecture", 8, string_payload("llama")});
  f.tensors.push_back({"w", {8}, 0, 0});
  f.data_bytes = 32;
  return f;
}

inline std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "hayate_gguf_" + std::to_string(::getpid()) + "_" + name;
}

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The message of the Error that parsing `bytes` throws (a test failure if it parses).
inline std::string parse_error(const Bytes& bytes, const std::string& name = "bad.gguf", ErrorKind* kind = nullptr) {
  try {
    File::parse(bytes, name);
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  ADD_FAILURE() << "parsing succeeded but an error was expected";
  return "";
}

}  // namespace hayate::gguf::gguf_test
