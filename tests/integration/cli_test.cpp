// Drives the real `hayate` program: synth → info → quantize → run/tokenize, and its errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace hayate {
namespace {

const std::string kBin = HAYATE_BIN;
const std::string kVocab = std::string(HAYATE_SHARED_VOCAB) + "/ggml-vocab-llama-spm.gguf";

std::string synth(const std::string& name, const std::string& extra) {
  const std::string path = test::temp_path(name);
  const auto r = test::run_command(kBin + " synth -o " + path +
                                   " --n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 " + extra + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

nlohmann::json run_json(const std::string& args) {
  const auto r = test::run_command(kBin + " run " + args + " --json 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << args;
  return nlohmann::json::parse(r.output);
}

TEST(Cli, SynthInfoRunQuantizeEndToEnd) {
  if (!std::filesystem::exists(kVocab)) GTEST_SKIP() << "no shared vocab at " << kVocab;
  const std::string model = synth("spm.gguf", "--vocab-from " + kVocab + " --type f16");
  const auto info = test::run_command(kBin + " info " + model);
  ASSERT_EQ(info.exit_code, 0);
  EXPECT_NE(info.output.find("blk.1.ffn_down.weight"), std::string::npos);
  EXPECT_NE(info.output.find("tokenizer.ggml.model"), std::string::npos);

  const auto a = run_json("-m " + model + " -p 'Hello world' -n 12 --temp 0");
  const auto b = run_json("-m " + model + " -p 'Hello world' -n 12 --temp 0 --backend reference");
  EXPECT_EQ(a["ids"].size(), 12u);
  EXPECT_EQ(a["ids"], b["ids"]) << "greedy text differs between the cpu and reference backends";
  EXPECT_EQ(a["prompt_ids"][0], 1) << "llama-spm adds BOS";

  const auto s1 = run_json("-m " + model + " -p 'Hello' -n 16 --temp 1.0 --seed 123");
  const auto s2 = run_json("-m " + model + " -p 'Hello' -n 16 --temp 1.0 --seed 123");
  const auto s3 = run_json("-m " + model + " -p 'Hello' -n 16 --temp 1.0 --seed 124");
  EXPECT_EQ(s1["ids"], s2["ids"]) << "same seed, same text";
  EXPECT_NE(s1["ids"], s3["ids"]);

  const std::string q = test::temp_path("spm-q4km.gguf");
  const auto qr = test::run_command(kBin + " quantize " + model + " " + q + " q4_k_m 2>&1");
  ASSERT_EQ(qr.exit_code, 0) << qr.output;
  EXPECT_LT(std::filesystem::file_size(q), std::filesystem::file_size(model) / 2);
  const auto c = run_json("-m " + q + " -p 'Hello world' -n 4 --temp 0");
  EXPECT_EQ(c["ids"].size(), 4u);

  const auto tok = test::run_command(kBin + " tokenize -m " + model + " 'Hello world'");
  ASSERT_EQ(tok.exit_code, 0);
  const auto ids = nlohmann::json::parse(tok.output);
  EXPECT_EQ(ids, nlohmann::json(std::vector<int>(a["prompt_ids"].begin() + 1, a["prompt_ids"].end())));
}

TEST(Cli, PromptIdsLogitsOutAndStopStrings) {
  const std::string model = synth("bytes.gguf", "--type q8_0");
  const std::string logits = test::temp_path("logits.f32");
  const auto r = run_json("-m " + model + " --prompt-ids 5,6,7 -n 3 --temp 0 --logits-out " + logits);
  EXPECT_EQ(r["prompt_ids"], nlohmann::json({5, 6, 7}));
  const auto values = test::read_f32_file(logits);
  ASSERT_EQ(values.size(), 3u * 260u) << "3 positions x 260 vocab";
  // The last position's argmax is the first greedy token.
  EXPECT_EQ(static_cast<int>(test::argmax(values.data() + 2 * 260, 260)), r["ids"][0].get<int>());

  // A stop string cuts the text before it: take the greedy text and stop at its 3rd character.
  const auto full = run_json("-m " + model + " --prompt-ids 5,6,7 -n 24 --temp 0");
  const std::string text = full["text"];
  if (text.size() >= 4) {
    const std::string stop = text.substr(2, 2);
    const auto cut = run_json("-m " + model + " --prompt-ids 5,6,7 -n 24 --temp 0 --stop '" + stop + "'");
    EXPECT_EQ(cut["finish_reason"], "stop");
    EXPECT_EQ(cut["text"], text.substr(0, text.find(stop)));
  }
}

TEST(Cli, DefaultModelIsTheEmbeddedDemoModel) {
  // No -m: the demo model linked into the program answers, and nothing is written to disk.
  const std::string home = test::temp_path("home");
  std::filesystem::remove_all(home);
  const std::string prompt = test::temp_path("prompt.txt");
  std::ofstream(prompt) << "<|im_start|>user\nWhat is 23 + 45?<|im_end|>\n<|im_start|>assistant\n";
  const auto r =
      test::run_command("HAYATE_HOME=" + home + " " + kBin + " run -f " + prompt + " -n 8 --temp 0 --json 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["text"], "68");
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_FALSE(std::filesystem::exists(home));

  const auto chat = test::run_command("echo 'What is 23 + 45?' | " + kBin + " chat --temp 0 2>&1");
  ASSERT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_NE(chat.output.find("hayate-demo"), std::string::npos) << chat.output;
  EXPECT_NE(chat.output.find("> 68\n"), std::string::npos) << chat.output;
}

TEST(Cli, ErrorsAreClearWithExitCodes) {
  auto r = test::run_command(kBin + " run -m /nonexistent/model.gguf -p hi 2>&1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("/nonexistent/model.gguf"), std::string::npos) << r.output;

  const std::string junk = test::temp_path("junk.gguf");
  std::ofstream(junk) << "this is not a gguf file at all";
  r = test::run_command(kBin + " info " + junk + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("junk.gguf"), std::string::npos) << r.output;

  const std::string model = synth("err.gguf", "--type f32");
  r = test::run_command(kBin + " run -m " + model + " --prompt-ids 1,x,3 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("'x' is not a token id"), std::string::npos) << r.output;
  r = test::run_command(kBin + " run -m " + model + " --prompt-ids 1,99999 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("outside the vocabulary"), std::string::npos) << r.output;
  r = test::run_command(kBin + " run -m " + model + " -p hi --temp nan 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  r = test::run_command(kBin + " quantize " + model + " " + test::temp_path("x.gguf") + " q9_9 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("q9_9"), std::string::npos) << r.output;
}

// --gpu-layers 0 is the CPU whatever the device; counts the model lacks and GPU layers on the
// CPU device are errors that say so (the split itself: forward_split_test, engine_split_test).
TEST(Cli, GpuLayers) {
  const std::string model = synth("gpu-layers.gguf", "--type f32");
  const std::string run = kBin + " run -m " + model + " -p hi -n 8 --temp 0 --ignore-eos ";
  const auto cpu = test::run_command(run + "--device cpu 2>/dev/null");
  ASSERT_EQ(cpu.exit_code, 0);
  const auto zero = test::run_command(run + "--device auto --gpu-layers 0 2>/dev/null");
  EXPECT_EQ(zero.exit_code, 0);
  EXPECT_EQ(zero.output, cpu.output);
  auto r = test::run_command(run + "--device cpu --gpu-layers 1 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--gpu-layers 1 needs a GPU"), std::string::npos) << r.output;
  r = test::run_command(run + "--gpu-layers 3 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("the model has 2 layers"), std::string::npos) << r.output;
  r = test::run_command(run + "--gpu-layers=-1 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("'-1' is not a layer count"), std::string::npos) << r.output;
}

// --tensor-parallel 2 on CPU ranks gives the greedy text of one backend and prints the per-rank
// plan; N that the heads do not divide runs a pipeline instead, saying why; missing GPUs are an
// error (the slicing itself: forward_tensor_parallel_test, engine_split_test).
TEST(Cli, TensorParallel) {
  const std::string model = synth("tensor-parallel.gguf", "--type f32");
  const std::string run = kBin + " run -m " + model + " -p hi -n 8 --temp 0 --ignore-eos ";
  const auto one = test::run_command(run + "--device cpu 2>/dev/null");
  ASSERT_EQ(one.exit_code, 0);
  const auto two = test::run_command(run + "--device cpu --tensor-parallel 2 2>&1 >/dev/null");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("tensor parallel 2: each GPU 2 of 4 heads, 1 of 2 KV heads, 256 of 512 FFN columns"),
            std::string::npos)
      << two.output;
  EXPECT_NE(two.output.find("backend tp2(cpu)"), std::string::npos) << two.output;
  EXPECT_EQ(test::run_command(run + "--device cpu --tensor-parallel 2 2>/dev/null").output, one.output);
  const auto three = test::run_command(run + "--device cpu --tensor-parallel 3 2>&1");
  EXPECT_NE(three.exit_code, 0);  // 4 heads do not divide into 3, and 2 layers make no pipeline of 3
  EXPECT_NE(three.output.find("the model's 4 attention heads do not divide into 3"), std::string::npos) << three.output;
  const auto gpus = test::run_command(run + "--device cuda --tensor-parallel 64 2>&1");
  EXPECT_NE(gpus.exit_code, 0) << gpus.output;
  EXPECT_NE(gpus.output.find("--tensor-parallel 64"), std::string::npos) << gpus.output;
}

}  // namespace
}  // namespace hayate
