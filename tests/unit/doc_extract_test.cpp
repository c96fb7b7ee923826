// doc::extract: each format's text and structure, and each kind of bad input refused with a
// message that names the problem.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "doc/document.h"
#include "support/pdf.h"

namespace hayate::doc {
namespace {

ErrorKind kind_of_extract(const std::string& bytes, const std::string& name, std::string* message = nullptr,
                          const Limits& limits = {}) {
  try {
    extract(bytes, name, limits);
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  return ErrorKind::Internal;
}

TEST(DocDetect, ByMimeNameAndBytes) {
  EXPECT_EQ(detect("", "application/pdf"), Format::Pdf);
  EXPECT_EQ(detect("", "text/html; charset=utf-8"), Format::Html);
  EXPECT_EQ(detect("", "notes/Report.PDF"), Format::Pdf);
  EXPECT_EQ(detect("", "a.md"), Format::Markdown);
  EXPECT_EQ(detect("", "doc.json"), Format::Json);
  EXPECT_EQ(detect("%PDF-1.4 ...", ""), Format::Pdf);
  EXPECT_EQ(detect("\xEF\xBB\xBF  <!DOCTYPE html><p>x", "application/octet-stream"), Format::Html);
  EXPECT_EQ(detect("just words", "README"), Format::Text);
  std::string message;
  EXPECT_EQ(kind_of_extract("x", "image/png", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("image/png"), std::string::npos) << message;
  EXPECT_EQ(kind_of_extract("x", "slides.pptx", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find(".pptx"), std::string::npos) << message;
}

TEST(DocHtml, StripsMarkupKeepsStructureDecodesEntities) {
  const std::string html =
      "<!DOCTYPE html><html><head><title>The &amp; Title</title><style>p{color:red}</style>"
      "<script>var x = '<p>no</p>';</script></head><body><!-- hidden -->"
      "<h1>Harbour  notes</h1><p>The lighthouse of <b>Velmora</b>\n is   blue &mdash; &#233;&#x00E9;.</p>"
      "<ul><li>one</li><li>two &lt;3</li></ul><p>a<br>b</p><pre>  keep\n   this</pre>"
      "<p title=\"a>b\">quoted attr</p><noscript>nothing</noscript>5 < 6</body></html>";
  Document d = extract(html, "page.html");
  EXPECT_EQ(d.format, Format::Html);
  EXPECT_EQ(d.title, "The & Title");
  EXPECT_EQ(d.text,
            "# Harbour notes\n\nThe lighthouse of Velmora is blue \xE2\x80\x94 \xC3\xA9\xC3\xA9.\n\n"
            "- one\n- two <3\n\na\nb\n\n  keep\n   this\n\nquoted attr\n\n5 < 6\n");
}

TEST(DocHtml, UnknownEntitiesStayAndUnclosedTagsEnd) {
  EXPECT_EQ(html_to_text("<p>A &bogus; &#xZZ; &</p><p>cut <b"), "A &bogus; &#xZZ; &\n\ncut\n");
}

TEST(DocMarkdown, TextAsIsTitleFromFirstHeading) {
  Document d = extract("\xEF\xBB\xBFintro\n# Top\n\n## Sub\ntext\n", "text/markdown");
  EXPECT_EQ(d.text, "intro\n# Top\n\n## Sub\ntext\n");
  EXPECT_EQ(d.title, "Top");
  EXPECT_EQ(extract("plain words", "a.txt").title, "");
}

TEST(DocJson, TextTitleMetadata) {
  Document d =
      extract(R"({"text":"Velmora's port","title":"Ports","metadata":{"year":1999,"tags":["a"]}})", "application/json");
  EXPECT_EQ(d.text, "Velmora's port");
  EXPECT_EQ(d.title, "Ports");
  EXPECT_EQ(d.metadata_json, R"({"tags":["a"],"year":1999})");
  std::string message;
  EXPECT_EQ(kind_of_extract(R"({"body":"x"})", "d.json", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("\"text\""), std::string::npos) << message;
  EXPECT_EQ(kind_of_extract(R"({"text":"x","metadata":[1]})", "d.json", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("metadata"), std::string::npos) << message;
  EXPECT_EQ(kind_of_extract("{not json", "d.json", &message), ErrorKind::BadInput);
}

TEST(DocPdf, PagesTitleAndMetadata) {
  const std::string pdf = test::make_pdf({"The lighthouse of Velmora is blue.", "Second page here."}, "Velmora");
  Document d = extract(pdf, "guide.pdf");
  EXPECT_EQ(d.format, Format::Pdf);
  EXPECT_EQ(d.title, "Velmora");
  EXPECT_NE(d.text.find("The lighthouse of Velmora is blue."), std::string::npos) << d.text;
  const size_t second = d.text.find("Second page here.");
  ASSERT_NE(second, std::string::npos) << d.text;
  EXPECT_NE(d.text.rfind("\n\n", second), std::string::npos) << "pages are paragraphs: " << d.text;
  EXPECT_NE(d.metadata_json.find("\"pages\":2"), std::string::npos) << d.metadata_json;
  // Sniffed from the bytes when nothing names the type.
  EXPECT_EQ(extract(pdf, "").format, Format::Pdf);
}

TEST(DocBadInput, MalformedPdfEmptyOversizedAndBrokenUtf8) {
  std::string message;
  EXPECT_EQ(kind_of_extract("%PDF-1.4\n garbage that is no PDF at all", "x.pdf", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("PDF"), std::string::npos) << message;
  EXPECT_EQ(kind_of_extract("this is not a pdf", "x.pdf", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("%PDF-"), std::string::npos) << message;
  const std::string full = test::make_pdf({"words"}, "");
  EXPECT_EQ(kind_of_extract(full.substr(0, full.size() / 3), "cut.pdf", &message), ErrorKind::BadInput);
  EXPECT_EQ(kind_of_extract(test::make_pdf({""}, ""), "blank.pdf", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("no text"), std::string::npos) << message;

  EXPECT_EQ(kind_of_extract("", "empty.txt", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("no text"), std::string::npos) << message;
  EXPECT_EQ(kind_of_extract("<html><script>only()</script></html>", "s.html", &message), ErrorKind::BadInput);
  EXPECT_EQ(kind_of_extract(" \n\t", "text/plain", &message), ErrorKind::BadInput);
  EXPECT_EQ(kind_of_extract(std::string(2000, 'a'), "big.txt", &message, Limits{1000}), ErrorKind::BadInput);
  EXPECT_NE(message.find("over the limit of 1000"), std::string::npos) << message;
  EXPECT_EQ(kind_of_extract("ok \xC3\x28 no", "latin.txt", &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
}

}  // namespace
}  // namespace hayate::doc
