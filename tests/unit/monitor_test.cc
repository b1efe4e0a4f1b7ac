#include "kpipe/service/monitor.h"

#include <catch2/catch.hpp>

using kpipe::service::FormatMetrics;
using kpipe::service::ParseLabel;
using kpipe::service::Snapshot;
using kpipe::service::StatusLine;

TEST_CASE("metrics: counters always, gauges only where the tool has them") {
  Snapshot s;
  s.records_in = 10;
  s.records_out = 4;
  s.bytes_in = 321;
  std::string text = FormatMetrics(s, "kagg", {}, 1'700'000'000'000, 1'700'000'001'000);
  CHECK(text.find("# HELP kpipe_records_in_total ") != std::string::npos);
  CHECK(text.find("# TYPE kpipe_records_in_total counter\nkpipe_records_in_total{tool=\"kagg\"} 10\n") !=
        std::string::npos);
  CHECK(text.find("kpipe_records_out_total{tool=\"kagg\"} 4\n") != std::string::npos);
  CHECK(text.find("kpipe_bytes_in_total{tool=\"kagg\"} 321\n") != std::string::npos);
  CHECK(text.find("kpipe_records_late_total{tool=\"kagg\"} 0\n") != std::string::npos);
  CHECK(text.find("kpipe_records_dead_letter_total{tool=\"kagg\"} 0\n") != std::string::npos);
  CHECK(text.find("kpipe_start_time_seconds{tool=\"kagg\"} 1700000000\n") != std::string::npos);
  // No watermark, no Kafka input, no state, no transactions: none of theirs.
  CHECK(text.find("watermark") == std::string::npos);
  CHECK(text.find("consumer_lag") == std::string::npos);
  CHECK(text.find("checkpoint") == std::string::npos);
  CHECK(text.find("transactions") == std::string::npos);
}

TEST_CASE("metrics: lags, checkpoints, transactions and labels") {
  Snapshot s;
  s.watermark_ms = 1'000'000;
  s.kafka_input = true;
  s.lag = {{"clicks", 0, 12}, {"clicks", 3, 0}};
  s.checkpoints = true;
  s.checkpoint_seconds = 0.25;
  s.checkpoint_at_ms = 1'003'000;
  s.transactions = true;
  s.transactions_committed = 7;
  s.transactions_aborted = 1;
  std::string text = FormatMetrics(s, "kwindow", {{"pipeline", "a\"b\\c\nd"}}, 0, 1'004'500);
  const std::string l = "tool=\"kwindow\",pipeline=\"a\\\"b\\\\c\\nd\"";
  CHECK(text.find("kpipe_watermark_lag_seconds{" + l + "} 4.5\n") != std::string::npos);
  CHECK(text.find("# TYPE kpipe_consumer_lag_records gauge\n") != std::string::npos);
  CHECK(text.find("kpipe_consumer_lag_records{" + l + ",topic=\"clicks\",partition=\"0\"} 12\n") !=
        std::string::npos);
  CHECK(text.find("kpipe_consumer_lag_records{" + l + ",topic=\"clicks\",partition=\"3\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("kpipe_checkpoint_duration_seconds{" + l + "} 0.25\n") != std::string::npos);
  CHECK(text.find("kpipe_checkpoint_age_seconds{" + l + "} 1.5\n") != std::string::npos);
  CHECK(text.find("kpipe_transactions_total{" + l + ",result=\"committed\"} 7\n") != std::string::npos);
  CHECK(text.find("kpipe_transactions_total{" + l + ",result=\"aborted\"} 1\n") != std::string::npos);
  // One # HELP and # TYPE per metric, before its samples.
  size_t help = text.find("# HELP kpipe_consumer_lag_records");
  CHECK(text.find("# HELP kpipe_consumer_lag_records", help + 1) == std::string::npos);
  CHECK(help < text.find("kpipe_consumer_lag_records{"));
}

TEST_CASE("status line") {
  Snapshot s;
  s.records_in = 1500;
  s.records_out = 20;
  CHECK(StatusLine(s, 250.4, 0) == "1500 in (250/s), 20 out");
  s.kafka_input = true;  // no partition known yet
  CHECK(StatusLine(s, 0, 0) == "1500 in (0/s), 20 out, lag unknown");
  s.records_late = 2;
  s.records_dead_letter = 1;
  s.lag = {{"t", 0, 5}, {"t", 1, 7}};
  s.watermark_ms = 10'000;
  CHECK(StatusLine(s, 0, 12'500) == "1500 in (0/s), 20 out, 2 late, 1 dead-lettered, lag 12, watermark 2.5s behind");
}

TEST_CASE("--metrics-label") {
  auto ok = ParseLabel("pipeline=clicks=per=user");
  REQUIRE(ok.ok());
  CHECK(ok->first == "pipeline");
  CHECK(ok->second == "clicks=per=user");
  CHECK(ParseLabel("env=").ok());
  CHECK_FALSE(ParseLabel("noequals").ok());
  CHECK_FALSE(ParseLabel("=x").ok());
  CHECK_FALSE(ParseLabel("9lives=x").ok());
  CHECK_FALSE(ParseLabel("a-b=x").ok());
  CHECK_FALSE(ParseLabel("__name__=x").ok());
  CHECK_FALSE(ParseLabel("tool=x").ok());
  CHECK_FALSE(ParseLabel("partition=x").ok());
}

TEST_CASE("metrics and status of a group member: owned partitions, restores, rewinds") {
  Snapshot s;
  s.kafka_input = true;
  s.lag = {{"clicks", 2, 5}, {"clicks", 7, 0}};
  s.member = true;
  s.restores = {{"clicks", 2, 1200, 0.5}, {"clicks", 7, 0, 0.5}};
  s.rewinds = 3;
  std::string text = FormatMetrics(s, "kagg", {}, 0, 0);
  CHECK(text.find("kpipe_member_partitions{tool=\"kagg\"} 2\n") != std::string::npos);
  CHECK(text.find("kpipe_member_rewinds_total{tool=\"kagg\"} 3\n") != std::string::npos);
  CHECK(text.find("kpipe_restore_entries{tool=\"kagg\",topic=\"clicks\",partition=\"2\"} 1200\n") != std::string::npos);
  CHECK(text.find("kpipe_restore_seconds{tool=\"kagg\",topic=\"clicks\",partition=\"7\"} 0.5\n") != std::string::npos);
  CHECK(text.find("kpipe_restore_records_read{tool=\"kagg\"} 0\n") != std::string::npos);
  CHECK(StatusLine(s, 0, 0) == "0 in (0/s), 0 out, lag 5, 2 partitions owned");
  s.restoring_partitions = 3;
  s.restoring_read = 4000;
  CHECK(StatusLine(s, 0, 0) ==
        "restoring 3 partitions: 4000 changelog records read; 0 in (0/s), 0 out, lag 5, 2 partitions owned");
  Snapshot plain;
  CHECK(FormatMetrics(plain, "kagg", {}, 0, 0).find("member") == std::string::npos);
}
