// The web page (web/, built by npm into web/dist and committed), built into the binary so that
// `hayate serve` needs nothing beside it. Only the files of the table below are served: a path is
// looked up, never joined to a directory, so no path can reach another file.
#include <string_view>

#include "server/routes.h"

#define HAYATE_ASSET(name, file)                                     \
  asm(".pushsection .rodata.hayate_web_" #name                       \
      ", \"a\", @progbits\n"                                         \
      ".globl hayate_web_" #name "_begin\n.hidden hayate_web_" #name \
      "_begin\n"                                                     \
      ".globl hayate_web_" #name "_end\n.hidden hayate_web_" #name   \
      "_end\n"                                                       \
      "hayate_web_" #name                                            \
      "_begin:\n"                                                    \
      ".incbin \"" HAYATE_WEB_DIST "/" file                          \
      "\"\n"                                                         \
      "hayate_web_" #name                                            \
      "_end:\n"                                                      \
      ".byte 0\n"                                                    \
      ".popsection\n");                                              \
  extern "C" const char hayate_web_##name##_begin[];                 \
  extern "C" const char hayate_web_##name##_end[];

HAYATE_ASSET(index, "index.html")
HAYATE_ASSET(js, "assets/app.js")
HAYATE_ASSET(css, "assets/app.css")

namespace hayate::server {
namespace {

struct Asset {
  std::string_view path, type;
  const char *begin, *end;
};

const Asset kAssets[] = {
    {"/", "text/html; charset=utf-8", hayate_web_index_begin, hayate_web_index_end},
    {"/assets/app.js", "text/javascript; charset=utf-8", hayate_web_js_begin, hayate_web_js_end},
    {"/assets/app.css", "text/css; charset=utf-8", hayate_web_css_begin, hayate_web_css_end},
};

}  // namespace

awaitable<> handle_static(Exchange& ex, ServerState&) {
  const std::string& path = ex.request().path;
  for (const Asset& a : kAssets) {
    if (a.path != path) continue;
    Headers extra;
    // Nothing from elsewhere: the page works offline and an injected script could not phone home.
    extra.emplace_back("Content-Security-Policy",
                       "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' "
                       "'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
    extra.emplace_back("X-Content-Type-Options", "nosniff");
    extra.emplace_back("Cache-Control", "no-cache");
    co_await ex.respond(200, std::string(a.begin, a.end), a.type, std::move(extra));
    co_return;
  }
  throw api::ApiError(404, "No page at " + path + "; the page is at /", "invalid_request_error", "", "not_found");
}

}  // namespace hayate::server
