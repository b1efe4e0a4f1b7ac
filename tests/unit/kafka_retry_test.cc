// QueryWatermarks and OffsetsForTimes (kpipe/kafka/client.h) against
// librdkafka's mock cluster: errors that a leader election or a broker still
// loading its logs give for a while are asked past; others end the call at
// once; errors that do not pass end it when its time is spent.
//
// Found on the test broker: right after a restart, `kconsume -L` (and any
// `--until end`, `-e` or `--from`) failed on its first partition with "Not
// leader for partition" for about a second.
#include <chrono>
#include <string>

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kpipe/kafka/client.h"
#include "mock_kafka.h"

using namespace kpipe;
using kpipe::test::NewClient;
using kpipe::test::Served;

namespace {

constexpr int16_t kListOffsets = 2;  // the Kafka protocol's ApiKey
const char* const kTopic = "retry";

// One broker with the topic, three records in it (watermarks 0 and 3), and
// a client of it.
class OneBroker : public kpipe::test::MockKafka {
 public:
  OneBroker() : MockKafka(1) {
    Served(bootstraps(), [&] { REQUIRE(rd_kafka_mock_topic_create(get(), kTopic, 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR); });
    client_ = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstraps()}});
    for (int i = 0; i < 3; i++)
      REQUIRE(rd_kafka_producev(client_.get(), RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_PARTITION(0),
                                RD_KAFKA_V_VALUE(const_cast<char*>("{}"), 2), RD_KAFKA_V_END) ==
              RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(rd_kafka_flush(client_.get(), 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  rd_kafka_t* client() const { return client_.get(); }
  // The next `n` ListOffsets requests to the broker answer `err`.
  void Fail(int n, rd_kafka_resp_err_t err) {
    Served(bootstraps(), [&] {
      for (int i = 0; i < n; i++)
        REQUIRE(rd_kafka_mock_broker_push_request_error_rtts(get(), 1, kListOffsets, 1, err, 0) ==
                RD_KAFKA_RESP_ERR_NO_ERROR);
    });
  }
  size_t Pending() const {
    return Served(bootstraps(), [&] { return MockKafka::Pending(1, kListOffsets); });
  }

 private:
  KafkaHandle client_;  // destroyed before the cluster
};

double SecondsOf(auto f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("QueryWatermarks asks again while the leader is not there yet", "[kafka]") {
  OneBroker b;
  // The first question of all meeting "not leader": librdkafka 2.0.2's
  // rd_kafka_query_watermark_offsets answered it without error and with
  // low = high = 3 here.
  b.Fail(1, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  auto w = QueryWatermarks(b.client(), kTopic, 0, 10000);
  REQUIRE(w.ok());
  CHECK(w->low == 0);
  CHECK(w->high == 3);
  CHECK(b.Pending() == 0);

  // The low and the high watermark are one ListOffsets request each; the
  // one that fails is asked again.
  for (rd_kafka_resp_err_t err : {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                                  RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH}) {
    INFO(rd_kafka_err2name(err));
    b.Fail(3, err);
    w = QueryWatermarks(b.client(), kTopic, 0, 10000);
    REQUIRE(w.ok());
    CHECK(w->low == 0);
    CHECK(w->high == 3);
    CHECK(b.Pending() == 0);
  }
}

TEST_CASE("QueryWatermarks ends at once on an error that does not pass", "[kafka]") {
  OneBroker b;
  b.Fail(1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  Result<Watermarks> w = Watermarks{};
  double took = SecondsOf([&] { w = QueryWatermarks(b.client(), kTopic, 0, 10000); });
  REQUIRE(!w.ok());
  CHECK(w.status().message().find("query offsets of retry/0") != std::string::npos);
  CHECK(w.status().message().find("authorization") != std::string::npos);
  CHECK(took < 5.0);
}

TEST_CASE("QueryWatermarks gives up when its time is spent", "[kafka]") {
  OneBroker b;
  b.Fail(200, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  Result<Watermarks> w = Watermarks{};
  double took = SecondsOf([&] { w = QueryWatermarks(b.client(), kTopic, 0, 800); });
  REQUIRE(!w.ok());
  CHECK(w.status().message().find("Not leader for partition") != std::string::npos);
  CHECK(took >= 0.7);
  CHECK(took < 8.0);
  // It asked more than once.
  CHECK(b.Pending() < 199);
}

TEST_CASE("OffsetsForTimes asks again with the times it was given", "[kafka]") {
  OneBroker b;
  b.Fail(2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  // The mock knows no record times, only the two special ones: -2 asks for
  // the first offset (0), and it must be asked again each time, not the
  // answer of a failed call.
  rd_kafka_topic_partition_list_add(list, kTopic, 0)->offset = -2;
  rd_kafka_resp_err_t e = OffsetsForTimes(b.client(), list, 10000);
  CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK(list->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK(list->elems[0].offset == 0);
  CHECK(b.Pending() == 0);
  rd_kafka_topic_partition_list_destroy(list);
}
