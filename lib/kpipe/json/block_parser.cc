#include "kpipe/json/block_parser.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
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

#if defined(__x86_64__) && defined(__GNUC__)
#define KPIPE_SCAN_LINES 1

// The characters of a 64-byte block that follow an escaping backslash
// (simdjson's branchless method: a run of backslashes escapes the character
// after it when the run is odd). `*carry` is 1 when the block before ended
// in an escaping backslash, and is set for the next block.
uint64_t FindEscaped(uint64_t backslash, uint64_t* carry) {
  constexpr uint64_t kEven = 0x5555555555555555ULL;
  backslash &= ~*carry;
  uint64_t follows = backslash << 1 | *carry;
  uint64_t odd_starts = backslash & ~kEven & ~follows;
  uint64_t even_starts;
  *carry = __builtin_add_overflow(odd_starts, backslash, &even_starts);
  return (kEven ^ (even_starts << 1)) & follows;
}

__attribute__((target("pclmul"))) inline uint64_t PrefixXor(uint64_t bits) {
  __m128i all = _mm_set1_epi8(static_cast<char>(0xFF));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<int64_t>(bits)), all, 0)));
}

// CopyLines, and at the same time the test OneValuePerLine makes after the
// parse, on the text itself: every '\n' outside strings at bracket depth 0.
// Of text that then parses as an array of as many values as lines, this
// says that each line is one value: the array has one value more than it
// has commas at its own depth, which are then the '\n's and any ',' at depth
// 0 on a line (so none of these). AVX-512, 64 bytes a step: strings are
// found by their quotes and the escapes before them (a carry-less multiply
// makes the parity of quotes so far), and the depth with one more while it
// stays 0 or 1; a step with deeper values goes through its brackets one by
// one. Returns the verdict; `*last` is where the last line starts.
__attribute__((target("avx512f,avx512bw,pclmul"))) bool ScanLines(const char* in, size_t n, char* out,
                                                            std::vector<std::string_view>* lines,
                                                            std::string_view text, size_t* last) {
  const __m512i kNewline = _mm512_set1_epi8('\n'), kQuote = _mm512_set1_epi8('"'),
                kBackslash = _mm512_set1_epi8('\\'), kComma = _mm512_set1_epi8(','),
                kCase = _mm512_set1_epi8(0x20), kOpen = _mm512_set1_epi8('{'), kClose = _mm512_set1_epi8('}');
  uint64_t escape_carry = 0, in_string = 0;  // in_string: all ones while a string goes on
  int64_t depth = 0;
  bool good = true;
  size_t from = 0;
  for (size_t i = 0; i < n; i += 64) {
    uint64_t valid = n - i >= 64 ? ~uint64_t{0} : (uint64_t{1} << (n - i)) - 1;
    __m512i v = _mm512_maskz_loadu_epi8(valid, in + i);
    uint64_t nl = _mm512_cmpeq_epi8_mask(v, kNewline) & valid;
    // The copy, each '\n' a ','.
    _mm512_mask_storeu_epi8(out + i, valid, _mm512_mask_blend_epi8(nl, v, kComma));
    for (uint64_t m = nl; m; m &= m - 1) {
      size_t at = i + static_cast<size_t>(__builtin_ctzll(m));
      lines->push_back(text.substr(from, at - from));
      from = at + 1;
    }
    if (!good) continue;
    uint64_t backslash = _mm512_cmpeq_epi8_mask(v, kBackslash);
    uint64_t escaped = backslash | escape_carry ? FindEscaped(backslash, &escape_carry) : 0;
    uint64_t quote = _mm512_cmpeq_epi8_mask(v, kQuote) & ~escaped;
    uint64_t strings = PrefixXor(quote) ^ in_string;  // from each opening quote to before its closing one
    in_string = static_cast<uint64_t>(static_cast<int64_t>(strings) >> 63);
    if (nl & strings) {  // a '\n' in a string: not one value a line (nor JSON)
      good = false;
      continue;
    }
    __m512i folded = _mm512_or_si512(v, kCase);  // '[' as '{', ']' as '}'
    uint64_t open = _mm512_cmpeq_epi8_mask(folded, kOpen) & ~strings & valid;
    uint64_t close = _mm512_cmpeq_epi8_mask(folded, kClose) & ~strings & valid;
    uint64_t brackets = open | close;
    if (brackets == 0) {
      good = depth == 0 || nl == 0;
      continue;
    }
    if (depth <= 1) {
      // While opening and closing brackets alternate, the depth after each
      // is 0 or 1: the parity of the brackets so far.
      uint64_t inside = PrefixXor(brackets) ^ (depth ? ~uint64_t{0} : 0);
      if ((open & ~inside) == 0 && (close & inside) == 0) {
        good = (nl & inside) == 0;
        depth = static_cast<int64_t>(inside >> 63);
        continue;
      }
    }
    for (uint64_t m = brackets | nl; m && good; m &= m - 1) {
      uint64_t bit = m & -m;
      if (open & bit) depth++;
      else if (close & bit) good = --depth >= 0;
      else good = depth == 0;
    }
  }
  *last = from;
  return good && depth == 0 && in_string == 0;
}
#endif

}  // namespace

bool BlockParser::CanScanLines() {
#ifdef KPIPE_SCAN_LINES
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("pclmul");
#else
  return false;
#endif
}

BlockParser::BlockParser(bool scan_lines)
    : scan_lines_(scan_lines && CanScanLines()), thread_([this] { Work(); }) {
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
  size_t last;
  bool one_value_per_line = false;  // known already, by ScanLines
#ifdef KPIPE_SCAN_LINES
  if (scan_lines_) {
    one_value_per_line = ScanLines(text.data(), n, out + 1, &s->lines, text, &last);
  } else
#endif
  {
    last = CopyLines(text.data(), n, out + 1, [&](size_t from, size_t nl) {
      s->lines.push_back(text.substr(from, nl - from));
      s->commas.push_back(static_cast<uint32_t>(nl + 1));  // where in `out` it is
    });
  }
  s->lines.push_back(text.substr(last, n - last));
  if (scan_lines_ && !one_value_per_line) return;  // judged line by line
  out[n + 1] = ']';
  simdjson::dom::element root;
  s->parsed = s->parser.parse(out, n + 2, false).get(root) == simdjson::SUCCESS &&
              root.get_array().get(s->values) == simdjson::SUCCESS && s->values.size() == s->lines.size() &&
              (one_value_per_line || OneValuePerLine(s->parser, out, s->commas));
  if (s->parsed && hint) {
    s->hints.clear();
    for (simdjson::dom::element v : s->values) s->hints.push_back(hint(v));
  }
}

}  // namespace kpipe::json
