// The exact response cache: a deterministic request (temperature 0, or a fixed seed) that was
// answered before is answered again from the cache, without the engine. The key is the route, the
// served model and the request body in canonical form (keys sorted, fields that cannot change the
// answer dropped), so the same question asked with its fields in another order is still a hit. A
// streamed request is neither served from nor stored in it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cache.h"
#include "core/sampling_params.h"
#include "server/config.h"

namespace hayate::server {

// Null when config.cache is "off".
std::unique_ptr<cache::Cache> make_response_cache(const ServerConfig& config);

// The cache key of a request, or nullopt when its answer may not come from the cache (a stream,
// sampling with a random seed, or retrieval, whose sources change).
std::optional<std::string> response_cache_key(std::string_view route, const std::string& model_id,
                                              const std::string& body, const SamplingParams& sampling, bool stream);

// A cached response body made fresh: a new id (with `id_prefix`) and creation time; nullopt when
// the entry is not a response (a damaged or foreign entry is a miss, never an error).
std::optional<std::string> refresh_cached_response(const std::string& cached, const std::string& id_prefix);

}  // namespace hayate::server
