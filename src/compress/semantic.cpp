#include "compress/semantic.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_map>

#include "compress/lossless.h"
#include "core/error.h"

namespace hayate::compress {
namespace {

constexpr std::string_view kParagraphBreak = "\n\n";
constexpr size_t kRequestsAtOnce = 128;  // well inside the engine's waiting queue

// The prompts of the Prompt method (part of the format: changing them is a new method number).
std::string summary_prompt(std::string_view text, int32_t max_words) {
  return "Summarize the following text in at most " + std::to_string(max_words) + " words.\n\nText:\n" +
         std::string(text) + "\n\nSummary:\n";
}
std::string expand_prompt(std::string_view summary) {
  return "Write the full text that this summary describes.\n\nSummary:\n" + std::string(summary) + "\n\nText:\n";
}

std::vector<std::string> paragraphs(std::string_view text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(kParagraphBreak, at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view p = text.substr(at, end - at);
    while (!p.empty() && (p.front() == '\n' || p.front() == '\r')) p.remove_prefix(1);
    while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.remove_suffix(1);
    if (!p.empty()) out.emplace_back(p);
    at = end + kParagraphBreak.size();
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(kParagraphBreak) : "") + parts[i];
  return out;
}

std::vector<int32_t> tokens_of(const Tokenizer& tok, std::string_view text) { return tok.encode(text, false, false); }

std::string spell(const Alphabet& ab, std::span<const int32_t> ids) {
  std::string out;
  for (int32_t id : ids) ab.append_bytes(id, out);
  return out;
}

// The first sentence of a paragraph, cut to `cap` tokens.
std::string lead_of(std::string_view paragraph, int32_t cap, const Tokenizer& tok, const Alphabet& ab) {
  size_t end = paragraph.size();
  for (size_t i = 0; i + 1 < paragraph.size(); ++i)
    if ((paragraph[i] == '.' || paragraph[i] == '!' || paragraph[i] == '?') &&
        (paragraph[i + 1] == ' ' || paragraph[i + 1] == '\n')) {
      end = i + 1;
      break;
    }
  const std::vector<int32_t> ids = tokens_of(tok, paragraph.substr(0, end));
  if (static_cast<int32_t>(ids.size()) <= cap) return std::string(paragraph.substr(0, end));
  return spell(ab, std::span<const int32_t>(ids).first(static_cast<size_t>(cap)));
}

GenerateOptions greedy(int32_t max_tokens, std::vector<std::string> stop) {
  GenerateOptions o;
  o.max_tokens = std::max(1, max_tokens);
  o.sampling.temperature = 0;
  o.stop = std::move(stop);
  return o;
}

// Runs the prompts through the engine, a batch at a time: their texts in order.
std::vector<std::string> generate_all(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                      const GenerateOptions& options) {
  std::vector<std::string> out(prompts.size());
  for (size_t base = 0; base < prompts.size(); base += kRequestsAtOnce) {
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (size_t i = base; i < std::min(prompts.size(), base + kRequestsAtOnce); ++i) {
      Request r;
      r.prompt = prompts[i];
      r.options = options;
      handles.push_back(engine.submit(std::move(r)));
    }
    for (size_t k = 0; k < handles.size(); ++k)
      while (std::optional<Event> e = handles[k]->next()) {
        if (e->kind == Event::Token) out[base + k] += e->text;
        if (e->kind == Event::Error) throw Error(e->error_kind, "generation failed: " + e->error);
      }
  }
  return out;
}

std::vector<int32_t> prompt_ids(const Alphabet& ab, const Tokenizer& tok, std::string_view text, int32_t room) {
  std::vector<int32_t> ids = {ab.start_token()};
  const std::vector<int32_t> t = tokens_of(tok, text);
  ids.insert(ids.end(), t.begin(), t.end());
  if (static_cast<int32_t>(ids.size()) > room) ids.resize(static_cast<size_t>(std::max(1, room)));
  return ids;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      w.push_back(static_cast<char>(std::tolower(u)));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

struct Summary {
  std::string text;
  int32_t n_tokens = 0;
};

Summary lead_summary(const std::vector<std::string>& paras, int32_t cap, int32_t budget, const Tokenizer& tok,
                     const Alphabet& ab) {
  std::vector<std::string> leads;
  int32_t used = 0;
  for (const std::string& p : paras) {
    const int32_t room = budget > 0 ? std::min(cap, budget - used) : cap;
    if (room <= 0) break;
    leads.push_back(lead_of(p, room, tok, ab));
    used += static_cast<int32_t>(tokens_of(tok, leads.back()).size());
  }
  return {join(leads), used};
}

std::vector<uint8_t> semantic_file(std::string_view text, const Summary& s, SummaryMethod method, int32_t target_tokens,
                                   double cosine, SemanticModel& m) {
  Container c;
  c.method = Method::Semantic;
  c.original_length = text.size();
  c.original_crc = crc32(text);
  c.semantic.summary_method = static_cast<uint8_t>(method);
  c.semantic.target_tokens = static_cast<uint32_t>(target_tokens);
  c.semantic.quality = static_cast<uint16_t>(std::lround(std::clamp(cosine, 0.0, 1.0) * 10000));
  c.semantic.summary_length = s.text.size();
  const std::string_view in = s.text;
  std::unique_lock<std::mutex> lk;
  if (m.source_mutex) lk = std::unique_lock(*m.source_mutex);
  CodedStream coded = std::move(encode_streams(std::span<const std::string_view>(&in, 1), m.source, m.alphabet)[0]);
  c.model = coded.params;
  c.windows = std::move(coded.windows);
  return write_container(c);
}

std::string reconstruct_summary(std::string_view summary, SummaryMethod method, int32_t target_tokens,
                                SemanticModel& m) {
  const int32_t n_ctx = m.engine.config().n_ctx;
  if (method == SummaryMethod::Prompt) {
    const std::vector<int32_t> ids = prompt_ids(m.alphabet, m.tokenizer, expand_prompt(summary), n_ctx / 2);
    return generate_all(m.engine, {ids},
                        greedy(std::min(target_tokens, n_ctx - static_cast<int32_t>(ids.size())), {}))[0];
  }
  const std::vector<std::string> leads = paragraphs(summary);
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& lead : leads) prompts.push_back(prompt_ids(m.alphabet, m.tokenizer, lead, n_ctx / 2));
  const int32_t room = std::min(target_tokens, n_ctx / 2);
  const std::vector<std::string> rest = generate_all(m.engine, prompts, greedy(room, {std::string(kParagraphBreak)}));
  std::vector<std::string> out;
  for (size_t i = 0; i < leads.size(); ++i) {
    std::string p = leads[i] + rest[i];
    while (!p.empty() && p.back() == '\n') p.pop_back();
    out.push_back(std::move(p));
  }
  return join(out);
}

}  // namespace

const char* summary_method_name(SummaryMethod m) { return m == SummaryMethod::Lead ? "lead" : "prompt"; }

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

std::vector<std::vector<float>> embed_texts(const std::vector<std::string>& texts, Engine& engine,
                                            const Tokenizer& tokenizer) {
  std::vector<std::vector<float>> out(texts.size());
  const int32_t n_ctx = engine.config().n_ctx;
  for (size_t base = 0; base < texts.size(); base += kRequestsAtOnce) {
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (size_t i = base; i < std::min(texts.size(), base + kRequestsAtOnce); ++i) {
      Request r;
      r.kind = RequestKind::Embed;
      r.prompt = tokens_of(tokenizer, texts[i]);
      if (r.prompt.empty()) r.prompt.push_back(std::max(0, tokenizer.bos_id()));
      if (static_cast<int32_t>(r.prompt.size()) > n_ctx) r.prompt.resize(static_cast<size_t>(n_ctx));
      handles.push_back(engine.submit(std::move(r)));
    }
    for (size_t k = 0; k < handles.size(); ++k)
      while (std::optional<Event> e = handles[k]->next()) {
        if (e->kind == Event::Embedding) out[base + k] = std::move(e->embedding);
        if (e->kind == Event::Error) throw Error(e->error_kind, "embedding failed: " + e->error);
      }
  }
  return out;
}

double word_f1(std::string_view original, std::string_view reconstruction) {
  const std::vector<std::string> a = words(original), b = words(reconstruction);
  if (a.empty() && b.empty()) return 1;
  std::unordered_map<std::string, int> count;
  for (const std::string& w : a) ++count[w];
  double overlap = 0;
  for (const std::string& w : b)
    if (int& c = count[w]; c > 0) {
      --c;
      ++overlap;
    }
  if (overlap == 0) return 0;
  const double precision = overlap / static_cast<double>(b.size()), recall = overlap / static_cast<double>(a.size());
  return 2 * precision * recall / (precision + recall);
}

Quality measure_quality(std::string_view original, std::string_view reconstruction, Engine& engine,
                        const Tokenizer& tokenizer) {
  const std::vector<std::string> a = paragraphs(original), b = paragraphs(reconstruction);
  std::vector<std::string> texts;
  for (size_t i = 0; i < a.size(); ++i) {
    texts.push_back(a[i]);
    texts.push_back(i < b.size() ? b[i] : std::string());
  }
  const std::vector<std::vector<float>> e = embed_texts(texts, engine, tokenizer);
  Quality q;
  for (size_t i = 0; i < a.size(); ++i) q.cosine += i < b.size() ? cosine(e[2 * i], e[2 * i + 1]) : 0.0;
  q.cosine = a.empty() ? 1 : q.cosine / static_cast<double>(a.size());
  q.word_f1 = word_f1(original, reconstruction);
  return q;
}

SemanticResult compress_semantic(std::string_view text, SemanticModel& m, const SemanticOptions& o) {
  SemanticResult r;
  r.original_tokens = static_cast<int32_t>(tokens_of(m.tokenizer, text).size());
  const auto keep_whole = [&](std::vector<uint8_t> lossless) {
    r.kept_whole = true;
    r.file = std::move(lossless);
    r.summary = r.reconstruction = std::string(text);
    r.summary_tokens = r.original_tokens;
    r.quality = {1, 1};
    return r;
  };
  std::vector<uint8_t> lossless;
  {
    std::unique_lock<std::mutex> lk;
    if (m.source_mutex) lk = std::unique_lock(*m.source_mutex);
    lossless = compress_lossless(text, m.source, m.alphabet);
  }
  if (text.size() < o.min_length) return keep_whole(std::move(lossless));
  const std::vector<std::string> paras = paragraphs(text);
  int32_t longest = 0;
  for (const std::string& p : paras)
    longest = std::max(longest, static_cast<int32_t>(tokens_of(m.tokenizer, p).size()));
  const int32_t target_tokens = longest + longest / 4 + 8;

  Summary s;
  if (o.method == SummaryMethod::Prompt) {
    const int32_t max_words = o.max_summary_tokens > 0 ? o.max_summary_tokens : 64;
    const std::vector<int32_t> ids =
        prompt_ids(m.alphabet, m.tokenizer, summary_prompt(text, max_words), m.engine.config().n_ctx - max_words * 2);
    s.text = generate_all(m.engine, {ids}, greedy(max_words * 2, {std::string(kParagraphBreak)}))[0];
    s.n_tokens = static_cast<int32_t>(tokens_of(m.tokenizer, s.text).size());
    r.file = semantic_file(text, s, o.method, r.original_tokens + 16, 0, m);
  } else {
    // Shorter leads until the file meets the target ratio (or a lead is one token).
    for (int32_t cap = std::max(1, o.lead_tokens);; cap = cap > 8 ? cap - cap / 4 : cap - 1) {
      s = lead_summary(paras, cap, o.max_summary_tokens, m.tokenizer, m.alphabet);
      r.file = semantic_file(text, s, o.method, target_tokens, 0, m);
      if (o.target_ratio <= 0 || cap <= 1 ||
          static_cast<double>(r.file.size()) * o.target_ratio <= static_cast<double>(text.size()))
        break;
    }
  }
  // A summary no smaller than the exact file is not worth its loss.
  if (r.file.size() >= lossless.size()) return keep_whole(std::move(lossless));
  r.summary = s.text;
  r.summary_tokens = s.n_tokens;
  const Container c = read_container(r.file);
  r.reconstruction = reconstruct_summary(r.summary, o.method, static_cast<int32_t>(c.semantic.target_tokens), m);
  r.quality = measure_quality(text, r.reconstruction, m.engine, m.tokenizer);
  // The file records the quality it was made with.
  r.file = semantic_file(text, s, o.method, static_cast<int32_t>(c.semantic.target_tokens), r.quality.cosine, m);
  return r;
}

std::string reconstruct(const Container& c, SemanticModel& m) {
  if (c.method != Method::Semantic) fail(ErrorKind::BadInput, "not a semantic file");
  if (c.semantic.summary_method > static_cast<uint8_t>(SummaryMethod::Prompt))
    fail(ErrorKind::Unsupported,
         "summary method " + std::to_string(c.semantic.summary_method) + " is unknown to this build");
  std::unique_lock<std::mutex> lk;
  if (m.source_mutex) lk = std::unique_lock(*m.source_mutex);
  const std::string summary = decode_stream(c.model, c.windows, c.semantic.summary_length, m.source, m.alphabet);
  if (lk) lk.unlock();
  return reconstruct_summary(summary, static_cast<SummaryMethod>(c.semantic.summary_method),
                             static_cast<int32_t>(c.semantic.target_tokens), m);
}

}  // namespace hayate::compress
