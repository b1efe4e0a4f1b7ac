#include "kpipe/jq/run.h"

#include <unistd.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/io/dead_letter.h"
#include "kpipe/jq/program.h"
#include "kpipe/json/line.h"
#include "kpipe/json/line_reader.h"
#include "kpipe/json/output.h"
#include "kpipe/json/scan.h"

namespace kpipe {

namespace {

class JqRunner {
 public:
  JqRunner(const JqOptions& opt, jq::Program* program, Output* out, DeadLetterFile* dead, JqStats* stats,
           std::string source)
      : opt_(opt), program_(program), out_(out), dead_(dead), stats_(stats), source_(std::move(source)) {}

  Status Block(std::string_view block);

 private:
  Status Line(std::string_view line);
  Status Envelope(std::string_view line, simdjson::dom::object env);
  Status Bad(std::string_view reason, std::string_view line);
  Status WriteLine(std::string_view text) {
    std::string* b = out_->buffer();
    b->append(text);
    b->push_back('\n');
    stats_->out++;
    return out_->Commit();
  }

  const JqOptions& opt_;
  jq::Program* program_;
  Output* out_;
  DeadLetterFile* dead_;
  JqStats* stats_;
  std::string source_;
  uint64_t line_no_ = 0;
  simdjson::dom::parser parser_;
};

Status JqRunner::Block(std::string_view block) {
  size_t pos = 0;
  while (pos < block.size()) {
    const char* nl = static_cast<const char*>(std::memchr(block.data() + pos, '\n', block.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - block.data()) : block.size();
    line_no_++;
    KPIPE_RETURN_IF_ERROR(Line(block.substr(pos, end - pos)));
    pos = end + 1;
  }
  return Status::OK();
}

Status JqRunner::Bad(std::string_view reason, std::string_view line) {
  if (!dead_) {
    KPIPE_RETURN_IF_ERROR(out_->Flush());
    return Status::BadInput(fmt::format("{}:{}: {}", source_, line_no_, reason));
  }
  stats_->dead_lettered++;
  return dead_->Write(reason, source_, line_no_, line);
}

Status JqRunner::Line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  simdjson::dom::element root;
  Status parsed = json::ParseLine(&parser_, line, &root);  // inside the reader's padded block
  if (!parsed.ok()) {
    stats_->in++;
    return Bad(parsed.message(), line);
  }
  simdjson::dom::object obj;
  if (json::IsControl(root, &obj)) {
    stats_->control++;  // control records pass through, in place
    std::string* b = out_->buffer();
    b->append(line);
    b->push_back('\n');
    return out_->Commit();
  }
  stats_->in++;
  if (root.get_object().get(obj) == simdjson::SUCCESS && !opt_.envelope_program && obj["topic"].error() == simdjson::SUCCESS &&
      obj["partition"].error() == simdjson::SUCCESS && obj["offset"].error() == simdjson::SUCCESS &&
      obj["value"].error() == simdjson::SUCCESS)
    return Envelope(line, obj);
  Status st = program_->Run(root, [&](std::string_view text, bool unchanged) {
    return WriteLine(unchanged ? line : text);
  });
  if (st.Is(Status::Code::kBadInput)) return Bad(st.message(), line);
  return st;
}

// The program sees the value; each output is the envelope with the output
// as its value: key, headers, partition, offset and timestamp stay.
Status JqRunner::Envelope(std::string_view line, simdjson::dom::object env) {
  std::string_view encoding;
  bool string_encoded = false;
  if (env["value_encoding"].get_string().get(encoding) == simdjson::SUCCESS) {
    if (encoding == "base64")
      return Bad("the value is binary (value_encoding base64): give --envelope-program to see the envelope", line);
    string_encoded = encoding == "string";
  }
  Status st = program_->Run(env["value"].value_unsafe(), [&](std::string_view text, bool unchanged) {
    if (unchanged) return WriteLine(line);
    // A string output stays "value_encoding":"string" (the message is its
    // text); anything else is embedded JSON.
    bool keep_encoding = string_encoded && !text.empty() && text[0] == '"';
    std::string* b = out_->buffer();
    b->push_back('{');
    json::ObjectReader r(line);
    std::string_view key, raw;
    bool first = true;
    while (r.Next(&key, &raw)) {
      if (key == "\"value_encoding\"" && !keep_encoding) continue;
      if (!first) b->push_back(',');
      first = false;
      b->append(key);
      b->push_back(':');
      b->append(key == "\"value\"" ? text : raw);
    }
    b->append("}\n");
    stats_->out++;
    return out_->Commit();
  });
  if (st.Is(Status::Code::kBadInput)) return Bad(st.message(), line);
  return st;
}

}  // namespace

Status RunJq(const JqOptions& opt, SignalWatch* signals, JqStats* stats) {
  auto program = jq::Program::Compile(opt.program, opt.args);
  if (!program.ok()) return program.status();
  std::string source = opt.input == "-" ? "stdin" : opt.input;
  auto in_fd = OpenInput(opt.input);
  if (!in_fd.ok()) return in_fd.status();
  FdCloser close_in(*in_fd);
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
  JqRunner runner(opt, program->get(), &out, dead.get(), stats, source);
  LineReader reader(*in_fd, source);
  // A live pipe shows each record at once; a reader gone ends an idle run.
  reader.set_idle_callback([&] {
    KPIPE_RETURN_IF_ERROR(out.Flush());
    if (dead) KPIPE_RETURN_IF_ERROR(dead->Flush());
    return out.ReaderGone() ? Status::BrokenPipe() : Status::OK();
  });
  reader.set_signal_watch(signals);
  std::string_view block;
  Status st;
  while (st.ok() && reader.NextBlock(&block)) st = runner.Block(block);
  if (st.ok()) st = reader.status();
  if (st.Is(Status::Code::kBrokenPipe)) return st;
  Status fs = out.Flush();
  if (st.ok()) st = fs;
  if (dead) {
    Status ds = dead->Flush();
    if (st.ok()) st = ds;
  }
  return st;
}

}  // namespace kpipe
