#include "compress/lossless.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>

#include "compress/frequencies.h"
#include "compress/range_coder.h"
#include "compress/zstd_frame.h"
#include "core/error.h"

namespace hayate::compress {
namespace {

std::string hex(uint64_t v, int digits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

// One window being coded: its symbols (encoder) and its coder state.
struct EncodeWindow {
  std::span<const int32_t> symbols;
  std::string_view bytes;
  RangeEncoder coder;
  size_t next = 0;  // symbols coded so far
};

void encode_symbol(EncodeWindow& w, std::span<const float> row, const Alphabet& ab, int precision,
                   FrequencyTable& table) {
  quantize_logits(row, precision, table);
  const int32_t s = w.symbols[w.next++];
  if (ab.is_escaped(s)) {
    const int32_t esc = ab.escape_symbol();
    w.coder.encode(table.start(esc), table.freq(esc), table.total());
    const FrequencyTable& bytes = byte_table();
    const int32_t b = s - ab.n_tokens();
    w.coder.encode(bytes.start(b), bytes.freq(b), bytes.total());
  } else {
    w.coder.encode(table.start(s), table.freq(s), table.total());
  }
}

// Runs windows 0..n-1 through the source `width` at a time, one token per window per step:
// each starts with `start`, and after each of its rows `next(w, row)` gives the token to feed
// next, or -1 when window w is done; a finished window's sequence goes to the next waiting
// window in file order. Decompression and the compression of a batch-dependent source both
// run this, so they see the same batches step for step.
void run_lockstep(LogitSource& src, size_t n, int32_t width, int32_t start,
                  const std::function<int32_t(size_t w, std::span<const float> row)>& next) {
  struct Slot {
    size_t window;
    int32_t token;
  };
  std::vector<std::optional<Slot>> slots(static_cast<size_t>(width));
  size_t waiting = 0, live = 0;
  std::vector<FeedPart> parts;
  std::vector<size_t> order;
  const int32_t n_vocab = src.n_vocab();
  while (waiting < n || live > 0) {
    for (size_t s = 0; s < slots.size() && waiting < n; ++s)
      if (!slots[s]) {
        src.reset(static_cast<int32_t>(s));
        slots[s] = Slot{waiting++, start};
        ++live;
      }
    parts.clear();
    order.clear();
    for (size_t s = 0; s < slots.size(); ++s)
      if (slots[s]) {
        parts.push_back({static_cast<int32_t>(s), std::span<const int32_t>(&slots[s]->token, 1), false});
        order.push_back(s);
      }
    const std::vector<float> rows = src.step(parts);
    for (size_t i = 0; i < order.size(); ++i) {
      Slot& slot = *slots[order[i]];
      const int32_t token = next(slot.window, std::span<const float>(rows).subspan(i * n_vocab, n_vocab));
      if (token < 0) {
        slots[order[i]].reset();
        --live;
      } else {
        slot.token = token;
      }
    }
  }
}

// Whole windows as prompts, packed into steps of up to max_step_tokens: a window's rows do not
// depend on the batch, so any packing gives the rows decompression will see.
void encode_batched(LogitSource& src, std::vector<EncodeWindow>& windows, const Alphabet& ab, int precision) {
  struct Slot {
    size_t window;
    std::vector<int32_t> feed;  // start token, then the context token of each symbol but the last
    size_t fed = 0;
  };
  std::vector<std::optional<Slot>> slots(static_cast<size_t>(src.max_sequences()));
  size_t waiting = 0, live = 0;
  FrequencyTable table;
  const int32_t n_vocab = src.n_vocab();
  while (waiting < windows.size() || live > 0) {
    for (size_t s = 0; s < slots.size() && waiting < windows.size(); ++s)
      if (!slots[s]) {
        src.reset(static_cast<int32_t>(s));
        Slot slot{waiting, {ab.start_token()}, 0};
        const auto& symbols = windows[waiting].symbols;
        for (size_t i = 0; i + 1 < symbols.size(); ++i) slot.feed.push_back(ab.context_token(symbols[i]));
        slots[s] = std::move(slot);
        ++waiting;
        ++live;
      }
    std::vector<FeedPart> parts;
    std::vector<size_t> order;
    int32_t budget = src.max_step_tokens();
    for (size_t s = 0; s < slots.size() && budget > 0; ++s) {
      if (!slots[s]) continue;
      Slot& slot = *slots[s];
      const size_t take = std::min(slot.feed.size() - slot.fed, static_cast<size_t>(budget));
      parts.push_back({static_cast<int32_t>(s), std::span<const int32_t>(slot.feed).subspan(slot.fed, take), true});
      order.push_back(s);
      budget -= static_cast<int32_t>(take);
    }
    const std::vector<float> rows = src.step(parts);
    size_t row = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      Slot& slot = *slots[order[i]];
      EncodeWindow& w = windows[slot.window];
      for (size_t t = 0; t < parts[i].tokens.size(); ++t, ++row)
        encode_symbol(w, std::span<const float>(rows).subspan(row * n_vocab, n_vocab), ab, precision, table);
      slot.fed += parts[i].tokens.size();
      if (slot.fed == slot.feed.size()) {
        slots[order[i]].reset();
        --live;
      }
    }
  }
}

}  // namespace

std::vector<CodedStream> encode_streams(std::span<const std::string_view> inputs, LogitSource& source,
                                        const Alphabet& alphabet, const LosslessOptions& options) {
  if (alphabet.n_tokens() != source.n_vocab())
    fail(ErrorKind::Internal, "compress: the alphabet and the model disagree on the vocabulary size");
  ModelParams params;
  params.model_id = source.model_id();
  params.compute_id = source.compute_id();
  params.window_tokens = static_cast<uint32_t>(options.window_tokens > 0 ? options.window_tokens : source.n_ctx());
  if (params.window_tokens > static_cast<uint32_t>(source.n_ctx()))
    fail(ErrorKind::BadInput, "windows of " + std::to_string(params.window_tokens) +
                                  " tokens do not fit a context of " + std::to_string(source.n_ctx()));
  params.precision_bits = static_cast<uint8_t>(options.precision_bits);
  params.lockstep = source.batch_invariant() ? 0 : static_cast<uint8_t>(std::min(source.max_sequences(), 255));

  // Symbols of every input, then its windows.
  std::vector<std::vector<int32_t>> symbols;
  for (std::string_view in : inputs) symbols.push_back(alphabet.symbolize(in));
  std::vector<EncodeWindow> windows;
  std::vector<size_t> first_window;
  for (size_t i = 0; i < inputs.size(); ++i) {
    first_window.push_back(windows.size());
    size_t at_byte = 0;
    std::string piece;
    for (size_t at = 0; at < symbols[i].size(); at += params.window_tokens) {
      EncodeWindow w;
      w.symbols = std::span<const int32_t>(symbols[i])
                      .subspan(at, std::min<size_t>(params.window_tokens, symbols[i].size() - at));
      size_t n_bytes = 0;
      for (int32_t s : w.symbols) {
        piece.clear();
        alphabet.append_bytes(s, piece);
        n_bytes += piece.size();
      }
      w.bytes = inputs[i].substr(at_byte, n_bytes);
      at_byte += n_bytes;
      windows.push_back(std::move(w));
    }
    if (at_byte != inputs[i].size()) fail(ErrorKind::Internal, "compress: the symbols do not spell the input");
  }
  first_window.push_back(windows.size());

  if (params.lockstep == 0) {
    encode_batched(source, windows, alphabet, params.precision_bits);
  } else {
    // A batch-dependent source: each input alone, in the schedule its decompression will run.
    for (size_t i = 0; i < inputs.size(); ++i) {
      FrequencyTable table;
      const size_t base = first_window[i];
      run_lockstep(source, first_window[i + 1] - base, params.lockstep, alphabet.start_token(),
                   [&](size_t w, std::span<const float> row) -> int32_t {
                     EncodeWindow& win = windows[base + w];
                     encode_symbol(win, row, alphabet, params.precision_bits, table);
                     return win.next == win.symbols.size() ? -1 : alphabet.context_token(win.symbols[win.next - 1]);
                   });
    }
  }

  std::vector<CodedStream> out(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    out[i].params = params;
    for (size_t k = first_window[i]; k < first_window[i + 1]; ++k) {
      EncodeWindow& w = windows[k];
      Window win;
      win.n_bytes = w.bytes.size();
      win.check = static_cast<uint16_t>(crc32(w.bytes));
      win.payload = w.coder.finish();
      if (win.payload.size() >= win.n_bytes) {  // coding did not pay: keep the bytes
        win.stored = true;
        win.payload.assign(w.bytes.begin(), w.bytes.end());
      }
      out[i].windows.push_back(std::move(win));
    }
  }
  return out;
}

std::string decode_stream(const ModelParams& params, const std::vector<Window>& windows, uint64_t total_bytes,
                          LogitSource& source, const Alphabet& alphabet) {
  if (params.model_id != source.model_id())
    fail(ErrorKind::BadInput, "compressed with another model (fingerprint " + hex(params.model_id, 8) +
                                  "; this model's is " + hex(source.model_id(), 8) +
                                  "): decompress with the model that compressed it");
  if (params.window_tokens > static_cast<uint32_t>(source.n_ctx()))
    fail(ErrorKind::BadInput, "compressed with windows of " + std::to_string(params.window_tokens) +
                                  " tokens, over this context of " + std::to_string(source.n_ctx()) +
                                  " (give a context size of at least that)");
  int32_t width = source.max_sequences();
  if (params.lockstep != 0) {
    if (params.lockstep > source.max_sequences())
      fail(ErrorKind::BadInput, "compressed " + std::to_string(params.lockstep) +
                                    " windows side by side; this decoder runs at most " +
                                    std::to_string(source.max_sequences()));
    width = params.lockstep;
  }

  std::vector<std::string> parts(windows.size());
  std::vector<size_t> coded;  // windows that need the model, in file order
  for (size_t i = 0; i < windows.size(); ++i) {
    if (windows[i].stored)
      parts[i].assign(windows[i].payload.begin(), windows[i].payload.end());
    else
      coded.push_back(i);
  }
  std::vector<RangeDecoder> decoders;
  std::vector<uint32_t> n_symbols(coded.size(), 0);
  for (size_t i : coded) decoders.emplace_back(windows[i].payload);
  FrequencyTable table;
  const int32_t esc = alphabet.escape_symbol();
  const auto damaged = [&](size_t i, const std::string& why) {
    return Error(ErrorKind::BadInput,
                 "window " + std::to_string(i) + " of " + std::to_string(windows.size()) + " does not decode: " + why);
  };
  run_lockstep(source, coded.size(), width, alphabet.start_token(),
               [&](size_t k, std::span<const float> row) -> int32_t {
                 const size_t i = coded[k];
                 RangeDecoder& d = decoders[k];
                 quantize_logits(row, params.precision_bits, table);
                 int32_t s = table.find(d.target(table.total()));
                 d.consume(table.start(s), table.freq(s), table.total());
                 if (s == esc) {
                   const FrequencyTable& bytes = byte_table();
                   const int32_t b = bytes.find(d.target(bytes.total()));
                   d.consume(bytes.start(b), bytes.freq(b), bytes.total());
                   s = alphabet.n_tokens() + b;
                 }
                 alphabet.append_bytes(s, parts[i]);
                 ++n_symbols[k];
                 if (parts[i].size() == windows[i].n_bytes) return -1;
                 if (parts[i].size() > windows[i].n_bytes || n_symbols[k] >= params.window_tokens)
                   throw damaged(i, "it runs past its " + std::to_string(windows[i].n_bytes) + " bytes");
                 return alphabet.context_token(s);
               });

  std::string out;
  out.reserve(static_cast<size_t>(std::min<uint64_t>(total_bytes, uint64_t{1} << 26)));
  for (size_t i = 0; i < windows.size(); ++i) {
    if (static_cast<uint16_t>(crc32(parts[i])) != windows[i].check) {
      if (params.compute_id != source.compute_id())
        throw damaged(i, "it was compressed on another compute path (id " + hex(params.compute_id, 4) + "; here " +
                             hex(source.compute_id(), 4) + ", " + source.compute_path() +
                             "), whose probabilities differ; decompress on the backend and kind of machine that "
                             "compressed it");
      throw Error(ErrorKind::Internal, "window " + std::to_string(i) +
                                           " decodes differently from what was compressed although the model and "
                                           "the compute path (" +
                                           source.compute_path() +
                                           ") match: the logits were not reproduced exactly (a bug in hayate)");
    }
    out += parts[i];
  }
  if (out.size() != total_bytes) fail(ErrorKind::BadInput, "the windows decode to the wrong length");
  return out;
}

std::vector<std::vector<uint8_t>> compress_lossless(std::span<const std::string_view> inputs, LogitSource& source,
                                                    const Alphabet& alphabet, const LosslessOptions& options) {
  std::vector<CodedStream> streams = encode_streams(inputs, source, alphabet, options);
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Container c;
    c.method = Method::Model;
    c.original_length = inputs[i].size();
    c.original_crc = crc32(inputs[i]);
    c.model = streams[i].params;
    c.windows = std::move(streams[i].windows);
    out.push_back(write_container(c));
  }
  return out;
}

std::vector<uint8_t> compress_lossless(std::string_view input, LogitSource& source, const Alphabet& alphabet,
                                       const LosslessOptions& options) {
  return std::move(compress_lossless(std::span<const std::string_view>(&input, 1), source, alphabet, options)[0]);
}

std::string decompress(const Container& c, LogitSource* source, const Alphabet* alphabet) {
  std::string out;
  switch (c.method) {
    case Method::Stored:
      out.assign(c.data.begin(), c.data.end());
      break;
    case Method::Zstd:
      out = unzstd(c.data, c.original_length);
      break;
    case Method::Model:
      if (!source || !alphabet)
        fail(ErrorKind::BadInput, "this file was compressed with a model; load one to decompress it");
      out = decode_stream(c.model, c.windows, c.original_length, *source, *alphabet);
      break;
    case Method::Semantic:
      fail(ErrorKind::BadInput, "this file is a semantic (lossy) summary: reconstruct it instead of decompressing");
  }
  if (out.size() != c.original_length || crc32(out) != c.original_crc)
    fail(ErrorKind::BadInput, std::string("the ") + method_name(c.method) +
                                  " data does not decode to the original: its checksum does not match");
  return out;
}

std::string decompress(std::span<const uint8_t> file, LogitSource* source, const Alphabet* alphabet) {
  return decompress(read_container(file), source, alphabet);
}

}  // namespace hayate::compress
