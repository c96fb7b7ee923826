// PDF text through poppler's C++ interface. poppler repairs what it can and reports the rest on
// stderr; its reports are silenced (the caller gets one Error naming the problem instead), and a
// file it cannot open, a locked one, or one with no text layer (a scan) is refused.
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <cctype>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "doc/document.h"

namespace hayate::doc {
namespace {

void ignore_poppler_message(const std::string&, void*) {}

std::string utf8_of(const poppler::ustring& s) {
  const poppler::byte_array bytes = s.to_utf8();
  std::string out(bytes.begin(), bytes.end());
  // poppler ends some strings with a NUL and separates pages' paragraphs with form feeds.
  while (!out.empty() && out.back() == '\0') out.pop_back();
  for (char& c : out)
    if (c == '\f') c = '\n';
  return out;
}

std::string trimmed(std::string s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

}  // namespace

Document pdf_to_document(std::string_view pdf) {
  static std::once_flag silenced;
  std::call_once(silenced, [] { poppler::set_debug_error_function(ignore_poppler_message, nullptr); });
  if (pdf.substr(0, 5) != "%PDF-") fail(ErrorKind::BadInput, "not a PDF file: it does not start with %PDF-");
  if (pdf.size() > static_cast<size_t>(INT32_MAX)) fail(ErrorKind::BadInput, "the PDF file is over 2 GiB");
  const std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(pdf.data(), static_cast<int>(pdf.size())));
  if (!doc) fail(ErrorKind::BadInput, "malformed PDF: poppler cannot open it");
  if (doc->is_locked()) fail(ErrorKind::BadInput, "the PDF is password-protected: give an unlocked copy");
  Document d;
  d.format = Format::Pdf;
  const int pages = doc->pages();
  for (int p = 0; p < pages; ++p) {
    const std::unique_ptr<poppler::page> page(doc->create_page(p));
    if (!page) continue;
    const std::string text = trimmed(utf8_of(page->text()));
    if (text.empty()) continue;
    if (!d.text.empty()) d.text += "\n\n";  // a page ends a paragraph
    d.text += text;
  }
  if (pages > 0 && trimmed(d.text).empty())
    fail(ErrorKind::BadInput,
         "the PDF's " + std::to_string(pages) + " page(s) have no text layer (a scan?): run OCR on it first");
  d.text += '\n';
  d.title = trimmed(utf8_of(doc->info_key("Title")));
  nlohmann::json meta = {{"pages", pages}};
  for (const char* key : {"Author", "Subject", "Keywords", "Creator", "Producer"}) {
    const std::string value = trimmed(utf8_of(doc->info_key(key)));
    if (!value.empty()) meta[std::string(1, static_cast<char>(std::tolower(key[0]))) + (key + 1)] = value;
  }
  d.metadata_json = meta.dump();
  return d;
}

}  // namespace hayate::doc
