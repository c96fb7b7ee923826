#include "compress/batch.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/utf8.h"

namespace hayate::compress {
namespace {

void run_item(Compressor& c, const BatchItem& item, const BatchOptions& o, BatchOutcome& out) {
  try {
    if (o.semantic) {
      SemanticResult r = c.compress_semantic(item.text, o.semantic_options);
      out.file = std::move(r.file);
      out.quality = r.quality;
    } else {
      out.file = c.compress(item.text);
    }
    out.ok = true;
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
}

}  // namespace

std::vector<std::vector<size_t>> group_by_similarity(const std::vector<std::vector<float>>& embeddings,
                                                     double threshold, size_t max_group) {
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < embeddings.size(); ++i) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const std::vector<size_t>& g) {
      return g.size() < max_group && cosine(embeddings[g.front()], embeddings[i]) >= threshold;
    });
    if (it == groups.end())
      groups.push_back({i});
    else
      it->push_back(i);
  }
  return groups;
}

std::vector<BatchOutcome> run_batch(Compressor& c, const std::vector<BatchItem>& items, const BatchOptions& o,
                                    const std::function<void(size_t, size_t)>& progress) {
  std::vector<BatchOutcome> out(items.size());
  std::vector<size_t> todo;  // items that may be compressed
  size_t refused = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    out[i].name = items[i].name;
    if (items[i].text.size() > o.max_item_bytes) {
      out[i].error = "item of " + std::to_string(items[i].text.size()) + " bytes is over the batch limit of " +
                     std::to_string(o.max_item_bytes);
      ++refused;
    } else {
      todo.push_back(i);
    }
  }
  std::vector<std::vector<size_t>> groups;
  const size_t max_group = static_cast<size_t>(std::max(1, o.max_group));
  if (o.group && c.engine() && todo.size() > 1) {
    // Similarity of the texts' openings: enough to group, and cheap (one short prefill each).
    std::vector<std::string> heads;
    for (size_t i : todo) {
      const std::string_view t = items[i].text;
      heads.emplace_back(t.substr(0, utf8::valid_prefix(t.substr(0, o.embed_bytes))));
    }
    try {
      groups = group_by_similarity(c.embed(heads), o.threshold, max_group);
      for (auto& g : groups)
        for (size_t& k : g) k = todo[k];
    } catch (const Error&) {
      groups.clear();  // no embeddings (the engine is busy or gone): the items in their order
    }
  }
  if (groups.empty()) {
    for (size_t i = 0; i < todo.size(); i += max_group) {
      groups.emplace_back();
      for (size_t k = i; k < std::min(todo.size(), i + max_group); ++k) groups.back().push_back(todo[k]);
    }
  }

  std::atomic<size_t> done{refused};
  const auto tick = [&] {
    const size_t d = ++done;
    if (progress) progress(d, items.size());
  };
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<size_t>& members = groups[g];
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i : members) out[i].group = static_cast<int32_t>(g);
    if (!o.semantic) {
      std::vector<std::string_view> texts;
      for (size_t i : members) texts.push_back(items[i].text);
      try {
        std::vector<std::vector<uint8_t>> files = c.compress(texts);
        for (size_t k = 0; k < members.size(); ++k) {
          out[members[k]].file = std::move(files[k]);
          out[members[k]].ok = true;
          tick();
        }
      } catch (const std::exception&) {
        for (size_t i : members) {  // one at a time, so only the item at fault reports the error
          run_item(c, items[i], o, out[i]);
          tick();
        }
      }
    } else {
      std::atomic<size_t> next{0};
      std::vector<std::thread> workers;
      const size_t n_workers = std::min(members.size(), static_cast<size_t>(std::max(1, o.concurrency)));
      for (size_t w = 0; w < n_workers; ++w)
        workers.emplace_back([&] {
          for (size_t k; (k = next++) < members.size();) {
            run_item(c, items[members[k]], o, out[members[k]]);
            tick();
          }
        });
      for (std::thread& t : workers) t.join();
    }
    size_t bytes = 0;
    for (size_t i : members) bytes += items[i].text.size();
    const double seconds = seconds_since(t0);
    for (size_t i : members)
      out[i].seconds = bytes ? seconds * static_cast<double>(items[i].text.size()) / static_cast<double>(bytes) : 0;
  }
  return out;
}

}  // namespace hayate::compress
