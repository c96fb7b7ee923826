// The models table of the serve config: `[[models]]` rows in the TOML file (config.cpp reads the
// rest of the file).
#pragma once

#include <toml++/toml.h>

#include <string>
#include <vector>

#include "server/config.h"

namespace hayate::server {

// The rows of `models = [...]` / `[[models]]`; Error(BadInput) naming `where` and the field.
std::vector<ModelSpec> models_from_toml(const toml::node& node, const std::string& where);
// The rows as TOML ([[models]] tables), for --print-config; empty for no rows.
std::string models_toml(const std::vector<ModelSpec>& models);
// Names and aliases unique and non-empty, keep_alive durations that parse: Error(BadInput).
void validate_models(const ServerConfig& config);

}  // namespace hayate::server
