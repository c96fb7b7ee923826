#include "server/images.h"

#include <boost/asio/thread_pool.hpp>
#include <mutex>

#include "core/error.h"
#include "net/blocking_client.h"

namespace hayate::server {
namespace {

// One pool for the process, sized by the first server's config (a process serves one config).
asio::thread_pool& decode_pool(const ServerConfig& config) {
  static std::once_flag once;
  static asio::thread_pool* pool = nullptr;
  std::call_once(once, [&] { pool = new asio::thread_pool(static_cast<size_t>(config.image_decode_threads)); });
  return *pool;
}

// An http image URL's bytes, within the size and time limits. The net client speaks plain HTTP.
std::vector<uint8_t> fetch(const api::ImagePart& part, const ServerConfig& config) {
  if (!config.image_url_fetch)
    throw api::ApiError(400,
                        "'" + part.param +
                            "' is an http(s) URL, and this server takes images as data: URLs only "
                            "(image_url_fetch is off)",
                        "invalid_request_error", part.param);
  try {
    net::ClientOptions options;
    options.connection.body_limit = static_cast<uint64_t>(config.image_max_bytes);
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.image_fetch_timeout * 1000));
    net::Client client(net::resolve(net::parse_url(part.url)), options);
    const net::Response r = client.request(net::Request("GET", client.endpoint().url.base.empty() ? "/" : ""));
    if (r.status != 200) fail(ErrorKind::BadInput, "fetching it answered HTTP " + std::to_string(r.status));
    return {r.body.begin(), r.body.end()};
  } catch (const Error& e) {
    throw api::ApiError(400, "'" + part.param + "' (" + part.url + "): " + e.what(), "invalid_request_error",
                        part.param);
  }
}

awaitable<> decode_all(std::vector<api::ChatMessage>* messages, const ServerConfig* config) {
  const image::Limits limits = image_limits(*config);
  for (api::ChatMessage& m : *messages) {
    m.images.clear();
    for (const api::ImagePart& part : m.image_parts) {
      const std::vector<uint8_t> fetched = part.url.empty() ? std::vector<uint8_t>{} : fetch(part, *config);
      try {
        m.images.push_back(image::decode(part.url.empty() ? part.bytes : fetched, limits, part.mime));
      } catch (const Error& e) {
        throw api::ApiError(400, "'" + part.param + "': " + e.what(), "invalid_request_error", part.param);
      }
    }
  }
  co_return;
}

awaitable<std::vector<vision::ImageRows>> encode_all(const std::vector<api::ChatMessage>* messages,
                                                     vision::ImageEmbedder* embedder) {
  std::vector<vision::ImageRows> rows;
  for (const api::ChatMessage& m : *messages)
    for (size_t i = 0; i < m.images.size(); ++i) {
      try {
        rows.push_back(embedder->embed(m.images[i]));
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::BadInput) throw;
        const std::string param = i < m.image_parts.size() ? m.image_parts[i].param : "messages";
        throw api::ApiError(400, "'" + param + "': " + e.what(), "invalid_request_error", param);
      }
    }
  co_return rows;
}

}  // namespace

bool has_images(const std::vector<api::ChatMessage>& messages) {
  for (const api::ChatMessage& m : messages)
    if (!m.image_parts.empty()) return true;
  return false;
}

image::Limits image_limits(const ServerConfig& config) {
  image::Limits limits;
  limits.max_bytes = config.image_max_bytes;
  limits.max_pixels = config.image_max_pixels;
  limits.max_seconds = config.image_max_decode_seconds;
  return limits;
}

awaitable<> load_images(std::vector<api::ChatMessage>& messages, const ServerConfig& config) {
  // Runs on the pool; the caller resumes on its own executor, exceptions included.
  co_await asio::co_spawn(decode_pool(config), decode_all(&messages, &config), asio::use_awaitable);
}

awaitable<std::vector<vision::ImageRows>> encode_images(const std::vector<api::ChatMessage>& messages,
                                                        vision::ImageEmbedder& embedder, const ServerConfig& config) {
  co_return co_await asio::co_spawn(decode_pool(config), encode_all(&messages, &embedder), asio::use_awaitable);
}

awaitable<std::vector<vision::ImageRows>> message_images(std::vector<api::ChatMessage>& messages, Service& svc,
                                                         const ServerConfig& config) {
  if (!has_images(messages)) co_return std::vector<vision::ImageRows>{};
  co_await load_images(messages, config);  // bad images: 400 naming the part, before the model's refusal
  vision::ImageEmbedder* embedder = svc.image_embedder();
  if (!embedder) image::fail_text_only(svc.model_id());
  co_return co_await encode_images(messages, *embedder, config);
}

vision::ImagePrompt tokenize_prompt(Service& svc, const std::string& text, std::span<const vision::ImageRows> rows,
                                    bool add_special) {
  if (rows.empty()) return {svc.tokenizer().encode(text, add_special, true), {}};
  return vision::tokenize_with_images(svc.tokenizer(), text, api::kImagePlaceholder, rows,
                                      svc.image_embedder()->image_token(), add_special);
}

}  // namespace hayate::server
