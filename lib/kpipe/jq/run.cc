#include "kpipe/jq/run.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/io/dead_letter.h"
#include "kpipe/io/file_input.h"
#include "kpipe/io/line_reader.h"
#include "kpipe/jq/program.h"
#include "kpipe/json/line.h"
#include "kpipe/json/output.h"
#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"

namespace kpipe {

namespace {

// A dead-letter row of a chunk, written by the main thread in order.
struct DeadRow {
  std::string reason;
  uint64_t line;
  std::string raw;
};

// A block of input lines and what a lane made of it.
struct Chunk {
  std::string text;          // the lines, then SIMDJSON_PADDING bytes
  size_t size = 0;           // of the lines
  uint64_t first_line = 0;   // the number of the first one
  std::string out;           // the records written
  std::vector<DeadRow> dead;
  JqStats stats;
  Status status;             // where it stopped: `out` has what came before
  std::promise<void> done;
  std::future<void> ready = done.get_future();
};

// One compiled program and its parser: what turns a chunk into records.
class Lane {
 public:
  // `halt_line`, shared by the lanes: the line where the program ran halt
  // or halt_error, the first known; no lane runs it on a line after that.
  Lane(const JqOptions& opt, std::unique_ptr<jq::Program> program, const std::string& source,
       std::atomic<uint64_t>* halt_line)
      : opt_(opt), program_(std::move(program)), source_(source), halt_line_(halt_line) {}

  void Process(Chunk* c);

 private:
  Status Line(std::string_view line);
  Status Envelope(std::string_view line, std::string_view encoding,
                  const std::function<Status(const jq::Program::Emit&)>& run);
  Status Bad(std::string_view reason, std::string_view line);
  // A control record passes through as it is, in its place.
  Status Control(std::string_view line) {
    c_->stats.control++;
    c_->out.append(line);
    c_->out.push_back('\n');
    return Status::OK();
  }
  void WriteLine(std::string_view text) {
    c_->out.append(text);
    c_->out.push_back('\n');
    c_->stats.out++;
  }

  const JqOptions& opt_;
  std::unique_ptr<jq::Program> program_;
  const std::string& source_;
  std::atomic<uint64_t>* halt_line_;
  simdjson::dom::parser parser_;
  json::Validator validator_;  // a line whose numbers simdjson cannot hold
  Chunk* c_ = nullptr;
  uint64_t line_no_ = 0;
};

void Lane::Process(Chunk* c) {
  c_ = c;
  line_no_ = c->first_line - 1;
  std::string_view block(c->text.data(), c->size);
  size_t pos = 0;
  while (pos < block.size()) {
    const char* nl = static_cast<const char*>(std::memchr(block.data() + pos, '\n', block.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - block.data()) : block.size();
    line_no_++;
    if (line_no_ > halt_line_->load(std::memory_order_relaxed)) break;  // never written
    c->status = Line(block.substr(pos, end - pos));
    if (c->status.Is(Status::Code::kHalted)) {
      uint64_t at = halt_line_->load();
      while (line_no_ < at && !halt_line_->compare_exchange_weak(at, line_no_)) {
      }
    }
    if (!c->status.ok()) break;
    pos = end + 1;
  }
  c_ = nullptr;
  c->done.set_value();
}

Status Lane::Bad(std::string_view reason, std::string_view line) {
  if (opt_.dead_letter.empty()) return Status::BadInput(fmt::format("{}:{}: {}", source_, line_no_, reason));
  c_->stats.dead_lettered++;
  c_->dead.push_back({std::string(reason), line_no_, std::string(line)});
  return Status::OK();
}

Status Lane::Line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  simdjson::dom::element root;
  simdjson::error_code code;
  Status parsed = json::ParseLine(&parser_, line, &root, &code);  // inside the chunk's padded text
  if (!parsed.ok()) {
    // A number simdjson cannot hold (an integer beyond 64 bits) is one that
    // jq reads as a double: the record is jq's to judge. Not a NUL byte
    // after a number, which jq's parser takes for the number's end.
    bool big_number = code == simdjson::NUMBER_ERROR && line.find('\0') == std::string_view::npos;
    simdjson::dom::element whole;
    simdjson::dom::object env;
    bool readable = big_number && validator_.Parse(line, &whole) == simdjson::SUCCESS;
    if (readable && json::IsControl(whole, &env)) return Control(line);
    c_->stats.in++;
    auto uncheckable = [&] {
      return Bad(fmt::format("schema {}: a number beyond 64 bits cannot be checked", opt_.validate->name()), line);
    };
    if (big_number) {
      // An envelope still: the program gets its value, as jq reads it, and
      // --validate checks that value alone (the key's and headers' numbers
      // are not the record's).
      if (readable && !opt_.envelope_program && whole.get_object().get(env) == simdjson::SUCCESS &&
          json::IsEnvelope(env)) {
        // The first "value" member, as simdjson finds it on the other path
        // (its name compared unescaped).
        std::string_view key, raw, value;
        std::string name;
        json::ObjectReader r(line);
        while (value.empty() && r.Next(&key, &raw))
          if (json::MemberName(key, &name) == "value") value = raw;
        if (opt_.validate) {
          simdjson::dom::element checked;
          if (!json::ParseLine(&parser_, value, &checked).ok())  // inside the chunk's padded text
            return uncheckable();
          std::string why;
          if (!checked.is_null() && !opt_.validate->Fits(checked, &why)) return Bad(why, line);
        }
        std::string_view encoding;
        if (env["value_encoding"].get_string().get(encoding) != simdjson::SUCCESS) encoding = {};
        return Envelope(line, encoding, [&](const jq::Program::Emit& emit) {
          bool jq_parsed;
          Status st = program_->RunText(value, emit, &jq_parsed);
          return jq_parsed ? st : Status::BadInput(std::string(parsed.message()));
        });
      }
      if (opt_.validate) return uncheckable();
      bool jq_parsed;
      Status st = program_->RunText(line, [&](std::string_view text, bool unchanged) {
        WriteLine(unchanged ? line : text);
        return Status::OK();
      }, &jq_parsed);
      if (!jq_parsed) return Bad(parsed.message(), line);
      if (st.Is(Status::Code::kBadInput)) return Bad(st.message(), line);
      return st;
    }
    return Bad(parsed.message(), line);
  }
  simdjson::dom::object obj;
  if (json::IsControl(root, &obj)) return Control(line);
  c_->stats.in++;
  bool envelope = root.get_object().get(obj) == simdjson::SUCCESS && !opt_.envelope_program && json::IsEnvelope(obj);
  if (opt_.validate) {
    std::string why;
    simdjson::dom::element checked = envelope ? obj["value"].value_unsafe() : root;
    if (!(envelope && checked.is_null()) && !opt_.validate->Fits(checked, &why)) return Bad(why, line);
  }
  if (envelope) {
    std::string_view encoding;
    if (obj["value_encoding"].get_string().get(encoding) != simdjson::SUCCESS) encoding = {};
    return Envelope(line, encoding, [&](const jq::Program::Emit& emit) {
      return program_->Run(obj["value"].value_unsafe(), emit);
    });
  }
  Status st = program_->Run(root, [&](std::string_view text, bool unchanged) {
    WriteLine(unchanged ? line : text);
    return Status::OK();
  });
  if (st.Is(Status::Code::kBadInput)) return Bad(st.message(), line);
  return st;
}

// The program sees the value (`run` runs it); each output is the envelope
// with the output as its value: key, headers, partition, offset and
// timestamp stay.
Status Lane::Envelope(std::string_view line, std::string_view encoding,
                      const std::function<Status(const jq::Program::Emit&)>& run) {
  if (encoding == "base64")
    return Bad("the value is binary (value_encoding base64): give --envelope-program to see the envelope", line);
  bool string_encoded = encoding == "string";
  Status st = run([&](std::string_view text, bool unchanged) {
    if (unchanged) {
      WriteLine(line);
      return Status::OK();
    }
    // A string output stays "value_encoding":"string" (the message is its
    // text); anything else is embedded JSON, but for null: the message is
    // then the four bytes null, written as kconsume writes them, since
    // "value":null is a tombstone (no value at all), which deletes its key
    // from a compacted topic.
    bool keep_encoding = string_encoded && !text.empty() && text[0] == '"';
    bool null_bytes = text == "null";
    std::string& b = c_->out;
    b.push_back('{');
    json::ObjectReader r(line);
    std::string_view key, raw;
    std::string name_buf;
    bool first = true;
    while (r.Next(&key, &raw)) {
      std::string_view name = json::MemberName(key, &name_buf);
      if (!keep_encoding && name == "value_encoding") continue;
      if (!first) b.push_back(',');
      first = false;
      b.append(key);
      b.push_back(':');
      if (name != "value") {
        b.append(raw);
      } else if (null_bytes) {
        b.append("\"null\",\"value_encoding\":\"string\"");
      } else {
        b.append(text);
      }
    }
    b.append("}\n");
    c_->stats.out++;
    return Status::OK();
  });
  if (st.Is(Status::Code::kBadInput)) return Bad(st.message(), line);
  return st;
}

// Lanes that each run on a thread of their own, chunks given out in turn,
// so that results come back in input order: the i-th chunk goes to lane
// i % n, and each lane takes its chunks in the order given.
class LanePool {
 public:
  explicit LanePool(std::vector<std::unique_ptr<Lane>> lanes) {
    for (auto& lane : lanes) workers_.push_back(std::make_unique<Worker>(std::move(lane)));
    for (auto& w : workers_) w->thread = std::thread([w = w.get()] { w->Loop(); });
  }
  ~LanePool() {
    for (auto& w : workers_) {
      {
        std::lock_guard<std::mutex> lock(w->mu);
        w->stop = true;
      }
      w->cv.notify_one();
      w->thread.join();
    }
  }
  void Submit(Chunk* c) {
    Worker& w = *workers_[next_++ % workers_.size()];
    {
      std::lock_guard<std::mutex> lock(w.mu);
      w.todo.push_back(c);
    }
    w.cv.notify_one();
  }
  size_t size() const { return workers_.size(); }

 private:
  struct Worker {
    explicit Worker(std::unique_ptr<Lane> l) : lane(std::move(l)) {}
    void Loop() {
      for (;;) {
        Chunk* c;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [this] { return stop || !todo.empty(); });
          if (todo.empty()) return;
          c = todo.front();
          todo.pop_front();
        }
        lane->Process(c);
      }
    }
    std::unique_ptr<Lane> lane;
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Chunk*> todo;
    bool stop = false;
  };
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t next_ = 0;
};

}  // namespace

Status RunJq(const JqOptions& opt, SignalWatch* signals, JqStats* stats) {
  // Every program is compiled here, on the main thread: Debian's libjq 1.6
  // sets up its out-of-memory handler only for the thread that first calls
  // jq_init (jq #2545), so a jq_init on another thread crashes. Running a
  // compiled program on another thread shares nothing with the others.
  std::string source = opt.input == "-" ? "stdin" : opt.input;
  unsigned n = opt.threads > 0 ? opt.threads : std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  std::vector<std::unique_ptr<Lane>> lanes;
  std::atomic<uint64_t> halt_line{UINT64_MAX};
  for (unsigned i = 0; i < n; i++) {
    auto program = jq::Program::Compile(opt.program, opt.args);
    if (!program.ok()) return program.status();
    lanes.push_back(std::make_unique<Lane>(opt, std::move(*program), source, &halt_line));
  }
  auto input = FileInput::Open(opt.input);
  if (!input.ok()) return input.status();
  Input& reader = **input;
  bool rewound;
  KPIPE_RETURN_IF_ERROR(reader.Start(nullptr, &rewound));
  int out_fd = 1;
  if (!opt.output.empty() && opt.output != "-") {
    auto fd = OpenOutput(opt.output);
    if (!fd.ok()) return fd.status();
    out_fd = *fd;
  }
  FdCloser close_out(out_fd);
  Output out(out_fd, opt.output.empty() || opt.output == "-" ? "stdout" : opt.output);
  std::unique_ptr<DeadLetterFile> dead;
  if (!opt.dead_letter.empty()) {
    auto d = DeadLetterFile::Open(opt.dead_letter);
    if (!d.ok()) return d.status();
    dead = std::move(*d);
  }
  LanePool pool(std::move(lanes));
  std::deque<std::unique_ptr<Chunk>> pending;  // given out, in input order
  Status failed;
  // Writes the oldest chunk once its lane is done with it.
  auto write_oldest = [&]() -> Status {
    Chunk& c = *pending.front();
    c.ready.wait();
    Status st = failed;
    if (st.ok()) {
      out.buffer()->append(c.out);
      st = out.Commit();
      for (const DeadRow& d : c.dead)
        if (st.ok()) st = dead->Write(d.reason, source, d.line, d.raw);
      stats->in += c.stats.in;
      stats->out += c.stats.out;
      stats->control += c.stats.control;
      stats->dead_lettered += c.stats.dead_lettered;
      if (st.ok()) st = c.status;
      if (!st.ok()) failed = st;
    }
    pending.pop_front();
    return st;
  };
  auto write_all = [&]() -> Status {
    Status st;
    while (!pending.empty()) {
      Status s = write_oldest();
      if (st.ok()) st = s;
    }
    return st;
  };
  // A live pipe shows each record at once; a reader gone ends an idle run.
  reader.set_idle_callback([&] {
    KPIPE_RETURN_IF_ERROR(write_all());
    KPIPE_RETURN_IF_ERROR(out.Flush());
    if (dead) KPIPE_RETURN_IF_ERROR(dead->Flush());
    return out.ReaderGone() ? Status::BrokenPipe() : Status::OK();
  });
  reader.set_signal_watch(signals);
  reader.set_output_watch(out.fd());  // and one that goes while it waits
  std::string_view block;
  Status st;
  uint64_t lines = 0;
  // After a halt nothing more is read (kjq(1)).
  while (st.ok() && halt_line.load() == UINT64_MAX && reader.NextBlock(&block)) {
    auto c = std::make_unique<Chunk>();
    c->text.reserve(block.size() + simdjson::SIMDJSON_PADDING);
    c->text.assign(block);
    c->text.append(simdjson::SIMDJSON_PADDING, '\0');
    c->size = block.size();
    c->first_line = lines + 1;
    lines += static_cast<uint64_t>(std::count(block.begin(), block.end(), '\n'));
    if (!block.empty() && block.back() != '\n') lines++;
    pool.Submit(c.get());
    pending.push_back(std::move(c));
    // Two chunks a lane at most: memory stays a few blocks.
    while (st.ok() && pending.size() > 2 * pool.size()) st = write_oldest();
  }
  Status ws = write_all();
  if (st.ok()) st = ws;
  if (st.ok()) st = reader.status();
  if (st.Is(Status::Code::kBrokenPipe)) return st;
  Status fs = out.Flush();  // also after bad input: everything before it
  if (st.ok()) st = fs;
  if (dead) {
    Status ds = dead->Flush();
    if (st.ok()) st = ds;
  }
  return st;
}

}  // namespace kpipe
