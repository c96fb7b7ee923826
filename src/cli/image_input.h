// Images named on the command line (`hayate run --image`, `/image` in `hayate chat`): read and
// decoded as the server decodes an image_url part, so the CLI and the server say the same errors.
#pragma once

#include <string>
#include <string_view>

#include "cli/common.h"
#include "image/image.h"

namespace hayate::cli {

// Where an image goes in a prompt, as the API's image_url part leaves it.
inline constexpr std::string_view kImageMarker = "<__image__>";

// The model's id as `hayate serve` gives it.
std::string model_name(const ModelOptions& m);

// The file decoded with the server's default limits; Error naming the file when it cannot be
// opened (NotFound) or is not a good image (BadInput).
image::Decoded read_image(const std::string& path);

// For a model started without --mmproj: the file's own error first, else the server's
// "does not accept images" (BadInput).
[[noreturn]] void fail_image_without_mmproj(const std::string& path, const ModelOptions& m);

}  // namespace hayate::cli
