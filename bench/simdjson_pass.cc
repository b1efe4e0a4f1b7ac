// simdjson_pass: the "bare simdjson pass" that bench/window_bench.sh holds
// kwindow and kagg against — the least work any JSON-lines tool built on
// simdjson can do on the same file.
//
// Usage: simdjson_pass [MODE...] [-r REPS] [--block BYTES] FILE
//   --per-line     (default) split lines with memchr and parse each one on its
//                  own with a reused simdjson::dom::parser, as a JSON-lines
//                  tool must (one bad line is one error, a line cannot run
//                  into the next)
//   --parse-many   dom::parser::parse_many over each block of whole lines, on
//                  one thread (parser.threaded = false): simdjson's fastest
//                  reading; it does not check that documents are one per line
//   --ondemand     per line, like --per-line, with simdjson::ondemand, reading
//                  only ts/user/amount (does not validate the rest of the line;
//                  information only)
//   --all          every mode above, in that order
//   -r REPS        read and parse the file REPS times per mode (default 1) and
//                  report the median
//   --block BYTES  read size (default 1 MiB, as kpipe's LineReader); a block
//                  as large as the file reads it whole
//
// The file is read like a streaming tool reads it: blocks of 1 MiB into one
// reused buffer with SIMDJSON_PADDING spare bytes, whole lines handed on, the
// partial last line moved to the front for the next read (the buffer grows
// for a longer line). So lines are parsed in place, without copies, and the
// process holds ~1 MiB, not the file.
// Every mode reads the three fields of each record: ts (integer), user
// (string) and amount (integer or double), and folds them into a checksum that
// is printed, so nothing is optimised away and modes can be compared.
//
// Output, one line per mode (stdout):
//   mode=per-line records=N bytes=B parse_s=… records_per_s=… MB_per_s=…
//   sum_ts=… sum_amount=… user_hash=…
// parse_s covers reading + splitting + parsing + reading the fields.
// Exit status: 0 ok, 2 usage, 65 a line is not an object with those fields
// (reported as FILE:LINE: reason on stderr), 1 the file cannot be read.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#define KPIPE_STR2(x) #x
#define KPIPE_STR(x) KPIPE_STR2(x)

namespace {

constexpr size_t kPad = simdjson::SIMDJSON_PADDING;

struct Checksum {
  uint64_t records = 0;
  uint64_t sum_ts = 0;
  double sum_amount = 0;
  uint64_t user_hash = 0;

  void Add(uint64_t ts, std::string_view user, double amount) {
    ++records;
    sum_ts += ts;
    sum_amount += amount;
    // FNV-1a over the user bytes, summed so the order of records does not matter.
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : user) h = (h ^ c) * 1099511628211ull;
    user_hash += h;
  }
};

// What went wrong where; line 0 = not tied to a line.
struct Failure {
  uint64_t line = 0;
  std::string reason;
};

// Reads a file in blocks and hands out runs of whole lines ("chunks"), each
// followed by at least kPad readable bytes. The partial line at the end of a
// block is moved to the front before the next read. Not thread-safe.
class ChunkReader {
 public:
  ChunkReader(int fd, size_t block) : fd_(fd), block_(block), cap_(block) {
    buf_.reset(new char[cap_ + kPad]);
  }

  // Sets [*data, *data + *len) to the next run of whole lines (the last line
  // of the file may lack its '\n'). False at end of input or on a read error
  // (then error() is set).
  bool Next(const char** data, size_t* len) {
    for (;;) {
      if (begin_ < end_) {
        const char* start = buf_.get() + begin_;
        size_t avail = end_ - begin_;
        const char* nl = static_cast<const char*>(memrchr(start, '\n', avail));
        if (nl || eof_) {
          size_t n = nl ? static_cast<size_t>(nl - start) + 1 : avail;
          *data = start;
          *len = n;
          begin_ += n;
          return true;
        }
      } else if (eof_) {
        return false;
      }
      if (!Fill()) return false;
    }
  }
  int error() const { return error_; }

 private:
  bool Fill() {
    if (begin_ > 0) {
      memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (cap_ - end_ < block_ / 2) {  // a line longer than half a block: grow
      std::unique_ptr<char[]> bigger(new char[2 * cap_ + kPad]);
      memcpy(bigger.get(), buf_.get(), end_);
      buf_ = std::move(bigger);
      cap_ *= 2;
    }
    for (;;) {
      ssize_t n = read(fd_, buf_.get() + end_, cap_ - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error_ = errno;
        return false;
      }
      if (n == 0) eof_ = true;
      end_ += static_cast<size_t>(n);
      memset(buf_.get() + end_, 0, kPad);
      return true;
    }
  }

  int fd_;
  size_t block_;
  size_t cap_;
  std::unique_ptr<char[]> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  int error_ = 0;
};

// Reads ts/user/amount from a parsed DOM object. False (with `why`) when one is
// missing or of the wrong type.
bool TouchDom(simdjson::dom::element doc, Checksum* sum, std::string* why) {
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    *why = "not an object";
    return false;
  }
  int64_t ts;
  std::string_view user;
  double amount;
  if (auto e = obj["ts"].get_int64().get(ts)) {
    *why = std::string("ts: ") + simdjson::error_message(e);
    return false;
  }
  if (auto e = obj["user"].get_string().get(user)) {
    *why = std::string("user: ") + simdjson::error_message(e);
    return false;
  }
  if (auto e = obj["amount"].get_double().get(amount)) {  // ints convert too
    *why = std::string("amount: ") + simdjson::error_message(e);
    return false;
  }
  sum->Add(static_cast<uint64_t>(ts), user, amount);
  return true;
}

// One way of parsing a chunk of whole lines; `line_no` counts lines so far.
class Pass {
 public:
  virtual ~Pass() = default;
  virtual bool Chunk(const char* p, size_t len, uint64_t* line_no, Checksum* sum,
                     Failure* bad) = 0;
};

class PerLinePass : public Pass {
 public:
  bool Chunk(const char* p, size_t len, uint64_t* line_no, Checksum* sum,
             Failure* bad) override {
    const char* end = p + len;
    while (p < end) {
      const char* nl = static_cast<const char*>(memchr(p, '\n', end - p));
      const char* line_end = nl ? nl : end;
      ++*line_no;
      simdjson::dom::element doc;
      // realloc_if_needed = false: the bytes after the line (the next lines,
      // then the buffer's padding) are readable, so no copy is made.
      auto err = parser_.parse(p, line_end - p, false).get(doc);
      std::string why;
      if (err) why = simdjson::error_message(err);
      if (err || !TouchDom(doc, sum, &why)) {
        *bad = {*line_no, why};
        return false;
      }
      p = line_end + 1;
    }
    return true;
  }

 private:
  simdjson::dom::parser parser_;
};

class ParseManyPass : public Pass {
 public:
  ParseManyPass() {
#ifdef SIMDJSON_THREADS_ENABLED
    parser_.threaded = false;  // one core, like the tools it is compared with
#endif
  }
  bool Chunk(const char* p, size_t len, uint64_t* line_no, Checksum* sum,
             Failure* bad) override {
    simdjson::dom::document_stream stream;
    // One batch per chunk: the chunk is whole lines, so no document is cut.
    size_t batch = std::max<size_t>(len, simdjson::dom::MINIMAL_BATCH_SIZE);
    if (auto e = parser_.parse_many(p, len, batch).get(stream)) {
      *bad = {*line_no + 1, simdjson::error_message(e)};
      return false;
    }
    for (auto result : stream) {
      ++*line_no;  // the document number: the line number for one per line
      simdjson::dom::element doc;
      std::string why;
      auto err = result.get(doc);
      if (err) why = simdjson::error_message(err);
      if (err || !TouchDom(doc, sum, &why)) {
        *bad = {*line_no, why};
        return false;
      }
    }
    if (stream.truncated_bytes() != 0) {
      *bad = {*line_no + 1, "truncated document"};
      return false;
    }
    return true;
  }

 private:
  simdjson::dom::parser parser_;
};

class OnDemandPass : public Pass {
 public:
  bool Chunk(const char* p, size_t len, uint64_t* line_no, Checksum* sum,
             Failure* bad) override {
    const char* end = p + len;
    const char* padded_end = end + kPad;
    while (p < end) {
      const char* nl = static_cast<const char*>(memchr(p, '\n', end - p));
      const char* line_end = nl ? nl : end;
      ++*line_no;
      auto fail = [&](const char* what, simdjson::error_code e) {
        *bad = {*line_no, std::string(what) + simdjson::error_message(e)};
        return false;
      };
      simdjson::ondemand::document doc;
      // The capacity passed is what is readable, so simdjson needs no copy.
      if (auto e = parser_.iterate(p, line_end - p, padded_end - p).get(doc)) return fail("", e);
      simdjson::ondemand::object obj;
      if (auto e = doc.get_object().get(obj)) return fail("", e);
      int64_t ts = 0;
      std::string_view user;
      double amount = 0;
      // Fields in any order, as a tool reading named paths must accept.
      bool got_ts = false, got_user = false, got_amount = false;
      for (auto field : obj) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return fail("key: ", e);
        if (key == "ts") {
          if (auto e = field.value().get_int64().get(ts)) return fail("ts: ", e);
          got_ts = true;
        } else if (key == "user") {
          if (auto e = field.value().get_string().get(user)) return fail("user: ", e);
          got_user = true;
        } else if (key == "amount") {
          if (auto e = field.value().get_double().get(amount)) return fail("amount: ", e);
          got_amount = true;
        }
      }
      if (!got_ts || !got_user || !got_amount) return fail("", simdjson::NO_SUCH_FIELD);
      // A trailing value on the line ("{} 1") is an error, as in a real tool.
      // (simdjson 3.0 has no document::at_end(); past the last token
      // current_location() is an OUT_OF_BOUNDS error.)
      if (!doc.current_location().error()) return fail("", simdjson::TRAILING_CONTENT);
      sum->Add(static_cast<uint64_t>(ts), user, amount);
      p = line_end + 1;
    }
    return true;
  }

 private:
  simdjson::ondemand::parser parser_;
};

using Clock = std::chrono::steady_clock;

// Reads `path` once through `pass`. Returns 0, or an exit status after
// printing the error.
int RunOnce(const std::string& path, const std::string& mode, size_t block, Pass* pass,
            Checksum* sum, uint64_t* bytes) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    fprintf(stderr, "simdjson_pass: error: %s: %s\n", path.c_str(), strerror(errno));
    return 1;
  }
  ChunkReader reader(fd, block);
  const char* data;
  size_t len;
  uint64_t line_no = 0;
  Failure bad;
  int status = 0;
  *bytes = 0;
  while (reader.Next(&data, &len)) {
    *bytes += len;
    if (!pass->Chunk(data, len, &line_no, sum, &bad)) {
      fprintf(stderr, "simdjson_pass: error: %s:%" PRIu64 ": %s (mode %s)\n", path.c_str(),
              bad.line, bad.reason.c_str(), mode.c_str());
      status = 65;
      break;
    }
  }
  if (status == 0 && reader.error()) {
    fprintf(stderr, "simdjson_pass: error: %s: read: %s\n", path.c_str(), strerror(reader.error()));
    status = 1;
  }
  close(fd);
  return status;
}

int Usage(FILE* to) {
  fprintf(to, "usage: simdjson_pass [--per-line] [--parse-many] [--ondemand] [--all] "
              "[-r REPS] [--block BYTES] FILE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> modes;
  std::string path;
  int reps = 1;
  size_t block = 1 << 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--per-line" || a == "--parse-many" || a == "--ondemand") {
      modes.push_back(a.substr(2));
    } else if (a == "--all") {
      modes = {"per-line", "parse-many", "ondemand"};
    } else if (a == "-r" && i + 1 < argc) {
      reps = atoi(argv[++i]);
      if (reps < 1) return Usage(stderr);
    } else if (a == "--block" && i + 1 < argc) {
      block = strtoull(argv[++i], nullptr, 10);
      if (block < 4096) return Usage(stderr);
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return Usage(stderr);
    } else if (path.empty()) {
      path = a;
    } else {
      return Usage(stderr);
    }
  }
  if (path.empty()) return Usage(stderr);
  if (modes.empty()) modes = {"per-line"};

  std::printf("implementation=%s simdjson=%s\n",
              simdjson::get_active_implementation()->name().c_str(),
              KPIPE_STR(SIMDJSON_VERSION));
  for (const auto& mode : modes) {
    std::vector<double> times;
    Checksum sum;
    uint64_t bytes = 0;
    for (int r = 0; r < reps; ++r) {
      std::unique_ptr<Pass> pass;
      if (mode == "per-line") pass = std::make_unique<PerLinePass>();
      else if (mode == "parse-many") pass = std::make_unique<ParseManyPass>();
      else pass = std::make_unique<OnDemandPass>();
      sum = Checksum{};
      auto start = Clock::now();
      if (int status = RunOnce(path, mode, block, pass.get(), &sum, &bytes)) return status;
      times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    double t = times[times.size() / 2];
    std::printf(
        "mode=%s records=%" PRIu64 " bytes=%" PRIu64 " parse_s=%.4f records_per_s=%.0f "
        "MB_per_s=%.1f sum_ts=%" PRIu64 " sum_amount=%.2f user_hash=%016" PRIx64 "\n",
        mode.c_str(), sum.records, bytes, t, sum.records / t, bytes / 1e6 / t, sum.sum_ts,
        sum.sum_amount, sum.user_hash);
  }
  return 0;
}
