// `hayate eval tasks --url`: the same task file scored through a real `hayate serve` (the
// embedded demo model, greedy) and in this process must give the same outputs and accuracy; the
// outputs are those the server's own endpoints return; unreachable or refusing servers give
// clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

ServerProcess* server = nullptr;

class EvalUrl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server = new ServerProcess({"--model-alias", "demo"}, {}, true, /*tiny=*/false); }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
  }
  static std::string url() { return "http://127.0.0.1:" + std::to_string(server->port()); }
};

std::vector<json> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<json> out;
  for (std::string line; std::getline(f, line);) out.push_back(json::parse(line));
  return out;
}

std::string task_file() {
  const std::string q = json(chatml_prompt("What is 2 + 3?")).dump();
  const std::string path = temp_path("tasks.jsonl");
  std::ofstream(path) << "{\"prompt\": " << q << ", \"answer\": \"5\", \"task\": \"sum\"}\n"
                      << "{\"prompt\": " << q << ", \"answer\": \"6\", \"task\": \"wrong\"}\n"
                      << "{\"prompt\": " << q
                      << ", \"choices\": [\"4\", \"5\", \"6\"], \"answer\": 1, \"task\": \"mc\"}\n";
  return path;
}

TEST_F(EvalUrl, TasksThroughTheServerMatchInProcessScoring) {
  const std::string file = task_file();
  const std::string remote_out = temp_path("remote.jsonl"), local_out = temp_path("local.jsonl");
  const auto remote =
      run_command(kHayate + " eval tasks " + file + " -n 8 --json --url " + url() + " --out " + remote_out + " 2>&1");
  ASSERT_EQ(remote.exit_code, 0) << remote.output;
  const auto local = run_command(kHayate + " eval tasks " + file + " -n 8 --json --out " + local_out + " 2>/dev/null");
  ASSERT_EQ(local.exit_code, 0) << local.output;

  const json r = json::parse(remote.output), l = json::parse(local.output);
  EXPECT_EQ(r["items"], 3);
  EXPECT_EQ(r["correct"], l["correct"]);
  EXPECT_NE(r["engine"].get<std::string>().find("/v1/completions"), std::string::npos);
  const auto ri = read_lines(remote_out), li = read_lines(local_out);
  ASSERT_EQ(ri.size(), 3u);
  ASSERT_EQ(li.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ri[i]["output"], li[i]["output"]) << "item " << i;
    EXPECT_EQ(ri[i]["correct"], li[i]["correct"]) << "item " << i;
  }
  EXPECT_FALSE(ri[1]["correct"].get<bool>()) << "the answer 6 is wrong whatever the model says";

  // The output is the server's greedy text for the prompt, trimmed.
  const json body = {{"prompt", chatml_prompt("What is 2 + 3?")}, {"max_tokens", 8}, {"temperature", 0}};
  const HttpResponse direct = http_post(server->port(), "/v1/completions", body.dump());
  ASSERT_EQ(direct.status, 200) << direct.body;
  std::string text = json::parse(direct.body)["choices"][0]["text"];
  text.erase(0, text.find_first_not_of(" \t\r\n"));
  text.erase(text.find_last_not_of(" \t\r\n") + 1);
  EXPECT_EQ(ri[0]["output"], text);
}

TEST_F(EvalUrl, ChatApiSendsOneUserMessage) {
  const std::string path = temp_path("chat.jsonl");
  std::ofstream(path) << "{\"prompt\": \"What is 2 + 3?\", \"answer\": \"5\"}\n";
  const std::string out = temp_path("chat-out.jsonl");
  const auto r = run_command(kHayate + " eval tasks " + path + " -n 8 --json --api chat --served-model demo --url " +
                             url() + " --out " + out + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json body = {{"messages", json::array({{{"role", "user"}, {"content", "What is 2 + 3?"}}})},
                     {"max_tokens", 8},
                     {"temperature", 0}};
  const HttpResponse direct = http_post(server->port(), "/v1/chat/completions", body.dump());
  ASSERT_EQ(direct.status, 200) << direct.body;
  std::string text = json::parse(direct.body)["choices"][0]["message"]["content"];
  text.erase(0, text.find_first_not_of(" \t\r\n"));
  text.erase(text.find_last_not_of(" \t\r\n") + 1);
  const auto items = read_lines(out);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["output"], text);
  EXPECT_EQ(json::parse(r.output)["correct"], text == "5" ? 1 : 0);
}

TEST_F(EvalUrl, ServerAndUrlErrorsAreClear) {
  const std::string file = task_file();
  // The server refuses a model it does not serve: its status and message come through.
  auto r = run_command(kHayate + " eval tasks " + file + " --served-model no-such-model --url " + url() + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("HTTP 4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/v1/completions"), std::string::npos) << r.output;

  r = run_command(kHayate + " eval tasks " + file + " --url ftp://127.0.0.1:1 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("the scheme 'ftp' is not supported"), std::string::npos) << r.output;
  r = run_command(kHayate + " eval tasks " + file + " --url 127.0.0.1:8080 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("expected http://HOST:PORT"), std::string::npos) << r.output;
  // Port 1 on loopback: nothing listens there.
  r = run_command(kHayate + " eval tasks " + file + " --url http://127.0.0.1:1 2>&1");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("http://127.0.0.1:1/v1/completions"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate::test
