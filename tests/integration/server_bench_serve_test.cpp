// `hayate bench serve` against the real `hayate serve` on loopback (the tiny synthetic model):
// its token counts must be the server's, every TTFT below its request's end-to-end latency, and
// its request throughput what the server's own /metrics say, within 5%.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "server_harness.h"

namespace hayate::test {
namespace {

nlohmann::json run_bench(const std::string& args, int expect_exit = 0) {
  const std::string out = temp_path("bench-serve.json");
  std::remove(out.c_str());
  const auto r = run_command(kHayate + " bench serve --no-progress --out " + out + " " + args + " 2>&1");
  EXPECT_EQ(r.exit_code, expect_exit) << r.output;
  const std::string text = read_file(out);
  if (text.empty()) {
    ADD_FAILURE() << "no results file; output:\n" << r.output;
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(text);
}

double metric(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0.0 : it->second;
}

TEST(ServerBenchServe, SweepAgreesWithTheServer) {
  ServerProcess server({});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  const auto before = server.metrics();
  const auto t0 = std::chrono::steady_clock::now();
  // Every answer is 64 tokens (--ignore-eos; the tiny model often ends a story early) and each run
  // has kRequests of them, so even the c=20 run lasts a few hundred ms on a fast machine: the scrape
  // round trips and scheduling delays at the window's ends stay well under 5% of it, also on a busy
  // machine (20 requests made runs of 20-40 ms, where 2 ms of delay was already 5-10%).
  constexpr int kRequests = 100;
  const nlohmann::json j =
      run_bench("--url " + url + " -c 1,5,10,20 --requests " + std::to_string(kRequests) +
                " -n 64 --ignore-eos --pid " + std::to_string(server.pid()) + " --sample-interval 0.1");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto after = server.metrics();
  EXPECT_LT(wall, 60.0);
  ASSERT_EQ(j["schema"], "hayate.bench.serve/1");
  const nlohmann::json& target = j["targets"][0];
  EXPECT_EQ(target["server"], "hayate");
  EXPECT_EQ(target["workload"]["name"], "story");
  const nlohmann::json& runs = target["runs"];
  ASSERT_EQ(runs.size(), 4u);

  int64_t sent = 0, prompt = 0, output = 0;
  const int expect_c[] = {1, 5, 10, 20};
  for (size_t i = 0; i < runs.size(); ++i) {
    const nlohmann::json& r = runs[i];
    SCOPED_TRACE("concurrency " + r["concurrency"].dump());
    EXPECT_EQ(r["concurrency"], expect_c[i]);
    EXPECT_EQ(r["requests"]["sent"], kRequests);
    ASSERT_EQ(r["requests"]["ok"], kRequests) << r["requests"].dump();
    sent += r["requests"]["sent"].get<int64_t>();
    prompt += r["tokens"]["prompt"].get<int64_t>();
    output += r["tokens"]["output"].get<int64_t>();

    // Token counts: the client's sums of usage against the server's counters over the same run.
    const nlohmann::json& sm = r["server_metrics"];
    ASSERT_TRUE(sm.is_object());
    EXPECT_EQ(r["tokens"]["output"].get<double>(), sm["generated_tokens_total"].get<double>());
    EXPECT_EQ(r["tokens"]["prompt"].get<double>(), sm["prompt_tokens_total"].get<double>());
    EXPECT_EQ(r["tokens"]["output"].get<int64_t>(), kRequests * 64);

    // Every request's first token came before its end.
    const nlohmann::json& ttft = r["ttft_samples_ms"];
    const nlohmann::json& e2e = r["e2e_samples_ms"];
    ASSERT_EQ(ttft.size(), static_cast<size_t>(kRequests));
    ASSERT_EQ(e2e.size(), static_cast<size_t>(kRequests));
    for (size_t k = 0; k < ttft.size(); ++k) {
      EXPECT_GT(ttft[k].get<double>(), 0);
      EXPECT_LT(ttft[k].get<double>(), e2e[k].get<double>()) << "request " << k;
    }
    EXPECT_LT(r["latency_ms"]["ttft"]["max"].get<double>(), r["latency_ms"]["e2e"]["max"].get<double>());

    // Request throughput against the server's hayate_requests_total over the server-side window.
    EXPECT_EQ(sm["requests_total"], kRequests);
    const double server_rps = sm["requests_total"].get<double>() / sm["window_s"].get<double>();
    const double client_rps = r["throughput"]["requests_per_s"].get<double>();
    EXPECT_NEAR(client_rps, server_rps, 0.05 * client_rps)
        << "window " << sm["window_s"] << " s, run " << r["duration_s"] << " s";

    // The server process was sampled.
    const nlohmann::json& samples = r["resources"]["samples"];
    EXPECT_EQ(r["resources"]["pid"], server.pid());
    ASSERT_FALSE(samples.empty());
    EXPECT_GT(samples.back()["rss_bytes"].get<double>(), 1 << 20);
    // No GPU here: the GPU fields are left out, not written as null or zero (issue 23).
    EXPECT_FALSE(samples.back().contains("gpu_util_pct"));
  }
  EXPECT_DOUBLE_EQ(runs[0]["degradation_vs_c1"].get<double>(), 1.0);
  EXPECT_TRUE(runs[3]["degradation_vs_c1"].is_number());

  // And over the whole sweep, against counters the test read itself.
  const std::string chat_ok = "hayate_requests_total{route=\"/v1/chat/completions\",status=\"200\"}";
  EXPECT_EQ(metric(after, chat_ok) - metric(before, chat_ok), static_cast<double>(sent));
  EXPECT_EQ(metric(after, "hayate_generation_tokens_total") - metric(before, "hayate_generation_tokens_total"),
            static_cast<double>(output));
  EXPECT_EQ(metric(after, "hayate_prompt_tokens_total") - metric(before, "hayate_prompt_tokens_total"),
            static_cast<double>(prompt));
}

TEST(ServerBenchServe, FixedPromptsHaveTheExactTokenCount) {
  ServerProcess server({});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  const nlohmann::json j = run_bench("--url " + url + " --workload fixed --prompt-tokens 37 -c 2 --requests 6 -n 4");
  const nlohmann::json& target = j["targets"][0];
  EXPECT_EQ(target["workload"]["name"], "fixed");
  EXPECT_EQ(target["workload"]["prompt_tokens"], 37);
  const nlohmann::json& run = target["runs"][0];
  ASSERT_EQ(run["requests"]["ok"], 6) << run.dump();
  EXPECT_EQ(run["tokens"]["prompt"], 6 * 37);
}

// The rag workload fills its collection, asks RAG chat questions and reports the server's stages.
TEST(ServerBenchServe, RagQuestionsReportTheServersStages) {
  const std::string dir = temp_path("bench-rag." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess server({"--collections-dir", dir, "--rag-chunk-tokens", "64"});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  for (const int requests : {6, 2}) {  // the second run finds the collection and its documents there
    const nlohmann::json j = run_bench("--url " + url + " --workload rag -c 2 -n 4 --requests " + std::to_string(requests));
    const nlohmann::json& run = j["targets"][0]["runs"][0];
    ASSERT_EQ(run["requests"]["ok"], requests) << run.dump();
    const nlohmann::json& stages = run["latency_ms"]["stages"];
    for (const char* stage : {"embed_ms", "search_ms", "prompt_ms", "generation_ms"}) {
      ASSERT_TRUE(stages.contains(stage)) << stages.dump();
      EXPECT_EQ(stages[stage]["count"], requests) << stage;
      EXPECT_LE(stages[stage]["p50"].get<double>(), run["latency_ms"]["e2e"]["max"].get<double>()) << stage;
    }
  }
  const std::string collection = http_get(server.port(), "/v1/collections/bench-rag", {}, "").body;
  EXPECT_NE(collection.find("\"documents\":48"), std::string::npos) << collection;
  std::filesystem::remove_all(dir);
}

TEST(ServerBenchServe, CtrlCKeepsWhatWasMeasured) {
  ServerProcess server({});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  const std::string out = temp_path("bench-serve-sigint.json");
  std::remove(out.c_str());
  const auto r = run_command("sh -c '" + kHayate + " bench serve --no-progress --url " + url +
                             " --mode soak -c 4 -n 16 " + "--duration 60 --snapshot-every 0.5 --out " + out +
                             " 2>/dev/null & p=$!; sleep 2.5; kill -INT $p; wait $p; echo exit=$?'");
  EXPECT_NE(r.output.find("exit=130"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| soak | c=4 |"), std::string::npos) << r.output;  // the table of what was measured
  const nlohmann::json j = nlohmann::json::parse(read_file(out));
  EXPECT_EQ(j["interrupted"], true);
  const nlohmann::json& run = j["targets"][0]["runs"][0];
  EXPECT_EQ(run["mode"], "soak");
  EXPECT_GT(run["requests"]["ok"].get<int>(), 0);
  EXPECT_LT(run["duration_s"].get<double>(), 10.0);
  EXPECT_GE(run["snapshots"].size(), 2u);
}

TEST(ServerBenchServe, BadArgumentsAreExplained) {
  auto r = run_command(kHayate + " bench serve --url ftp://example.com 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("the scheme 'ftp' is not supported"), std::string::npos) << r.output;
  r = run_command(kHayate + " bench serve --url http://127.0.0.1:1 --mode rate 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--mode rate needs --rate"), std::string::npos) << r.output;
  r = run_command(kHayate + " bench serve --url http://127.0.0.1:1 2>&1");  // nothing listens on port 1
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/v1/models"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate::test
