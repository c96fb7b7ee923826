// Text out of the files people ingest for retrieval (and summarise in benchmarks): PDF through
// poppler, HTML with its markup stripped, Markdown and plain text as they are, and JSON documents
// that carry their own text, title and metadata. The text keeps the structure the chunker uses
// (rag/chunker.h): paragraphs are separated by a blank line and headings become Markdown headings.
// Input is untrusted: anything that yields no text, is not what it claims to be, or is too large
// is an Error(BadInput) whose message says which.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hayate::doc {

enum class Format { Pdf, Html, Markdown, Text, Json };

struct Document {
  std::string text;                  // UTF-8
  std::string title;                 // empty when the document names none
  std::string metadata_json = "{}";  // a JSON object: the JSON document's own, or what the file says of itself
  Format format = Format::Text;
};

struct Limits {
  size_t max_bytes = 64u << 20;  // of the input
};

// The format of a file by its MIME type ("application/pdf", "text/html; charset=utf-8") or its
// name ("report.PDF", "notes.md"), falling back to the bytes themselves ("%PDF-", "<!doctype html")
// and then to plain text. Error(BadInput) for a MIME type or extension it cannot read.
Format detect(std::string_view bytes, std::string_view mime_or_name);
const char* format_name(Format f);

// The document's text. Error(BadInput) for an input over limits.max_bytes, a malformed or
// password-protected PDF, text that is not UTF-8, a JSON document without a "text" string, or a
// document with no text at all.
Document extract(std::string_view bytes, std::string_view mime_or_name, const Limits& limits = {});

// The parts, for callers that already know the format.
std::string html_to_text(std::string_view html, std::string* title = nullptr);
Document pdf_to_document(std::string_view pdf);

}  // namespace hayate::doc
