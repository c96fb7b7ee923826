// Files ingested through /v1/collections on the real server: PDF and HTML sent as base64 with
// their names come back from search with their text, title and source; a document id that is a
// path is deleted through its escaped form; a malformed PDF, an empty file or an upload over the
// body limit is a 4xx with a message, and nothing of the request is stored.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/json_call.h"
#include "integration/server_harness.h"
#include "support/pdf.h"

namespace hayate::test {
namespace {

using nlohmann::json;

using Reply = JsonReply;

std::string b64(const std::string& bytes) {
  return base64_encode(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

json file_doc(const std::string& name, const std::string& bytes) { return {{"name", name}, {"data", b64(bytes)}}; }

int64_t stored_documents(const ServerProcess& s) { return json_call(s, "GET", "/v1/collections/kb").body["documents"]; }

TEST(ServerRagFiles, PdfAndHtmlUploadsAreSearchableAndBadFilesStoreNothing) {
  const std::string dir = temp_path("ragfiles." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerProcess server({"--collections-dir", dir});
  ASSERT_EQ(json_call(server, "POST", "/v1/collections", json({{"name", "kb"}})).status, 200);

  const std::string pdf =
      make_pdf({"The ferry to Ostmark leaves at dawn.", "Tickets cost nine copper coins."}, "Ferry guide");
  const std::string html =
      "<html><head><title>Lanterns</title><script>var hidden = 'zzz';</script></head><body>"
      "<h2>Festival</h2><p>Lanterns of Velmora are lit on the first night of &quot;Harrow&quot;.</p></body></html>";
  const json docs = {{"documents", {file_doc("guides/ferry.pdf", pdf), file_doc("lanterns.html", html)}}};
  const Reply added = json_call(server, "POST", "/v1/collections/kb/documents", docs);
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.body["data"][0]["id"], "guides/ferry.pdf");
  EXPECT_EQ(added.body["data"][1]["id"], "lanterns.html");

  const Reply ferry = json_call(server, "POST", "/v1/collections/kb/search",
                                json({{"query", "Tickets cost nine copper coins."}, {"top_k", 1}}));
  ASSERT_EQ(ferry.status, 200) << ferry.body;
  const json& hit = ferry.body["data"][0];
  EXPECT_EQ(hit["document_id"], "guides/ferry.pdf");
  EXPECT_NE(hit["text"].get<std::string>().find("nine copper coins"), std::string::npos) << hit;
  EXPECT_EQ(hit["metadata"]["title"], "Ferry guide");
  EXPECT_EQ(hit["metadata"]["source"], "guides/ferry.pdf");
  EXPECT_EQ(hit["metadata"]["pages"], 2);

  const Reply lanterns = json_call(server, "POST", "/v1/collections/kb/search",
                                   json({{"query", "Lanterns of Velmora are lit"}, {"top_k", 1}}));
  ASSERT_EQ(lanterns.status, 200) << lanterns.body;
  const std::string text = lanterns.body["data"][0]["text"];
  EXPECT_NE(text.find("\"Harrow\""), std::string::npos) << text;
  EXPECT_EQ(text.find("zzz"), std::string::npos) << "scripts are not text: " << text;
  EXPECT_EQ(lanterns.body["data"][0]["section"], "Festival");

  // Bad files: a 400 naming the document and the problem; the good file beside it is not stored.
  const auto refused = [&](const json& bad, const std::string& needle) {
    const Reply r = json_call(server, "POST", "/v1/collections/kb/documents",
                              json({{"documents", {file_doc("fine.md", "# Fine\n\nA good file."), bad}}}));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.dump().find(needle), std::string::npos) << r.body;
  };
  refused(file_doc("broken.pdf", "%PDF-1.7\nthis is not really a PDF"), "malformed PDF");
  refused(file_doc("empty.html", "<html><body>  </body></html>"), "no text");
  refused(file_doc("slides.pptx", "x"), ".pptx");
  refused(json({{"name", "x.txt"}, {"data", "@@not base64@@"}}), "documents[1]");
  refused(json({{"name", "x.txt"}}), "'text' string or a file's base64 'data'");
  EXPECT_EQ(stored_documents(server), 2);

  // 100 MB is over the body limit: answered 413 from the head alone, before any of the body is
  // read (a client that sent it all would meet a closed connection), and nothing is stored.
  const int fd = connect_loopback(server.port());
  ASSERT_GE(fd, 0);
  const std::string head =
      "POST /v1/collections/kb/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(100u << 20) + "\r\n\r\n{\"documents\": [{\"name\": \"big.pdf\", \"data\": \"";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("max_body_bytes"), std::string::npos) << answer;
  EXPECT_EQ(stored_documents(server), 2);

  // An id that is a path is deleted through its escaped form.
  EXPECT_EQ(json_call(server, "DELETE", "/v1/collections/kb/documents/guides%2Fferry.pdf").status, 200);
  EXPECT_EQ(stored_documents(server), 1);
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace hayate::test
