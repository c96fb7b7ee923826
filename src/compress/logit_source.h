// Where the coder's probabilities come from: independent sequences (one per window) that take
// tokens and give back logits rows. The model behind it (model_logits.h) runs them through the
// batched forward pass; tests and the fuzzer use a cheap fake. The coder asks for the same
// logits on both sides of a file, so a source must give bit-identical rows for the same
// sequence contents: always for the same schedule of steps, and for any schedule when
// batch_invariant() says so.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hayate::compress {

struct FeedPart {
  int32_t seq;                      // 0 .. max_sequences()-1
  std::span<const int32_t> tokens;  // appended at the sequence's next positions
  bool all_logits;                  // a row for every token; else for the last one only
};

class LogitSource {
 public:
  virtual ~LogitSource() = default;
  virtual int32_t n_vocab() const = 0;
  virtual int32_t n_ctx() const = 0;            // most positions of one sequence
  virtual int32_t max_sequences() const = 0;    // sequences that may be live at once
  virtual int32_t max_step_tokens() const = 0;  // most tokens one step() may take
  // A token's logits depend only on its sequence's tokens, not on the rest of the step or on
  // how the sequence was cut into steps (the CPU backends' kernels are built so).
  virtual bool batch_invariant() const = 0;
  // Identify what computes the logits, for the file's header and its error messages.
  virtual uint32_t model_id() const = 0;
  virtual uint16_t compute_id() const = 0;
  virtual std::string compute_path() const = 0;  // for people: "cpu (avx2 fma f16c)"

  virtual void reset(int32_t seq) = 0;  // the sequence starts again at position 0
  // One forward step over the parts (distinct sequences); the rows asked for, in order.
  virtual std::vector<float> step(std::span<const FeedPart> parts) = 0;
};

}  // namespace hayate::compress
