// The suites' scoring with a scripted model: known answers give known scores (numbers in odd
// formats, choices and labels, a correct and a wrong code completion, pass@k), and the runner's
// results file resumes, drops a torn last line and refuses another suite's file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "core/error.h"
#include "eval/gsm8k.h"
#include "eval/humaneval.h"
#include "eval/jglue.h"
#include "eval/run.h"

namespace hayate::eval {
namespace {

using nlohmann::json;

const std::string kData = std::string(HAYATE_TESTDATA) + "/eval/";

// Answers by the prompt's last line (the question) or by (context, continuation).
class ScriptedModel : public LanguageModel {
 public:
  std::function<std::string(const GenerateRequest&)> gen;
  std::function<double(const std::string&, const std::string&)> ll;
  int calls = 0;
  std::string generate(const GenerateRequest& req) override {
    ++calls;
    return gen(req);
  }
  double loglikelihood(const std::string& c, const std::string& x) override {
    ++calls;
    return ll(c, x);
  }
};

std::string tmp(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("hayate-eval-suites-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(Gsm8k, NumbersInOddFormatsNormalise) {
  EXPECT_EQ(normalize_number("$1,200.50"), "1200.5");
  EXPECT_EQ(normalize_number("-3.0"), "-3");
  EXPECT_EQ(normalize_number("18."), "18");
  EXPECT_EQ(normalize_number(" 007"), "7");
  EXPECT_EQ(normalize_number("0.50"), "0.5");
  EXPECT_EQ(normalize_number("-0"), "0");
  EXPECT_EQ(normalize_number("abc"), std::nullopt);
  EXPECT_EQ(normalize_number("1.2.3"), std::nullopt);
}

TEST(Gsm8k, FinalNumberIsAfterTheAnswerIsElseTheLast) {
  EXPECT_EQ(extract_gsm8k_answer("3 * 4 = 12, plus 6 is 18. The answer is $1,018.00."), "1018");
  EXPECT_EQ(extract_gsm8k_answer("first 5, The answer is 7 apples, not 9"), "7");
  EXPECT_EQ(extract_gsm8k_answer("It drops 4 - 9 so it is -5."), "-5");
  EXPECT_EQ(extract_gsm8k_answer("2 and 3-4"), "4");
  EXPECT_EQ(extract_gsm8k_answer("so 1.5 kg"), "1.5");
  EXPECT_EQ(extract_gsm8k_answer("no digits here"), std::nullopt);
  EXPECT_EQ(extract_gsm8k_answer("the answer is unclear, maybe 12"), "12");
}

TEST(Gsm8k, FileParsesAndKnownAnswersScore) {
  std::vector<Gsm8kItem> items = read_gsm8k(kData + "gsm8k.jsonl");
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[2].target, "1550");  // "#### 1,550"
  EXPECT_EQ(items[3].target, "-5");
  Gsm8kSuite suite(items, gsm8k_builtin_shots(), 8, 64);
  EXPECT_NE(suite.prompt(0).find("The answer is 55.\n\nQ: A shop sells pencils"), std::string::npos);
  EXPECT_EQ(suite.prompt(0).substr(suite.prompt(0).size() - 3), "\nA:");
  // Right in odd formats for items 0, 2, 3 and 4; wrong for 1.
  const std::map<std::string, std::string> outputs = {{"pencils", " 3 * 12 = 36, 36 - 5 = 31. The answer is 31."},
                                                      {"car park", " 4 * 2.50 = 10.00 so $11."},
                                                      {"trees", " 1,250 + 300 = 1,550. The answer is 1,550."},
                                                      {"temperature", " 4 - 9 = -5. The answer is -5 degrees."},
                                                      {"flour", " 2 * 0.75 = 1.50"}};
  ScriptedModel m;
  m.gen = [&](const GenerateRequest& req) {
    EXPECT_EQ(req.temperature, 0);
    const std::string q = req.prompt.substr(req.prompt.rfind("Q: "));
    for (const auto& [key, out] : outputs)
      if (q.find(key) != std::string::npos) return out;
    ADD_FAILURE() << q;
    return std::string();
  };
  const RunResult r = run_suite(suite, {&m}, {});
  ASSERT_EQ(r.records.size(), 5u);
  EXPECT_FALSE(r.records[1]["correct"].get<bool>());
  EXPECT_EQ(r.records[1]["extracted"], "11");
  EXPECT_EQ(r.records[4]["extracted"], "1.5");
  EXPECT_DOUBLE_EQ(suite.metrics(r.records)["exact_match"].get<double>(), 0.8);
}

TEST(Gsm8k, BadFilesSayWhatIsWrong) {
  std::istringstream no_marker("{\"question\": \"q\", \"answer\": \"42\"}\n");
  EXPECT_THROW(
      {
        try {
          parse_gsm8k(no_marker, "x.jsonl");
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("x.jsonl:1: \"answer\" has no \"#### N\""), std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  std::istringstream no_question("\n{\"answer\": \"#### 4\"}\n");
  EXPECT_THROW(parse_gsm8k(no_question, "x.jsonl"), Error);
  EXPECT_THROW(Gsm8kSuite({}, gsm8k_builtin_shots(), 9, 16), Error);
}

TEST(HumanEval, PassAtKIsTheUnbiasedEstimator) {
  EXPECT_DOUBLE_EQ(pass_at_k(1, 1, 1), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(1, 0, 1), 0.0);
  EXPECT_NEAR(pass_at_k(10, 3, 1), 0.3, 1e-12);
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12);  // 1 - C(7,5)/C(10,5)
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 4), 1.0);                    // n - c < k
  EXPECT_THROW(pass_at_k(2, 1, 3), Error);
}

TEST(HumanEval, CompletionIsCutAtTheStopSequences) {
  EXPECT_EQ(truncate_completion("    return 1\n\ndef other():\n    pass"), "    return 1\n");
  EXPECT_EQ(truncate_completion("    return 1\n# note\n"), "    return 1");
  EXPECT_EQ(truncate_completion("    x = 1\n    return x\nprint(x)"), "    x = 1\n    return x");
}

TEST(HumanEval, CorrectAndWrongCompletionsScore) {
  if (find_python().empty()) GTEST_SKIP() << "no python3";
  HumanEvalOptions o;
  o.samples = 4;
  o.temperature = 0.8;
  o.ks = {1, 2, 8};
  o.limits.wall = std::chrono::seconds(3);
  HumanEvalSuite suite(read_humaneval(kData + "humaneval.jsonl"), o);
  ScriptedModel m;
  // add(): right on samples with an even seed; shout(): always wrong, the last time by a timeout.
  m.gen = [&](const GenerateRequest& req) -> std::string {
    EXPECT_EQ(req.stop, humaneval_stops());
    if (req.prompt.find("def add") != std::string::npos)
      return req.seed % 2 == 0 ? "    return a + b\n\ndef unused():\n    raise SystemExit(1)\n" : "    return a - b\n";
    return req.seed == o.seed + 3 ? "    while True:\n        pass\n" : "    return word.lower()\n";
  };
  const RunResult r = run_suite(suite, {&m}, {});
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0]["passed"], 2);
  EXPECT_EQ(r.records[0]["samples"][0]["completion"], "    return a + b\n");
  EXPECT_EQ(r.records[1]["passed"], 0);
  const json metrics = suite.metrics(r.records);
  EXPECT_DOUBLE_EQ(metrics["pass@1"].get<double>(), 0.25);                       // (0.5 + 0) / 2
  EXPECT_NEAR(metrics["pass@2"].get<double>(), (1.0 - 1.0 / 6.0) / 2.0, 1e-12);  // 1 - C(2,2)/C(4,2)
  EXPECT_FALSE(metrics.contains("pass@8")) << "k above the samples is left out";
}

TEST(HumanEval, BadFilesSayWhatIsWrong) {
  std::istringstream dup(
      "{\"task_id\": \"a\", \"prompt\": \"p\", \"test\": \"t\", \"entry_point\": \"f\"}\n"
      "{\"task_id\": \"a\", \"prompt\": \"p\", \"test\": \"t\", \"entry_point\": \"f\"}\n");
  EXPECT_THROW(parse_humaneval(dup, "h.jsonl"), Error);
  std::istringstream no_test("{\"task_id\": \"a\", \"prompt\": \"p\", \"entry_point\": \"f\"}\n");
  EXPECT_THROW(parse_humaneval(no_test, "h.jsonl"), Error);
}

TEST(Jglue, FilesParseInTheirOfficialSchemas) {
  const auto qa = read_jglue(JglueTask::JCommonsenseQA, kData + "jcommonsenseqa.jsonl");
  ASSERT_EQ(qa.size(), 3u);
  EXPECT_EQ(qa[1].id, "1");
  EXPECT_EQ(qa[1].choices[2], "川");
  EXPECT_EQ(qa[1].label, 2);
  const auto nli = read_jglue(JglueTask::Jnli, kData + "jnli.jsonl");
  EXPECT_EQ(nli[1].label, 1);
  EXPECT_EQ(nli[2].choices[nli[2].label], "中立");
  const auto marc = read_jglue(JglueTask::MarcJa, kData + "marc-ja.jsonl");
  EXPECT_EQ(marc[1].id, "T2");
  EXPECT_EQ(marc[1].label, 1);
  std::istringstream bad("{\"sentence\": \"s\", \"label\": \"mixed\"}\n");
  try {
    parse_jglue(JglueTask::MarcJa, bad, "m.jsonl");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.jsonl:1: \"label\" \"mixed\" is not one of positive, negative"),
              std::string::npos)
        << e.what();
  }
  std::istringstream bad_qa("{\"q_id\": 1, \"question\": \"q\", \"choice0\": \"a\", \"label\": 0}\n");
  EXPECT_THROW(parse_jglue(JglueTask::JCommonsenseQA, bad_qa, "q.jsonl"), Error);
}

TEST(Jglue, GeneratedLabelsArePicked) {
  const auto qa = read_jglue(JglueTask::JCommonsenseQA, kData + "jcommonsenseqa.jsonl");
  EXPECT_EQ(jglue_pick(JglueTask::JCommonsenseQA, qa[0], " 0"), 0);
  EXPECT_EQ(jglue_pick(JglueTask::JCommonsenseQA, qa[0], "3.机です"), 3);
  EXPECT_EQ(jglue_pick(JglueTask::JCommonsenseQA, qa[0], "答えは枕か傘"), 1);
  EXPECT_EQ(jglue_pick(JglueTask::JCommonsenseQA, qa[0], "わからない"), std::nullopt);
  const auto nli = read_jglue(JglueTask::Jnli, kData + "jnli.jsonl");
  EXPECT_EQ(jglue_pick(JglueTask::Jnli, nli[0], "矛盾"), 1);
  EXPECT_EQ(jglue_pick(JglueTask::Jnli, nli[0], " Neutral."), 2);
  EXPECT_EQ(jglue_pick(JglueTask::Jnli, nli[0], "含意です（矛盾ではない）"), 0);
}

TEST(Jglue, LogLikelihoodPicksTheLikeliestChoice) {
  auto items = read_jglue(JglueTask::Jnli, kData + "jnli.jsonl");
  JglueSuite suite(JglueTask::Jnli, items, ChoiceScoring::LogLikelihood);
  ScriptedModel m;
  // Item 0 and 1: the right label is likeliest; item 2: "含意" wins wrongly.
  m.ll = [&](const std::string& context, const std::string& choice) {
    EXPECT_NE(context.find("関係（含意・矛盾・中立）："), std::string::npos);
    if (context.find("白い犬") != std::string::npos) return choice == "含意" ? -1.0 : -5.0;
    if (context.find("男性") != std::string::npos) return choice == "矛盾" ? -2.0 : -3.0;
    return choice == "含意" ? -1.0 : -4.0;
  };
  const RunResult r = run_suite(suite, {&m}, {});
  EXPECT_EQ(m.calls, 9);
  EXPECT_EQ(r.records[1]["extracted"], 1);
  EXPECT_EQ(r.records[1]["loglikelihoods"].size(), 3u);
  EXPECT_FALSE(r.records[2]["correct"].get<bool>());
  EXPECT_NEAR(suite.metrics(r.records)["accuracy"].get<double>(), 2.0 / 3.0, 1e-12);
}

TEST(Jglue, GenerationScoresTheLabelRead) {
  JglueSuite suite(JglueTask::MarcJa, read_jglue(JglueTask::MarcJa, kData + "marc-ja.jsonl"), ChoiceScoring::Generate);
  ScriptedModel m;
  m.gen = [](const GenerateRequest& req) {
    EXPECT_EQ(req.stop, std::vector<std::string>{"\n"});
    return req.prompt.find("満足") != std::string::npos   ? " ポジティブ"
           : req.prompt.find("壊れ") != std::string::npos ? "negative"
                                                          : "不明";
  };
  const RunResult r = run_suite(suite, {&m}, {});
  const json metrics = suite.metrics(r.records);
  EXPECT_NEAR(metrics["accuracy"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(metrics["no_label"].get<double>(), 1.0 / 3.0, 1e-12);
}

// The runner: parallel workers, the results file resumed after a torn write, summary fields.
TEST(Runner, ResumesFromTheResultsFileAndDropsATornLine) {
  const std::string out = tmp("resume.jsonl");
  std::filesystem::remove(out);
  Gsm8kSuite suite(read_gsm8k(kData + "gsm8k.jsonl"), gsm8k_builtin_shots(), 2, 32);
  ScriptedModel a, b;
  a.gen = b.gen = [](const GenerateRequest&) { return std::string(" The answer is 31."); };
  RunOptions ro;
  ro.out = out;
  ro.limit = 3;
  const RunResult first = run_suite(suite, {&a, &b}, ro);
  EXPECT_EQ(first.ran, 3u);
  EXPECT_EQ(a.calls + b.calls, 3);
  // A kill mid-write leaves half a line: it is dropped and its item runs again.
  std::string text;
  {
    std::ifstream f(out);
    text.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::ofstream(out, std::ios::trunc) << text << "{\"id\": \"line-4\", \"suite\": \"gsm";
  ro.limit = 0;
  a.calls = 0;
  const RunResult second = run_suite(suite, {&a}, ro);
  EXPECT_EQ(second.resumed, 3u);
  EXPECT_EQ(second.ran, 2u);
  EXPECT_EQ(a.calls, 2);
  EXPECT_EQ(second.records[0]["id"], "line-1");
  EXPECT_TRUE(second.records[0]["correct"].get<bool>());
  std::ifstream f(out);
  int lines = 0;
  for (std::string line; std::getline(f, line); ++lines) EXPECT_NO_THROW(json::parse(line)) << line;
  EXPECT_EQ(lines, 5);

  const auto summary = summary_json(suite, second, {"m", "Q8_0", "http://x", "g.jsonl"});
  EXPECT_EQ(summary["schema"], "hayate.eval.summary/1");
  EXPECT_EQ(summary["suite"], "gsm8k");
  EXPECT_EQ(summary["format"], "Q8_0");
  EXPECT_DOUBLE_EQ(summary["metrics"]["exact_match"].get<double>(), 0.2);
  EXPECT_EQ(summary["items"], 5);
  EXPECT_EQ(summary["items_resumed"], 3);
  EXPECT_EQ(summary["items_run"], 2);
  EXPECT_GE(summary["wall_s"].get<double>(), 0.0);
  EXPECT_EQ(summary["started_at"].get<std::string>().size(), 20u);  // 2026-01-02T03:04:05Z
  EXPECT_EQ(summary["settings"]["shots"], 2);

  JglueSuite other(JglueTask::MarcJa, read_jglue(JglueTask::MarcJa, kData + "marc-ja.jsonl"), ChoiceScoring::Generate);
  EXPECT_THROW(run_suite(other, {&a}, ro), Error) << "a gsm8k results file is not resumed as marc-ja";
}

TEST(Runner, AnItemErrorStopsTheRunAndKeepsFinishedItems) {
  const std::string out = tmp("error.jsonl");
  std::filesystem::remove(out);
  Gsm8kSuite suite(read_gsm8k(kData + "gsm8k.jsonl"), gsm8k_builtin_shots(), 0, 32);
  ScriptedModel m;
  m.gen = [](const GenerateRequest& req) -> std::string {
    if (req.prompt.find("car park") != std::string::npos) fail(ErrorKind::Internal, "server went away");
    return "1";
  };
  RunOptions ro;
  ro.out = out;
  EXPECT_THROW(run_suite(suite, {&m}, ro), Error);
  std::ifstream f(out);
  std::string line;
  ASSERT_TRUE(std::getline(f, line));
  EXPECT_EQ(json::parse(line)["id"], "line-1");
  EXPECT_FALSE(std::getline(f, line));
}

}  // namespace
}  // namespace hayate::eval
