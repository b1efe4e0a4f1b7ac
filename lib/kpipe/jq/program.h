// Program: a jq program compiled with Debian's libjq (jq 1.6), applied to one
// JSON value at a time (kjq(1)). The value is handed over as simdjson's DOM,
// converted to jq's values without a second parse; each output comes back
// as compact JSON text, or as "unchanged" when it is the input itself, so
// that the caller can write the input's own bytes.
// Not thread-safe; one Program per thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "kpipe/status.h"

struct jq_state;
extern "C" {
#include <jv.h>
}

namespace kpipe::jq {

class Program {
 public:
  // What Run and RunText call with each output: its text, or `unchanged`.
  using Emit = std::function<Status(std::string_view, bool)>;
  // `args`: --arg NAME VALUE as ("NAME", "\"VALUE\"" JSON text) pairs and
  // --argjson NAME JSON as ("NAME", JSON). Usage on a compile error (with
  // jq's messages) or an --argjson value that is not JSON.
  static Result<std::unique_ptr<Program>> Compile(const std::string& text,
                                                  const std::vector<std::pair<std::string, std::string>>& args);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Runs the program on `value`. For each output, `emit(text, unchanged)`:
  // `unchanged` when the output equals the input (then `text` is empty),
  // and the input's text means to any reader what jq read (not when an
  // object repeats a key: jq keeps the last, simdjson's readers the first).
  // BadInput with jq's message when the program raises an error on this
  // value (outputs before it have been emitted); errors of `emit` are
  // returned as they are. Halted when the program ran halt or halt_error
  // (jq's exit status and what it writes to standard error); every later
  // Run returns the same without running anything.
  Status Run(simdjson::dom::element value, const Emit& emit);
  // The same for JSON text that simdjson does not take but jq does (an
  // integer beyond 64 bits, which jq reads as a double; a leading zero).
  // `*parsed`: false when jq cannot parse it either (then nothing ran).
  // An output equal to the input is `unchanged` only when the input is
  // JSON by the grammar (not so "012") and repeats no key.
  Status RunText(std::string_view json, const Emit& emit,
                 bool* parsed);

 private:
  Program() = default;
  // A projection, {KEY, KEY: .PATH, "KEY": .PATH, ...}, runs without jq
  // on objects: the program's most common form, where jq's interpreter
  // is most of the time. Anything the projection cannot answer exactly
  // as jq does (an error, duplicate keys, an output that may equal its
  // input) goes to jq.
  struct Field {
    std::string key;                // the output key
    std::string quoted;             // "KEY": as jq writes it
    std::vector<std::string> path;  // .a.b: {"a","b"}
  };
  // The projection of `text`, or nothing when it is another program.
  static std::vector<Field> ParseProjection(std::string_view text);
  // `*handled`: false when jq must run the program on `value` instead.
  Status RunProjection(simdjson::dom::element value, const Emit& emit,
                       bool* handled);
  std::vector<Field> projection_;
  std::vector<simdjson::dom::element> picked_;  // per field, its first step's value, when found_
  std::vector<bool> found_;

  // `e` as jq's value; clears faithful_ when an object repeats a key.
  jv ToJv(simdjson::dom::element e);
  // Runs the program on `in` (consumed); an output equal to it is
  // `unchanged` only with `may_be_unchanged`.
  Status RunJv(jv in, bool may_be_unchanged, const Emit& emit);
  bool faithful_ = true;  // the last ToJv's value holds every member of its input
  Status halted_;         // Halted, once the program ran halt or halt_error
  jv Key(std::string_view key);  // a jv string of the key, cached
  static constexpr size_t kMaxKeys = 4096;
  jq_state* jq_ = nullptr;
  std::map<std::string, jv, std::less<>> keys_;
  std::string out_;  // each output's text, reused
  std::vector<std::string> compile_errors_;
};

}  // namespace kpipe::jq
