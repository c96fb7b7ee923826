#include "vision/embed.h"

#include "core/error.h"

namespace hayate::vision {

uint64_t pixel_hash(const image::Decoded& img) {
  // FNV-1a over the size and the RGB bytes: images differ in their pixels or not at all here.
  uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](uint8_t byte) {
    h ^= byte;
    h *= 0x100000001b3ull;
  };
  for (const int side : {img.width, img.height})
    for (int shift = 0; shift < 32; shift += 8) mix(static_cast<uint8_t>(static_cast<uint32_t>(side) >> shift));
  for (const uint8_t byte : img.rgb) mix(byte);
  return h;
}

ImageEmbedder::ImageEmbedder(const std::string& mmproj_path, const HParams& lm, const std::string& backend,
                             int n_threads)
    : model_(ClipModel::load(mmproj_path)) {
  if (model_->hp.proj_dim != lm.n_embd)
    fail(ErrorKind::BadInput, mmproj_path + ": the projector gives rows of " + std::to_string(model_->hp.proj_dim) +
                                  " values, but the language model's width is " + std::to_string(lm.n_embd) +
                                  "; give the mmproj made for this model");
  const int64_t token = model_->file->get_i64("hayate.image_token_id", -1);
  if (token >= 0 && token < lm.n_vocab) image_token_ = static_cast<int32_t>(token);
  backend_ = make_backend(backend, n_threads);
  encoder_ = std::make_unique<ClipEncoder>(*model_, *backend_, n_threads);
}

ImageEmbedder::~ImageEmbedder() = default;

ImageRows ImageEmbedder::embed(const image::Decoded& img) {
  image::Preprocess options = image::clip_preprocess(model_->hp.image_size);
  options.mean = model_->hp.image_mean;
  options.std = model_->hp.image_std;
  const image::Pixels pixels = image::preprocess(img, options);
  ImageRows out;
  out.content_hash = pixel_hash(img);
  std::vector<float> rows;
  {
    std::lock_guard lock(mu_);
    rows = encoder_->embed(pixels.chw, pixels.width, pixels.height);
  }
  out.n_rows = tokens_per_image();
  out.data = std::make_shared<const std::vector<float>>(std::move(rows));
  return out;
}

ImagePrompt tokenize_with_images(const Tokenizer& tok, std::string_view text, std::string_view marker,
                                 std::span<const ImageRows> rows, int32_t image_token, bool add_special) {
  ImagePrompt out;
  size_t start = 0, n_markers = 0;
  for (;;) {
    const size_t at = text.find(marker, start);
    const std::string_view piece =
        text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start);
    if (!piece.empty() || (start == 0 && add_special)) {
      const std::vector<int32_t> ids = tok.encode(piece, add_special && start == 0, true);
      out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    }
    if (at == std::string_view::npos) break;
    if (n_markers < rows.size()) {
      const ImageRows& r = rows[n_markers];
      out.images.push_back({static_cast<int32_t>(out.ids.size()), r.n_rows, r.content_hash, r.data});
      out.ids.insert(out.ids.end(), static_cast<size_t>(r.n_rows), image_token);
    }
    ++n_markers;
    start = at + marker.size();
  }
  if (n_markers != rows.size())
    fail(ErrorKind::BadInput, "the prompt has " + std::to_string(n_markers) + " image place(s) ('" +
                                  std::string(marker) + "') for " + std::to_string(rows.size()) +
                                  " image(s); each image needs exactly one");
  return out;
}

}  // namespace hayate::vision
