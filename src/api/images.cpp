// Images in requests, only the wire formats (the server decodes the bytes with image/ and fetches
// URLs): OpenAI chat's {"type": "image_url", "image_url": {"url": URL, "detail"}}, the Responses
// API's {"type": "input_image", "image_url": URL}, where URL is "data:image/png;base64,..." or an
// http(s) URL, and Ollama's "images": ["<base64>", ...]. One decoder for all, so each says the same
// size and media-type errors.
#include <algorithm>

#include "api/parse_util.h"
#include "core/base64.h"

namespace hayate::api::detail {
namespace {

// Base64 text into out.bytes, within limits.max_image_bytes.
void decode_base64(std::string_view data, ImagePart& out, const Limits& limits) {
  // The size before decoding: a 30 MB string is refused without a 22 MB buffer.
  const int64_t decoded = static_cast<int64_t>(data.size() / 4 * 3);
  if (decoded > limits.max_image_bytes + 2)
    bad(out.param, "'" + out.param + "' holds about " + std::to_string(decoded) +
                       " bytes of image, over the limit of " + std::to_string(limits.max_image_bytes) +
                       " (image_max_bytes)");
  try {
    out.bytes = base64_decode(data, out.param);
  } catch (const Error& e) {
    bad(out.param, e.what());
  }
  if (out.bytes.empty()) bad(out.param, "'" + out.param + "' holds an empty image (0 bytes)");
}

}  // namespace

ImagePart parse_image_url(const std::string& url, const std::string& param, const Limits& limits) {
  ImagePart out;
  out.param = param;
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    out.url = url;
    return out;
  }
  if (url.rfind("data:", 0) != 0)
    bad(out.param, "'" + out.param + "' must be a data: URL (data:image/png;base64,...) or an http(s) URL, got '" +
                       url.substr(0, 32) + (url.size() > 32 ? "...'" : "'"));
  const size_t comma = url.find(',');
  if (comma == std::string::npos) bad(out.param, "'" + out.param + "' is a data: URL without a ',' before its data");
  const std::string_view meta = std::string_view(url).substr(5, comma - 5);
  const size_t semi = meta.find(';');
  if (meta.substr(semi == std::string_view::npos ? meta.size() : semi) != ";base64")
    bad(out.param, "'" + out.param + "' must be a base64 data: URL (data:image/png;base64,...)");
  out.mime = std::string(meta.substr(0, semi));
  if (!out.mime.empty() && out.mime.rfind("image/", 0) != 0)
    bad(out.param, "'" + out.param + "' declares the media type '" + out.mime + "', which is not an image");
  decode_base64(std::string_view(url).substr(comma + 1), out, limits);
  return out;
}

ImagePart parse_image_part(const nlohmann::json& part, const std::string& at, const Limits& limits) {
  const nlohmann::json* image_url = field(part, "image_url");
  const std::string param = at + ".image_url";
  // Some clients send the URL as a bare string rather than {"url": ...}.
  if (image_url && image_url->is_string()) return parse_image_url(image_url->get<std::string>(), param, limits);
  if (image_url && image_url->is_object()) image_url = field(*image_url, "url");
  if (!image_url || !image_url->is_string())
    bad(param, "'" + param + "' must be {\"url\": \"data:image/...;base64,...\"} or {\"url\": \"https://...\"}");
  return parse_image_url(image_url->get<std::string>(), param + ".url", limits);
}

ImagePart parse_base64_image(const nlohmann::json& value, const std::string& param, const Limits& limits) {
  if (!value.is_string()) bad(param, "'" + param + "' must be a base64 string of image bytes, got " + describe(value));
  const std::string& text = value.get_ref<const std::string&>();
  if (text.rfind("data:", 0) == 0) return parse_image_url(text, param, limits);  // some clients send data: URLs
  ImagePart out;
  out.param = param;
  decode_base64(text, out, limits);
  return out;
}

void check_image_count(const std::vector<ChatMessage>& messages, const Limits& limits, const std::string& param) {
  size_t images = 0;
  for (const ChatMessage& m : messages) images += m.image_parts.size();
  if (images > static_cast<size_t>(std::max(0, limits.max_images)))
    bad(param, "the request has " + std::to_string(images) + " images; at most " + std::to_string(limits.max_images) +
                   " are allowed");
}

}  // namespace hayate::api::detail
