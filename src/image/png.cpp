// PNG through libpng, whose default error handler aborts: ours longjmps back to the one small
// function that calls the library. Every colour type becomes RGB8 + alpha as PIL's
// convert("RGB") sees it: palette through its colours, grey replicated, 16 bits to their high
// byte, tRNS as alpha (palette and grey transparency is dropped or composited later).
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "image/decoders.h"

namespace hayate::image::detail {
namespace {

struct Context {
  std::span<const uint8_t> bytes;
  size_t at = 0;
  const Budget* budget = nullptr;
  char message[256] = {};
  bool deadline = false;
  bool alpha = false;  // an alpha channel or tRNS, seen before the transforms hide the colour type
};

Context* context_of(png_structp png) { return static_cast<Context*>(png_get_error_ptr(png)); }

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  std::snprintf(context_of(png)->message, sizeof context_of(png)->message, "%s", message);
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep data, size_t n) {
  auto* ctx = static_cast<Context*>(png_get_io_ptr(png));
  if (ctx->bytes.size() - ctx->at < n) png_error(png, "the file is truncated (it ends before the image data does)");
  std::memcpy(data, ctx->bytes.data() + ctx->at, n);
  ctx->at += n;
}

// Called after each row: the one place a long decode (a big interlaced image) can be stopped.
void on_row(png_structp png, png_uint_32, int) {
  Context* ctx = context_of(png);
  if (ctx->budget->expired()) {
    ctx->deadline = true;
    png_longjmp(png, 1);
  }
}

// Only plain-old-data locals here: the longjmp lands in this frame.
bool run(png_structp png, png_infop info, Context* ctx, Decoded* out, std::vector<uint8_t>* rgba,
         std::vector<png_bytep>* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, ctx, on_read);
  png_set_read_status_fn(png, on_row);
  // Ancillary chunks (zTXt, iCCP) are decompressed whole: bound them, the other kind of bomb.
  png_set_chunk_malloc_max(png, 8 << 20);
  png_set_chunk_cache_max(png, 1000);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  check_size("PNG", width, height, ctx->budget->limits);
  const int color = png_get_color_type(png, info);
  ctx->alpha = (color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);  // the high byte, as PIL's RGB;16B
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_filler(png, 0xff, PNG_FILLER_AFTER);  // always 4 channels: one code path below
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  rgba->resize(static_cast<size_t>(width) * height * 4);
  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) (*rows)[y] = rgba->data() + static_cast<size_t>(y) * width * 4;
  png_read_image(png, rows->data());
  out->width = static_cast<int>(width);
  out->height = static_cast<int>(height);
  return true;
}

struct Destroy {
  png_structp png;
  png_infop info;
  ~Destroy() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

}  // namespace

Decoded decode_png(std::span<const uint8_t> bytes, const Budget& budget) {
  Context ctx;
  ctx.bytes = bytes;
  ctx.budget = &budget;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  if (!png) fail(ErrorKind::ResourceExhausted, "image: libpng could not start (out of memory)");
  png_infop info = png_create_info_struct(png);
  const Destroy destroy{png, info};
  if (!info) fail(ErrorKind::ResourceExhausted, "image: libpng could not start (out of memory)");
  Decoded out;
  out.format = Format::Png;
  std::vector<uint8_t> rgba;
  std::vector<png_bytep> rows;
  if (!run(png, info, &ctx, &out, &rgba, &rows)) {
    if (ctx.deadline) fail_deadline("PNG", budget.limits);
    fail_bad("PNG", ctx.message);
  }
  const bool has_alpha = ctx.alpha;
  const size_t n = static_cast<size_t>(out.width) * out.height;
  out.rgb.resize(n * 3);
  if (has_alpha) out.alpha.resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(&out.rgb[i * 3], &rgba[i * 4], 3);
    if (has_alpha) out.alpha[i] = rgba[i * 4 + 3];
  }
  return out;
}

}  // namespace hayate::image::detail
