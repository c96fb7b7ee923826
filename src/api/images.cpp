// image_url content parts: OpenAI's {"type": "image_url", "image_url": {"url": URL, "detail"}},
// where URL is "data:image/png;base64,..." or an http(s) URL. Only the wire format here; the
// server decodes the bytes (image/) and fetches URLs.
#include <algorithm>

#include "api/parse_util.h"
#include "core/base64.h"

namespace hayate::api::detail {

ImagePart parse_image_part(const nlohmann::json& part, const std::string& at, const Limits& limits) {
  const nlohmann::json* image_url = field(part, "image_url");
  const std::string param = at + ".image_url";
  // Some clients send the URL as a bare string rather than {"url": ...}.
  if (image_url && image_url->is_object()) image_url = field(*image_url, "url");
  if (!image_url || !image_url->is_string())
    bad(param, "'" + param + "' must be {\"url\": \"data:image/...;base64,...\"} or {\"url\": \"https://...\"}");
  const std::string& url = image_url->get_ref<const std::string&>();
  ImagePart out;
  out.param = param + ".url";
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
  const std::string_view data = std::string_view(url).substr(comma + 1);
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
  return out;
}

}  // namespace hayate::api::detail
