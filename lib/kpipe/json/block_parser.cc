#include "kpipe/json/block_parser.h"

#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace kpipe::json {

namespace {

constexpr size_t kChunk = 32 << 10;

// Waits until `a` satisfies `ready`, sleeping on changes of its value.
template <typename T, typename Pred>
void WaitFor(const std::atomic<T>& a, Pred ready) {
  for (;;) {
    T v = a.load();
    if (ready(v)) return;
    a.wait(v);
  }
}

// True when every value of the array that `parser` just parsed from `text`
// is one line's: the commas directly inside the array are exactly those put
// at `commas`, where the lines ended. (A value over two lines, beside two
// values on one, would otherwise pass for two good lines.) It walks
// simdjson's structural index of the parse (a public member of its parser,
// which simdjson marks as being for benchmarks): each bracket, comma, colon
// and the start of each scalar, never what is inside a string; a raw line
// break inside a string does not parse at all.
bool OneValuePerLine(const simdjson::dom::parser& parser, const char* text, const std::vector<uint32_t>& commas) {
  const auto& impl = *parser.implementation;
  const uint32_t* at = impl.structural_indexes.get();
  const uint32_t* end = at + impl.n_structural_indexes;
  size_t next = 0;
  int depth = 0;
  for (; at < end; at++) {
    switch (text[*at]) {
      case '{':
      case '[':
        depth++;
        break;
      case '}':
      case ']':
        depth--;
        break;
      case ',':
        if (depth == 1 && (next >= commas.size() || commas[next++] != *at)) return false;
        break;
      default:
        break;
    }
  }
  return next == commas.size();
}

// Copies `n` bytes of `in` to `out`, each '\n' as ','; calls line(from, nl)
// for each line that ends with one, `from` and `nl` its start and its '\n'
// (offsets in `in`), and returns where the last line starts. One pass: the
// newlines are found in the words being copied, not by a memchr per line.
template <typename Line>
size_t CopyLines(const char* in, size_t n, char* out, Line line) {
  size_t from = 0, i = 0;
  auto found = [&](size_t nl) {
    out[nl] = ',';
    line(from, nl);
    from = nl + 1;
  };
#ifdef __SSE2__
  const __m128i newline = _mm_set1_epi8('\n');
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), v);
    for (unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline))); m; m &= m - 1)
      found(i + static_cast<size_t>(__builtin_ctz(m)));
  }
#endif
  for (; i < n; i++) {
    out[i] = in[i];
    if (in[i] == '\n') found(i);
  }
  return from;
}

}  // namespace

BlockParser::BlockParser() : thread_([this] { Work(); }) {
  WaitFor(prepared_, [](bool p) { return p; });
}

void BlockParser::Prepare() {
  // Each slot's buffers are made here, on the worker's thread, at their
  // size for a chunk with lines to 8 KiB past its end. simdjson would make
  // them at the first parse, on whichever thread filled the slot first:
  // made by the reader, they sit in its heap among what its own work
  // writes, and the worker writes some of them at every record (the
  // parser's stack of open containers). kagg over 1,000 keys ran 1.14x
  // once its rows moved to an arena, and 1.00x with this.
  constexpr size_t kCapacity = kChunk + (8 << 10);
  for (Slot& s : slots_) {
    (void)(s.parser.allocate(kCapacity) || s.parser.doc.allocate(kCapacity));  // else at the first parse
    s.array.reserve(kCapacity + 2 + simdjson::SIMDJSON_PADDING);
    s.lines.reserve(kCapacity / 32);
    s.commas.reserve(kCapacity / 32);
    s.hints.reserve(kCapacity / 32);
  }
  prepared_.store(true);
  prepared_.notify_one();
}

BlockParser::~BlockParser() {
  Stop();
  quit_.store(true);
  block_gen_.fetch_add(1);
  block_gen_.notify_one();
  thread_.join();
}

bool BlockParser::Start(std::string_view block, Hint hint) {
  if (block.size() < kMinBlock) return false;
  hint_ = std::move(hint);
  chunks_.clear();
  size_t pos = 0;
  while (pos < block.size()) {
    size_t end = std::min(pos + kChunk, block.size());
    if (end < block.size()) {  // to the end of that line
      const void* nl = std::memchr(block.data() + end, '\n', block.size() - end);
      end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - block.data()) + 1 : block.size();
    }
    chunks_.push_back(block.substr(pos, end - pos));
    pos = end;
  }
  block_ = block;
  reader_hint_ = hint_;
  next_ = 0;
  claimed_.store(0);
  for (auto& r : ready_) r.store(0);
  taken_.store(0);
  stop_block_.store(false);
  active_ = true;
  block_gen_.fetch_add(1);
  block_gen_.notify_one();
  return true;
}

bool BlockParser::Next(Chunk* c) {
  if (!active_ || next_ >= chunks_.size()) return false;
  size_t k = next_++;
  taken_.store(k);  // chunks before k are done with: their slots may be refilled
  // A wake is a system call: only when the worker waits for this.
  if (k >= wake_at_.load()) taken_.notify_one();
  // Rather than wait for chunk k, parse the next chunk nobody has begun (k
  // itself, or one whose slot held a chunk before k, done with).
  for (;;) {
    if (ready_[k % kSlots].load() == k + 1) break;
    size_t c = claimed_.load();
    if (c >= chunks_.size() || c >= k + kSlots || !Claim(c, reader_hint_)) {
      WaitFor(ready_[k % kSlots], [k](size_t r) { return r == k + 1; });
      break;
    }
  }
  Slot& s = slots_[k % kSlots];
  c->text = s.text;
  c->lines = &s.lines;
  c->parsed = s.parsed;
  c->values = s.values;
  c->hints = s.parsed && hint_ ? &s.hints : nullptr;
  return true;
}

void BlockParser::Stop() {
  if (!active_) return;
  stop_block_.store(true);
  taken_.store(SIZE_MAX / 2);  // frees a worker waiting for a slot
  taken_.notify_one();  // (whatever wake_at_ says)
  uint64_t gen = block_gen_.load();
  WaitFor(done_gen_, [gen](uint64_t d) { return d == gen; });
  active_ = false;
}

void BlockParser::Work() {
  Prepare();
  uint64_t seen = 0;
  for (;;) {
    block_gen_.wait(seen);
    seen = block_gen_.load();
    if (quit_.load()) return;
    for (;;) {
      size_t k = claimed_.fetch_add(1);
      if (k >= chunks_.size()) break;
      // Slot k % kSlots held chunk k - kSlots: free once the reader moved
      // past it. When it is not, the worker sleeps until kRefill slots are
      // free, so that the reader wakes it once per kRefill chunks.
      if (taken_.load() + kSlots <= k) {
        wake_at_.store(k - kSlots + kRefill);
        WaitFor(taken_, [&](size_t t) { return t + kSlots >= k + kRefill || stop_block_.load(); });
        wake_at_.store(SIZE_MAX);
      }
      if (stop_block_.load()) break;
      Fill(&slots_[k % kSlots], chunks_[k], hint_);
      ready_[k % kSlots].store(k + 1);
      ready_[k % kSlots].notify_one();
    }
    done_gen_.store(seen);
    done_gen_.notify_one();
  }
}

bool BlockParser::Claim(size_t k, Hint& hint) {
  size_t expected = k;
  if (!claimed_.compare_exchange_strong(expected, k + 1)) return false;
  Fill(&slots_[k % kSlots], chunks_[k], hint);
  ready_[k % kSlots].store(k + 1);
  return true;
}

void BlockParser::Fill(Slot* s, std::string_view text, Hint& hint) {
  s->text = text;
  s->lines.clear();
  s->parsed = false;
  if (text.empty()) return;
  // "[" + the lines joined by "," + "]", in a padded buffer; one pass over
  // the copy finds the lines and turns their '\n's into ','s.
  size_t n = text.size();
  if (text.back() == '\n') n--;
  s->array.resize(n + 2 + simdjson::SIMDJSON_PADDING);
  char* out = s->array.data();
  out[0] = '[';
  s->commas.clear();
  size_t last = CopyLines(text.data(), n, out + 1, [&](size_t from, size_t nl) {
    s->lines.push_back(text.substr(from, nl - from));
    s->commas.push_back(static_cast<uint32_t>(nl + 1));  // where in `out` it is
  });
  s->lines.push_back(text.substr(last, n - last));
  out[n + 1] = ']';
  simdjson::dom::element root;
  s->parsed = s->parser.parse(out, n + 2, false).get(root) == simdjson::SUCCESS &&
              root.get_array().get(s->values) == simdjson::SUCCESS && s->values.size() == s->lines.size() &&
              OneValuePerLine(s->parser, out, s->commas);
  if (s->parsed && hint) {
    s->hints.clear();
    for (simdjson::dom::element v : s->values) s->hints.push_back(hint(v));
  }
}

}  // namespace kpipe::json
