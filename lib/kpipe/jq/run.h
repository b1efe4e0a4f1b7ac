// RunJq: the work of kjq(1): a jq program over the data records of JSON
// lines, control records passed through in place (kpipe(7), CONTROL
// RECORDS), envelope lines kept as envelopes around the program's outputs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kpipe/json/schema.h"
#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;

struct JqOptions {
  std::string program;
  std::vector<std::pair<std::string, std::string>> args;  // $NAME and its JSON text
  std::string input = "-";      // "-" or a path (file, FIFO, <(...))
  std::string output;           // empty or "-": stdout
  std::string dead_letter;      // empty: bad input stops the run
  bool envelope_program = false;  // the program sees the whole envelope
  // --validate FILE: a record (an envelope's value, unless
  // envelope_program) that does not fit is bad input; null: not checked.
  std::shared_ptr<const json::Schema> validate;
  unsigned threads = 0;         // threads running the program; 0: one per core (at most 8)
};

struct JqStats {
  uint64_t in = 0;             // data records read (bad ones included)
  uint64_t out = 0;            // records written
  uint64_t control = 0;        // control records passed through
  uint64_t dead_lettered = 0;
};

// Runs until the end of the input, a signal (Status::Interrupted after
// flushing) or an error. BadInput names SOURCE:LINE: invalid JSON, a
// binary envelope value, or an error the program raised on the record.
Status RunJq(const JqOptions& opt, SignalWatch* signals, JqStats* stats);

}  // namespace kpipe
