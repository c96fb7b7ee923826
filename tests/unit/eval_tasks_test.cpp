// The task scorer on hand-made task files (tests/data/eval/): exact match with its trimming and
// case rules, empty answers, choice scoring (equal, prefix, letter label) and bad lines, which
// must fail with the file and line number.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "core/error.h"
#include "eval/tasks.h"

namespace hayate::eval {
namespace {

const std::string kData = std::string(HAYATE_TESTDATA) + "/eval/";

// Runs the items with canned outputs (prompt -> text), as a server or a model would answer.
TaskSummary score_with(const std::vector<TaskItem>& items, const std::map<std::string, std::string>& outputs,
                       const ScoreRules& rules, std::vector<ItemScore>* scores = nullptr) {
  return run_tasks(
      items, rules, [&](const TaskItem& it) { return outputs.at(it.prompt); },
      [&](size_t, const TaskItem&, const ItemScore& s) {
        if (scores) scores->push_back(s);
      });
}

TEST(EvalTasks, ExactMatchTrimsWhitespaceAndIsCaseSensitive) {
  const std::vector<TaskItem> items = read_task_file(kData + "exact.jsonl", {});
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[1].line, 3);  // the blank line 2 is skipped but counted
  EXPECT_EQ(items[0].task, "sum");
  std::vector<ItemScore> scores;
  const TaskSummary sum = score_with(
      items, {{"2 + 3 =", " 5\n"}, {"capital of France?", "paris"}, {"say nothing", " \n\t"}, {"greet", "Hello World"}},
      {}, &scores);
  EXPECT_EQ(sum.items, 4);
  EXPECT_EQ(sum.correct, 3);  // "paris" != "Paris" without --ignore-case
  EXPECT_TRUE(scores[0].correct);
  EXPECT_EQ(scores[0].output, "5");
  EXPECT_FALSE(scores[1].correct);
  EXPECT_TRUE(scores[2].correct) << "an empty answer matches whitespace-only output";
  EXPECT_TRUE(scores[3].correct) << "surrounding whitespace of the answer is trimmed too";
  EXPECT_EQ(sum.per_task.at("geo"), std::make_pair(1, 2));
  EXPECT_DOUBLE_EQ(sum.accuracy(), 0.75);
}

TEST(EvalTasks, IgnoreCaseFoldsAsciiOnly) {
  const ScoreRules rules{true};
  const std::vector<TaskItem> items = read_task_file(kData + "exact.jsonl", rules);
  EXPECT_EQ(
      score_with(items,
                 {{"2 + 3 =", "5"}, {"capital of France?", "PARIS"}, {"say nothing", ""}, {"greet", "hello world"}},
                 rules)
          .correct,
      4);
  TaskItem it;
  it.answer = "Ä";
  EXPECT_FALSE(score_item(it, "ä", rules).correct) << "only ASCII letters are folded";
  EXPECT_FALSE(score_item(it, "", rules).correct);
}

TEST(EvalTasks, InnerWhitespaceIsKept) {
  TaskItem it;
  it.answer = "a b";
  EXPECT_TRUE(score_item(it, "a b ", {}).correct);
  EXPECT_FALSE(score_item(it, "a  b", {}).correct);
}

TEST(EvalTasks, ChoicesByTextPrefixAndLetter) {
  const std::vector<TaskItem> items = read_task_file(kData + "choices.jsonl", {});
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].answer_index, 0);
  EXPECT_EQ(items[1].answer_index, 2);
  EXPECT_EQ(items[1].answer, "whale");
  EXPECT_EQ(items[3].answer_index, 1);

  EXPECT_EQ(score_item(items[0], " blue", {}).picked, 0);
  EXPECT_TRUE(score_item(items[0], "blue, of course", {}).correct);
  EXPECT_FALSE(score_item(items[0], "blueish", {}).picked.has_value()) << "a prefix must end at a word boundary";
  EXPECT_FALSE(score_item(items[0], "Blue", {}).correct);
  EXPECT_TRUE(score_item(items[0], "Blue", {true}).correct);
  EXPECT_EQ(score_item(items[1], "C) whale", {}).picked, 2);
  EXPECT_TRUE(score_item(items[1], "c.", {}).correct);
  EXPECT_FALSE(score_item(items[1], "D", {}).picked.has_value()) << "there is no fourth choice";
  EXPECT_EQ(score_item(items[2], "B", {}).picked, 1);
  EXPECT_TRUE(score_item(items[2], "B", {}).correct);
  EXPECT_EQ(score_item(items[2], "yes", {}).picked, 0);
  EXPECT_EQ(score_item(items[3], "caterpillar!", {}).picked, 1) << "the longest matching choice wins";
  EXPECT_EQ(score_item(items[3], "cat and dog", {}).picked, 0);
  const ItemScore none = score_item(items[0], "", {});
  EXPECT_FALSE(none.picked.has_value());
  EXPECT_FALSE(none.correct);
}

void expect_bad(const std::string& file, const std::string& where, const std::string& what) {
  try {
    read_task_file(kData + file, {});
    FAIL() << file << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file + where), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(EvalTasks, BadLinesNameFileAndLine) {
  expect_bad("bad_answer_not_a_choice.jsonl", ":3:", "is not one of the choices");
  expect_bad("bad_json.jsonl", ":2:", "not JSON");
  expect_bad("bad_int_answer.jsonl", ":1:", "needs \"choices\"");
  expect_bad("bad_duplicate_choice.jsonl", ":1:", "are the same");
  expect_bad("bad_index.jsonl", ":1:", "is not a choice index (0..1)");
  expect_bad("bad_no_prompt.jsonl", ":1:", "\"prompt\" must be a string");
  expect_bad("bad_empty.jsonl", "", "no items");
  std::istringstream in("[1, 2]\n");
  EXPECT_THROW(parse_task_items(in, "inline", {}), Error);
  try {
    read_task_file(kData + "missing.jsonl", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

}  // namespace
}  // namespace hayate::eval
