// The semantic container's two layouts: the compact one of format version 2 (what a one-window
// summary is written as: every byte counts on a 300-byte story), and version 1, which older
// files use and which a summary of several windows is still written in. Both must read back
// to the same fields and summary, and refuse any damage.
#include <gtest/gtest.h>

#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/lossless.h"
#include "compress/toy_source.h"
#include "core/error.h"
#include "support/compress_corpus.h"
#include "support/container_damage.h"

namespace hayate::compress {
namespace {

Container semantic_of(const std::string& summary, ToySource& toy, const Alphabet& ab) {
  const std::string_view in = summary;
  CodedStream coded = std::move(encode_streams(std::span<const std::string_view>(&in, 1), toy, ab)[0]);
  Container c;
  c.method = Method::Semantic;
  c.original_length = 300;
  c.original_crc = 0x12345678;
  c.semantic.summary_method = 1;
  c.semantic.target_tokens = 100;
  c.semantic.quality = 9512;
  c.semantic.summary_length = summary.size();
  c.model = coded.params;
  c.windows = std::move(coded.windows);
  return c;
}

void expect_same_summary(const Container& a, const Container& b) {
  EXPECT_EQ(b.method, Method::Semantic);
  EXPECT_EQ(b.original_length, a.original_length);
  EXPECT_EQ(b.semantic.summary_method, a.semantic.summary_method);
  EXPECT_EQ(b.semantic.target_tokens, a.semantic.target_tokens);
  EXPECT_EQ(b.semantic.quality, a.semantic.quality);
  EXPECT_EQ(b.semantic.summary_length, a.semantic.summary_length);
  EXPECT_EQ(b.model.model_id, a.model.model_id);
  EXPECT_EQ(b.model.compute_id, a.model.compute_id);
  ASSERT_EQ(b.windows.size(), a.windows.size());
  for (size_t i = 0; i < a.windows.size(); ++i) {
    EXPECT_EQ(b.windows[i].stored, a.windows[i].stored);
    EXPECT_EQ(b.windows[i].check, a.windows[i].check);
    EXPECT_EQ(b.windows[i].payload, a.windows[i].payload);
  }
}

// A version 1 semantic file, byte by byte as docs/compress-format.md spells it (what builds
// before the compact layout wrote).
std::vector<uint8_t> version1_file(const Container& c) {
  std::vector<uint8_t> f = {0x89, 'H', 'Y', 'Z', 1, 3};
  const auto le = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) f.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  const auto varint = [&](uint64_t v) {
    for (; v >= 0x80; v >>= 7) f.push_back(static_cast<uint8_t>(v | 0x80));
    f.push_back(static_cast<uint8_t>(v));
  };
  varint(c.original_length);
  le(c.original_crc, 4);
  f.push_back(c.semantic.summary_method);
  varint(c.semantic.target_tokens);
  le(c.semantic.quality, 2);
  varint(c.semantic.summary_length);
  le(c.model.model_id, 4);
  le(c.model.compute_id, 2);
  varint(c.model.window_tokens);
  f.push_back(c.model.precision_bits);
  f.push_back(c.model.lockstep);
  varint(c.windows.size());
  for (const Window& w : c.windows) {
    varint(w.n_bytes);
    varint(w.payload.size() * 2 + (w.stored ? 1 : 0));
    le(w.check, 2);
    f.insert(f.end(), w.payload.begin(), w.payload.end());
  }
  le(crc32(f), 4);
  return f;
}

TEST(CompressSemanticContainer, OneWindowSummariesAreCompactAndRoundTrip) {
  ToySource toy(300, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(300);
  // Runs of "previous + 1": what the toy model predicts, so the summary is range-coded.
  const std::string summary = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
  const Container c = semantic_of(summary, toy, ab);
  ASSERT_EQ(c.windows.size(), 1u);
  ASSERT_FALSE(c.windows[0].stored);
  const std::vector<uint8_t> f = write_container(c);
  EXPECT_EQ(f[4], 2) << "written as version 2";
  // magic 4, version 1, method 1, original length 2, target 1, quality 2, summary length 1,
  // model id 4, compute id 2, check 2, the payload, the container's CRC 4.
  EXPECT_EQ(f.size(), 24 + c.windows[0].payload.size());
  EXPECT_LT(f.size() + 10, version1_file(c).size()) << "the layout it replaces";
  const Container r = read_container(f);
  expect_same_summary(c, r);
  EXPECT_EQ(r.model.window_tokens, 0u) << "one window, bounded by the decoder's context";
  EXPECT_EQ(decode_stream(r.model, r.windows, r.semantic.summary_length, toy, ab), summary);
  test::expect_damage_refused(f, [](const std::vector<uint8_t>& g) { return read_container(g); });
  // Decoding with another model, or a context too short for the summary: errors, not a crash.
  ToySource other(300, 64, 4, true, 0x1234), tiny(300, 8, 4);
  EXPECT_THROW(decode_stream(r.model, r.windows, r.semantic.summary_length, other, ab), Error);
  EXPECT_THROW(decode_stream(r.model, r.windows, r.semantic.summary_length, tiny, ab), Error);
}

TEST(CompressSemanticContainer, StoredEmptyAndLongSummaries) {
  ToySource toy(300, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(300);
  // Noise does not code smaller: its one window is stored, a flag of the method byte.
  const Container noisy = semantic_of(test::noise(40, 7), toy, ab);
  ASSERT_TRUE(noisy.windows[0].stored);
  const Container n = read_container(write_container(noisy));
  expect_same_summary(noisy, n);
  EXPECT_EQ(decode_stream(n.model, n.windows, n.semantic.summary_length, toy, ab), test::noise(40, 7));
  // An empty summary has no window and no check.
  const Container empty = semantic_of("", toy, ab);
  const std::vector<uint8_t> e = write_container(empty);
  EXPECT_EQ(e.size(), 22u);
  expect_same_summary(empty, read_container(e));
  // A summary longer than a window keeps the version 1 layout, with its window size.
  const std::string longer = test::mixed(500);
  const Container many = semantic_of(longer, toy, ab);
  ASSERT_GT(many.windows.size(), 1u);
  const std::vector<uint8_t> m = write_container(many);
  EXPECT_EQ(m[4], 1);
  EXPECT_EQ(m, version1_file(many));
  const Container back = read_container(m);
  expect_same_summary(many, back);
  EXPECT_EQ(back.original_crc, many.original_crc);
  EXPECT_EQ(back.model.window_tokens, 64u);
  EXPECT_EQ(decode_stream(back.model, back.windows, back.semantic.summary_length, toy, ab), longer);
}

TEST(CompressSemanticContainer, VersionOneFilesStillReadAndUnknownBitsAreRefused) {
  ToySource toy(300, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(300);
  const std::string summary = "0123456789abcdefghijklmnopqrstuvwxyz";
  const Container c = semantic_of(summary, toy, ab);
  ASSERT_FALSE(c.windows[0].stored);
  const Container old = read_container(version1_file(c));
  expect_same_summary(c, old);
  EXPECT_EQ(old.model.window_tokens, 64u);
  EXPECT_EQ(decode_stream(old.model, old.windows, old.semantic.summary_length, toy, ab), summary);

  // Bit 7 of the compact method byte, or any high bit of another method's, means nothing yet.
  const auto resealed = [](std::vector<uint8_t> f, size_t at, uint8_t value) {
    f[at] = value;
    f.resize(f.size() - 4);
    const uint32_t crc = crc32(f);
    for (int i = 0; i < 4; ++i) f.push_back(static_cast<uint8_t>(crc >> (8 * i)));
    return f;
  };
  const std::vector<uint8_t> f = write_container(c);
  for (const std::vector<uint8_t>& bad :
       {resealed(f, 5, static_cast<uint8_t>(f[5] | 0x80)), resealed(compress_stored("abc"), 5, 0x10),
        resealed(resealed(compress_stored("abc"), 4, 2), 5, 0x20)}) {
    try {
      read_container(bad);
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find("method"), std::string::npos) << e.what();
    }
  }
  // A build that knows only version 1 says so; this one names both the file's and its own.
  try {
    read_container(resealed(f, 4, 3));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("version 3; this build reads versions 1 to 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate::compress
