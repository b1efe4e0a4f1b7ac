// Status and Result<T>: how the kpipe library reports success and failure.
//
// The library never throws across its API, never exits and never prints to
// stdout; it returns a Status (or a Result<T>) and tools/ maps the code to an
// exit status (cli/exit_codes.h). OK is a null pointer, so passing an OK
// status around costs one word. Not thread-safe to share one object between
// threads while one of them mutates it (like any value type).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kpipe {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kUsage,        // bad flags or arguments (exit 2)
    kBadInput,     // bad input data that stops the tool (exit 65)
    kIOError,      // local I/O failure (exit 1)
    kKafka,        // broker or delivery failure (exit 1)
    kRemote,       // another service (the schema registry) failed or refused (exit 1)
    kBrokenPipe,   // the downstream reader went away (quiet exit 0)
    kInterrupted,  // SIGINT/SIGTERM after a clean shutdown (exit 130/143)
    kHalted,       // the user's program asked to stop (kjq: jq's halt, halt_error): exit_code()
    kNotFound,
    kInternal,
  };

  Status() = default;
  Status(const Status& s) : state_(s.state_ ? std::make_unique<State>(*s.state_) : nullptr) {}
  Status& operator=(const Status& s) {
    state_ = s.state_ ? std::make_unique<State>(*s.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status Usage(std::string msg) { return Status(Code::kUsage, std::move(msg)); }
  static Status BadInput(std::string msg) { return Status(Code::kBadInput, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Kafka(std::string msg) { return Status(Code::kKafka, std::move(msg)); }
  static Status Remote(std::string msg) { return Status(Code::kRemote, std::move(msg)); }
  static Status BrokenPipe() { return Status(Code::kBrokenPipe, "broken pipe"); }
  // `signal` is the signal number that stopped the tool (SIGINT or SIGTERM).
  static Status Interrupted(int signal) {
    Status s(Code::kInterrupted, "interrupted");
    s.state_->signal = signal;
    return s;
  }
  // The user's program stopped the run, asking for `exit_code`; `msg` is
  // what it asked to be written to standard error, as it is (may be empty).
  static Status Halted(int exit_code, std::string msg) {
    Status s(Code::kHalted, std::move(msg));
    s.state_->exit_code = exit_code;
    return s;
  }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  bool Is(Code c) const { return code() == c; }
  // The human message without a prefix; empty for OK.
  const std::string& message() const;
  int signal() const { return state_ ? state_->signal : 0; }
  int exit_code() const { return state_ ? state_->exit_code : 0; }
  std::string ToString() const;

 private:
  struct State {
    Code code;
    std::string msg;
    int signal = 0;
    int exit_code = 0;
  };
  Status(Code c, std::string msg) : state_(std::make_unique<State>(State{c, std::move(msg)})) {}
  std::unique_ptr<State> state_;
};

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // REQUIRES: !status.ok()
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace kpipe

// Returns from the current function when `expr` yields a non-OK Status.
#define KPIPE_RETURN_IF_ERROR(expr)        \
  do {                                     \
    ::kpipe::Status _st = (expr);          \
    if (!_st.ok()) return _st;             \
  } while (0)
