// Several models behind one `hayate serve` (issue 20): the models table of the TOML config, loads
// on demand on the loader thread, LRU eviction within max_loaded_models and model_memory_budget,
// requests that wait for a load instead of failing, keep_alive unloads (Ollama's semantics), the
// operators' load and unload, and what /v1/models, /api/tags, /api/ps and /metrics say of it.
// Two models of different shapes made by `hayate synth`, so that their outputs differ.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "server_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

const std::string& small_model() {
  static const std::string path = [] {
    const std::string p = ::testing::TempDir() + "/hayate-models-small-" + std::to_string(::getpid()) + ".gguf";
    const auto r = run_command(kHayate + " synth -o " + p +
                               " --n-embd 64 --n-layer 1 --n-head 2 --n-head-kv 1 --n-ff 128 --seed 7 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("hayate synth failed: " + r.output);
    return p;
  }();
  return path;
}

// A config file with the two models ("alpha" the tiny model, "beta" the small one, alias "b")
// and the given extra lines.
std::string config_file(const std::string& extra, const std::string& beta_extra = "") {
  static int n = 0;
  const std::string path =
      ::testing::TempDir() + "/hayate-models-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml";
  std::ofstream(path) << "kv_blocks = 8\nctx_size = 64\n"
                      << extra << "\n[[models]]\nname = \"alpha\"\nfile = \"" << tiny_model()
                      << "\"\n\n[[models]]\nname = \"beta\"\nfile = \"" << small_model() << "\"\naliases = [\"b\"]\n"
                      << beta_extra;
  return path;
}

ServerProcess serve(const std::string& config, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--config", config};
  args.insert(args.end(), more.begin(), more.end());
  return ServerProcess(args, {}, true, false);
}

json chat(int port, const std::string& model, const std::string& text = "hello") {
  const json body = {{"model", model},
                     {"messages", json::array({{{"role", "user"}, {"content", text}}})},
                     {"max_tokens", 4},
                     {"temperature", 0}};
  const HttpResponse r = http_post(port, "/v1/chat/completions", body.dump());
  EXPECT_EQ(r.status, 200) << model << ": " << r.body;
  return r.status == 200 ? json::parse(r.body) : json();
}

std::map<std::string, json> models_by_id(int port) {
  std::map<std::string, json> out;
  const json list = json::parse(http_get(port, "/v1/models").body);  // kept: the loop reads into it
  for (const json& m : list["data"]) out[m["id"].get<std::string>()] = m;
  return out;
}

std::vector<std::string> ps_names(int port) {
  std::vector<std::string> out;
  const json ps = json::parse(http_get(port, "/api/ps").body);  // kept: the loop reads into it
  for (const json& m : ps["models"]) out.push_back(m["name"].get<std::string>());
  return out;
}

// Polls /api/ps (30 s at most) until `name` is gone from it, then /v1/models until its unload
// has finished (ps drops a model as its unload begins).
bool unloaded_soon(int port, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const std::string id = name.substr(0, name.rfind(':'));
  while (std::chrono::steady_clock::now() < deadline) {
    const auto names = ps_names(port);
    if (std::find(names.begin(), names.end(), name) == names.end() && models_by_id(port).at(id)["state"] == "unloaded")
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The bytes the registry counts for each model, read from a server with no budget.
std::map<std::string, uint64_t> model_bytes() {
  ServerProcess server = serve(config_file(""));
  for (const char* id : {"alpha", "beta"})
    EXPECT_EQ(http_post(server.port(), std::string("/v1/models/") + id + "/load", "").status, 200) << id;
  std::map<std::string, uint64_t> out;
  for (const auto& [id, m] : models_by_id(server.port())) {
    EXPECT_EQ(m["state"], "loaded") << id;
    out[id] = m["bytes"].get<uint64_t>();
  }
  return out;
}

TEST(ServerModels, RequestsAlternateBetweenTwoModelsWithinABudgetThatFitsOne) {
  const auto bytes = model_bytes();
  ASSERT_GT(bytes.at("alpha"), 0u);
  ASSERT_GT(bytes.at("beta"), 0u);
  const uint64_t budget = std::max(bytes.at("alpha"), bytes.at("beta"));
  ServerProcess server = serve(config_file("model_memory_budget = " + std::to_string(budget)));
  const int port = server.port();
  EXPECT_EQ(models_by_id(port).at("alpha")["state"], "unloaded");  // nothing loads before it is asked for

  std::map<std::string, std::string> answers;
  for (int i = 0; i < 6; ++i) {
    const std::string model = i % 2 ? "beta" : "alpha";
    const json r = chat(port, model);
    ASSERT_FALSE(r.is_null());
    EXPECT_EQ(r["model"], model);
    const std::string text = r["choices"][0]["message"]["content"];
    if (answers.count(model)) {
      EXPECT_EQ(answers[model], text) << "greedy output changed across reloads";
    }
    answers[model] = text;
    const auto listed = models_by_id(port);
    EXPECT_EQ(listed.at(model)["state"], "loaded");
    EXPECT_EQ(listed.at(i % 2 ? "alpha" : "beta")["state"], "unloaded");
  }
  EXPECT_NE(answers["alpha"], answers["beta"]) << "the two models should not answer alike";
  // An alias names the same model.
  EXPECT_EQ(chat(port, "b")["model"], "beta");

  const auto m = server.metrics();
  EXPECT_EQ(m.at("hayate_model_loads_total"), 6);
  EXPECT_EQ(m.at("hayate_model_evictions_total"), 5);
  EXPECT_GE(m.at("hayate_model_unloads_total"), 5);
  EXPECT_EQ(m.at("hayate_models_loaded"), 1);
  // No KV block leaked: the loaded model's sequences hold none once the requests are done.
  EXPECT_EQ(m.at("hayate_model_kv_blocks_active{model=\"beta\"}"), 0);
  EXPECT_GT(m.at("hayate_model_kv_blocks_free{model=\"beta\"}"), 0);
}

TEST(ServerModels, ConcurrentRequestsForAnUnloadedModelWaitAndSucceed) {
  ServerProcess server = serve(config_file("max_loaded_models = 1"));
  const int port = server.port();
  chat(port, "alpha");  // loaded first: beta's load has to evict it
  std::vector<std::future<json>> replies;
  for (int i = 0; i < 4; ++i)
    replies.push_back(std::async(
        std::launch::async, [port, i] { return chat(port, i % 2 ? "beta" : "b", "question " + std::to_string(i)); }));
  for (auto& f : replies) EXPECT_EQ(f.get()["model"], "beta");
  const auto m = server.metrics();
  EXPECT_EQ(m.at("hayate_model_loads_total"), 2) << "beta loads once for all four";
  EXPECT_EQ(m.at("hayate_model_evictions_total"), 1);
  EXPECT_EQ(m.at("hayate_model_kv_blocks_active{model=\"beta\"}"), 0);
}

TEST(ServerModels, IdleModelsUnloadAfterKeepAlive) {
  ServerProcess server = serve(config_file("", "keep_alive = \"200ms\"\n"));
  const int port = server.port();
  chat(port, "beta");
  chat(port, "alpha");  // the server's keep_alive (-1): stays
  EXPECT_TRUE(unloaded_soon(port, "beta:latest")) << "beta should unload 200 ms after its request";
  EXPECT_EQ(models_by_id(port).at("beta")["state"], "unloaded");
  EXPECT_EQ(models_by_id(port).at("alpha")["state"], "loaded");

  // Ollama's keep_alive 0 in a request: unloaded as soon as it ends.
  const json body = {
      {"model", "alpha"}, {"prompt", "hi"}, {"stream", false}, {"keep_alive", 0}, {"options", {{"num_predict", 2}}}};
  const HttpResponse r = http_post(port, "/api/generate", body.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(unloaded_soon(port, "alpha:latest"));
  const auto m = server.metrics();
  EXPECT_EQ(m.at("hayate_model_unloads_total"), 2);
  EXPECT_EQ(m.at("hayate_models_loaded"), 0);
  // A later request loads it again.
  EXPECT_EQ(chat(port, "alpha")["model"], "alpha");
}

TEST(ServerModels, OperatorsLoadAndUnloadAndUnknownModelsAre404) {
  const std::string key = "models-test-key";
  ServerProcess server = serve(config_file("api_keys = [\"" + key + "\"]"));
  const int port = server.port();
  const HeaderList auth = {{"Authorization", "Bearer " + key}};
  EXPECT_EQ(http_post(port, "/v1/models/beta/load", "").status, 401) << "operator endpoints need a key";
  const HttpResponse loaded = http_post(port, "/v1/models/beta/load", "", auth);
  ASSERT_EQ(loaded.status, 200) << loaded.body;
  EXPECT_EQ(json::parse(loaded.body)["state"], "loaded");
  const json ps = json::parse(http_get(port, "/api/ps", auth).body);
  ASSERT_EQ(ps["models"].size(), 1u);
  EXPECT_EQ(ps["models"][0]["name"], "beta:latest");
  const json tags = json::parse(http_get(port, "/api/tags", auth).body);
  EXPECT_EQ(tags["models"].size(), 2u) << "tags lists every model, loaded or not";

  const HttpResponse unloaded = http_post(port, "/v1/models/beta/unload", "", auth);
  ASSERT_EQ(unloaded.status, 200) << unloaded.body;
  EXPECT_EQ(json::parse(unloaded.body)["state"], "unloaded");
  EXPECT_TRUE(json::parse(http_get(port, "/api/ps", auth).body)["models"].empty());

  EXPECT_EQ(http_post(port, "/v1/models/nope/load", "", auth).status, 404);
  const HttpResponse openai = http_post(
      port, "/v1/chat/completions",
      json({{"model", "nope"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}).dump(), auth);
  EXPECT_EQ(openai.status, 404);
  EXPECT_EQ(json::parse(openai.body)["error"]["code"], "model_not_found");
  const HttpResponse ollama =
      http_post(port, "/api/chat", json({{"model", "nope"}, {"messages", json::array()}}).dump(), auth);
  EXPECT_EQ(ollama.status, 404);
  const json err = json::parse(ollama.body);
  ASSERT_TRUE(err.contains("error") && err["error"].is_string()) << ollama.body;  // Ollama's shape
  EXPECT_NE(err["error"].get<std::string>().find("not found"), std::string::npos);
}

TEST(ServerModels, PrintConfigWritesTheTableBackAsTomlThatReadsAgain) {
  const std::string first = ::testing::TempDir() + "/hayate-models-print.toml";
  std::ofstream(first) << "keep_alive = \"5m\"\nmax_loaded_models = 2\n[[models]]\nname = \"a\"\nfile = \"x.gguf\"\n"
                       << "device = \"cpu\"\ncontext = 512\nkeep_loaded = true\naliases = [\"gpt\", \"b c\"]\n";
  const auto r = run_command(kHayate + " serve --config " + first + " --print-config 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\n[[models]]\nname = \"a\"\nfile = \"x.gguf\"\ndevice = \"cpu\"\ncontext = 512\n"
                          "keep_loaded = true\naliases = [\"gpt\", \"b c\"]\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\nmax_loaded_models = 2\n"), std::string::npos);
  const std::string second = ::testing::TempDir() + "/hayate-models-print2.toml";
  std::ofstream(second) << r.output;
  const auto again = run_command(kHayate + " serve --config " + second + " --print-config 2>&1");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(again.output, r.output);
}

TEST(ServerModels, BadTablesAreRefusedAtStart) {
  const std::string dup = ::testing::TempDir() + "/hayate-models-dup.toml";
  std::ofstream(dup) << "[[models]]\nname = \"a\"\nfile = \"x.gguf\"\n[[models]]\nname = \"a\"\nfile = \"y.gguf\"\n";
  auto r = run_command(kHayate + " serve --port 0 --config " + dup + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("'a' is given twice"), std::string::npos) << r.output;
  const std::string unknown = ::testing::TempDir() + "/hayate-models-unknown.toml";
  std::ofstream(unknown) << "[[models]]\nname = \"a\"\nfile = \"x.gguf\"\ncolour = \"red\"\n";
  r = run_command(kHayate + " serve --port 0 --config " + unknown + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unknown field 'colour'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate::test
