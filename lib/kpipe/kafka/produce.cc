#include "kpipe/kafka/produce.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/cli/progress.h"
#include "kpipe/io/dead_letter.h"
#include "kpipe/json/line.h"
#include "kpipe/io/line_reader.h"
#include "kpipe/json/path.h"
#include "kpipe/json/text.h"
#include "kpipe/kafka/client.h"
#include "kpipe/kafka/envelope.h"
#include "kpipe/kafka/transactions.h"
#include "kpipe/service/monitor.h"
#include "kpipe/io/signals.h"
#include "kpipe/time/event_time.h"
#include "kpipe/time/time.h"

namespace kpipe {

namespace {

// Whether `v` holds a number json::Validator may have read as the nearest
// double (one beyond 64 bits, or past the largest double: a double of at
// least 2^63), in a line where it did: an encoder or a key would not get the
// number written.
bool HoldsRewrittenNumber(simdjson::dom::element v) {
  double d;
  switch (v.type()) {
    case simdjson::dom::element_type::DOUBLE:
      return v.get_double().get(d) == simdjson::SUCCESS && std::fabs(d) >= 0x1p63;
    case simdjson::dom::element_type::ARRAY:
      for (simdjson::dom::element e : simdjson::dom::array(v))
        if (HoldsRewrittenNumber(e)) return true;
      return false;
    case simdjson::dom::element_type::OBJECT:
      for (auto [k, e] : simdjson::dom::object(v))
        if (HoldsRewrittenNumber(e)) return true;
      return false;
    default:
      return false;
  }
}

// Per-message opaque marking dead-letter rows, so that they are not counted
// as produced input messages (their failures still count).
char kDeadLetterTag;

struct Header {
  std::string name, value;
};

class Producer {
 public:
  Producer(const ProduceOptions& opt, SignalWatch* signals,
           const std::function<void(const std::string&)>& diag, ProduceStats* stats)
      : opt_(opt), signals_(signals), diag_(diag), stats_(stats) {}
  ~Producer() {
    if (!opt_.dry_run)
      for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
  }

  Status Run();

 private:
  Status Setup();
  Status ProduceInput(LineReader* in);
  Status HandleLine(std::string_view line, const std::string& source, uint64_t line_no);
  Status Bad(const std::string& reason, std::string_view line, const std::string& source,
             uint64_t line_no);
  Status Send(rd_kafka_topic_t* rkt, int32_t partition, const void* value, size_t value_len,
              const void* key, size_t key_len, int64_t ts, rd_kafka_headers_t* hdrs,
              void* opaque);
  // `copy_value`: the value is not in the reader's buffer (it was encoded):
  // it is copied into value_arena_.
  Status AddToBatch(const void* value, size_t value_len, const void* key, size_t key_len, bool copy_value);
  Status FlushBatch();
  // Commits the open transaction (counted in the stats), then with
  // `begin_next` begins the next.
  Status CommitTransaction(bool begin_next) {
    Status st = txn_->Commit(begin_next);
    stats_->transactions = txn_->committed();
    stats_->aborted = txn_->aborted();
    stats_->aborted_messages = txn_->aborted_messages();
    return st;
  }
  Status Finish(Status st);
  rd_kafka_topic_t* Topic(std::string_view name);
  Status CheckSignal() {
    if (signals_ && signals_->Pending()) return Status::Interrupted(signals_->Pending());
    return Status::OK();
  }
  // Waits until the next message is due under --rate; Interrupted on a
  // signal meanwhile.
  Status Pace();
  // systemd notify and --metrics, from this loop only (service/monitor.h).
  service::Snapshot Snap() const {
    service::Snapshot s;
    s.records_in = stats_->lines;
    s.records_out = stats_->delivered;
    s.records_dead_letter = stats_->dead_lettered;
    s.bytes_in = bytes_before_ + (reading_ ? reading_->offset() : 0);
    s.transactions = txn_.has_value();
    s.transactions_committed = stats_->transactions;
    s.transactions_aborted = stats_->aborted;
    return s;
  }
  void Monitor() {
    if (opt_.monitor && opt_.monitor->Due()) opt_.monitor->Tick(Snap());
  }

  const ProduceOptions& opt_;
  SignalWatch* signals_;
  const std::function<void(const std::string&)>& diag_;
  ProduceStats* stats_;

  ClientEvents events_;
  KafkaHandle rk_;
  std::map<std::string, rd_kafka_topic_t*, std::less<>> topics_;
  rd_kafka_topic_t* main_topic_ = nullptr;
  std::optional<json::FieldPath> key_path_, ts_path_;
  std::vector<Header> headers_;
  json::Validator validator_;
  EnvelopeDecoder envelope_;
  std::unique_ptr<DeadLetterFile> dead_file_;  // a file, or rows to kafka:TOPIC
  std::string key_buf_;
  std::unique_ptr<schema::Encoders> encoders_;  // payloads in a registry's wire format
  std::string value_buf_;
  std::string first_error_;
  uint64_t refused_ = 0;  // messages the client refused before queueing them
  // A produce the client refused at once (nothing was queued): the reason,
  // kept as the first error of the run.
  Status Refused(const std::string& topic, rd_kafka_resp_err_t err) {
    std::string why = err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
                          ? fmt::format("not authorized to write topic '{}' (the broker's ACLs deny it)", topic)
                          : fmt::format("produce to {}: {}", topic, rd_kafka_err2str(err));
    if (first_error_.empty()) first_error_ = why;
    return Status::Kafka(why);
  }
  std::optional<Transactions> txn_;  // with --transactional-id
  std::chrono::steady_clock::time_point start_;
  std::unique_ptr<cli::Progress> progress_;
  uint64_t bytes_before_ = 0;  // bytes of inputs already finished (progress)
  const LineReader* reading_ = nullptr;  // the input being read
  std::string stopped_at_;     // where reading stopped after a delivery failure
  std::deque<std::string> dry_topics_;  // --dry-run: topic names by handle - 1

  // The batch path (rd_kafka_produce_batch) for plain lines without headers
  // or timestamps: one clock read and one queue lock per batch instead of per
  // message. Payloads point into the LineReader's buffer, so the batch is
  // produced before each refill; keys are copied into key_arena_.
  bool batchable_ = false;
  std::vector<rd_kafka_message_t> batch_;
  std::vector<std::pair<size_t, size_t>> batch_keys_;  // offset+1 (0 = null), length
  std::string key_arena_;
  std::vector<size_t> batch_values_;  // offset+1 into value_arena_ (0: the payload as set)
  std::string value_arena_;
  // The default partitioner (murmur2_random) applied here, a batch at a
  // time, when the topic's partition count is known: librdkafka then takes
  // each partition's messages under one lock instead of partitioning them
  // one by one under two (a quarter less time for 1M small lines). 0: let
  // librdkafka partition (another partitioner, or no count).
  int32_t partitions_ = 0;
  std::vector<int32_t> batch_parts_;
  std::vector<size_t> part_starts_, part_next_;  // by partition, into grouped_
  std::vector<rd_kafka_message_t> grouped_;
  std::mt19937 sticky_rng_{std::random_device{}()};
  // Produces `n` messages to `partition` (or RD_KAFKA_PARTITION_UA), waiting
  // for room as needed; `*later` messages after these were not produced yet
  // (counted as failed if these fail).
  Status ProduceRange(int32_t partition, rd_kafka_message_t* msgs, size_t n, size_t later);
};

constexpr size_t kBatchSize = 4096;

rd_kafka_topic_t* Producer::Topic(std::string_view name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second;
  if (opt_.dry_run) {
    // No client: remember the name only; Send() writes it into the envelope.
    dry_topics_.emplace_back(name);
    return reinterpret_cast<rd_kafka_topic_t*>(dry_topics_.size());
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), std::string(name).c_str(), nullptr);
  topics_.emplace(std::string(name), rkt);
  return rkt;
}

Status Producer::Setup() {
  if (!opt_.key_path.empty()) {
    auto p = json::FieldPath::Parse(opt_.key_path);
    if (!p.ok()) return p.status();
    key_path_ = std::move(*p);
  }
  if (!opt_.timestamp_path.empty()) {
    auto p = json::FieldPath::Parse(opt_.timestamp_path);
    if (!p.ok()) return p.status();
    ts_path_ = std::move(*p);
  }
  for (const auto& [name, value] : opt_.headers) headers_.push_back({name, value});

  // Defaults, overridable by config files and -X (kproduce(1), DEFAULTS).
  Properties defaults = {
      {"enable.idempotence", "true"},
      {"partitioner", "murmur2_random"},
      {"message.timeout.ms", "30000"},
      // Fewer, fuller produce requests: a third less CPU than librdkafka's
      // defaults for the same input (bench/kafka_bench.sh), and a live line
      // still leaves within 20 ms.
      {"linger.ms", "20"},
      {"batch.num.messages", "100000"},
      {"queue.buffering.max.messages", "50000"},
  };
  Properties flags;  // what kproduce's own flags set: over config files, under -X
  if (!opt_.compression.empty()) flags.emplace_back("compression.codec", opt_.compression);
  if (!opt_.acks.empty()) {
    flags.emplace_back("acks", opt_.acks);
    // The idempotent producer needs acks=all.
    if (opt_.acks != "all" && opt_.acks != "-1") flags.emplace_back("enable.idempotence", "false");
  }
  if (!opt_.transactional_id.empty()) {
    defaults.emplace_back("transaction.timeout.ms", std::to_string(Transactions::kTimeoutMs));
    flags.emplace_back("transactional.id", opt_.transactional_id);
  }
  auto props = ResolveProperties(opt_.kafka, defaults, flags);
  if (!props.ok()) return props.status();
  auto registry = ResolveRegistry(opt_.kafka);
  if (!registry.ok()) return registry.status();
  const schema::EncodeOptions* value_format = opt_.value_format ? &*opt_.value_format : nullptr;
  const schema::EncodeOptions* key_format = opt_.key_format ? &*opt_.key_format : nullptr;
  auto encoders = schema::Encoders::Open(std::move(*registry), value_format, key_format);
  if (!encoders.ok()) return encoders.status();
  encoders_ = std::move(*encoders);
  if (opt_.kafka.verbose) {
    diag_("client configuration:\n" + DescribeProperties(*props));
    events_.log = [this](int level, const char* fac, const char* msg) {
      diag_(fmt::format("librdkafka {} {}: {}", level, fac, msg));
    };
  }
  events_.delivery = [this](const rd_kafka_message_t* m) {
    bool dead = m->_private == &kDeadLetterTag;
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
      // Purged by an abort_transaction that Finish() reports.
    } else if (m->err) {
      stats_->failed++;
      if (first_error_.empty())
        first_error_ = m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED && m->rkt
                           ? fmt::format("not authorized to write topic '{}' (the broker's ACLs deny it)",
                                         rd_kafka_topic_name(m->rkt))
                           : rd_kafka_err2str(m->err);
    } else if (!dead) {
      stats_->delivered++;
    }
  };
  auto conf = MakeConf(*props, &events_);
  if (!conf.ok()) return conf.status();
  if (!opt_.dry_run) {
    auto rk = CreateClient(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!rk.ok()) return rk.status();
    rk_ = std::move(*rk);
    KPIPE_RETURN_IF_ERROR(
        WaitForBrokers(rk_.get(), &events_, PropertyValue(*props, "bootstrap.servers"), opt_.connect_timeout_ms));
  }

  if (!opt_.topic.empty()) main_topic_ = Topic(opt_.topic);
  if (!opt_.dead_letter.empty()) {
    if (opt_.dead_letter.rfind("kafka:", 0) == 0) {
      std::string t = opt_.dead_letter.substr(6);
      // Each row one message (tagged: not counted as input produced),
      // through the same rows as a file gets.
      rd_kafka_topic_t* rkt = Topic(t);
      dead_file_ = DeadLetterFile::Open(
          [this, rkt](std::string_view block) {
            return json::ForEachLine(block, [&](std::string_view row) {
              return Send(rkt, RD_KAFKA_PARTITION_UA, row.data(), row.size(), nullptr, 0, 0, nullptr,
                          &kDeadLetterTag);
            });
          },
          opt_.dead_letter);
    } else {
      auto f = DeadLetterFile::Open(opt_.dead_letter);
      if (!f.ok()) return f.status();
      dead_file_ = std::move(*f);
    }
  }
  batchable_ = !opt_.dry_run && !opt_.envelope && headers_.empty() && !ts_path_ &&
               opt_.rate == 0 && opt_.txn_every == 0;
  if (batchable_) batch_.reserve(kBatchSize);
  if (batchable_ && opt_.partition < 0 && PropertyValue(*props, "partitioner") == "murmur2_random") {
    // A topic not there yet (created on first use) is left to librdkafka.
    auto ids = TopicPartitions(rk_.get(), opt_.topic, opt_.connect_timeout_ms);
    if (ids.ok() && !ids->empty() && static_cast<size_t>(ids->back()) + 1 == ids->size())
      partitions_ = static_cast<int32_t>(ids->size());
  }
  if (!opt_.transactional_id.empty()) {
    txn_.emplace(rk_.get(), opt_.transactional_id);
    KPIPE_RETURN_IF_ERROR(txn_->Init());
  }
  return Status::OK();
}



// A message timestamp kproduce can hand to librdkafka as it is
// (kproduce(1), TIMESTAMPS).
Status CheckProducible(int64_t t) {
  if (t == 0)
    return Status::BadInput(
        "timestamp 0 (1970-01-01T00:00:00Z) cannot be produced: librdkafka takes 0 for the current time");
  if (t < 0)
    return Status::BadInput(fmt::format(
        "timestamp {} is before 1970: Kafka has no such message timestamp (-1 is its \"none\")", t));
  return CheckEventTime(t, "timestamp").status();
}

Status Producer::Send(rd_kafka_topic_t* rkt, int32_t partition, const void* value,
                      size_t value_len, const void* key, size_t key_len, int64_t ts,
                      rd_kafka_headers_t* hdrs, void* opaque) {
  if (opt_.dry_run) {
    EnvelopeFields f;
    f.topic = dry_topics_[reinterpret_cast<uintptr_t>(rkt) - 1];
    f.partition = partition;
    if (ts) {
      f.timestamp = ts;
      f.timestamp_type = "create";
    }
    f.key = key;
    f.key_len = key_len;
    f.headers = hdrs;
    f.value = value;
    f.value_len = value_len;
    AppendEnvelope(opt_.dry_run_out->buffer(), f, &validator_);
    opt_.dry_run_out->buffer()->push_back('\n');
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    if (opaque != &kDeadLetterTag) stats_->delivered++;
    return opt_.dry_run_out->Commit();
  }
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<void*>(value), value_len),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::OK();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk_.get(), 50);
      KPIPE_RETURN_IF_ERROR(CheckSignal());
      continue;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    stats_->failed++;  // refused before it was queued: it counts as failed
    refused_++;
    return Refused(rd_kafka_topic_name(rkt), err);
  }
}

Status Producer::Bad(const std::string& reason, std::string_view line, const std::string& source,
                     uint64_t line_no) {
  if (dead_file_) {
    Status st = dead_file_->Write(reason, source, line_no, line);
    if (st.ok()) stats_->dead_lettered++;  // (not when it could not be kept)
    return st;
  }
  return Status::BadInput(fmt::format("{}:{}: {}", source, line_no, reason));
}

Status Producer::HandleLine(std::string_view line, const std::string& source, uint64_t line_no) {
  stats_->lines++;
  rd_kafka_topic_t* rkt = main_topic_;
  int32_t partition = opt_.partition >= 0 ? static_cast<int32_t>(opt_.partition)
                                          : RD_KAFKA_PARTITION_UA;
  int64_t ts = 0;
  const void* value = line.data();
  size_t value_len = line.size();
  const void* key = nullptr;
  size_t key_len = 0;
  rd_kafka_headers_t* hdrs = nullptr;

  // Encodes `v` by a schema (by `id` when >= 0, else by the format asked
  // for) and points `*data`, `*len` at it. False when it cannot: `bad` is
  // then what the line comes to (bad input, OK once dead-lettered).
  Status bad;
  // `text`: `v`'s JSON text, when known (a JSON Schema payload keeps its
  // numbers' digits).
  auto encode = [&](bool is_key, simdjson::dom::element v, int32_t id, const void** data, size_t* len,
                    std::string_view text = {}) {
    // Encoders take numbers as the parse holds them: one read as the
    // nearest double would not be the one written.
    if (validator_.rewrote() && HoldsRewrittenNumber(v)) {
      bad = Bad("a number beyond 64 bits or past the largest double cannot be encoded by a schema exactly "
                "(give it as a string)",
                line, source, line_no);
      return false;
    }
    std::string* buf = is_key ? &key_buf_ : &value_buf_;
    bad = is_key ? encoders_->Key(v, id, buf, text) : encoders_->Value(v, id, buf, text);
    if (!bad.ok()) {
      if (bad.Is(Status::Code::kBadInput)) bad = Bad(bad.message(), line, source, line_no);
      return false;
    }
    *data = buf->data();
    *len = buf->size();
    return true;
  };
  if (!opt_.raw) {
    simdjson::dom::element doc;
    auto err = validator_.Parse(line, &doc, /*padded=*/true);
    if (err) {
      return Bad(json::BadLineReason(line, err), line, source, line_no);
    }
    // Control records (kpipe(7)) from an upstream kpipe tool are not data.
    simdjson::dom::object obj;
    if (json::IsControl(doc, &obj)) {
      stats_->lines--;
      stats_->control++;
      return Status::OK();
    }
    if (opt_.validate && (!opt_.envelope || doc.is_object())) {
      // With --envelope the message value is what must fit; a null or
      // absent one (a tombstone) has nothing to check.
      simdjson::dom::element value = doc;
      std::string why;
      bool check = !opt_.envelope || (doc["value"].get(value) == simdjson::SUCCESS && !value.is_null());
      if (check && !opt_.validate->Fits(value, &why)) return Bad(why, line, source, line_no);
    }
    if (opt_.envelope) {
      EnvelopeMessage m;
      if (!doc.is_object())
        return Bad("envelope: expected a JSON object", line, source, line_no);
      Status st = envelope_.Decode(line, &m);
      if (!st.ok()) return Bad(st.message(), line, source, line_no);
      if (opt_.keep_topic && m.topic) rkt = Topic(*m.topic);
      if (!rkt) return Bad("envelope: no topic and no -t", line, source, line_no);
      if (m.partition) partition = *m.partition;
      if (m.timestamp) {
        Status ok = CheckProducible(*m.timestamp);
        if (!ok.ok()) return Bad(ok.message(), line, source, line_no);
        ts = *m.timestamp;
      }
      if (m.value) {
        value = m.value->data();
        value_len = m.value->size();
      } else {
        value = nullptr;
        value_len = 0;
      }
      if (m.key) {
        key = m.key->data();
        key_len = m.key->size();
      }
      // Values and keys to encode: by the schema id the line carries, or by
      // the formats asked for; JSON ones only (not marked "string" or
      // "base64"), a null stays null.
      for (bool is_key : {false, true}) {
        bool present = is_key ? m.key.has_value() : m.value.has_value();
        int32_t id = is_key ? m.key_schema_id : m.value_schema_id;
        if (!present || (id < 0 && !(is_key ? encoders_->key() : encoders_->value()))) continue;
        simdjson::dom::element e;
        const char* what = is_key ? "key" : "value";
        if (doc[what].get(e) != simdjson::SUCCESS || e.is_null() || !doc[is_key ? "key_encoding" : "value_encoding"].error())
          return Bad(fmt::format("envelope: a {} to encode by a schema must be JSON", what), line, source, line_no);
        // (The envelope holds the value's JSON text as it is: its bytes.)
        std::string_view text = is_key ? *m.key : *m.value;
        if (!(is_key ? encode(true, e, id, &key, &key_len, text) : encode(false, e, id, &value, &value_len, text)))
          return bad;
      }
      if (!m.headers.empty() || !headers_.empty()) {
        hdrs = rd_kafka_headers_new(m.headers.size() + headers_.size());
        for (const auto& h : m.headers)
          rd_kafka_header_add(hdrs, h.name.data(), h.name.size(),
                              h.value ? h.value->data() : nullptr, h.value ? h.value->size() : 0);
      }
    } else {
      simdjson::dom::element f;
      if (encoders_->value() && !encode(false, doc, -1, &value, &value_len, line)) return bad;
      if (key_path_ && key_path_->Lookup(doc, &f)) {
        std::string_view s;
        // A number read as the nearest double: keys of other numbers would
        // be the same.
        if (validator_.rewrote() && HoldsRewrittenNumber(f))
          return Bad(fmt::format("the key field '{}' holds a number beyond 64 bits, which kproduce cannot key on "
                                 "exactly (give it as a string)",
                                 key_path_->text()),
                     line, source, line_no);
        if (encoders_->key()) {
          if (!encode(true, f, -1, &key, &key_len)) return bad;
        } else if (f.get_string().get(s) == simdjson::SUCCESS) {
          key = s.data();
          key_len = s.size();
        } else {
          // As kagg, kwindow and kjoin write the value in a group or join
          // key (1e2 and 100.0 as 100): their members check the key by it.
          key_buf_.clear();
          json::AppendCompact(&key_buf_, f);
          key = key_buf_.data();
          key_len = key_buf_.size();
        }
      }
      if (ts_path_) {
        if (!ts_path_->Lookup(doc, &f))
          return Bad(fmt::format("missing timestamp field '{}'", ts_path_->text()), line, source,
                     line_no);
        // The parser of event times (time/event_time): epoch ms, fractions
        // rounded down, RFC 3339 with real dates, the range checked.
        auto t = EventTimeOf(f, TimeUnit::kMillis, ts_path_->text());
        if (!t.ok()) {
          // Its messages say "event time 'PATH'": here the field is --timestamp's.
          std::string why = t.status().message();
          if (why.rfind("event time ", 0) == 0) why.replace(0, 11, "timestamp ");
          return Bad(why, line, source, line_no);
        }
        Status ok = CheckProducible(*t);
        if (!ok.ok()) return Bad(ok.message(), line, source, line_no);
        ts = *t;
      }
    }
  }
  if (!headers_.empty()) {
    if (!hdrs) hdrs = rd_kafka_headers_new(headers_.size());
    for (const Header& h : headers_)
      rd_kafka_header_add(hdrs, h.name.data(), h.name.size(), h.value.data(), h.value.size());
  }
  if (batchable_) return AddToBatch(value, value_len, key, key_len, encoders_->value());
  KPIPE_RETURN_IF_ERROR(Send(rkt, partition, value, value_len, key, key_len, ts, hdrs, nullptr));
  stats_->produced++;
  if (txn_) {
    txn_->Produced(1);
    if (opt_.txn_every > 0 && txn_->open_messages() >= static_cast<uint64_t>(opt_.txn_every))
      KPIPE_RETURN_IF_ERROR(CommitTransaction(/*begin_next=*/true));
  }
  return Status::OK();
}

Status Producer::AddToBatch(const void* value, size_t value_len, const void* key,
                            size_t key_len, bool copy_value) {
  rd_kafka_message_t m{};
  m.payload = const_cast<void*>(value);
  m.len = value_len;
  if (copy_value) {
    batch_values_.push_back(value_arena_.size() + 1);
    value_arena_.append(static_cast<const char*>(value), value_len);
  } else {
    batch_values_.push_back(0);
  }
  if (key) {
    batch_keys_.emplace_back(key_arena_.size() + 1, key_len);
    key_arena_.append(static_cast<const char*>(key), key_len);
  } else {
    batch_keys_.emplace_back(0, 0);
  }
  batch_.push_back(m);
  return batch_.size() >= kBatchSize ? FlushBatch() : Status::OK();
}

Status Producer::FlushBatch() {
  if (batch_.empty()) return Status::OK();
  for (size_t i = 0; i < batch_.size(); i++) {
    auto [off, len] = batch_keys_[i];
    batch_[i].key = off ? key_arena_.data() + off - 1 : nullptr;
    batch_[i].key_len = len;
    if (batch_values_[i]) batch_[i].payload = value_arena_.data() + batch_values_[i] - 1;
  }
  Status st;
  if (partitions_ > 0) {
    // murmur2_random: a key's partition is murmur2(key) % count, as the
    // Java client's; messages without a key stay on one partition for the
    // batch, picked at random (librdkafka's sticky partitioning does the
    // same for up to sticky.partitioning.linger.ms). Each partition's
    // messages keep their order.
    int32_t sticky = static_cast<int32_t>(sticky_rng_() % static_cast<uint32_t>(partitions_));
    batch_parts_.resize(batch_.size());
    std::vector<size_t>& count = part_starts_;
    count.assign(partitions_ + 1, 0);
    for (size_t i = 0; i < batch_.size(); i++) {
      const rd_kafka_message_t& m = batch_[i];
      int32_t p = m.key ? rd_kafka_msg_partitioner_murmur2(main_topic_, m.key, m.key_len, partitions_, nullptr,
                                                           nullptr)
                        : sticky;
      batch_parts_[i] = p;
      count[p + 1]++;
    }
    for (int32_t p = 0; p < partitions_; p++) count[p + 1] += count[p];
    grouped_.resize(batch_.size());
    std::vector<size_t>& at = part_next_;
    at.assign(count.begin(), count.end() - 1);
    for (size_t i = 0; i < batch_.size(); i++) grouped_[at[batch_parts_[i]]++] = batch_[i];
    for (int32_t p = 0; p < partitions_ && st.ok(); p++) {
      size_t n = count[p + 1] - count[p];
      if (n > 0) st = ProduceRange(p, &grouped_[count[p]], n, batch_.size() - count[p + 1]);
    }
  } else {
    int32_t partition = opt_.partition >= 0 ? static_cast<int32_t>(opt_.partition) : RD_KAFKA_PARTITION_UA;
    st = ProduceRange(partition, batch_.data(), batch_.size(), 0);
  }
  batch_.clear();
  batch_keys_.clear();
  key_arena_.clear();
  batch_values_.clear();
  value_arena_.clear();
  return st;
}

Status Producer::ProduceRange(int32_t partition, rd_kafka_message_t* msgs, size_t n, size_t later) {
  size_t start = 0;
  while (start < n) {
    for (size_t i = start; i < n; i++) msgs[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_produce_batch(main_topic_, partition, RD_KAFKA_MSG_F_COPY, &msgs[start], static_cast<int>(n - start));
    size_t i = start;
    while (i < n && !msgs[i].err) i++;
    stats_->produced += i - start;
    if (txn_) txn_->Produced(i - start);
    if (i == n) return Status::OK();
    // A full local queue fails the rest of the batch (nothing frees room
    // until delivery reports are served here), so retrying the failed
    // suffix keeps the input order.
    if (msgs[i].err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Refused one by one (a message too large, say): those after it that
      // got no error were queued all the same, and are delivered. Those of
      // the partitions after this one (`later`) are never produced.
      size_t queued = 0;
      for (size_t j = i + 1; j < n; j++) queued += msgs[j].err == RD_KAFKA_RESP_ERR_NO_ERROR;
      stats_->produced += queued;
      if (txn_) txn_->Produced(queued);
      size_t refused = n - i - queued + later;
      stats_->failed += refused;
      refused_ += refused;
      return Refused(opt_.topic, msgs[i].err);
    }
    for (size_t j = i; j < n; j++)
      if (!msgs[j].err) return Status::Internal("produce batch: out-of-order enqueue after a full queue");
    rd_kafka_poll(rk_.get(), 10);
    KPIPE_RETURN_IF_ERROR(CheckSignal());
    start = i;
  }
  return Status::OK();
}

Status Producer::Pace() {
  if (opt_.rate <= 0) return Status::OK();
  auto due = start_ + std::chrono::microseconds(stats_->produced * 1'000'000 / opt_.rate);
  // rd_kafka_poll returns at the first event it serves (a delivery report):
  // wait on until the message is due.
  // A signal ends the wait within 100 ms.
  for (auto now = std::chrono::steady_clock::now(); now < due; now = std::chrono::steady_clock::now()) {
    KPIPE_RETURN_IF_ERROR(CheckSignal());
    auto ms = std::min<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count(), 100);
    if (ms > 0 && rk_) rd_kafka_poll(rk_.get(), static_cast<int>(ms));
    else std::this_thread::sleep_until(std::min(due, now + std::chrono::milliseconds(100)));
  }
  return Status::OK();
}

Status Producer::ProduceInput(LineReader* in) {
  std::string_view line;
  uint64_t n = 0;
  if (batchable_) in->set_before_refill([this] { return FlushBatch(); });
  while (in->Next(&line)) {
    Status hs = HandleLine(line, in->name(), in->line_number());
    if (!hs.ok()) {
      // Everything before the bad line goes out first (kpipe(7), BAD INPUT).
      Status fs = FlushBatch();
      return fs.ok() ? hs : fs;
    }
    if ((++n & 1023) == 0 && rk_) {
      Monitor();
      rd_kafka_poll(rk_.get(), 0);
      KPIPE_RETURN_IF_ERROR(CheckSignal());
      if (stats_->failed) {
        stopped_at_ = fmt::format("{}:{}", in->name(), in->line_number());
        return FlushBatch();
      }
    }
    if (progress_) progress_->Update(bytes_before_ + in->offset(), stats_->lines);
    KPIPE_RETURN_IF_ERROR(Pace());
  }
  Status fs = FlushBatch();
  return in->status().ok() ? fs : in->status();
}

Status Producer::Run() {
  Status st = Setup();
  if (!st.ok()) return st;
  start_ = std::chrono::steady_clock::now();
  std::vector<std::string> inputs = opt_.files.empty() ? std::vector<std::string>{"-"} : opt_.files;
  uint64_t total = 0;
  bool all_regular = true;
  for (const std::string& f : inputs) {
    struct stat sb;
    if (f != "-" ? ::stat(f.c_str(), &sb) != 0 : ::fstat(0, &sb) != 0) {
      all_regular = false;
      continue;
    }
    if (!S_ISREG(sb.st_mode)) all_regular = false;
    total += sb.st_size;
  }
  if (opt_.progress && all_regular) progress_ = std::make_unique<cli::Progress>("kproduce", total, true);
  if (opt_.monitor) KPIPE_RETURN_IF_ERROR(opt_.monitor->Ready(Snap()));

  for (const std::string& f : inputs) {
    auto fd = OpenInput(f);
    if (!fd.ok()) {
      st = fd.status();
      break;
    }
    LineReader in(*fd, f == "-" ? "stdin" : f);
    reading_ = &in;
    in.set_signal_watch(signals_);
    if (opt_.monitor && opt_.monitor->period_ms() > 0)
      in.set_tick(opt_.monitor->period_ms(), [this] {
        if (rk_) rd_kafka_poll(rk_.get(), 0);
        Monitor();
        return Status::OK();
      });
    in.set_idle_callback([this]() -> Status {
      Monitor();
      if (rk_) rd_kafka_poll(rk_.get(), 0);
      if (opt_.dry_run) KPIPE_RETURN_IF_ERROR(opt_.dry_run_out->Flush());
      return dead_file_ ? dead_file_->Flush() : Status::OK();
    });
    st = ProduceInput(&in);
    bytes_before_ += in.offset();
    reading_ = nullptr;
    if (*fd > 0) ::close(*fd);
    if (!st.ok() || !stopped_at_.empty()) break;
  }
  if (progress_) progress_->Clear();
  if (opt_.monitor) opt_.monitor->Stopping();
  st = Finish(std::move(st));
  if (opt_.monitor) st = opt_.monitor->Finish(Snap(), std::move(st));
  return st;
}

// Ends the run: commits or aborts the open transaction, waits for every
// delivery report, and decides the final status. A delivery failure outranks
// the reason the input stopped, since it means records were lost.
Status Producer::Finish(Status st) {
  if (dead_file_) {
    Status ds = dead_file_->Flush();
    if (st.ok() && !ds.ok()) st = ds;
  }
  if (opt_.dry_run) {
    Status ds = opt_.dry_run_out->Flush();
    return st.ok() ? ds : st;
  }
  if (txn_) {
    if (st.ok()) {
      st = CommitTransaction(/*begin_next=*/false);
    } else {
      uint64_t open = txn_->open_messages();
      txn_->LetThrough(5'000);
      Status as = txn_->Abort();
      stats_->aborted = txn_->aborted();
      stats_->aborted_messages = txn_->aborted_messages();
      if (!as.ok()) diag_(as.message());
      else if (open)
        diag_(fmt::format("warning: the open transaction ({} message{}) was aborted", open, open == 1 ? "" : "s"));
    }
  }
  // Wait for every outstanding delivery report; each message either gets
  // acknowledged or fails after message.timeout.ms, so this ends.
  while (rd_kafka_outq_len(rk_.get()) > 0) rd_kafka_flush(rk_.get(), 1000);
  rd_kafka_poll(rk_.get(), 0);
  if (stats_->failed) {
    // Dead letters are messages only when they go to a topic.
    uint64_t dead_messages = opt_.dead_letter.rfind("kafka:", 0) == 0 ? stats_->dead_lettered : 0;
    std::string msg = fmt::format("{} of {} messages were not delivered ({})", stats_->failed,
                                  stats_->produced + dead_messages + refused_, first_error_);
    if (!stopped_at_.empty()) msg += fmt::format("; stopped reading input at {}", stopped_at_);
    if (!st.ok() && !st.Is(Status::Code::kInterrupted) && st.message() != first_error_)
      diag_("error: " + st.message());
    return Status::Kafka(msg);
  }
  return st;
}

}  // namespace

Status RunProduce(const ProduceOptions& opt, SignalWatch* signals,
                  const std::function<void(const std::string&)>& diag, ProduceStats* stats) {
  if (opt.check_only) {
    auto registry = ResolveRegistry(opt.kafka);
    if (!registry.ok()) return registry.status();
    return schema::Encoders::CheckOnly(std::move(*registry), opt.value_format ? &*opt.value_format : nullptr,
                                       opt.key_format ? &*opt.key_format : nullptr);
  }
  Producer p(opt, signals, diag, stats);
  return p.Run();
}

}  // namespace kpipe
