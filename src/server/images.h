// The images of a chat request (issue 19): fetched (http URLs, when image_url_fetch allows) and
// decoded on a small pool of their own, so a big JPEG never holds an HTTP thread and several
// requests decode at once.
#pragma once

#include <string>
#include <vector>

#include "api/openai.h"
#include "image/image.h"
#include "net/asio.h"
#include "server/config.h"
#include "server/service.h"
#include "vision/embed.h"

namespace hayate::server {

bool has_images(const std::vector<api::ChatMessage>& messages);

// Fills each message's images from its image_parts, in order. Throws ApiError 400 whose param
// names the part for an image that cannot be fetched or decoded.
awaitable<> load_images(std::vector<api::ChatMessage>& messages, const ServerConfig& config);

// Every decoded image of the messages through the vision tower, in order, on the decode pool (the
// HTTP threads and the engine's loop keep running). A preprocessing refusal is ApiError 400 naming
// the part.
awaitable<std::vector<vision::ImageRows>> encode_images(const std::vector<api::ChatMessage>& messages,
                                                        vision::ImageEmbedder& embedder, const ServerConfig& config);

// What every route that takes images does (chat completions, responses, Ollama's chat and
// generate): the messages' images loaded and encoded as above; a model without a vision encoder
// refuses them (400). Empty when the messages hold none.
awaitable<std::vector<vision::ImageRows>> message_images(std::vector<api::ChatMessage>& messages, Service& svc,
                                                         const ServerConfig& config);
// A prompt's ids, each image placeholder (where the template left it) widened to its image's
// tokens, with the images at their positions. add_special: BOS, for text no template rendered.
vision::ImagePrompt tokenize_prompt(Service& svc, const std::string& text, std::span<const vision::ImageRows> rows,
                                    bool add_special = false);

// The same checks without a server: `hayate run --image` and `/image` in `hayate chat`.
image::Limits image_limits(const ServerConfig& config);

}  // namespace hayate::server
