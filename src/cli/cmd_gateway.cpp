// `hayate gateway --config gateway.toml`: the front door for a pool of model servers
// (gateway/gateway.h; every setting is described in docs/gateway.md).
#include <iostream>

#include "cli/common.h"
#include "gateway/config.h"
#include "gateway/gateway.h"

namespace hayate::cli {

void add_gateway_command(CLI::App& app) {
  struct Options {
    std::string config_file;
    std::string host;
    int port = -1;
    bool check = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "gateway",
      "OpenAI-compatible gateway in front of several servers: routing by model (aliases, replicas), prefix affinity, "
      "health checks, ejection, retries, fallback chains, streaming pass-through, API keys and rate limits, /metrics. "
      "SIGHUP reloads the configuration.");
  cmd->add_option("--config", o->config_file, "the gateway's TOML file (docs/gateway.md)")->required();
  cmd->add_option("--host", o->host, "listen on this address instead of the file's host");
  cmd->add_option("--port", o->port, "listen on this port instead of the file's port (0: any free one)");
  cmd->add_flag("--check", o->check, "check the configuration file and exit");
  cmd->callback([o] {
    gateway::GatewayConfig config = gateway::load_gateway_config(o->config_file);
    if (!o->host.empty()) config.host = o->host;
    if (o->port >= 0) config.port = o->port;
    if (o->check) {
      std::cout << o->config_file << ": " << config.upstreams.size() << " upstream(s), " << config.models.size()
                << " model entr" << (config.models.size() == 1 ? "y" : "ies") << ", " << config.keys.size()
                << " key(s): OK\n";
      return;
    }
    const int code = gateway::run_gateway(config, o->config_file);
    if (code != 0) std::exit(code);
  });
}

}  // namespace hayate::cli
