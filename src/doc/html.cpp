// HTML to text for retrieval: not a browser, a scanner. Tags go, scripts, styles and other
// non-text elements go with their content, block elements become paragraph breaks, headings
// become Markdown headings (so the chunker starts a chunk there and cites the section), list items
// become "- " lines, whitespace collapses outside <pre>, and character references are decoded.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

#include "core/utf8.h"
#include "doc/document.h"

namespace hayate::doc {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Elements whose content is never text to read.
bool is_skipped(std::string_view tag) {
  return one_of(tag, {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas"});
}

bool is_block(std::string_view tag) {
  return one_of(tag, {"p",          "div",   "section",  "article", "header",     "footer",  "nav",   "aside",
                      "main",       "ul",    "ol",       "dl",      "dt",         "dd",      "table", "tr",
                      "thead",      "tbody", "tfoot",    "caption", "blockquote", "pre",     "hr",    "figure",
                      "figcaption", "form",  "fieldset", "address", "details",    "summary", "body",  "html"});
}

int heading_level(std::string_view tag) {
  return tag.size() == 2 && tag[0] == 'h' && tag[1] >= '1' && tag[1] <= '6' ? tag[1] - '0' : 0;
}

struct NamedEntity {
  std::string_view name;
  uint32_t cp;
};
constexpr std::array<NamedEntity, 28> kEntities = {{
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},    {"nbsp", 0xA0},
    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"laquo", 0xAB},   {"raquo", 0xBB},
    {"bull", 0x2022},  {"middot", 0xB7},  {"deg", 0xB0},     {"euro", 0x20AC},  {"pound", 0xA3},   {"eacute", 0xE9},
    {"egrave", 0xE8},  {"uuml", 0xFC},    {"ouml", 0xF6},    {"auml", 0xE4},
}};

// Decodes the reference at s[pos] ('&'); returns the bytes it used, 0 when it is not one.
size_t decode_reference(std::string_view s, size_t pos, std::string& out) {
  const size_t semi = s.find(';', pos);
  if (semi == std::string_view::npos || semi - pos > 12) return 0;
  const std::string_view body = s.substr(pos + 1, semi - pos - 1);
  if (body.size() >= 2 && body[0] == '#') {
    const bool hex = body[1] == 'x' || body[1] == 'X';
    const std::string_view digits = body.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    uint32_t cp = 0;
    for (char c : digits) {
      const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                    : hex && std::isxdigit(static_cast<unsigned char>(c))
                        ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                        : -1;
      if (d < 0) return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      if (cp > 0x10FFFF) return 0;
    }
    // NUL, surrogates and the like become the replacement character, as browsers do.
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    utf8::append_codepoint(out, cp);
    return semi - pos + 1;
  }
  for (const NamedEntity& e : kEntities)
    if (e.name == body) {
      utf8::append_codepoint(out, e.cp);
      return semi - pos + 1;
    }
  return 0;
}

std::string decode_references(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&')
      if (const size_t used = decode_reference(s, i, out)) {
        i += used - 1;
        continue;
      }
    out += s[i];
  }
  return out;
}

// The text being written: collapses whitespace and keeps at most one blank line between blocks.
class Writer {
 public:
  void text(std::string_view s, bool preformatted) {
    for (char c : s) {
      if (!preformatted && is_space(c)) {
        space_ = true;
        continue;
      }
      if (breaks_ > 0 && !out_.empty()) {
        while (!out_.empty() && out_.back() == ' ') out_.pop_back();
        out_.append(static_cast<size_t>(breaks_), '\n');
        space_ = false;
      } else if (space_ && !out_.empty() && out_.back() != '\n') {
        out_ += ' ';
      }
      breaks_ = 0;
      space_ = false;
      out_ += prefix_;
      prefix_.clear();
      out_ += c;
    }
  }
  // n = 1: a line break; n = 2: a paragraph break. `prefix` starts the next line's text.
  void line_break(int n, std::string prefix = "") {
    breaks_ = std::max(breaks_, n);
    prefix_ = std::move(prefix);
  }
  std::string finish() {
    while (!out_.empty() && is_space(out_.back())) out_.pop_back();
    if (!out_.empty()) out_ += '\n';
    return std::move(out_);
  }

 private:
  std::string out_, prefix_;
  int breaks_ = 0;
  bool space_ = false;
};

std::string lower_name(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) break;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// The end of the tag that opens at html[pos] ('<'): the index after its '>', skipping quoted
// attribute values; html.size() when it never closes.
size_t tag_end(std::string_view html, size_t pos) {
  char quote = 0;
  for (size_t i = pos + 1; i < html.size(); ++i) {
    const char c = html[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      return i + 1;
    }
  }
  return html.size();
}

// Where the closing tag </name ...> of a raw element starts, from pos; html.size() if none.
size_t find_close(std::string_view html, size_t pos, std::string_view name) {
  for (size_t i = html.find("</", pos); i != std::string_view::npos; i = html.find("</", i + 2))
    if (lower_name(html.substr(i + 2, name.size() + 1)) == name) return i;
  return html.size();
}

}  // namespace

std::string html_to_text(std::string_view html, std::string* title) {
  Writer w;
  int pre_depth = 0;
  size_t i = 0;
  while (i < html.size()) {
    const size_t lt = html.find('<', i);
    const size_t text_end = lt == std::string_view::npos ? html.size() : lt;
    if (text_end > i) w.text(decode_references(html.substr(i, text_end - i)), pre_depth > 0);
    if (text_end == html.size()) break;
    i = lt;
    if (html.substr(i, 4) == "<!--") {
      const size_t end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    const bool closing = i + 1 < html.size() && html[i + 1] == '/';
    const std::string name = lower_name(html.substr(i + (closing ? 2 : 1), 16));
    if (name.empty()) {
      // "<!doctype>", "<?xml ?>" are skipped; a '<' that starts no tag ("a < b") is text.
      if (i + 1 < html.size() && (html[i + 1] == '!' || html[i + 1] == '?' || closing)) {
        i = tag_end(html, i);
      } else {
        w.text("<", pre_depth > 0);
        ++i;
      }
      continue;
    }
    i = tag_end(html, i);
    if (closing) {
      if (name == "pre") pre_depth = std::max(0, pre_depth - 1);
      if (is_block(name) || heading_level(name)) w.line_break(2);
      if (name == "li") w.line_break(1);
      continue;
    }
    if (is_skipped(name) || name == "title") {
      const size_t close = find_close(html, i, name);
      if (name == "title" && title && title->empty()) {
        Writer t;
        t.text(decode_references(html.substr(i, close - i)), false);
        *title = t.finish();
        if (!title->empty()) title->pop_back();
      }
      i = close == html.size() ? close : tag_end(html, close);
      continue;
    }
    if (const int level = heading_level(name)) {
      w.line_break(2, std::string(static_cast<size_t>(level), '#') + ' ');
    } else if (name == "li") {
      w.line_break(1, "- ");
    } else if (name == "br") {
      w.line_break(1);
    } else if (name == "td" || name == "th") {
      w.text(" ", false);
    } else if (is_block(name)) {
      w.line_break(2);
      if (name == "pre") ++pre_depth;
    }
  }
  return w.finish();
}

}  // namespace hayate::doc
