// `hayate pull / list / show / rm` and models by name in `-m`, driven through the real program
// against the test's own file server serving the demo model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/file_server.h"
#include "support/test_util.h"

namespace hayate {
namespace {

namespace fs = std::filesystem;

const std::string kBin = HAYATE_BIN;
const std::string kDemo = std::string(HAYATE_SOURCE_DIR) + "/assets/demo-q8_0.gguf";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A store of the test's own, no user settings, and the demo model on a local server.
class StoreCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_path("models");
    fs::remove_all(dir_);
    server_.put("/files/demo-q8_0.gguf", read(kDemo));
  }
  // The command line with the store's environment; stderr to `err_`.
  std::string cmd(const std::string& args) const {
    return "env -u HAYATE_STORE_CONFIG -u HAYATE_HF_TOKEN -u HAYATE_MIRROR HAYATE_MODELS=" + dir_.string() +
           " XDG_CONFIG_HOME=" + dir_.string() + "-config " + kBin + " " + args;
  }
  test::CommandResult run(const std::string& args) const { return test::run_command(cmd(args) + " 2>" + err_file()); }
  std::string err_file() const { return test::temp_path("stderr.txt"); }
  std::string err() const { return read(err_file()); }

  fs::path dir_;
  test::FileServer server_;
};

TEST_F(StoreCli, PullListShowRunRemove) {
  const std::string url = server_.url("/files/demo-q8_0.gguf");
  auto r = run("pull " + url + " --name demo:q8");
  ASSERT_EQ(r.exit_code, 0) << err();
  EXPECT_NE(r.output.find("pulled demo:q8 (1 file, "), std::string::npos) << r.output;
  EXPECT_EQ(err(), "") << "no progress when stderr is not a terminal";
  EXPECT_EQ(read(dir_ / "demo" / "q8" / "demo-q8_0.gguf"), read(kDemo));

  r = run("list");
  ASSERT_EQ(r.exit_code, 0) << err();
  EXPECT_NE(r.output.find("NAME"), std::string::npos);
  EXPECT_NE(r.output.find("demo:q8"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Q8_0"), std::string::npos) << r.output;
  r = run("list --json");
  const nlohmann::json rows = nlohmann::json::parse(r.output);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["name"], "demo:q8");
  EXPECT_EQ(rows[0]["size"], fs::file_size(kDemo));
  EXPECT_EQ(rows[0]["quantization"], "Q8_0");
  EXPECT_FALSE(rows[0]["architecture"].get<std::string>().empty());

  r = run("show demo:q8");
  ASSERT_EQ(r.exit_code, 0) << err();
  for (const char* field : {"name            demo:q8", "architecture", "parameters", "quantization    Q8_0",
                            "context length", "chat template", "demo-q8_0.gguf", "sha256:"})
    EXPECT_NE(r.output.find(field), std::string::npos) << field << " in\n" << r.output;
  r = run("show --json demo:q8");
  const nlohmann::json shown = nlohmann::json::parse(r.output);
  EXPECT_GT(shown["parameters"].get<uint64_t>(), 1000000u);
  EXPECT_GT(shown["context_length"].get<int64_t>(), 0);
  EXPECT_EQ(shown["size"], fs::file_size(kDemo));
  r = run("show --json " + kDemo);
  ASSERT_EQ(r.exit_code, 0) << "a file works too: " << err();
  EXPECT_EQ(nlohmann::json::parse(r.output)["parameters"], shown["parameters"]);

  // By name wherever -m goes: the same greedy tokens as the same file by path.
  const std::string gen = " -p 'Once upon a time' -n 6 --temp 0 --json";
  r = run("run -m demo:q8" + gen);
  ASSERT_EQ(r.exit_code, 0) << err();
  const auto by_name = nlohmann::json::parse(r.output);
  r = run("run -m " + kDemo + gen);
  ASSERT_EQ(r.exit_code, 0) << err();
  EXPECT_EQ(by_name["ids"], nlohmann::json::parse(r.output)["ids"]);
  EXPECT_EQ(by_name["ids"].size(), 6u);
  r = run("tokenize -m demo:q8 'Hello'");
  EXPECT_EQ(r.exit_code, 0) << err();

  r = run("run -m demo:q9" + gen);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("demo:q9: no such file, and no model of that name in the store"), std::string::npos) << err();
  EXPECT_NE(err().find("close names: demo:q8"), std::string::npos) << err();

  r = run("rm demo:q8");
  ASSERT_EQ(r.exit_code, 0) << err();
  EXPECT_EQ(r.output, "removed demo:q8\n");
  EXPECT_FALSE(fs::exists(dir_ / "demo"));
  r = run("rm demo:q8");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("no model 'demo:q8' in the store"), std::string::npos) << err();
  r = run("list --json");
  EXPECT_EQ(nlohmann::json::parse(r.output).size(), 0u);
}

TEST_F(StoreCli, ProgressOnATerminal) {
  // script(1) gives the program a pseudo-terminal, stderr included.
  const std::string inner = cmd("pull " + server_.url("/files/demo-q8_0.gguf"));
  const auto r = test::run_command("script -qec '" + inner + "' /dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\rdemo-q8_0.gguf  "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("100.0%"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/s  ETA "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pulled demo-q8_0:latest"), std::string::npos) << r.output;
  const auto quiet = test::run_command("script -qec '" + inner + " --quiet' /dev/null");
  EXPECT_EQ(quiet.output.find('%'), std::string::npos) << quiet.output;
}

TEST_F(StoreCli, ErrorsNameWhatWasWrong) {
  auto r = run("pull " + server_.url("/files/nope.gguf"));
  EXPECT_EQ(r.exit_code, test::run_command(kBin + " run -m /no/such.gguf 2>/dev/null").exit_code)
      << "a 404 exits as not found";
  EXPECT_NE(err().find(server_.url("/files/nope.gguf") + ": 404 Not Found"), std::string::npos) << err();

  r = run("pull " + server_.url("/files/demo-q8_0.gguf") + " --sha256 " + std::string(64, 'f'));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("does not match the expected"), std::string::npos) << err();
  std::vector<fs::path> left;
  if (fs::exists(dir_))
    for (const auto& e : fs::recursive_directory_iterator(dir_))
      if (e.is_regular_file()) left.push_back(e.path());
  EXPECT_TRUE(left.empty()) << "no half file in the store: " << (left.empty() ? "" : left[0].string());

  r = run("show /no/such.gguf");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("/no/such.gguf: no such file"), std::string::npos) << err();
  r = run("show nothing:here");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("no model 'nothing:here' in the store"), std::string::npos) << err();

  r = run("pull 'bad name!'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("model name 'bad name!'"), std::string::npos) << err();
  r = run("pull plain-name");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(err().find("no mirror is set"), std::string::npos) << err();
}

}  // namespace
}  // namespace hayate
