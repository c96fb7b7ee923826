// `hayate gateway` for the gateway tests: its config written to a file, the process started on
// a free port (ServerProcess with the "gateway" command), and the upstream entries.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "server_harness.h"

namespace hayate::test {

inline std::string write_config(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

// The id a server answers to (its /v1/models), for upstream_model.
inline std::string model_id(int port) {
  return nlohmann::json::parse(http_get(port, "/v1/models").body)["data"][0]["id"];
}

inline std::string upstream(const std::string& name, int port, const std::string& model,
                            const std::string& upstream_model) {
  return "[[upstreams]]\nname = \"" + name + "\"\nurl = \"http://127.0.0.1:" + std::to_string(port) + "\"\nmodel = \"" +
         model + "\"\nupstream_model = \"" + upstream_model + "\"\n";
}

inline std::unique_ptr<ServerProcess> start_gateway(const std::string& config_path) {
  return std::make_unique<ServerProcess>(std::vector<std::string>{"--config", config_path},
                                         std::vector<std::pair<std::string, std::string>>{}, true, false, "gateway");
}

}  // namespace hayate::test
