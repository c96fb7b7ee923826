// `hayate compress` / `hayate decompress` as a user runs them: exact round trips of the corpus
// and of 64 KB (many windows) with 1 and 2 threads giving the same file, pipes, zstd files that
// need no model, semantic files, a directory in a batch, and clear errors for damaged input.
// HAYATE_COMPRESS_DEVICE=cuda runs every command on that device (the GPU machine's check).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/compress_corpus.h"
#include "support/test_util.h"

namespace hayate::test {
namespace {

namespace fs = std::filesystem;
const std::string kBin = HAYATE_BIN;

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string device() {
  const char* d = std::getenv("HAYATE_COMPRESS_DEVICE");
  return d && *d ? std::string(" --device ") + d : "";
}

// Runs `hayate VERB ARGS` (with the device of HAYATE_COMPRESS_DEVICE); stderr goes to `err`.
CommandResult hayate(const std::string& args, const std::string& err) {
  const size_t verb = args.find(' ');
  return run_command(kBin + " " + args.substr(0, verb) + device() + args.substr(verb) + " 2>" + err);
}

TEST(CompressCli, CorpusRoundTripsWithOneAndTwoThreadsGivingTheSameFile) {
  for (const auto& [name, text] : compress_corpus()) {
    SCOPED_TRACE(name);
    const std::string in = temp_path(name), a = in + ".t1.hyz", b = in + ".t2.hyz", out = in + ".out",
                      err = in + ".err";
    write(in, text);
    ASSERT_EQ(hayate("compress -t 1 " + in + " -o " + a, err).exit_code, 0) << read(err);
    ASSERT_EQ(hayate("compress -t 2 " + in + " -o " + b, err).exit_code, 0) << read(err);
    EXPECT_EQ(read(a), read(b));
    ASSERT_EQ(hayate("decompress -t 2 " + a + " -o " + out, err).exit_code, 0) << read(err);
    EXPECT_EQ(read(out), text);
  }
}

TEST(CompressCli, SixtyFourKibibytesRoundTripThroughManyWindows) {
  const std::string text = mixed(64 * 1024);
  const std::string in = temp_path("mixed"), f = in + ".hyz", out = in + ".out", err = in + ".err";
  write(in, text);
  ASSERT_EQ(hayate("compress -t 1 " + in + " -o " + f, err).exit_code, 0) << read(err);
  EXPECT_NE(read(err).find("bits/byte"), std::string::npos) << read(err);
  ASSERT_EQ(hayate("decompress -t 2 " + f + " -o " + out, err).exit_code, 0) << read(err);
  EXPECT_EQ(read(out), text);
}

TEST(CompressCli, PipesAndZstdFilesThatNeedNoModel) {
  const std::string err = temp_path("err");
  const CommandResult r = run_command("printf 'piped \\377 bytes' | " + kBin + " compress -q" + device() + " | " +
                                      kBin + " decompress -q" + device() + " 2>" + err);
  EXPECT_EQ(r.exit_code, 0) << read(err);
  EXPECT_EQ(r.output, "piped \377 bytes");
  const std::string in = temp_path("z"), f = in + ".hyz";
  write(in, prose());
  ASSERT_EQ(hayate("compress --method zstd " + in + " -o " + f, err).exit_code, 0) << read(err);
  EXPECT_EQ(hayate("decompress " + f + " -m /nonexistent.gguf", err).output, prose()) << "zstd loads no model";
}

TEST(CompressCli, DamagedAndForeignInputAreClearErrors) {
  const std::string in = temp_path("p"), f = in + ".hyz", err = in + ".err";
  write(in, prose());
  ASSERT_EQ(hayate("compress " + in + " -o " + f, err).exit_code, 0);
  std::string bytes = read(f);
  bytes[bytes.size() / 2] ^= 1;
  write(f, bytes);
  EXPECT_EQ(hayate("decompress " + f, err).exit_code, 2);  // bad input
  EXPECT_NE(read(err).find("damaged"), std::string::npos) << read(err);
  write(f, bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(hayate("decompress " + f, err).exit_code, 2);
  EXPECT_EQ(hayate("decompress " + in, err).exit_code, 2);
  EXPECT_NE(read(err).find("not hayate compressed data"), std::string::npos) << read(err);
}

TEST(CompressCli, SemanticFilesReconstruct) {
  std::string text;
  for (int i = 0; i < 4; ++i) text += (i ? "\n\n" : "") + prose().substr(0, prose().find("\n\n"));
  const std::string in = temp_path("s"), f = in + ".hyz", err = in + ".err";
  write(in, text);
  ASSERT_EQ(hayate("compress --semantic --lead-tokens 12 " + in + " -o " + f, err).exit_code, 0) << read(err);
  EXPECT_NE(read(err).find("quality: cosine"), std::string::npos) << read(err);
  EXPECT_LT(read(f).size() * 5, text.size());
  const CommandResult r = hayate("decompress " + f, err);
  ASSERT_EQ(r.exit_code, 0) << read(err);
  EXPECT_EQ(r.output.rfind("Once upon a time", 0), 0u) << r.output;
}

TEST(CompressCli, BatchCompressesADirectoryAndReportsEachFile) {
  const fs::path dir = temp_path("batch"), out = temp_path("batch-out");
  fs::remove_all(dir);
  fs::remove_all(out);
  fs::create_directories(dir);
  write((dir / "a.txt").string(), prose());
  write((dir / "b.txt").string(), code());
  write((dir / "c.txt").string(), prose() + prose());
  const std::string report = temp_path("report.json"), err = temp_path("err");
  ASSERT_EQ(
      hayate("compress --batch " + dir.string() + " --out-dir " + out.string() + " --report " + report, err).exit_code,
      0)
      << read(err);
  EXPECT_NE(read(err).find("3 of 3 items"), std::string::npos) << read(err);
  const auto j = nlohmann::json::parse(read(report));
  ASSERT_EQ(j.size(), 3u);
  for (const auto& item : j) EXPECT_TRUE(item["ok"].get<bool>()) << item;
  const CommandResult r = hayate("decompress " + (out / "b.txt.hyz").string(), err);
  EXPECT_EQ(r.output, code());
}

}  // namespace
}  // namespace hayate::test
