// RecordDecoder: what kwindow, kagg and kjoin read from one data line
// (kpipe(7), ENVELOPE, EVENT TIME): whether the input is plain JSON lines or
// kconsume --envelope lines (decided by its first data line), the record
// (an envelope's value), the partition its watermark is kept under
// ("topic/partition", "" for plain lines) and its event time.
// One per input. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "kpipe/json/path.h"
#include "kpipe/status.h"
#include "kpipe/time/watermark.h"
#include "kpipe/time/event_time.h"

namespace kpipe {

class RecordDecoder {
 public:
  enum class Form : uint8_t { kUnknown, kPlain, kEnvelope };

  // `time_required`: every record needs an event time (from `time_path`,
  // or else an envelope's timestamp).
  RecordDecoder(std::optional<json::FieldPath> time_path, TimeUnit unit, bool time_required)
      : time_path_(std::move(time_path)), unit_(unit), time_required_(time_required) {}

  struct Record {
    simdjson::dom::element value;  // the record
    std::string_view raw;          // its text: the line, or the envelope's value span
    std::string_view message_key;  // an envelope's "key" span (with `spans`)
    std::string_view key;          // an envelope's "key" string, unescaped, or a JSON key's text (with `key`)...
    bool has_key = false;          // ...when there is one (not null)
    int64_t t = 0;
    bool has_time = false;
  };

  // Decodes the data line `line` parsed as `root`. With `spans`, `raw` and
  // `message_key` are read from an envelope's bytes too; with `key`, `key`
  // comes from its parsed members (a key that is JSON itself, not a string,
  // from its bytes, in a second pass up to it). With
  // `null_value_timestamp`, an envelope whose value is null (a tombstone)
  // takes its time from the envelope even when a time path is given.
  // Usage (on the first line): no time path, none in the input, and one is
  // needed; BadInput: the reason the line cannot be a record.
  // `known_t`: the event time a TimeFunction() read from this line already.
  // Inline for a plain line whose time is known or not needed, the most
  // common case: the caller then keeps `*r` in registers (stored here by
  // halves and read back whole, it stalled the store buffer).
  [[gnu::always_inline]] Status Decode(simdjson::dom::element root, std::string_view line, Record* r,
                                       bool spans = false, bool null_value_timestamp = false,
                                       bool key = false, int64_t known_t = kUnknownTime) {
    if (form_ != Form::kPlain || (time_path_ && known_t == kUnknownTime) ||
        (!time_path_ && time_required_))
      return DecodeAll(root, line, r, spans, null_value_timestamp, key);
    Begin(root, line, r);
    if (time_path_) {
      r->t = known_t;
      r->has_time = true;
    }
    return Status::OK();
  }

  // Never an event time (CheckEventTime).
  static constexpr int64_t kUnknownTime = INT64_MIN;
  // For a thread ahead of Decode (the block parser's): a function of a
  // plain line's record that returns its event time as Decode reads it, or
  // kUnknownTime where Decode would refuse it (Decode then reads it again,
  // and says why). Empty unless the lines are known to be plain and the
  // time has a path. Thread-safe: it holds copies.
  std::function<int64_t(simdjson::dom::element)> TimeFunction() const;

  // The partition of the last decoded record.
  const std::string& partition() const { return partition_; }
  Form form() const { return form_; }
  void set_form(Form f) { form_ = f; }  // from a checkpoint

 private:
  // The rest of Decode: an envelope, the first line, or a time to read.
  Status DecodeAll(simdjson::dom::element root, std::string_view line, Record* r, bool spans,
                   bool null_value_timestamp, bool key);
  // `*r` as the record of `line`, without a key or a time yet. Field by
  // field: `*r = Record()` built a zeroed copy on the stack and read it back
  // in wider words than it wrote, which the store buffer cannot forward.
  [[gnu::always_inline]] static void Begin(simdjson::dom::element root, std::string_view line, Record* r) {
    r->value = root;
    r->raw = line;
    r->message_key = {};
    r->key = {};
    r->has_key = false;
    r->t = 0;
    r->has_time = false;
  }

  std::optional<json::FieldPath> time_path_;
  TimeUnit unit_;
  bool time_required_;
  Form form_ = Form::kUnknown;
  std::string partition_;
};

// Applies a {"@kpipe":"partitions",...} control record (kconsume
// --envelope; kpipe(7), CONTROL RECORDS) to `wm`: "names" lists partitions
// the upstream reads from now on, each to hold W back until it has records,
// ends or is idle; "ended" those it no longer reads (a bounded read reached
// their end, or they went to another group member); "watermarks":true says
// that watermark records follow (W_in is -inf until the first). BadInput
// when a field is ill-typed. `*upstream`: the record said "watermarks".
Status ApplyPartitions(simdjson::dom::object control, Watermark* wm, int64_t now_ms, bool* upstream);

}  // namespace kpipe
