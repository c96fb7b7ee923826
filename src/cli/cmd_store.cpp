// The model store's commands: hayate pull, list, rm, show (store/, issue 20).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/error.h"
#include "store/pull.h"
#include "store/store.h"
#include "store/summary.h"

namespace hayate::cli {
namespace {

namespace fs = std::filesystem;

const char* const kStoreHelp =
    "The store is models_dir (HAYATE_MODELS; default $XDG_DATA_HOME/hayate/models), set with the other "
    "settings (mirror, hf_base, hf_token, pull_connections, pull_parallel_min_bytes) in store.toml "
    "(HAYATE_STORE_CONFIG, else $XDG_CONFIG_HOME/hayate/store.toml) or HAYATE_* variables.";

std::string when(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string clock_text(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

// One line on a terminal, redrawn in place: file, bytes, percent, rate, time left.
class ProgressLine {
 public:
  void update(const std::string& file, uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (file != file_) {
      if (!file_.empty()) std::cerr << "\n";
      file_ = file;
      start_ = now;
      resumed_ = done;  // bytes an earlier pull left count for the total, not for the rate
    }
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done - std::min(done, resumed_)) / secs : 0;
    std::string line = "\r" + file + "  " + human_bytes(done);
    if (total > 0) {
      char pct[16];
      std::snprintf(pct, sizeof pct, "%5.1f%%", 100.0 * static_cast<double>(done) / static_cast<double>(total));
      line += " / " + human_bytes(total) + "  " + pct;
    }
    line += "  " + human_bytes(static_cast<size_t>(rate)) + "/s";
    if (total > 0 && rate > 0) line += "  ETA " + clock_text(static_cast<double>(total - done) / rate);
    std::cerr << line << "   " << std::flush;
  }
  void finish() {
    if (!file_.empty()) std::cerr << "\n";
  }

 private:
  std::string file_;
  std::chrono::steady_clock::time_point start_;
  uint64_t resumed_ = 0;
};

void show(const std::string& what, bool json) {
  const store::Store s(store::load_config().models_dir);
  std::optional<store::Manifest> m;
  fs::path file;
  if (fs::exists(what)) {
    file = what;
  } else if (!store::is_valid_name(what)) {
    fail(ErrorKind::NotFound, what + ": no such file (and not a model name)");
  } else {
    m = s.get(store::parse_name(what));
    file = s.model_file(*m);
  }
  const store::ModelSummary sum = store::summarize(file);
  nlohmann::json files = nlohmann::json::array();
  if (m)
    for (const store::ManifestFile& f : m->files)
      files.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}});
  else
    files.push_back({{"name", file.string()}, {"size", sum.file_size}});
  if (json) {
    nlohmann::json j = {{"file", file.string()},
                        {"architecture", sum.architecture},
                        {"parameters", sum.parameters},
                        {"quantization", sum.quantization},
                        {"context_length", sum.context_length},
                        {"embedding_length", sum.embedding_length},
                        {"block_count", sum.block_count},
                        {"chat_template", sum.chat_template},
                        {"size", sum.file_size},
                        {"files", files}};
    if (sum.expert_count > 0) j["expert_count"] = sum.expert_count, j["expert_used_count"] = sum.expert_used_count;
    if (m) j["name"] = m->full_name(), j["source"] = m->source, j["pulled"] = m->pulled;
    std::cout << j.dump(2) << "\n";
    return;
  }
  if (m) std::cout << "name            " << m->full_name() << "\nsource          " << m->source << "\n";
  std::cout << "file            " << file.string() << "\n"
            << "architecture    " << sum.architecture << "\n"
            << "parameters      " << store::short_count(sum.parameters) << " (" << sum.parameters << ")\n"
            << "quantization    " << sum.quantization << "\n"
            << "context length  " << sum.context_length << "\n"
            << "embedding       " << sum.embedding_length << ", " << sum.block_count << " layers\n";
  if (sum.expert_count > 0)
    std::cout << "experts         " << sum.expert_count << ", " << sum.expert_used_count << " per token\n";
  std::cout << "size            " << human_bytes(sum.file_size) << "\n";
  std::cout << "files\n";
  for (const auto& f : files)
    std::cout << "  " << f["name"].get<std::string>() << "  " << human_bytes(f["size"].get<uint64_t>())
              << (f.contains("sha256") ? "  sha256:" + f["sha256"].get<std::string>() : "") << "\n";
  std::cout << "chat template   " << (sum.chat_template.empty() ? "(none)\n" : "\n" + sum.chat_template + "\n");
}

void list(bool json) {
  const store::Store s(store::load_config().models_dir);
  nlohmann::json rows = nlohmann::json::array();
  for (const store::Manifest& m : s.list()) {
    uint64_t size = 0;
    for (const store::ManifestFile& f : m.files) size += f.size;
    std::string arch = "?", quant = "?";
    try {
      const store::ModelSummary sum = store::summarize(s.model_file(m));
      arch = sum.architecture;
      quant = sum.quantization;
    } catch (const Error&) {  // a damaged file still lists, so that `hayate rm` can name it
    }
    rows.push_back({{"name", m.full_name()},
                    {"size", size},
                    {"modified", m.pulled},
                    {"architecture", arch},
                    {"quantization", quant},
                    {"files", m.files.size()}});
  }
  if (json) {
    std::cout << rows.dump(2) << "\n";
    return;
  }
  std::printf("%-32s %-12s %-12s %-10s %s\n", "NAME", "SIZE", "FORMAT", "QUANT", "MODIFIED");
  for (const auto& r : rows)
    std::printf("%-32s %-12s %-12s %-10s %s\n", r["name"].get<std::string>().c_str(),
                human_bytes(r["size"].get<uint64_t>()).c_str(), r["architecture"].get<std::string>().c_str(),
                r["quantization"].get<std::string>().c_str(), when(r["modified"].get<int64_t>()).c_str());
}

}  // namespace

void add_store_commands(CLI::App& app) {
  struct PullArgs {
    std::string source;
    store::PullOptions options;
    bool quiet = false;
  };
  auto p = std::make_shared<PullArgs>();
  CLI::App* pull = app.add_subcommand(
      "pull", std::string("download a model into the store: a URL of a .gguf file or of a manifest.json, a Hugging "
                          "Face owner/repo/file.gguf, or a name[:tag] from the mirror. Resumes an interrupted "
                          "pull, checks sha256 before the file is stored, shows progress on a terminal. ") +
                  kStoreHelp);
  pull->add_option("source", p->source, "URL, owner/repo/file.gguf, or name[:tag]")->required();
  pull->add_option("--name", p->options.name, "store it under this name[:tag] (default: from the file or manifest)");
  pull->add_option("--sha256", p->options.sha256, "expected sha256 of a single-file source");
  pull->add_flag("-q,--quiet", p->quiet, "no progress line, even on a terminal");
  pull->callback([p] {
    ProgressLine line;
    if (!p->quiet && ::isatty(2))
      p->options.on_progress = [&line](const std::string& f, uint64_t done, uint64_t total) {
        line.update(f, done, total);
      };
    const store::Manifest m = store::pull(p->source, store::load_config(), p->options);
    line.finish();
    uint64_t size = 0;
    for (const store::ManifestFile& f : m.files) size += f.size;
    std::cout << "pulled " << m.full_name() << " (" << m.files.size() << " file" << (m.files.size() == 1 ? "" : "s")
              << ", " << human_bytes(size) << ")\n";
  });

  auto list_json = std::make_shared<bool>(false);
  CLI::App* ls = app.add_subcommand("list", std::string("list the models in the store. ") + kStoreHelp);
  ls->add_flag("--json", *list_json, "machine-readable output");
  ls->callback([list_json] { list(*list_json); });

  auto rm_names = std::make_shared<std::vector<std::string>>();
  CLI::App* rm = app.add_subcommand("rm", "remove models (manifest and files) from the store");
  rm->add_option("names", *rm_names, "name[:tag] of each model to remove")->required();
  rm->callback([rm_names] {
    const store::Store s(store::load_config().models_dir);
    for (const std::string& n : *rm_names) {
      std::cout << "removed " << s.remove(store::parse_name(n)).full_name() << "\n";
    }
  });

  auto show_what = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  CLI::App* sh = app.add_subcommand(
      "show", "a model's architecture, parameters, quantization, context length, chat template, size and files");
  sh->add_option("model", *show_what, "name[:tag] in the store, or a GGUF file")->required();
  sh->add_flag("--json", *show_json, "machine-readable output");
  sh->callback([show_what, show_json] { show(*show_what, *show_json); });
}

}  // namespace hayate::cli
