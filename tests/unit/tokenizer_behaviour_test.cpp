// Behaviour of the tokenizers on the shared real vocabularies: BOS/EOS, special-token parsing,
// end-of-generation ids, the stream decoder, odd input, and how fast a tokenizer is built.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"
#include "support/test_util.h"

namespace hayate {
namespace {

std::string vocab_path(const std::string& name) {
  return std::string(HAYATE_SHARED_VOCAB) + "/ggml-vocab-" + name + ".gguf";
}

// Opening and building each vocabulary once keeps the suite quick.
const Tokenizer& load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = Tokenizer::from_gguf(*gguf::File::open(vocab_path(name)));
  return *slot;
}

int32_t id_of(const Tokenizer& tokenizer, const std::string& text) {
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id)
    if (tokenizer.token_text(id) == text) return id;
  return -1;
}

bool contains(const std::vector<int32_t>& ids, int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool valid_utf8(const std::string& s) { return utf8::valid_prefix(s) == s.size(); }

TEST(TokenizerBos, SentencePieceAddsBosWhenAsked) {
  const Tokenizer& spm = load("llama-spm");
  EXPECT_EQ(spm.model_name(), "llama");
  EXPECT_EQ(spm.bos_id(), 1);
  EXPECT_EQ(spm.eos_id(), 2);
  EXPECT_EQ(spm.encode("Hello", false, false), (std::vector<int32_t>{15043}));
  EXPECT_EQ(spm.encode("Hello", true, false), (std::vector<int32_t>{1, 15043}));
  EXPECT_EQ(spm.encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(spm.encode("", false, false).empty());
}

TEST(TokenizerBos, BytePairFollowsTheMetadata) {
  // gpt-2 has no add_bos_token key: byte-level BPE then adds nothing.
  const Tokenizer& gpt2 = load("gpt-2");
  EXPECT_EQ(gpt2.encode("Hello world", true, false), (std::vector<int32_t>{15496, 995}));
  // deepseek-coder says add_bos_token = true, add_eos_token = false.
  const Tokenizer& coder = load("deepseek-coder");
  const std::vector<int32_t> ids = coder.encode("Hello", true, false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 32013);
  EXPECT_NE(ids.back(), coder.eos_id());
  EXPECT_EQ(coder.encode("Hello", false, false), std::vector<int32_t>(ids.begin() + 1, ids.end()));
}

TEST(TokenizerSpecial, ParsedOnlyWhenAsked) {
  const Tokenizer& phi3 = load("phi-3");
  const std::string text = "<|user|>\nHello<|end|>\n<|assistant|>";
  const std::vector<int32_t> parsed = phi3.encode(text, false, true);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed.front(), 32010);
  EXPECT_TRUE(contains(parsed, 32007));
  EXPECT_EQ(parsed.back(), 32001);

  // Decoding with specials gives the text back: the space SentencePiece adds after each special
  // token is taken away again.
  EXPECT_EQ(phi3.decode(parsed, true), text);

  const std::vector<int32_t> plain = phi3.encode(text, false, false);
  for (int32_t special : {32010, 32007, 32001}) EXPECT_FALSE(contains(plain, special));
  EXPECT_EQ(phi3.decode(plain, false), text);
}

TEST(TokenizerSpecial, ControlTextShownOnlyWithSpecial) {
  const Tokenizer& phi3 = load("phi-3");
  EXPECT_EQ(phi3.token_type(32007), TokenType::Control);
  EXPECT_EQ(phi3.token_to_piece(32007, true), "<|end|>");
  EXPECT_EQ(phi3.token_to_piece(32007, false), "");
  const std::vector<int32_t> ids = phi3.encode("<|user|>Hi<|end|>", false, true);
  EXPECT_EQ(phi3.decode(ids, false), "Hi");
  EXPECT_EQ(phi3.decode(ids, true).substr(0, 8), "<|user|>");
}

TEST(TokenizerSpecial, SpecialsInsideOtherTextAreFound) {
  const Tokenizer& gpt2 = load("gpt-2");
  const std::vector<int32_t> ids = gpt2.encode("a<|endoftext|>b<|endoftext|>", false, true);
  EXPECT_EQ(ids, (std::vector<int32_t>{64, 50256, 65, 50256}));
  // Without parse_special the marker is ordinary text.
  EXPECT_FALSE(contains(gpt2.encode("a<|endoftext|>b", false, false), 50256));
}

TEST(TokenizerSpecial, UserDefinedTokensAlwaysMatchLongestFirst) {
  // MPT's vocabulary has user-defined runs of 2..24 spaces, matched even without parse_special.
  const Tokenizer& mpt = load("mpt");
  const int32_t run24 = id_of(mpt, std::string(24, ' '));
  const int32_t run6 = id_of(mpt, std::string(6, ' '));
  const int32_t run3 = id_of(mpt, std::string(3, ' '));
  ASSERT_GE(run24, 0);
  ASSERT_GE(run6, 0);
  EXPECT_EQ(mpt.encode(std::string(30, ' '), false, false), (std::vector<int32_t>{run24, run6}));
  const std::vector<int32_t> ids = mpt.encode("a   b", false, false);
  EXPECT_TRUE(contains(ids, run3));
  EXPECT_EQ(mpt.decode(ids, false), "a   b");
}

TEST(TokenizerEndOfGeneration, EosAndTurnEnds) {
  const Tokenizer& gpt2 = load("gpt-2");
  EXPECT_TRUE(gpt2.is_end_of_generation(50256));
  EXPECT_FALSE(gpt2.is_end_of_generation(15496));
  EXPECT_FALSE(gpt2.is_end_of_generation(-1));

  const Tokenizer& phi3 = load("phi-3");
  EXPECT_TRUE(phi3.is_end_of_generation(phi3.eos_id()));
  EXPECT_TRUE(phi3.is_end_of_generation(32007));   // <|end|>
  EXPECT_FALSE(phi3.is_end_of_generation(32010));  // <|user|>
  EXPECT_FALSE(phi3.is_end_of_generation(phi3.bos_id()));
}

TEST(TokenizerDecode, SentencePieceDropsOnlyTheAddedSpace) {
  const Tokenizer& spm = load("llama-spm");
  EXPECT_TRUE(spm.add_space_prefix());
  const std::vector<int32_t> ids = spm.encode("Hello world", true, false);
  EXPECT_EQ(spm.decode(ids, false), "Hello world");
  EXPECT_EQ(spm.decode(ids, false, false), " Hello world");
  EXPECT_EQ(spm.decode(ids, true), "<s>Hello world");
  EXPECT_EQ(spm.decode(spm.encode("  two spaces", false, false), false), "  two spaces");
}

TEST(TokenizerDecode, RejectsIdsOutsideTheVocabulary) {
  const Tokenizer& gpt2 = load("gpt-2");
  EXPECT_THROW(gpt2.decode({0, gpt2.n_vocab()}, false), Error);
  EXPECT_THROW(gpt2.token_to_piece(-1, false), Error);
}

TEST(TokenizerStream, MultiByteCharactersSplitAcrossByteTokens) {
  for (const char* name : {"llama-spm", "gpt-2", "falcon"}) {
    const Tokenizer& tokenizer = load(name);
    const std::string text = "llama \xF0\x9F\xA6\x99 and \xE1\x9E\x80\xE1\x9E\xB6 done";  // 🦙, Khmer
    const std::vector<int32_t> ids = tokenizer.encode(text, false, false);
    StreamDecoder stream(tokenizer);
    std::string out;
    size_t silent_pushes = 0;  // pushes that held everything back
    for (int32_t id : ids) {
      const std::string chunk = stream.push(id);
      EXPECT_TRUE(valid_utf8(chunk)) << name;
      if (chunk.empty()) ++silent_pushes;
      out += chunk;
    }
    out += stream.flush();
    EXPECT_EQ(out, text) << name;
    EXPECT_GT(silent_pushes, 0u) << name << ": expected some character to span several tokens";
  }
}

TEST(TokenizerStream, FirstTokenLosesTheSentencePieceSpace) {
  const Tokenizer& spm = load("llama-spm");
  StreamDecoder stream(spm);
  std::string out;
  for (int32_t id : spm.encode("Hello world", true, false)) out += stream.push(id);
  EXPECT_EQ(out + stream.flush(), "Hello world");
}

TEST(TokenizerStream, FlushReplacesAnUnfinishedCharacter) {
  const Tokenizer& spm = load("llama-spm");
  const int32_t f0 = id_of(spm, "<0xF0>");
  const int32_t x9f = id_of(spm, "<0x9F>");
  const int32_t a = id_of(spm, "a");
  ASSERT_GE(f0, 0);
  StreamDecoder stream(spm);
  EXPECT_EQ(stream.push(a), "a");
  EXPECT_EQ(stream.push(f0), "");
  EXPECT_EQ(stream.push(x9f), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.flush(), "");
}

TEST(TokenizerStream, BrokenBytesBecomeReplacementCharacters) {
  const Tokenizer& spm = load("llama-spm");
  StreamDecoder stream(spm);
  // A continuation byte with no lead, then a lead byte followed by ASCII.
  EXPECT_EQ(stream.push(id_of(spm, "<0x80>")), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.push(id_of(spm, "<0xC3>")), "");
  EXPECT_EQ(stream.push(id_of(spm, "a")),
            "\xEF\xBF\xBD"
            "a");
}

TEST(TokenizerInput, InvalidUtf8SurvivesARoundTrip) {
  // Only vocabularies that can spell every byte qualify: SentencePiece with <0xXX> tokens and
  // GPT-2. (Falcon, MPT, StarCoder and Refact lack some byte characters; DeepSeek spells a few as
  // user-defined tokens, which decode to their UTF-8 text.)
  const std::string text = "ok \xFF\xFE broken \xC3 end \xE2\x82";
  for (const char* name : {"gpt-2", "llama-spm", "phi-3"}) {
    const Tokenizer& tokenizer = load(name);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false, false), false), text) << name;
  }
}

TEST(TokenizerInput, RandomTextRoundTripsAndStreamsCleanly) {
  // Pieces chosen to hit the tricky paths: specials, space runs, broken and split characters.
  // (U+2581 itself is left out: SentencePiece cannot tell it from an escaped space.)
  const std::vector<std::string> alphabet = {"a",
                                             "Z",
                                             "7",
                                             " ",
                                             "  ",
                                             "\n",
                                             "\t",
                                             "'s",
                                             "!",
                                             ",",
                                             "<s>",
                                             "</s>",
                                             "<|endoftext|>",
                                             "<|end|>",
                                             "\xC3\xA9",
                                             "\xE4\xBD\xA0",
                                             "\xF0\x9F\xA6\x99",
                                             "\xC3",
                                             "\x80",
                                             "\xFF",
                                             "\xE2\x82",
                                             "123456"};
  uint32_t state = 12345;
  const auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (const char* name : {"gpt-2", "llama-spm", "phi-3"}) {
    const Tokenizer& tokenizer = load(name);
    for (int round = 0; round < 300; ++round) {
      std::string text;
      for (uint32_t n = next() % 24; n > 0; --n) text += alphabet[next() % alphabet.size()];
      EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false, false), false), text) << name << " round " << round;
      EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, true, true), true),
                std::string(name) == "gpt-2" ? text : "<s>" + text)
          << name << " round " << round << " (specials parsed)";
      StreamDecoder stream(tokenizer, true);
      std::string streamed;
      for (int32_t id : tokenizer.encode(text, true, true)) streamed += stream.push(id);
      streamed += stream.flush();
      EXPECT_TRUE(valid_utf8(streamed)) << name << " round " << round;
    }
  }
}

TEST(TokenizerInput, LongInputsStayFast) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "The quick brown fox, number " + std::to_string(i) + ", jumps.\n";
  text += std::string(20000, ' ') + std::string(20000, 'x');
  for (const char* name : {"gpt-2", "llama-spm", "deepseek-llm", "mpt"}) {
    const Tokenizer& tokenizer = load(name);
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tokenizer.encode(text, false, false);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[ encode   ] " << name << ": " << text.size() << " bytes -> " << ids.size() << " tokens in " << ms
              << " ms\n";
    EXPECT_EQ(tokenizer.decode(ids, false), text) << name;
    EXPECT_LT(ms, 5000.0) << name;
  }
}

TEST(TokenizerBuild, LargeVocabularyBuildsWellUnderASecond) {
  // deepseek-llm: 102400 tokens and 99757 merges, the largest vocabulary at hand.
  const auto file = gguf::File::open(vocab_path("deepseek-llm"));
  const auto start = std::chrono::steady_clock::now();
  const auto tokenizer = Tokenizer::from_gguf(*file);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ build    ] deepseek-llm: " << tokenizer->n_vocab() << " tokens in " << ms << " ms\n";
  EXPECT_LT(ms, 1000.0);
}

TEST(TokenizerErrors, UnknownModelIsRefusedByName) {
  gguf::Writer w;
  w.set("tokenizer.ggml.model", gguf::Value::string("rwkv"));
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array({"a", "b"}));
  const std::string path = test::temp_path("tokenizer-unknown-model.gguf");
  w.write(path);
  try {
    Tokenizer::from_gguf(*gguf::File::open(path));
    FAIL() << "expected Error(Unsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("rwkv"), std::string::npos) << e.what();
  }
}

TEST(TokenizerWordPiece, AddsClsAndSepAroundTheText) {
  const Tokenizer& bert = load("bert-bge");
  EXPECT_EQ(bert.model_name(), "bert");
  const std::vector<int32_t> ids = bert.encode("Hello world", true, false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(bert.token_text(ids.front()), "[CLS]");
  EXPECT_EQ(bert.token_text(ids.back()), "[SEP]");
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end() - 1), bert.encode("Hello world", false, false));
}

TEST(TokenizerWordPiece, DecodesToTheNormalisedText) {
  const Tokenizer& bert = load("bert-bge");
  EXPECT_EQ(bert.decode(bert.encode("Hello World, Führer!", true, false), false), "hello world , fuhrer !");
  // A continuation piece joins its word without a space.
  EXPECT_EQ(bert.decode(bert.encode("discards", false, false), false), "discards");
}

TEST(TokenizerWordPiece, SpecialTextOnlyWhenParsed) {
  const Tokenizer& bert = load("bert-bge");
  const int32_t mask = id_of(bert, "[MASK]");
  ASSERT_GE(mask, 0);
  EXPECT_TRUE(contains(bert.encode("a [MASK] b", false, true), mask));
  EXPECT_FALSE(contains(bert.encode("a [MASK] b", false, false), mask));
}

TEST(TokenizerWordPiece, WordsOverAHundredCharactersAreUnknown) {
  const Tokenizer& bert = load("bert-bge");
  const int32_t unk = id_of(bert, "[UNK]");
  EXPECT_EQ(bert.encode(std::string(101, 'a'), false, false), std::vector<int32_t>{unk});
  EXPECT_NE(bert.encode(std::string(100, 'a'), false, false), std::vector<int32_t>{unk});
  // Controls vanish (they do not split words); whitespace splits.
  EXPECT_EQ(bert.encode("hel\x01lo", false, false), bert.encode("hello", false, false));
  EXPECT_EQ(bert.encode("a\u3000b", false, false), bert.encode("a b", false, false));
}

TEST(TokenizerLoad, EveryVocabularyInTheSharedFolderBuilds) {
  // Includes the vocabularies without test vectors (baichuan, gpt-neox).
  const std::string text = "Hello world, 123 times!\n  indented\tand tabbed";
  size_t built = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HAYATE_SHARED_VOCAB)) {
    if (entry.path().extension() != ".gguf") continue;
    const auto file = gguf::File::open(entry.path().string());
    const std::string model = file->get_string("tokenizer.ggml.model", "");
    if (model != "llama" && model != "gpt2") continue;  // lossless ones: bert lower-cases
    const auto tokenizer = Tokenizer::from_gguf(*file);
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, true, false), false), text) << entry.path();
    ++built;
  }
  EXPECT_GE(built, 11u);
}

TEST(TokenizerNames, ReportsModelAndPre) {
  EXPECT_EQ(load("deepseek-llm").pre_name(), "deepseek-llm");
  EXPECT_EQ(load("deepseek-llm").model_name(), "gpt2");
  EXPECT_EQ(load("llama-spm").pre_name(), "default");
  EXPECT_EQ(load("gpt-2").token_text(15496), "Hello");
}

}  // namespace
}  // namespace hayate
