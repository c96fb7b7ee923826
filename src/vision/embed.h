// An mmproj beside a language model (issue 19): decoded images become the rows that take the
// place of their placeholder tokens, and a prompt's image markers widen to those tokens. What
// `hayate serve --mmproj` and `hayate run --image --mmproj` share, so both give the same prompt.
//
//   ImageEmbedder e(mmproj_path, model.hp, "cpu", 0);
//   std::vector<ImageRows> rows = {e.embed(decoded)};
//   ImagePrompt p = tokenize_with_images(tok, text, "<__image__>", rows, e.image_token(), false);
//   request.prompt = p.ids; request.images = p.images;
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "image/image.h"
#include "model/batch.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "vision/clip.h"
#include "vision/encoder.h"

namespace hayate::vision {

// One image's projected features, keyed by its pixels.
struct ImageRows {
  int32_t n_rows = 0;
  uint64_t content_hash = 0;
  std::shared_ptr<const std::vector<float>> data;  // n_rows x n_embd of the language model
};

// The hash of an image's decoded pixels (size and RGB bytes; alpha is dropped before encoding):
// what the prefix cache tells images apart by.
uint64_t pixel_hash(const image::Decoded& img);

class ImageEmbedder {
 public:
  // Loads the mmproj and checks it fits the language model (projector width = n_embd); the
  // tower runs on a backend of its own (`backend`, a host backend name), so it never touches the
  // engine's scratch. Error naming the file otherwise.
  ImageEmbedder(const std::string& mmproj_path, const HParams& lm, const std::string& backend, int n_threads);
  ~ImageEmbedder();

  int32_t tokens_per_image() const { return model_->hp.n_patches(); }
  // The id the placeholder positions carry: the file's hayate.image_token_id when it lies in the
  // vocabulary, else 0. Its embedding is never read (the rows replace it).
  int32_t image_token() const { return image_token_; }
  const ClipModel& model() const { return *model_; }

  // Preprocess (CLIP: shortest edge, centre crop, the file's mean and std), encode, project.
  // Thread-safe; callers take turns (the encoder owns one backend's scratch).
  ImageRows embed(const image::Decoded& img);

 private:
  std::unique_ptr<ClipModel> model_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ClipEncoder> encoder_;
  int32_t image_token_ = 0;
  std::mutex mu_;
};

struct ImagePrompt {
  std::vector<int32_t> ids;
  std::vector<EmbeddingRows> images;  // at their positions in ids, in order
};

// `text` tokenized piece by piece around each `marker`, the i-th marker widened to rows[i].n_rows
// copies of image_token. add_special applies to the first piece only (BOS once). Error(BadInput)
// when the markers and the images do not pair up.
ImagePrompt tokenize_with_images(const Tokenizer& tok, std::string_view text, std::string_view marker,
                                 std::span<const ImageRows> rows, int32_t image_token, bool add_special);

}  // namespace hayate::vision
