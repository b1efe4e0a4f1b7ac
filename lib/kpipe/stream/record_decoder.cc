#include "kpipe/stream/record_decoder.h"

#include <fmt/format.h>

#include "kpipe/json/line.h"
#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"

namespace kpipe {

std::function<int64_t(simdjson::dom::element)> RecordDecoder::TimeFunction() const {
  if (form_ != Form::kPlain || !time_path_) return {};
  return [path = *time_path_, unit = unit_](simdjson::dom::element value) {
    simdjson::dom::element e;
    if (!path.Lookup(value, &e)) return kUnknownTime;
    auto t = EventTimeOf(e, unit, path.text());
    return t.ok() ? *t : kUnknownTime;
  };
}

Status RecordDecoder::DecodeAll(simdjson::dom::element root, std::string_view line, Record* r,
                                bool spans, bool null_value_timestamp, bool key) {
  simdjson::dom::object o;
  if (form_ == Form::kUnknown) {
    bool envelope = root.get_object().get(o) == simdjson::SUCCESS && json::IsEnvelope(o);
    form_ = envelope ? Form::kEnvelope : Form::kPlain;
    if (!envelope && !time_path_ && time_required_)
      return Status::Usage("no --time given and the input is not envelope lines (kconsume --envelope)");
  }
  Begin(root, line, r);
  bool by_timestamp = false;
  if (form_ == Form::kEnvelope) {
    // The watermark is kept per topic and partition; a null topic or
    // partition (kproduce --dry-run writes them) is a partition of its own.
    std::string_view topic;
    int64_t part = -1;
    if (root.get_object().get(o) != simdjson::SUCCESS || o["value"].get(r->value) != simdjson::SUCCESS ||
        (o["topic"].get_string().get(topic) != simdjson::SUCCESS && !o["topic"].is_null()) ||
        (o["partition"].get_int64().get(part) != simdjson::SUCCESS && !o["partition"].is_null()))
      return Status::BadInput("not an envelope line (topic, partition and value expected)");
    partition_.assign(topic);
    fmt::format_to(std::back_inserter(partition_), "/{}", part);
    // A value in the registry's wire format that its schema did not decode
    // (a kafka: input writes it as base64 with the reason): bad input. Other
    // bytes and text are string records, as a message that is no JSON is.
    std::string_view why;
    if (r->value.is_string() && o["value_error"].get_string().get(why) == simdjson::SUCCESS)
      return Status::BadInput(std::string(why));
    if (key) {
      r->has_key = o["key"].get_string().get(r->key) == simdjson::SUCCESS;
      simdjson::dom::element k;
      if (!r->has_key && o["key"].get(k) == simdjson::SUCCESS && !k.is_null()) {
        // A key that is JSON itself (kproduce -k of a number): its bytes
        // are its text in the envelope, as written.
        json::ObjectReader reader(line);
        std::string_view literal, v;
        std::string buf;
        while (!r->has_key && reader.Next(&literal, &v))
          if (json::MemberName(literal, &buf) == "key") r->key = v, r->has_key = true;
      }
    }
    if (spans) {
      // The first of each, as simdjson finds the value above.
      json::ObjectReader reader(line);
      std::string_view k, v;
      std::string buf;
      bool raw = false, message_key = false;
      while ((!raw || !message_key) && reader.Next(&k, &v)) {
        std::string_view name = json::MemberName(k, &buf);
        if (name == "value" && !raw) r->raw = v, raw = true;
        else if (name == "key" && !message_key) r->message_key = v, message_key = true;
      }
    }
    by_timestamp = !time_path_ || (null_value_timestamp && r->value.is_null());
    if (by_timestamp) {
      r->has_time = o["timestamp"].get_int64().get(r->t) == simdjson::SUCCESS;
      if (r->has_time) {
        auto checked = CheckEventTime(r->t, "timestamp");
        if (!checked.ok()) return checked.status();
      }
    }
  } else {
    partition_.clear();
  }
  if (time_path_ && !by_timestamp) {
    simdjson::dom::element e;
    if (!time_path_->Lookup(r->value, &e))
      return Status::BadInput(fmt::format("no event time: '{}' is missing or null", time_path_->text()));
    auto t = EventTimeOf(e, unit_, time_path_->text());
    if (!t.ok()) return t.status();
    r->t = *t;
    r->has_time = true;
  }
  if (!r->has_time && time_required_) return Status::BadInput("the envelope has no timestamp (give --time)");
  return Status::OK();
}

Status ApplyPartitions(simdjson::dom::object control, Watermark* wm, int64_t now_ms, bool* upstream) {
  *upstream = false;
  bool watermarks = false;
  simdjson::dom::element flag;
  if (control["watermarks"].get(flag) == simdjson::SUCCESS &&
      flag.get_bool().get(watermarks) != simdjson::SUCCESS)
    return Status::BadInput("partitions control record: \"watermarks\" is not a boolean");
  std::vector<std::string_view> lists[2];
  const char* keys[2] = {"names", "ended"};
  for (int k = 0; k < 2; k++) {
    simdjson::dom::element e;
    if (control[keys[k]].get(e) != simdjson::SUCCESS) continue;
    simdjson::dom::array list;
    if (e.get_array().get(list) != simdjson::SUCCESS)
      return Status::BadInput(fmt::format("partitions control record: \"{}\" is not an array", keys[k]));
    for (simdjson::dom::element n : list) {
      std::string_view name;
      if (n.get_string().get(name) != simdjson::SUCCESS)
        return Status::BadInput(fmt::format("partitions control record: a name in \"{}\" is not a string", keys[k]));
      lists[k].push_back(name);
    }
  }
  if (watermarks) {
    wm->Upstream();
    *upstream = true;
  }
  for (std::string_view name : lists[0]) wm->Add(std::string(name), now_ms);
  for (std::string_view name : lists[1]) wm->Remove(std::string(name), now_ms);
  return Status::OK();
}

}  // namespace kpipe
