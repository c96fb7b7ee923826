// The parts of lossless compression below the model: the range coder, the integer frequency
// tables (pinned, since a change would break every file already written), the container's
// checks, and long inputs through a toy source (1 MB, escapes, the lockstep schedule).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/frequencies.h"
#include "compress/lossless.h"
#include "compress/range_coder.h"
#include "compress/toy_source.h"
#include "core/error.h"
#include "support/compress_corpus.h"

namespace hayate::compress {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(CompressCoder, RangeCoderRoundTripsRandomTablesIncludingExtremeOnes) {
  std::mt19937 rng(17);
  for (int round = 0; round < 20; ++round) {
    const int bits = 8 + round % 17;
    const uint32_t total = uint32_t{1} << bits;
    // A table whose first symbol takes almost everything (long carry runs) and the rest 1 each.
    std::vector<uint32_t> cum = {0, total - 255};
    for (uint32_t i = 1; i <= 255; ++i) cum.push_back(total - 255 + i);
    std::vector<int> symbols(5000);
    for (int& s : symbols) s = rng() % 4 == 0 ? static_cast<int>(rng() % 256) : 0;
    RangeEncoder enc;
    for (int s : symbols) enc.encode(cum[s], cum[s + 1] - cum[s], total);
    const std::vector<uint8_t> out = enc.finish();
    RangeDecoder dec(out);
    FrequencyTable t{cum};
    for (size_t i = 0; i < symbols.size(); ++i) {
      const int s = t.find(dec.target(total));
      ASSERT_EQ(s, symbols[i]) << "round " << round << " symbol " << i;
      dec.consume(cum[s], cum[s + 1] - cum[s], total);
    }
  }
}

TEST(CompressCoder, FrequencyTableIsPinned) {
  // Files written today must decode tomorrow: these numbers may only change with the format's
  // version.
  const float logits[] = {0.0f, -1.0f, -2.5f, 1.5f, NAN, -INFINITY, 3.0f, -40.0f};
  FrequencyTable t;
  quantize_logits(logits, 16, t);
  const std::vector<uint32_t> expected = {0, 2519, 3446, 3653, 14942, 14943, 14944, 65530, 65531, 65532};
  EXPECT_EQ(t.cum, expected);
}

TEST(CompressCoder, EveryTokenGetsAtLeastOneAndTheTotalFitsThePrecision) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 8);
  std::vector<float> logits(2051);
  for (float& l : logits) l = normal(rng);
  logits[7] = 1e30f;  // one token far above the others
  FrequencyTable t;
  quantize_logits(logits, 24, t);
  EXPECT_LE(t.total(), uint32_t{1} << 24);
  for (int32_t s = 0; s < t.n_symbols(); ++s) ASSERT_GE(t.freq(s), 1u) << s;
  EXPECT_GT(t.freq(7), (uint32_t{1} << 24) - 4096);
  EXPECT_EQ(t.freq(2051), 1u) << "the escape";
  EXPECT_THROW(quantize_logits(logits, 11, t), Error) << "2^11 cannot give 2052 symbols one each";
}

TEST(CompressCoder, ContainersRoundTripAndEveryTruncationOrFlippedBitIsRefused) {
  ToySource toy(300, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(300);
  const std::string text = test::mixed(900);
  const std::vector<std::vector<uint8_t>> files = {compress_lossless(text, toy, ab), compress_stored(text),
                                                   compress_zstd(text)};
  for (const auto& f : files) {
    SCOPED_TRACE(method_name(read_container(f).method));
    EXPECT_EQ(decompress(f, &toy, &ab), text);
    for (size_t n = 0; n < f.size(); ++n)
      EXPECT_THROW(read_container(std::span<const uint8_t>(f).first(n)), Error) << "cut at " << n;
    for (size_t at = 0; at < f.size(); ++at)
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<uint8_t> g = f;
        g[at] ^= static_cast<uint8_t>(1 << bit);
        EXPECT_THROW(decompress(g, &toy, &ab), Error) << "byte " << at << " bit " << bit;
      }
  }
}

TEST(CompressCoder, ForeignInputSaysItIsNotCompressedData) {
  for (const std::string& s : {std::string("\x1f\x8b\x08\x00 gzip"), std::string("plain text"), std::string()}) {
    try {
      read_container(bytes_of(s));
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find("not hayate compressed data"), std::string::npos) << e.what();
    }
  }
  std::vector<uint8_t> f = compress_stored("abc");
  f[4] = 9;  // a future version
  try {
    read_container(f);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("version 9"), std::string::npos) << e.what();
  }
}

TEST(CompressCoder, OneMebibyteRoundTripsThroughManyWindows) {
  ToySource toy(300, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(300);
  const std::string text = test::mixed(1 << 20);
  const std::vector<uint8_t> f = compress_lossless(text, toy, ab);
  EXPECT_GT(read_container(f).windows.size(), 10000u);
  EXPECT_EQ(decompress(f, &toy, &ab), text);
}

TEST(CompressCoder, BytesNoTokenSpellsGoThroughTheEscape) {
  ToySource toy(200, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(200);  // bytes 200..255 have no token
  const std::string text = test::invalid_utf8() + test::cjk();
  const std::vector<int32_t> symbols = ab.symbolize(text);
  EXPECT_TRUE(std::any_of(symbols.begin(), symbols.end(), [&](int32_t s) { return ab.is_escaped(s); }));
  EXPECT_EQ(decompress(compress_lossless(text, toy, ab), &toy, &ab), text);
}

TEST(CompressCoder, LockstepFilesNeedTheirWidthAndAnyWidthDecodesInvariantOnes) {
  const Alphabet ab = Alphabet::bytes_only(300);
  const std::string text = test::mixed(3000);
  ToySource lock(300, 64, 4, false), wide(300, 64, 8, true), narrow(300, 64, 2, true);
  const std::vector<uint8_t> f = compress_lossless(text, lock, ab);
  EXPECT_EQ(read_container(f).model.lockstep, 4);
  EXPECT_EQ(decompress(f, &wide, &ab), text);  // (the toy's rows do not depend on the batch)
  EXPECT_THROW(decompress(f, &narrow, &ab), Error) << "a width the decoder cannot run";
  const std::vector<uint8_t> g = compress_lossless(text, narrow, ab);
  EXPECT_EQ(decompress(g, &wide, &ab), text);
  // Windows longer than the decoder's context: a clear error, not a crash.
  ToySource short_ctx(300, 32, 4);
  EXPECT_THROW(decompress(g, &short_ctx, &ab), Error);
  // Another model.
  ToySource other(300, 64, 4, true, 0x1234);
  EXPECT_THROW(decompress(g, &other, &ab), Error);
}

TEST(CompressCoder, IncompressibleWindowsAreStoredNotGrown) {
  ToySource toy(300, 64, 4);
  const Alphabet ab = Alphabet::bytes_only(300);
  const std::string text = test::noise(20000, 99);
  const std::vector<uint8_t> f = compress_lossless(text, toy, ab);
  const Container c = read_container(f);
  size_t stored = 0;
  for (const Window& w : c.windows) stored += w.stored;
  EXPECT_GT(stored * 10, c.windows.size() * 9);
  // Each window costs its bytes and at most 6 more (length, size, check); the header 32.
  EXPECT_LE(f.size(), text.size() + 6 * c.windows.size() + 32);
  EXPECT_EQ(decompress(f, &toy, &ab), text);
}

}  // namespace
}  // namespace hayate::compress
