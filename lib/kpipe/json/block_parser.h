// BlockParser: parses the lines of a block on a second thread, up to
// kSlots - 1 chunks ahead of the thread that reads them (--threads of
// kwindow(1), kagg(1) and kjoin(1)). A reader that would wait for the
// worker parses the next chunk nobody has begun itself, so that a reader
// whose own work is shorter than the parse (kagg) keeps both cores busy.
//
// A block is cut into chunks of whole lines (about 32 KiB). The worker
// copies each chunk into an array, "[line,line,...]", and parses it with
// one of kSlots parsers, so that every record's DOM lives until the reader
// is done with the chunk while the next ones are parsed. A chunk comes back
// unparsed when its array does not parse, or when a comma directly inside
// the array is not one put where a line ended (a value over two lines, two
// values on one; checked as the chunk is copied, each line break outside
// strings at bracket depth 0, with AVX-512, else after the parse on the
// parser's structural index): the reader then judges its lines one by one,
// as it would without this. So a verdict on a line never depends on the
// thread count, nor on the CPU.
//
// Thread-safety: one reader thread calls Start, Next and Stop; the worker is
// internal. Between Start and Stop, the block's memory must stay as it is.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <simdjson.h>

namespace kpipe::json {

class BlockParser {
 public:
  // What a reader learns of a value ahead of it: two words, whose meaning
  // is the reader's (the runner: a key's hash to prefetch, and the event
  // time already read).
  struct Hints {
    uint64_t key = 0;
    int64_t time = 0;
  };
  // One chunk of the block, valid until the next Next or Stop.
  struct Chunk {
    std::string_view text;                 // its lines, with their '\n's
    const std::vector<std::string_view>* lines = nullptr;
    bool parsed = false;                   // else: judge `text` line by line
    simdjson::dom::array values;           // with `parsed`: one per line
    // With `parsed` and a Hint given to Start: the hints of each value.
    const std::vector<Hints>* hints = nullptr;
  };
  // A function of a parsed value, run on the worker thread for each value
  // of the block (so it must not touch what the reader's thread does): a
  // reader may use its results to prefetch, or to skip work it would do
  // when it gets to the value.
  using Hint = std::function<Hints(simdjson::dom::element)>;

  // Blocks smaller than this are better read directly (Start refuses them).
  static constexpr size_t kMinBlock = 128 << 10;
  // Whether this CPU can check that each line is one value as a chunk is
  // copied (AVX-512), before the parse, instead of on simdjson's structural
  // index after it.
  static bool CanScanLines();

  // `scan_lines`: whether to check lines as chunks are copied, where the
  // CPU can (tests turn it off, to test the other way on any CPU).
  explicit BlockParser(bool scan_lines = CanScanLines());
  ~BlockParser();
  BlockParser(const BlockParser&) = delete;
  BlockParser& operator=(const BlockParser&) = delete;

  // Begins on `block`; false (and nothing begun) when it is too small.
  // `hint`, when not empty, is run on every value (Chunk::hints).
  bool Start(std::string_view block, Hint hint = {});
  // The next chunk, in order; false after the last.
  bool Next(Chunk* c);
  // Done with the block (at its end or not): returns once the worker no
  // longer touches it.
  void Stop();

 private:
  struct Slot {
    simdjson::dom::parser parser;
    std::string array;  // "[...]" and simdjson's padding
    std::vector<std::string_view> lines;
    std::vector<uint32_t> commas;  // where in `array` the lines' '\n's became ','s
    std::string_view text;
    bool parsed = false;
    simdjson::dom::array values;
    std::vector<Hints> hints;
  };
  void Work();
  // The worker's first job: the slots' buffers (the constructor waits).
  void Prepare();
  void Fill(Slot* s, std::string_view text, Hint& hint);
  // Claims chunk `k` if nobody did (it is the next unclaimed one), parses
  // it into slot k % kSlots, and marks the slot ready: false when it was
  // claimed already. REQUIRES: the reader is done with chunk k - kSlots.
  bool Claim(size_t k, Hint& hint);

  static constexpr size_t kSlots = 8;
  // A worker with no free slot waits for this many (at most kSlots: the
  // reader frees them all as it moves on to the chunk the worker holds).
  static constexpr size_t kRefill = 6;

  Slot slots_[kSlots];
  // The block: set by Start before `block_gen_` is raised.
  std::string_view block_;
  std::vector<std::string_view> chunks_;
  Hint hint_, reader_hint_;             // the worker's, and the reader's copy
  std::atomic<uint64_t> block_gen_{0};  // raised by Start: a block to work on
  std::atomic<uint64_t> done_gen_{0};   // raised by the worker when it left that block
  std::atomic<size_t> claimed_{0};      // chunks claimed (by either thread) so far
  std::atomic<size_t> ready_[kSlots] = {};  // per slot: 1 + the chunk it holds parsed, or 0
  std::atomic<size_t> taken_{0};        // chunks the reader is done with
  std::atomic<size_t> wake_at_{SIZE_MAX};  // the taken_ the waiting worker needs
  std::atomic<bool> stop_block_{false};
  std::atomic<bool> quit_{false};
  std::atomic<bool> prepared_{false};
  const bool scan_lines_;
  size_t next_ = 0;  // the reader's next chunk
  bool active_ = false;
  // Last: the worker starts once every member above is constructed.
  std::thread thread_;
};

}  // namespace kpipe::json
