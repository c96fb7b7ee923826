#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/stop_strings.h"

namespace hayate {
namespace {

// Feeds the pieces and returns everything emitted, plus whether a stop string was hit.
std::pair<std::string, bool> run(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& piece : pieces) {
    const auto r = m.push(piece);
    out += r.emit;
    if (r.stopped) return {out, true};
  }
  return {out + m.flush(), false};
}

TEST(StopMatcher, EmptyListPassesEverythingAtOnce) {
  StopMatcher m({});
  EXPECT_EQ(m.push("Hello").emit, "Hello");
  EXPECT_EQ(m.push(", world").emit, ", world");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  StopMatcher m({"", ""});
  const auto r = m.push("abc");
  EXPECT_EQ(r.emit, "abc");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, StopInsideOnePiece) {
  StopMatcher m({"END"});
  const auto r = m.push("abcENDdef");
  EXPECT_EQ(r.emit, "abc");
  EXPECT_TRUE(r.stopped);
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more").emit, "");
  EXPECT_TRUE(m.push("more").stopped);
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, StopSplitAcrossPieces) {
  StopMatcher m({"</answer>"});
  auto r = m.push("42 </");
  EXPECT_EQ(r.emit, "42 ");  // "</" may begin the stop string
  EXPECT_FALSE(r.stopped);
  r = m.push("ans");
  EXPECT_EQ(r.emit, "");
  r = m.push("wer> tail");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, StopSplitIntoSingleCharacters) {
  StopMatcher m({"\n\nUser:"});
  const auto [out, stopped] = run(m, {"Hi", "!", "\n", "\n", "U", "s", "e", "r", ":", " next"});
  EXPECT_EQ(out, "Hi!");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcher, PartialPrefixThatDoesNotCompleteIsReleased) {
  StopMatcher m({"STOP"});
  auto r = m.push("a ST");
  EXPECT_EQ(r.emit, "a ");
  r = m.push("O");
  EXPECT_EQ(r.emit, "");
  r = m.push("P!");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "");

  StopMatcher n({"STOP"});
  EXPECT_EQ(n.push("a ST").emit, "a ");
  EXPECT_EQ(n.push("OX").emit, "STOX");
  EXPECT_EQ(n.push("S").emit, "");
  EXPECT_EQ(n.flush(), "S");  // end of generation: the held-back text is real text
}

TEST(StopMatcher, OverlappingPrefixRestartsInsideHeldText) {
  // When "aaa" is followed by another "a", the match does not fail: the last three letters
  // may still begin "aaab", so only the first one is released.
  StopMatcher m({"aaab"});
  EXPECT_EQ(m.push("aa").emit, "");
  EXPECT_EQ(m.push("a").emit, "");
  EXPECT_EQ(m.push("a").emit, "a");
  const auto r = m.push("b");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "");
}

TEST(StopMatcher, MultipleStopStringsEarliestWins) {
  StopMatcher m({"world", "lo"});
  const auto r = m.push("hello world");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "hel");

  StopMatcher n({"<|im_end|>", "\nObservation:"});
  const auto [out, stopped] = run(n, {"The answer", "\nObs", "erva", "tion: x<|im_end|>"});
  EXPECT_EQ(out, "The answer");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcher, HoldsTheLongestPossiblePrefix) {
  StopMatcher m({"abc", "bcd"});
  EXPECT_EQ(m.push("xab").emit, "x");  // "ab" begins "abc"
  auto r = m.push("cd");               // "abc" is complete before "bcd"
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "");

  StopMatcher n({"abc", "bcd"});
  EXPECT_EQ(n.push("xab").emit, "x");
  EXPECT_EQ(n.push("x").emit, "abx");
}

TEST(StopMatcher, Utf8StopString) {
  StopMatcher m({"。\n"});
  const auto [out, stopped] = run(m, {"こんにちは", "。", "\n", "さようなら"});
  EXPECT_EQ(out, "こんにちは");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcher, NoStopFlushesEverything) {
  StopMatcher m({"###"});
  const auto [out, stopped] = run(m, {"a#", "b##", "c"});
  EXPECT_EQ(out, "a#b##c");
  EXPECT_FALSE(stopped);
}

}  // namespace
}  // namespace hayate
