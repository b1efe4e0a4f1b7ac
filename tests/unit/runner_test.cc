// The runner (stream/runner.h) through fakes, as ninja tests its Builder: an
// in-memory Input and an operator that writes down what it is told. Covers
// control records, watermarks over one and two inputs, late records, bad
// input, checkpoint and restore, idle inputs and the end of the run.
#include "kpipe/stream/runner.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kpipe/join/operator.h"
#include "kpipe/service/monitor.h"
#include "kpipe/time/time.h"
#include "kpipe/time/watermark.h"

using namespace kpipe;

namespace {

std::string Inf(int64_t w) {
  if (w == Watermark::kMinusInfinity) return "-inf";
  if (w == Watermark::kPlusInfinity) return "+inf";
  return std::to_string(w);
}

// Blocks of lines from memory. Its position is the bytes handed over; a
// start at a checkpoint's position skips that many bytes (whole blocks or
// the part of one). With `end_after_ms`, a source with nothing (more) to
// give that ends only once that much processing time has passed, as a
// quiet pipe does; with `gap_ms`, one that has a block only every so often.
class FakeInput : public Input {
 public:
  FakeInput(std::string name, std::vector<std::string> blocks, int64_t end_after_ms = -1, int64_t gap_ms = 0)
      : name_(std::move(name)), blocks_(std::move(blocks)),
        end_at_(end_after_ms < 0 ? -1 : NowMs() + end_after_ms), gap_ms_(gap_ms) {}

  const std::string& name() const override { return name_; }
  Status Start(const InputPosition* at, bool* rewound) override {
    *rewound = at != nullptr;
    if (!at) return Status::OK();
    uint64_t skip = at->offset;
    while (next_ < blocks_.size() && skip >= blocks_[next_].size()) {
      skip -= blocks_[next_].size();
      offset_ += blocks_[next_++].size();
    }
    if (next_ < blocks_.size()) {
      blocks_[next_].erase(0, skip);
      offset_ += skip;
    }
    return Status::OK();
  }
  void set_idle_callback(std::function<Status()> cb) override { idle_ = std::move(cb); }
  void set_tick(int64_t, std::function<Status()>) override {}
  void set_signal_watch(SignalWatch*) override {}
  bool NextBlock(std::string_view* block) override {
    while (next_ >= blocks_.size() && end_at_ >= 0 && NowMs() < end_at_) {
      if (idle_ && !(status_ = idle_()).ok()) return false;
      ::usleep(2000);
    }
    return TryBlock(block);
  }
  bool TryBlock(std::string_view* block) override {
    if (next_ >= blocks_.size() || NowMs() < given_at_ + gap_ms_) return false;
    given_at_ = NowMs();
    held_ = blocks_[next_++];
    offset_ += held_.size();
    size_t n = held_.size();
    held_.append(simdjson::SIMDJSON_PADDING, ' ');
    *block = std::string_view(held_.data(), n);
    return true;
  }
  Result<int> ReadyFd() override { return -1; }
  bool ended() const override { return next_ >= blocks_.size() && (end_at_ < 0 || NowMs() >= end_at_); }
  const Status& status() const override { return status_; }
  void Locate(size_t, uint64_t line_no, std::string* source, uint64_t* line) const override {
    *source = name_;
    *line = line_no;
  }
  InputPosition position() const override { return {offset_, {}}; }
  bool Progress(uint64_t*, uint64_t*) const override { return false; }
  void AddMetrics(service::Snapshot*) const override {}

 private:
  std::string name_;
  std::vector<std::string> blocks_;
  int64_t end_at_;
  int64_t gap_ms_;
  int64_t given_at_ = 0;
  size_t next_ = 0;
  uint64_t offset_ = 0;
  std::string held_;
  std::function<Status()> idle_;
  Status status_;
};

// Writes down each call, and counts records: its state is that count, and a
// row per Finish() carries it. A record with "bad":true is bad input; one
// judged with t < W is late.
class Recorder : public Operator {
 public:
  std::vector<std::string> log;
  uint64_t count = 0;

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override {
    bool bad = false;
    if (r.value.is_object() && r.value["bad"].get_bool().get(bad) == simdjson::SUCCESS && bad)
      return Status::BadInput("bad by request");
    log.push_back(fmt::format("add {} t={} w={}", r.input, r.t, Inf(w)));
    if (r.has_time && r.t < w) {
      outcome->late = true;
      outcome->window_end = r.t + 1;
      return Status::OK();
    }
    count++;
    return Status::OK();
  }
  Status Advance(int64_t w, RowSink* out, bool* closed) override {
    log.push_back("advance " + Inf(w));
    *closed = false;
    return Status::OK();
  }
  Status AdvanceInput(int input, int64_t w, RowSink* out, bool* closed) override {
    log.push_back(fmt::format("input {} {}", input, Inf(w)));
    return Status::OK();
  }
  Status Finish(RowSink* out) override {
    log.push_back("finish");
    return out->Write("", fmt::format("{{\"count\":{}}}", count));
  }
  Status Tick(RowSink* out) override { return Status::OK(); }
  int64_t OutputWatermark(int64_t w) const override { return w; }
  Status Dump(RowSink* out) override { return out->Write("", fmt::format("{{\"count\":{}}}", count)); }
  Status Save(state::StateWriter* w) const override {
    std::string v;
    state::Encoder(&v).U64(count);
    return w->Put("count", v);
  }
  Status Load(state::StateReader* r) override {
    std::string_view k, v;
    while (r->Next(&k, &v)) count = state::Decoder(v).U64();
    return Status::OK();
  }
  bool Saw(const std::string& entry) const { return std::find(log.begin(), log.end(), entry) != log.end(); }
  size_t Index(const std::string& entry) const {
    return std::find(log.begin(), log.end(), entry) - log.begin();
  }
};

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/kpipe-runner-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string File(const std::string& name) const { return path + "/" + name; }
};

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

RunnerOptions Options(const TempDir& dir, int inputs = 1) {
  RunnerOptions o;
  o.inputs.assign(inputs, InputOptions{});
  for (int s = 0; s < inputs; s++) {
    o.inputs[s].name = fmt::format("in{}", s);
    o.inputs[s].time_path = *json::FieldPath::Parse("t");
  }
  if (inputs == 2) {
    o.inputs[0].role = "left";
    o.inputs[1].role = "right";
  }
  o.output = dir.File("out");
  o.tool = "test";
  return o;
}

Status Run(const RunnerOptions& o, Operator* op, std::vector<std::unique_ptr<FakeInput>> fakes,
           RunStats* stats) {
  std::vector<std::unique_ptr<Input>> inputs;
  for (auto& f : fakes) inputs.push_back(std::move(f));
  return RunOperator(o, op, std::move(inputs), nullptr, stats);
}

std::vector<std::unique_ptr<FakeInput>> One(std::vector<std::string> blocks) {
  std::vector<std::unique_ptr<FakeInput>> v;
  v.push_back(std::make_unique<FakeInput>("fake", std::move(blocks)));
  return v;
}

}  // namespace

TEST_CASE("runner: records are judged against W before them; late ones go to --late") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  o.max_delay = 10;
  o.late = dir.File("late");
  Recorder op;
  RunStats stats;
  REQUIRE(Run(o, &op, One({"{\"t\":100}\n{\"t\":95}\n", "{\"t\":80}\n{\"t\":120}\n"}), &stats).ok());
  CHECK(op.log == std::vector<std::string>{"add 0 t=100 w=-inf", "advance 90", "add 0 t=95 w=90",
                                           "add 0 t=80 w=90", "add 0 t=120 w=90", "advance 110", "finish"});
  CHECK(stats.in == 4);
  CHECK(stats.late == 1);
  CHECK(stats.out == 1);
  CHECK(Read(dir.File("late")) == "{\"late\":{\"t\":80},\"window_end\":81,\"watermark\":90}\n");
  CHECK(Read(dir.File("out")) == "{\"count\":3}\n");
}

TEST_CASE("runner: --max-late stops the run with BadInput once the block is handled") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  o.max_late = 0;
  Recorder op;
  RunStats stats;
  Status st = Run(o, &op, One({"{\"t\":100}\n{\"t\":50}\n{\"t\":200}\n", "{\"t\":300}\n"}), &stats);
  CHECK(st.Is(Status::Code::kBadInput));
  CHECK(op.Saw("add 0 t=200 w=100"));     // the rest of the block was handled
  CHECK_FALSE(op.Saw("add 0 t=300 w=200"));  // the next block was not
}

TEST_CASE("runner: control records: upstream watermarks hold W back, unknown kinds pass, end finishes") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  Recorder op;
  RunStats stats;
  REQUIRE(Run(o, &op,
              One({"{\"@kpipe\":\"watermark\",\"ts\":50}\n{\"t\":100}\n{\"@kpipe\":\"future\",\"x\":1}\n"
                   "{\"@kpipe\":\"watermark\",\"ts\":70}\n{\"@kpipe\":\"end\"}\n"}),
              &stats)
              .ok());
  // W = min(W_in, W_own): 50 after the first record (W_own 100), then 70.
  CHECK(op.log == std::vector<std::string>{"advance 50", "add 0 t=100 w=50", "advance 70", "finish", "finish"});
  // A watermark in: watermarks out, said first.
  CHECK(Read(dir.File("out")) ==
        "{\"@kpipe\":\"partitions\",\"names\":[],\"watermarks\":true}\n"
        "{\"@kpipe\":\"watermark\",\"ts\":50}\n{\"@kpipe\":\"future\",\"x\":1}\n"
        "{\"@kpipe\":\"watermark\",\"ts\":70}\n{\"count\":1}\n{\"@kpipe\":\"end\"}\n{\"count\":1}\n");
}

TEST_CASE("runner: bad input stops the run naming SOURCE:LINE, or goes to the dead letters") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  {
    Recorder op;
    RunStats stats;
    Status st = Run(o, &op, One({"{\"t\":1}\n", "{\"t\":2}\n{\"t\":\n"}), &stats);
    REQUIRE(st.Is(Status::Code::kBadInput));
    CHECK(st.message().rfind("fake:3: ", 0) == 0);
  }
  o.dead_letter = dir.File("dead");
  Recorder op;
  RunStats stats;
  REQUIRE(Run(o, &op, One({"{\"t\":1}\n{\"t\":2,\"bad\":true}\nnot json\n{\"t\":3}\n"}), &stats).ok());
  CHECK(stats.in == 4);
  CHECK(stats.dead_lettered == 2);
  CHECK(op.count == 2);
  std::string dead = Read(dir.File("dead"));
  CHECK(dead.find("fake:2") != std::string::npos);
  CHECK(dead.find("bad by request") != std::string::npos);
  CHECK(dead.find("fake:3") != std::string::npos);
}

TEST_CASE("runner: a restart restores the checkpoint and goes on from its position") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  o.state_dir = dir.File("state");
  o.fingerprint = "test";
  std::vector<std::string> blocks = {"{\"t\":1}\n{\"t\":2}\n", "{\"t\":3}\n", "{\"t\":4}\n{\"t\":5}\n"};
  {
    // Stopped by --max-late after the second block: a checkpoint holds it.
    RunnerOptions first = o;
    first.max_late = 0;
    std::vector<std::string> two = {blocks[0], "{\"t\":3}\n{\"t\":0}\n"};
    Recorder op;
    RunStats stats;
    REQUIRE(Run(first, &op, One(two), &stats).Is(Status::Code::kBadInput));
    CHECK(op.count == 3);
  }
  // The same input again, with the late record's block as it was: reading
  // goes on after it.
  std::vector<std::string> again = {blocks[0], "{\"t\":3}\n{\"t\":0}\n", blocks[2]};
  o.max_late = -1;
  Recorder op;
  RunStats stats;
  REQUIRE(Run(o, &op, One(again), &stats).ok());
  CHECK(op.log.front() == "add 0 t=4 w=3");
  CHECK(op.count == 5);
  CHECK(stats.in == 6);  // counts go on from the checkpoint's
  CHECK(stats.late == 1);
  // The rows file was cut back to the checkpoint's size and written again.
  CHECK(Read(dir.File("out")) == "{\"count\":5}\n");
  // Other options: refused.
  o.fingerprint = "other";
  Recorder op2;
  CHECK(Run(o, &op2, One(again), &stats).Is(Status::Code::kUsage));
}

TEST_CASE("runner: over two inputs W is the minimum of theirs, and an ended input lets go") {
  TempDir dir;
  RunnerOptions o = Options(dir, 2);
  o.late = dir.File("late");
  Recorder op;
  RunStats stats;
  std::vector<std::unique_ptr<FakeInput>> in;
  in.push_back(std::make_unique<FakeInput>("left", std::vector<std::string>{"{\"t\":100}\n", "{\"t\":300}\n"}));
  in.push_back(std::make_unique<FakeInput>("right", std::vector<std::string>{"{\"t\":200}\n{\"t\":50}\n"}));
  REQUIRE(Run(o, &op, std::move(in), &stats).ok());
  CHECK(op.log == std::vector<std::string>{"add 0 t=100 w=-inf", "input 0 100", "add 1 t=200 w=-inf",
                                           "input 1 200", "advance 100", "add 1 t=50 w=100",
                                           "add 0 t=300 w=100", "input 0 300", "advance 200",
                                           "input 1 +inf", "advance 300", "finish"});
  CHECK(stats.in_by_input == std::vector<uint64_t>{2, 2});
  CHECK(Read(dir.File("late")) == "{\"late\":{\"t\":50},\"window_end\":51,\"side\":\"right\",\"watermark\":100}\n");
}

TEST_CASE("runner: an input read first is read to its end before the others start") {
  TempDir dir;
  RunnerOptions o = Options(dir, 2);
  o.inputs[1].first = true;
  Recorder op;
  RunStats stats;
  std::vector<std::unique_ptr<FakeInput>> in;
  in.push_back(std::make_unique<FakeInput>("left", std::vector<std::string>{"{\"t\":1}\n", "{\"t\":2}\n"}));
  in.push_back(std::make_unique<FakeInput>("right", std::vector<std::string>{"{\"t\":10}\n", "{\"t\":20}\n"}));
  REQUIRE(Run(o, &op, std::move(in), &stats).ok());
  CHECK(op.Index("add 1 t=20 w=-inf") < op.Index("add 0 t=1 w=-inf"));
}

TEST_CASE("runner: with --idle a quiet input is left out of W") {
  TempDir dir;
  RunnerOptions o = Options(dir, 2);
  o.idle_ms = 20;
  Recorder op;
  RunStats stats;
  std::vector<std::unique_ptr<FakeInput>> in;
  std::vector<std::string> left;
  for (int t = 100; t <= 1000; t += 100) left.push_back(fmt::format("{{\"t\":{}}}\n", t));
  in.push_back(std::make_unique<FakeInput>("left", left, -1, /*gap_ms=*/10));
  in.push_back(std::make_unique<FakeInput>("right", std::vector<std::string>{}, 400));
  REQUIRE(Run(o, &op, std::move(in), &stats).ok());
  // Right never has a record: once it is quiet for 20 ms, W follows left
  // alone, long before right ends.
  size_t right_end = op.Index("input 1 +inf");
  bool advanced = false;
  for (size_t i = 0; i < right_end && i < op.log.size(); i++)
    advanced |= op.log[i].rfind("advance ", 0) == 0 && op.log[i] != "advance +inf";
  CHECK(advanced);
}

TEST_CASE("runner: one input with --idle, --watermarks: the watermark is written while the input is quiet") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  o.idle_ms = 20;
  o.watermarks = true;
  Recorder op;
  RunStats stats;
  std::vector<std::unique_ptr<FakeInput>> in;
  in.push_back(std::make_unique<FakeInput>("fake", std::vector<std::string>{"{\"t\":100}\n"}, 100));
  REQUIRE(Run(o, &op, std::move(in), &stats).ok());
  // First the record that says watermark records follow.
  CHECK(Read(dir.File("out")) ==
        "{\"@kpipe\":\"partitions\",\"names\":[],\"watermarks\":true}\n{\"@kpipe\":\"watermark\",\"ts\":100}\n"
        "{\"count\":1}\n{\"@kpipe\":\"end\"}\n");
}

TEST_CASE("runner: the join operator over two fake inputs") {
  TempDir dir;
  RunnerOptions o = Options(dir, 2);
  for (auto& in : o.inputs) in.spans = true;
  o.object_key = false;
  JoinSpec spec;
  for (auto& k : spec.keys) k.push_back(*json::FieldPath::Parse("k"));
  spec.lo = -10;
  spec.hi = 10;
  JoinOperator op(spec);
  RunStats stats;
  std::vector<std::unique_ptr<FakeInput>> in;
  in.push_back(std::make_unique<FakeInput>(
      "left", std::vector<std::string>{"{\"k\":1,\"t\":100}\n{\"k\":2, \"t\":100}\n"}));
  in.push_back(std::make_unique<FakeInput>(
      "right", std::vector<std::string>{"{\"k\":1,\"t\":105}\n{\"k\":2,\"t\":200}\n"}));
  REQUIRE(Run(o, &op, std::move(in), &stats).ok());
  CHECK(Read(dir.File("out")) == "{\"left\":{\"k\":1,\"t\":100},\"right\":{\"k\":1,\"t\":105}}\n");
  CHECK(stats.out == 1);
}

namespace {

// A Recorder whose hint of a record is its time plus 1000, and which writes
// down when each hint came to Prefetch and what each Add got.
class HintRecorder : public Recorder {
 public:
  std::vector<std::pair<char, int64_t>> events;  // ('P', hint) or ('A', t or -1 without a hint)
  std::function<uint64_t(simdjson::dom::element)> HintFunction(int) const override {
    return [](simdjson::dom::element v) -> uint64_t {
      int64_t t = 0;
      return v["t"].get_int64().get(t) == simdjson::SUCCESS ? static_cast<uint64_t>(t + 1000) : 0;
    };
  }
  void Prefetch(int, uint64_t hint) override { events.emplace_back('P', static_cast<int64_t>(hint)); }
  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override {
    if (r.hint && *r.hint != static_cast<uint64_t>(r.t + 1000)) return Status::Internal("a hint of another record");
    events.emplace_back('A', r.hint ? r.t : -1);
    return Recorder::Add(r, w, out, outcome);
  }
};

}  // namespace

TEST_CASE("runner: with a parse thread, each record's hint comes to Prefetch ahead of its Add, and with it") {
  TempDir dir;
  RunnerOptions o = Options(dir);
  o.threads = 2;
  o.dead_letter = dir.File("dead");
  std::string block;  // the form of the lines (plain or envelopes) is known after the first block
  for (int i = 1; i <= 6000; i++) {
    if (i == 3000) block += "{\"@kpipe\":\"watermark\",\"ts\":1}\n";  // a control record
    if (i == 4000) block += "not json\n";                           // bad input: its chunk line by line
    block += fmt::format("{{\"t\":{},\"pad\":\"{}\"}}\n", i, std::string(20, 'x'));
  }
  REQUIRE(block.size() > (200 << 10));
  HintRecorder op;
  RunStats stats;
  REQUIRE(Run(o, &op, One({"{\"t\":0}\n", block}), &stats).ok());
  CHECK(stats.dead_lettered == 1);
  std::map<int64_t, size_t> prefetched;  // hint -> when
  size_t adds = 0, hinted = 0, ahead = 0;
  for (size_t i = 0; i < op.events.size(); i++) {
    auto [kind, v] = op.events[i];
    if (kind == 'P') {
      prefetched.emplace(v, i);
      continue;
    }
    adds++;
    if (v < 0) continue;
    hinted++;
    auto p = prefetched.find(v + 1000);
    REQUIRE(p != prefetched.end());  // never an Add with a hint that Prefetch did not get first
    if (i - p->second >= 8) ahead++;
  }
  CHECK(adds == 6001);
  CHECK(hinted > 5000);  // all but the chunk judged line by line (and nothing else)
  CHECK(ahead > hinted * 9 / 10);
}
