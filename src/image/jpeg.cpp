// JPEG through libjpeg-turbo. libjpeg's default error handler calls exit(): ours longjmps back
// to the one small function that calls the library, which then throws. The output is what PIL
// gives (the same library, islow DCT, fancy upsampling), so preprocessing agrees with it.
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstring>

// After <cstdio>: jpeglib.h uses size_t and FILE without declaring them.
#include <jpeglib.h>
// After jpeglib.h, whose types it uses.
#include <jerror.h>

#include "core/error.h"
#include "image/decoders.h"

namespace hayate::image::detail {
namespace {

// libjpeg-turbo's advice for untrusted input: a progressive file with thousands of scans is a
// CPU bomb that needs no big pixel count.
constexpr int kMaxScans = 1000;

struct Context {
  jpeg_error_mgr err{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  const Budget* budget = nullptr;
  char message[JMSG_LENGTH_MAX] = {};
  bool deadline = false;
};

Context* context_of(j_common_ptr cinfo) { return static_cast<Context*>(cinfo->client_data); }

[[noreturn]] void on_error(j_common_ptr cinfo) {
  Context* ctx = context_of(cinfo);
  cinfo->err->format_message(cinfo, ctx->message);
  std::longjmp(ctx->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  // Warnings are mostly harmless (extraneous bytes before a marker), but a file that ends early
  // would be completed with grey: a truncated upload is an error, as it is in PIL.
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    Context* ctx = context_of(cinfo);
    std::snprintf(ctx->message, sizeof ctx->message, "the file is truncated (it ends before the image data does)");
    std::longjmp(ctx->jump, 1);
  }
}

void on_progress(j_common_ptr cinfo) {
  Context* ctx = context_of(cinfo);
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (cinfo->is_decompressor && d->input_scan_number > kMaxScans) {
    std::snprintf(ctx->message, sizeof ctx->message, "it has more than %d progressive scans", kMaxScans);
    std::longjmp(ctx->jump, 1);
  }
  if (ctx->budget->expired()) {
    ctx->deadline = true;
    std::longjmp(ctx->jump, 1);
  }
}

// PIL's MULDIV255: a * b / 255, rounded.
int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// Only plain-old-data locals here: the longjmp lands in this frame.
bool run(jpeg_decompress_struct* cinfo, Context* ctx, std::span<const uint8_t> bytes, Decoded* out,
         std::vector<uint8_t>* cmyk_row) {
  if (setjmp(ctx->jump)) return false;
  jpeg_create_decompress(cinfo);  // keeps client_data, which on_error needs even here
  cinfo->progress = &ctx->progress;
  jpeg_mem_src(cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(cinfo, TRUE);
  check_size("JPEG", cinfo->image_width, cinfo->image_height, ctx->budget->limits);
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && out->exif_orientation == 1)
      out->exif_orientation = exif_orientation({m->data, m->data_length});
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(cinfo);
  const size_t w = cinfo->output_width;
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(cinfo->output_height);
  out->rgb.resize(w * cinfo->output_height * 3);
  if (cmyk) cmyk_row->resize(w * 4);
  const bool inverted = cinfo->saw_Adobe_marker;  // Adobe stores CMYK inverted
  while (cinfo->output_scanline < cinfo->output_height) {
    if (ctx->budget->expired()) {
      ctx->deadline = true;
      return false;
    }
    uint8_t* row = out->rgb.data() + cinfo->output_scanline * w * 3;
    JSAMPROW target = cmyk ? cmyk_row->data() : row;
    jpeg_read_scanlines(cinfo, &target, 1);
    if (cmyk) {
      for (size_t x = 0; x < w; ++x) {
        const uint8_t* p = cmyk_row->data() + x * 4;
        const int k = inverted ? p[3] : 255 - p[3];  // 255 - K
        for (int c = 0; c < 3; ++c) {
          const int ink = inverted ? 255 - p[c] : p[c];
          row[x * 3 + c] = static_cast<uint8_t>(k - muldiv255(ink, k));
        }
      }
    }
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

struct Destroy {
  jpeg_decompress_struct* cinfo;
  ~Destroy() { jpeg_destroy_decompress(cinfo); }
};

}  // namespace

Decoded decode_jpeg(std::span<const uint8_t> bytes, const Budget& budget) {
  jpeg_decompress_struct cinfo{};
  Context ctx;
  ctx.budget = &budget;
  cinfo.err = jpeg_std_error(&ctx.err);
  cinfo.client_data = &ctx;
  ctx.err.error_exit = on_error;
  ctx.err.emit_message = on_message;
  ctx.progress.progress_monitor = on_progress;
  Decoded out;
  out.format = Format::Jpeg;
  std::vector<uint8_t> cmyk_row;
  const Destroy destroy{&cinfo};
  if (!run(&cinfo, &ctx, bytes, &out, &cmyk_row)) {
    if (ctx.deadline) fail_deadline("JPEG", budget.limits);
    fail_bad("JPEG", ctx.message);
  }
  orient(out, out.exif_orientation);
  return out;
}

}  // namespace hayate::image::detail
