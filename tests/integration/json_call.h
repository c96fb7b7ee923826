// One JSON request to a test's server and its answer parsed (discarded JSON when it is not any),
// for the tests of the JSON routes (collections, RAG).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "integration/server_harness.h"

namespace hayate::test {

struct JsonReply {
  int status = 0;
  nlohmann::json body;
  HttpResponse raw;
};

inline JsonReply json_call(const ServerProcess& s, const std::string& method, const std::string& path,
                           const nlohmann::json& body = nullptr) {
  HttpClient c("127.0.0.1", s.port());
  HttpResponse r = c.request(method, path, body.is_null() ? "" : body.dump(), {{"Content-Type", "application/json"}});
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return {r.status, std::move(j), std::move(r)};
}

}  // namespace hayate::test
