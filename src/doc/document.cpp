#include "doc/document.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "core/utf8.h"

namespace hayate::doc {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

std::string_view trim_left(std::string_view s) {
  // A UTF-8 byte order mark and leading blanks say nothing about the format.
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

std::optional<Format> by_mime(const std::string& mime) {
  if (mime == "application/pdf") return Format::Pdf;
  if (mime == "text/html" || mime == "application/xhtml+xml") return Format::Html;
  if (mime == "text/markdown" || mime == "text/x-markdown") return Format::Markdown;
  if (mime == "text/plain") return Format::Text;
  if (mime == "application/json") return Format::Json;
  return std::nullopt;
}

std::optional<Format> by_extension(const std::string& ext) {
  if (ext == "pdf") return Format::Pdf;
  if (ext == "html" || ext == "htm" || ext == "xhtml") return Format::Html;
  if (ext == "md" || ext == "markdown") return Format::Markdown;
  if (ext == "txt" || ext == "text" || ext == "rst") return Format::Text;
  if (ext == "json") return Format::Json;
  return std::nullopt;
}

Format sniff(std::string_view bytes) {
  if (bytes.substr(0, 5) == "%PDF-") return Format::Pdf;
  const std::string_view head = trim_left(bytes);
  if (starts_with_ci(head, "<!doctype html") || starts_with_ci(head, "<html")) return Format::Html;
  return Format::Text;
}

void check_utf8(std::string_view text, const char* what) {
  const size_t valid = utf8::valid_prefix(text);
  if (valid != text.size())
    fail(ErrorKind::BadInput, std::string(what) + " is not UTF-8 text (a broken byte sequence at byte " +
                                  std::to_string(valid) + "); convert it to UTF-8 first");
}

bool blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

std::string markdown_title(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    if (line.substr(0, 2) == "# ") {
      line.remove_prefix(2);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
      return std::string(line);
    }
    pos = eol + 1;
  }
  return "";
}

Document json_document(std::string_view bytes) {
  const nlohmann::json j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded()) fail(ErrorKind::BadInput, "the JSON document does not parse as JSON");
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
    fail(ErrorKind::BadInput,
         "a JSON document must be an object with a \"text\" string (and optional "
         "\"title\" string and \"metadata\" object)");
  if (j.contains("title") && !j["title"].is_string())
    fail(ErrorKind::BadInput, "the JSON document's \"title\" must be a string");
  if (j.contains("metadata") && !j["metadata"].is_object())
    fail(ErrorKind::BadInput, "the JSON document's \"metadata\" must be an object");
  Document d;
  d.format = Format::Json;
  d.text = j["text"].get<std::string>();
  d.title = j.value("title", std::string());
  d.metadata_json = j.value("metadata", nlohmann::json::object()).dump();
  return d;
}

}  // namespace

const char* format_name(Format f) {
  switch (f) {
    case Format::Pdf:
      return "pdf";
    case Format::Html:
      return "html";
    case Format::Markdown:
      return "markdown";
    case Format::Text:
      return "text";
    case Format::Json:
      return "json";
  }
  return "text";
}

Format detect(std::string_view bytes, std::string_view mime_or_name) {
  const std::string hint = lower(mime_or_name.substr(0, mime_or_name.find(';')));
  if (hint.find('/') != std::string::npos && hint.find('.') == std::string::npos) {
    if (hint == "application/octet-stream") return sniff(bytes);
    if (const auto f = by_mime(hint)) return *f;
    fail(ErrorKind::BadInput, "cannot read documents of type '" + hint +
                                  "': give PDF, HTML, Markdown, plain text or JSON (application/pdf, text/html, "
                                  "text/markdown, text/plain, application/json)");
  }
  const size_t dot = hint.rfind('.');
  const size_t slash = hint.rfind('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    const std::string ext = hint.substr(dot + 1);
    if (const auto f = by_extension(ext)) return *f;
    fail(ErrorKind::BadInput, "cannot read '" + std::string(mime_or_name) + "': the extension ." + ext +
                                  " is not one of .pdf .html .htm .md .markdown .txt .json");
  }
  return sniff(bytes);
}

Document extract(std::string_view bytes, std::string_view mime_or_name, const Limits& limits) {
  const std::string what = mime_or_name.empty() ? std::string("the document") : std::string(mime_or_name);
  if (bytes.size() > limits.max_bytes)
    fail(ErrorKind::BadInput, what + " has " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                                  std::to_string(limits.max_bytes));
  const Format format = detect(bytes, mime_or_name);
  Document d;
  switch (format) {
    case Format::Pdf:
      d = pdf_to_document(bytes);
      break;
    case Format::Json:
      d = json_document(bytes);
      break;
    case Format::Html:
      check_utf8(bytes, what.c_str());
      d.text = html_to_text(bytes, &d.title);
      break;
    case Format::Markdown:
    case Format::Text:
      check_utf8(bytes, what.c_str());
      d.text = std::string(bytes.substr(bytes.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0));
      if (format == Format::Markdown) d.title = markdown_title(d.text);
      break;
  }
  d.format = format;
  check_utf8(d.text, what.c_str());
  if (blank(d.text)) fail(ErrorKind::BadInput, what + " has no text (" + format_name(format) + ")");
  return d;
}

}  // namespace hayate::doc
