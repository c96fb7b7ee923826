// GIF's first frame through giflib, record by record (DGifSlurp would read every frame of an
// animation into memory). As PIL shows frame 0: a canvas of the logical screen, filled with the
// transparent colour index (or index 0), the frame drawn on it with its own or the global colour
// table; pixels of the transparent index get alpha 0.
#include <gif_lib.h>

#include <cstring>
#include <string>

#include "core/error.h"
#include "image/decoders.h"

namespace hayate::image::detail {
namespace {

struct Reader {
  std::span<const uint8_t> bytes;
  size_t at = 0;
};

int on_read(GifFileType* gif, GifByteType* data, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t take = std::min(static_cast<size_t>(n), r->bytes.size() - r->at);
  std::memcpy(data, r->bytes.data() + r->at, take);
  r->at += take;
  return static_cast<int>(take);
}

struct Close {
  GifFileType* gif;
  ~Close() {
    int err = 0;
    if (gif) DGifCloseFile(gif, &err);
  }
};

[[noreturn]] void fail_gif(int code) {
  const char* text = GifErrorString(code);
  std::string what = text ? text : "error " + std::to_string(code);
  if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON)
    what = "the file is truncated (it ends before the image data does)";
  fail_bad("GIF", what);
}

}  // namespace

Decoded decode_gif(std::span<const uint8_t> bytes, const Budget& budget) {
  Reader reader{bytes};
  int err = 0;
  GifFileType* gif = DGifOpen(&reader, on_read, &err);
  const Close close{gif};
  if (!gif) fail_gif(err);
  check_size("GIF", gif->SWidth, gif->SHeight, budget.limits);
  int transparent = -1;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR) fail_gif(gif->Error);
    if (type == TERMINATE_RECORD_TYPE) fail_bad("GIF", "it has no image frame");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) fail_gif(gif->Error);
      if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1)) transparent = ext[4];
      while (ext)
        if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) fail_gif(gif->Error);
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif) == GIF_ERROR) fail_gif(gif->Error);
    break;
  }
  const GifImageDesc& desc = gif->Image;
  check_size("GIF frame", desc.Width, desc.Height, budget.limits);
  const ColorMapObject* map = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
  const int w = gif->SWidth, h = gif->SHeight;
  std::vector<uint8_t> index(static_cast<size_t>(w) * h, static_cast<uint8_t>(transparent >= 0 ? transparent : 0));
  std::vector<GifPixelType> line(desc.Width);
  // Interlaced frames arrive in four passes of rows.
  static constexpr int kStart[] = {0, 4, 2, 1}, kStep[] = {8, 8, 4, 2};
  const int passes = desc.Interlace ? 4 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = desc.Interlace ? kStart[pass] : 0; y < desc.Height; y += desc.Interlace ? kStep[pass] : 1) {
      if (budget.expired()) fail_deadline("GIF", budget.limits);
      if (DGifGetLine(gif, line.data(), desc.Width) == GIF_ERROR) fail_gif(gif->Error);
      const int cy = desc.Top + y;
      if (cy < 0 || cy >= h) continue;
      for (int x = 0; x < desc.Width; ++x) {
        const int cx = desc.Left + x;
        if (cx >= 0 && cx < w) index[static_cast<size_t>(cy) * w + cx] = line[x];
      }
    }
  }
  Decoded out;
  out.format = Format::Gif;
  out.width = w;
  out.height = h;
  const size_t n = index.size();
  out.rgb.resize(n * 3);
  if (transparent >= 0) out.alpha.assign(n, 255);
  for (size_t i = 0; i < n; ++i) {
    const int k = index[i];
    if (map && k < map->ColorCount) {
      out.rgb[i * 3] = map->Colors[k].Red;
      out.rgb[i * 3 + 1] = map->Colors[k].Green;
      out.rgb[i * 3 + 2] = map->Colors[k].Blue;
    } else {  // no colour table (or an index past it): grey, as PIL's mode L
      std::memset(&out.rgb[i * 3], k, 3);
    }
    if (k == transparent) out.alpha[i] = 0;
  }
  return out;
}

}  // namespace hayate::image::detail
