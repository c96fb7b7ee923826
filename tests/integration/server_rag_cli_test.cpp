// `hayate rag` and `hayate chat --rag` against the real server: a directory of mixed files
// ingested recursively (a bad file reported and the rest stored), re-ingest idempotent and a
// changed file replaced, search, remove, stats and delete; the same collections read with --dir
// after the server stopped; and a RAG chat turn that prints its sources.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "integration/server_harness.h"
#include "support/pdf.h"

namespace hayate::test {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

CommandResult hayate(const std::string& args, const std::string& input = "") {
  return run_command("echo '" + input + "' | " + kHayate + " " + args + " 2>&1");
}

TEST(ServerRagCli, IngestSearchRemoveDeleteAndChat) {
  const std::string base = temp_path("ragcli." + std::to_string(::getpid()));
  fs::remove_all(base);
  const fs::path docs = fs::path(base) / "docs";
  write(docs / "atlas.md", "# Zorvia\n\nThe capital of Zorvia is Quellmar, a city of glass towers.\n");
  write(docs / "guides" / "ferry.pdf", make_pdf({"The ferry to Ostmark leaves at dawn."}, "Ferry"));
  write(docs / "guides" / "lanterns.html", "<h1>Lanterns</h1><p>Lanterns of Velmora burn green.</p>");
  write(docs / "broken.pdf", "%PDF-1.4 not a pdf");
  write(docs / "image.png", "not read: skipped by extension");
  const std::string dir = base + "/collections";
  {
    ServerProcess server({"--collections-dir", dir});
    const std::string url = " --url http://127.0.0.1:" + std::to_string(server.port());

    CommandResult r = hayate("rag create kb --index Flat" + url);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("kb: 0 documents"), std::string::npos) << r.output;
    EXPECT_NE(hayate("rag create kb" + url).output.find("already"), std::string::npos);

    r = hayate("rag ingest kb " + docs.string() + " --batch-bytes 100000" + url);
    EXPECT_NE(r.exit_code, 0) << "a refused file fails the command: " << r.output;
    EXPECT_NE(r.output.find("broken.pdf"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ingested 3 of 4 files into kb: 3 added"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("image.png"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("[#"), std::string::npos) << "no progress bar off a terminal: " << r.output;

    fs::remove(docs / "broken.pdf");
    r = hayate("rag ingest kb " + docs.string() + url);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("0 added, 0 replaced, 3 unchanged"), std::string::npos) << r.output;
    write(docs / "atlas.md", "# Zorvia\n\nThe capital of Zorvia is Brennholt since the flood.\n");
    r = hayate("rag ingest kb " + (docs / "atlas.md").string() + url);
    EXPECT_NE(r.output.find("1 replaced"), std::string::npos) << r.output;

    r = hayate("rag search kb 'The ferry to Ostmark leaves at dawn.' -k 1" + url);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("guides/ferry.pdf"), std::string::npos) << r.output;
    r = hayate("rag search kb 'The capital of Zorvia is Brennholt since the flood.' -k 3 --json" + url);
    EXPECT_NE(r.output.find("Brennholt"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("Quellmar"), std::string::npos) << "the replaced text is gone: " << r.output;

    r = hayate("chat --rag kb --rag-top-k 1 -n 4 --temp 0" + url, "Lanterns of Velmora burn green.");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("[1] guides/lanterns.html # Lanterns"), std::string::npos) << r.output;
    EXPECT_NE(hayate("chat --rag missing" + url, "hi").exit_code, 0);

    r = hayate("rag remove kb guides/lanterns.html" + url);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(hayate("rag remove kb guides/lanterns.html" + url).exit_code, 0);
    r = hayate("rag stats kb" + url);
    EXPECT_NE(r.output.find("kb: 2 documents"), std::string::npos) << r.output;
    EXPECT_NE(hayate("rag stats nothing" + url).output.find("nothing"), std::string::npos);
    EXPECT_EQ(server.stop(), 0);
  }
  // The stopped server's collections, read from its directory.
  CommandResult r = hayate("rag list --dir " + dir);
  EXPECT_NE(r.output.find("kb: 2 documents"), std::string::npos) << r.output;
  EXPECT_NE(hayate("rag search kb x --dir " + dir).output.find("--url"), std::string::npos);
  EXPECT_NE(hayate("rag list --dir " + base + "/nowhere").exit_code, 0);
  EXPECT_FALSE(fs::exists(base + "/nowhere"));
  EXPECT_EQ(hayate("rag delete kb --dir " + dir).exit_code, 0);
  EXPECT_NE(hayate("rag list --dir " + dir).output.find("no collections"), std::string::npos);
}

}  // namespace
}  // namespace hayate::test
