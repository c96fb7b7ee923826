// The store's names, manifests (bad input named), folder, close names and `-m` resolution.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "store/store.h"
#include "support/test_util.h"

namespace hayate::store {
namespace {

namespace fs = std::filesystem;

const std::string kSha(64, 'a');

std::string manifest_json(const std::string& files) {
  return R"({"name": "demo", "tag": "q8", "source": "http://x/demo.gguf", "pulled": 1700000000, "files": )" + files +
         "}";
}

void expect_bad(const std::string& json, const std::string& says, bool remote = false) {
  try {
    parse_manifest(json, "m.json", remote);
    ADD_FAILURE() << "accepted: " << json;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("m.json: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(StoreName, ParsesNameAndTag) {
  EXPECT_EQ(parse_name("qwen3").full(), "qwen3:latest");
  EXPECT_EQ(parse_name("team/demo-1.5b:q4_K_M").name, "team/demo-1.5b");
  EXPECT_EQ(parse_name("team/demo-1.5b:q4_K_M").tag, "q4_K_M");
  for (const char* bad : {"", ":x", "a:", "../x", "a//b", "/a", "a/", "a b", "a:b/c", "a/./b", "a:..", "ü"}) {
    EXPECT_FALSE(is_valid_name(bad)) << bad;
    EXPECT_THROW(parse_name(bad), Error) << bad;
  }
}

TEST(StoreManifest, RoundTrips) {
  Manifest m = parse_manifest(
      manifest_json(R"([{"name": "a.gguf", "size": 12, "sha256": ")" + kSha +
                    R"(", "url": "http://x/a.gguf"}, {"name": "b.gguf", "size": 3, "sha256": ")" + kSha + R"("}])"),
      "m.json");
  EXPECT_EQ(m.full_name(), "demo:q8");
  EXPECT_EQ(m.pulled, 1700000000);
  ASSERT_EQ(m.files.size(), 2u);
  EXPECT_EQ(m.files[0].size, 12u);
  EXPECT_EQ(m.files[0].url, "http://x/a.gguf");
  const Manifest again = parse_manifest(to_json(m), "again");
  EXPECT_EQ(to_json(again), to_json(m));
}

TEST(StoreManifest, BadInputSaysWhatIsWrong) {
  const std::string ok_file = R"({"name": "a.gguf", "size": 1, "sha256": ")" + kSha + R"("})";
  expect_bad("{not json", "not JSON");
  expect_bad("[]", "JSON object");
  expect_bad(R"({"files": [)" + ok_file + "]}", "has no \"name\"");
  expect_bad(manifest_json("[]"), "\"files\" must be a non-empty array");
  expect_bad(manifest_json("{}"), "\"files\" must be a non-empty array");
  expect_bad(manifest_json("[1]"), "files[0] is not an object");
  expect_bad(manifest_json(R"([{"size": 1, "sha256": ")" + kSha + R"("}])"), "files[0] has no \"name\"");
  expect_bad(manifest_json(R"([{"name": "../evil", "size": 1, "sha256": ")" + kSha + R"("}])"),
             "not a plain file name");
  expect_bad(manifest_json(R"([{"name": "a/b", "size": 1, "sha256": ")" + kSha + R"("}])"), "not a plain file name");
  expect_bad(manifest_json(R"([{"name": "a.gguf", "size": 1, "sha256": "abc"}])"), "64 lower-case hex");
  expect_bad(manifest_json(R"([{"name": "a.gguf", "size": 1, "sha256": ")" + std::string(64, 'A') + R"("}])"),
             "64 lower-case hex");
  expect_bad(manifest_json(R"([{"name": "a.gguf", "size": -1, "sha256": ")" + kSha + R"("}])"), "size must be");
  expect_bad(manifest_json(R"([{"name": "a.gguf", "sha256": ")" + kSha + R"("}])"), "has no \"size\"");
  expect_bad(manifest_json("[" + ok_file + "," + ok_file + "]"), "repeats the file name");
  expect_bad(R"({"name": 5, "files": [)" + ok_file + "]}", "\"name\" must be a string");
  expect_bad(R"({"name": "x", "pulled": "yesterday", "files": [)" + ok_file + "]}", "\"pulled\" must be an integer");
  EXPECT_THROW(parse_manifest(R"({"name": "a b", "files": [)" + ok_file + "]}", "m.json"), Error);
  // A mirror's manifest may leave out the name and sizes, not the checksums.
  EXPECT_NO_THROW(parse_manifest(R"({"files": [{"name": "a.gguf", "sha256": ")" + kSha + R"("}]})", "m.json", true));
  expect_bad(R"({"files": [{"name": "a.gguf"}]})", "has no \"sha256\"", true);
}

Manifest stored(const Store& s, const std::string& name, const std::string& tag) {
  Manifest m;
  m.name = name;
  m.tag = tag;
  m.files.push_back({"model.gguf", 5, kSha, ""});
  s.save(m);
  std::ofstream(s.folder(ModelName{name, tag}) / "model.gguf") << "GGUF.";
  return m;
}

TEST(StoreFolder, ListFindRemoveAndResolve) {
  const fs::path dir = test::temp_path("store");
  fs::remove_all(dir);
  const Store s(dir);
  EXPECT_TRUE(s.list().empty());
  stored(s, "team/demo", "latest");
  stored(s, "qwen3", "q8");
  std::ofstream(dir / "qwen3" / "q8" / "model.gguf.partial") << "half";
  fs::create_directories(dir / "junk");
  std::ofstream(dir / "junk" / "manifest.json") << "{broken";
  const std::vector<Manifest> all = s.list();
  ASSERT_EQ(all.size(), 2u) << "the damaged manifest is not a model";
  EXPECT_EQ(all[0].full_name(), "qwen3:q8");
  EXPECT_EQ(all[1].full_name(), "team/demo:latest");

  EXPECT_EQ(resolve_model("team/demo", s), dir / "team" / "demo" / "latest" / "model.gguf");
  EXPECT_EQ(resolve_model("qwen3:q8", s), dir / "qwen3" / "q8" / "model.gguf");
  const std::string file = (dir / "qwen3" / "q8" / "model.gguf").string();
  EXPECT_EQ(resolve_model(file, s), file) << "an existing path is a path";
  EXPECT_EQ(resolve_model("", s), fs::path());
  try {
    resolve_model("qwen3", s);  // the tag is latest: not stored
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("no such file, and no model of that name"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("qwen3:q8"), std::string::npos) << "close names are listed: " << e.what();
  }
  try {
    resolve_model("/no/such/model.gguf", s);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_EQ(std::string(e.what()), "/no/such/model.gguf: no such file") << "not a name: only a path";
  }

  EXPECT_THROW(s.remove(parse_name("qwen")), Error);
  try {
    s.remove(parse_name("qwen3:q9"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("did you mean qwen3:q8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.remove(parse_name("qwen3:q8")).full_name(), "qwen3:q8");
  EXPECT_FALSE(fs::exists(dir / "qwen3")) << "the emptied folders go too, the partial file with them";
  ASSERT_EQ(s.list().size(), 1u);
  EXPECT_TRUE(fs::exists(dir / "junk" / "manifest.json")) << "what is not a model is left alone";
}

TEST(StoreConfig, EnvironmentAndFile) {
  const fs::path cfg = test::temp_path("store.toml");
  ::setenv("XDG_CONFIG_HOME", test::temp_path("no-config").c_str(), 1);  // no user's store.toml
  std::ofstream(cfg) << "models_dir = \"/srv/models\"\nmirror = \"http://mirror\"\npull_connections = 2\n";
  ::setenv("HAYATE_STORE_CONFIG", cfg.c_str(), 1);
  ::unsetenv("HAYATE_MODELS");
  ::setenv("HAYATE_HF_TOKEN", "tok", 1);
  StoreConfig c = load_config();
  EXPECT_EQ(c.models_dir, "/srv/models");
  EXPECT_EQ(c.mirror, "http://mirror");
  EXPECT_EQ(c.connections, 2);
  EXPECT_EQ(c.hf_token, "tok");
  ::setenv("HAYATE_MODELS", "/elsewhere", 1);
  EXPECT_EQ(load_config().models_dir, "/elsewhere") << "the environment wins over the file";
  std::ofstream(cfg) << "model_dir = \"/typo\"\n";
  try {
    load_config();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'model_dir'"), std::string::npos) << e.what();
  }
  std::ofstream(cfg) << "pull_connections = 0\n";
  EXPECT_THROW(load_config(), Error);
  ::unsetenv("HAYATE_STORE_CONFIG");
  ::unsetenv("HAYATE_MODELS");
  ::unsetenv("HAYATE_HF_TOKEN");
  ::setenv("HAYATE_PULL_CONNECTIONS", "many", 1);
  EXPECT_THROW(load_config(), Error);
  ::unsetenv("HAYATE_PULL_CONNECTIONS");
  ::setenv("XDG_DATA_HOME", "/data", 1);
  EXPECT_EQ(default_models_dir(), "/data/hayate/models");
}

}  // namespace
}  // namespace hayate::store
