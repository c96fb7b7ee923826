// hayate pull's transport against a local file server (support/file_server.h): resume after a
// cut connection (within a pull and across pulls), parallel ranges, checksums, 404, tokens,
// redirects, mirror manifests with several files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "store/download.h"
#include "store/pull.h"
#include "store/store.h"
#include "support/file_server.h"
#include "support/test_util.h"

namespace hayate::store {
namespace {

namespace fs = std::filesystem;

std::string bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string sha_of(const std::string& data) {
  const fs::path p = test::temp_path("sha-input");
  std::ofstream(p, std::ios::binary) << data;
  return sha256_file(p);
}

StoreConfig config(const std::string& dir_name) {
  StoreConfig c;
  c.models_dir = test::temp_path(dir_name);
  fs::remove_all(c.models_dir);
  c.connections = 1;
  return c;
}

// The requests for `path` that asked for a range, as their Range values.
std::vector<std::string> ranges_asked(const test::FileServer& s, const std::string& path) {
  std::vector<std::string> out;
  for (const std::string& head : s.requests()) {
    if (head.rfind("GET " + path + " ", 0) != 0) continue;
    const size_t at = head.find("\r\nRange: ");
    if (at != std::string::npos) out.push_back(head.substr(at + 9, head.find("\r\n", at + 9) - at - 9));
  }
  return out;
}

TEST(StorePull, SingleFileWithChecksumEndsUpInTheStore) {
  test::FileServer server;
  const std::string data = bytes(300000, 1);
  server.put("/m/demo.gguf", data);
  const StoreConfig c = config("store-single");
  PullOptions o;
  o.sha256 = sha_of(data);
  const Manifest m = pull(server.url("/m/demo.gguf"), c, o);
  EXPECT_EQ(m.full_name(), "demo:latest");
  const Store s(c.models_dir);
  ASSERT_TRUE(s.find(parse_name("demo")));
  EXPECT_EQ(read(s.model_file(m)), data);
  EXPECT_EQ(m.files[0].size, data.size());
  EXPECT_EQ(m.files[0].sha256, o.sha256);
  EXPECT_FALSE(fs::exists(s.model_file(m).string() + ".partial"));
  EXPECT_FALSE(fs::exists(s.model_file(m).string() + ".partial.json"));
}

TEST(StorePull, ResumesAfterTheConnectionIsCutHalfway) {
  test::FileServer server;
  const std::string data = bytes(1 << 20, 2);
  server.put("/demo.gguf", data);
  server.cut_next = 1;
  const StoreConfig c = config("store-cut");
  const Manifest m = pull(server.url("/demo.gguf"), c, {});
  EXPECT_EQ(read(Store(c.models_dir).model_file(m)), data) << "complete and correct";
  const std::vector<std::string> asked = ranges_asked(server, "/demo.gguf");
  ASSERT_EQ(asked.size(), 3u);  // the probe, the cut request, the resumed one
  EXPECT_EQ(asked[1], "bytes=0-" + std::to_string(data.size() - 1));
  EXPECT_EQ(asked[2], "bytes=" + std::to_string(data.size() / 2) + "-" + std::to_string(data.size() - 1))
      << "the second request asked only for the missing half";
}

TEST(StorePull, ANewPullResumesTheFileAnEarlierOneLeft) {
  test::FileServer server;
  const std::string data = bytes(1 << 20, 3);
  server.put("/demo.gguf", data);
  server.cut_next = 1;    // half of it arrives (a first failure),
  server.empty_next = 3;  // then three retries get no byte: a fourth failure in a row ends the pull
  const StoreConfig c = config("store-resume");
  EXPECT_THROW(pull(server.url("/demo.gguf"), c, {}), Error);
  const fs::path partial = c.models_dir / "demo" / "latest" / "demo.gguf.partial";
  ASSERT_TRUE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(c.models_dir / "demo" / "latest" / "demo.gguf")) << "never a half file under its name";
  EXPECT_FALSE(Store(c.models_dir).find(parse_name("demo"))) << "no manifest for a half model";
  const uint64_t have = fs::file_size(partial);
  EXPECT_EQ(have, data.size() / 2);
  server.clear_requests();
  const Manifest m = pull(server.url("/demo.gguf"), c, {});
  EXPECT_EQ(read(Store(c.models_dir).model_file(m)), data);
  const std::vector<std::string> asked = ranges_asked(server, "/demo.gguf");
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[1], "bytes=" + std::to_string(have) + "-" + std::to_string(data.size() - 1))
      << "Range from the partial file's size";
}

TEST(StorePull, AChangedFileStartsOver) {
  test::FileServer server;
  const std::string old_data = bytes(1 << 20, 4), new_data = bytes(1 << 20, 5);
  server.put("/demo.gguf", old_data, "v1");
  server.cut_next = 1;
  server.empty_next = 3;
  const StoreConfig c = config("store-changed");
  EXPECT_THROW(pull(server.url("/demo.gguf"), c, {}), Error);
  server.put("/demo.gguf", new_data, "v2");
  server.clear_requests();
  const Manifest m = pull(server.url("/demo.gguf"), c, {});
  EXPECT_EQ(read(Store(c.models_dir).model_file(m)), new_data) << "no bytes of the old version kept";
  EXPECT_EQ(ranges_asked(server, "/demo.gguf").back(), "bytes=0-" + std::to_string(new_data.size() - 1));
}

TEST(StorePull, BigFilesComeInParallelRanges) {
  test::FileServer server;
  const std::string data = bytes(3 << 20, 6);
  server.put("/big.gguf", data);
  server.cut_next = 1;  // one range is cut and resumed on its own
  StoreConfig c = config("store-parallel");
  c.connections = 4;
  c.parallel_min_bytes = 1 << 20;
  const Manifest m = pull(server.url("/big.gguf"), c, {});
  EXPECT_EQ(read(Store(c.models_dir).model_file(m)), data);
  const std::vector<std::string> asked = ranges_asked(server, "/big.gguf");
  EXPECT_EQ(asked.size(), 1u + 3u + 1u) << "probe, three ranges (one per MiB), one resumed";
  for (const char* r : {"bytes=0-1048575", "bytes=1048576-2097151", "bytes=2097152-3145727"})
    EXPECT_NE(std::find(asked.begin(), asked.end(), r), asked.end()) << r;
}

TEST(StorePull, ChecksumMismatchLeavesNoFile) {
  test::FileServer server;
  server.put("/demo.gguf", bytes(200000, 7));
  const StoreConfig c = config("store-mismatch");
  PullOptions o;
  o.sha256 = std::string(64, '0');
  try {
    pull(server.url("/demo.gguf"), c, o);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("does not match the expected " + o.sha256), std::string::npos) << e.what();
  }
  const fs::path dir = c.models_dir / "demo" / "latest";
  EXPECT_FALSE(fs::exists(dir / "demo.gguf"));
  EXPECT_FALSE(fs::exists(dir / "demo.gguf.partial"));
  EXPECT_TRUE(Store(c.models_dir).list().empty());
}

TEST(StorePull, NotFoundNamesTheUrl) {
  test::FileServer server;
  const StoreConfig c = config("store-404");
  try {
    pull(server.url("/missing.gguf"), c, {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find(server.url("/missing.gguf") + ": 404"), std::string::npos) << e.what();
  }
}

TEST(StorePull, HuggingFaceFormSendsTheTokenButNotToAnotherHost) {
  test::FileServer hub, cdn;
  const std::string data = bytes(100000, 8);
  cdn.put("/blob/abc", data);
  hub.redirect("/owner/repo/resolve/main/sub/tiny.gguf", cdn.url("/blob/abc"));
  StoreConfig c = config("store-hf");
  c.hf_base = hub.url("");
  c.hf_token = "hf_secret";
  const Manifest m = pull("owner/repo/sub/tiny.gguf", c, {});
  EXPECT_EQ(m.full_name(), "tiny:latest");
  EXPECT_EQ(m.source, "owner/repo/sub/tiny.gguf");
  EXPECT_EQ(read(Store(c.models_dir).model_file(m)), data);
  ASSERT_FALSE(hub.requests().empty());
  for (const std::string& head : hub.requests())
    EXPECT_NE(head.find("\r\nAuthorization: Bearer hf_secret\r\n"), std::string::npos) << head;
  ASSERT_FALSE(cdn.requests().empty());
  for (const std::string& head : cdn.requests()) EXPECT_EQ(head.find("Authorization"), std::string::npos) << head;
}

TEST(StorePull, MirrorManifestWithSeveralFiles) {
  test::FileServer mirror;
  const std::string a = bytes(50000, 9), b = bytes(7000, 10);
  mirror.put("/team/vlm/q8/model.gguf", a);
  mirror.put("/team/vlm/q8/mmproj.gguf", b);
  mirror.put("/team/vlm/q8/manifest.json", R"({"files": [{"name": "model.gguf", "size": 50000, "sha256": ")" +
                                               sha_of(a) + R"("}, {"name": "mmproj.gguf", "sha256": ")" + sha_of(b) +
                                               R"("}]})");
  StoreConfig c = config("store-mirror");
  EXPECT_THROW(pull("team/vlm:q8", c, {}), Error) << "no mirror configured";
  c.mirror = mirror.url("/");
  const Manifest m = pull("team/vlm:q8", c, {});
  EXPECT_EQ(m.full_name(), "team/vlm:q8");
  const Store s(c.models_dir);
  EXPECT_EQ(resolve_model("team/vlm:q8", s), s.folder(parse_name("team/vlm:q8")) / "model.gguf");
  EXPECT_EQ(read(s.folder(parse_name("team/vlm:q8")) / "mmproj.gguf"), b);
  ASSERT_EQ(s.list().size(), 1u);
  EXPECT_EQ(s.list()[0].files[1].size, b.size());
  // Pulled again, whole files are not fetched again.
  mirror.clear_requests();
  pull("team/vlm:q8", c, {});
  EXPECT_TRUE(ranges_asked(mirror, "/team/vlm/q8/model.gguf").empty());
  try {
    pull("team/other", c, {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("/team/other/latest/manifest.json"), std::string::npos) << e.what();
  }
}

TEST(StoreDownload, LongRangesGoInBoundedRequests) {
  test::FileServer server;
  const std::string data = bytes(1 << 20, 13);
  server.put("/demo.gguf", data);
  server.cut_next = 3;  // each cut request made progress, so one retry in a row is enough
  DownloadOptions o;
  o.connections = 1;
  o.request_bytes = 256 << 10;
  o.retries = 1;
  const fs::path partial = test::temp_path("bounded.partial");
  fs::remove(partial);
  const Downloaded d = download(server.url("/demo.gguf"), partial, o);
  EXPECT_EQ(d.size, data.size());
  EXPECT_EQ(read(partial), data);
  const std::vector<std::string> asked = ranges_asked(server, "/demo.gguf");
  // Each cut request gave half of its 256 KiB, and the next asks from there for at most 256 KiB.
  const std::vector<std::string> expected = {"bytes=0-0",           "bytes=0-262143",      "bytes=131072-393215",
                                             "bytes=262144-524287", "bytes=393216-655359", "bytes=655360-917503",
                                             "bytes=917504-1048575"};
  EXPECT_EQ(asked, expected);
  EXPECT_FALSE(fs::exists(partial.string() + ".json"));
}

TEST(StorePull, TwoPullsOfOneFileDoNotMix) {
  test::FileServer server;
  const std::string data = bytes(100000, 12);
  server.put("/demo.gguf", data);
  const StoreConfig c = config("store-locked");
  const fs::path partial = c.models_dir / "demo" / "latest" / "demo.gguf.partial";
  fs::create_directories(partial.parent_path());
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as a pull in progress holds it
  try {
    pull(server.url("/demo.gguf"), c, {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Busy);
    EXPECT_NE(std::string(e.what()).find("another pull is writing this file"), std::string::npos) << e.what();
  }
  ::close(fd);
  const Manifest m = pull(server.url("/demo.gguf"), c, {});
  EXPECT_EQ(read(Store(c.models_dir).model_file(m)), data);
}

TEST(StorePull, ProgressIsReported) {
  test::FileServer server;
  server.put("/demo.gguf", bytes(100000, 11));
  PullOptions o;
  uint64_t last_done = 0, last_total = 0;
  o.on_progress = [&](const std::string& file, uint64_t done, uint64_t total) {
    EXPECT_EQ(file, "demo.gguf");
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  };
  pull(server.url("/demo.gguf"), config("store-progress"), o);
  EXPECT_EQ(last_done, 100000u);
  EXPECT_EQ(last_total, 100000u);
}

}  // namespace
}  // namespace hayate::store
