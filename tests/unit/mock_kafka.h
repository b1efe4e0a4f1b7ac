// What the tests that run librdkafka's mock cluster share: a client made
// from properties, and a way to have the mock's thread serve a request.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kpipe/kafka/client.h"

namespace kpipe::test {

using Props = std::vector<std::pair<std::string, std::string>>;

inline KafkaHandle NewClient(rd_kafka_type_t type, const Props& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // Errors only: a broker set down on purpose is no news.
  REQUIRE(rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) == RD_KAFKA_CONF_OK);
  for (const auto& [k, v] : props)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      FAIL(k << ": " << err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) FAIL("rd_kafka_new: " << err);
  return KafkaHandle(rk);
}

// librdkafka 2.0.2's mock cluster thread serves the requests made through
// rd_kafka_mock_*() (topics, coordinators, brokers up and down, its own
// destruction) only when its poll() returns, and often nothing wakes it up
// before its 1 s timeout. A connection to one of its brokers does: `op`
// runs while a thread knocks at every broker every few milliseconds.
template <typename F>
auto Served(const std::string& bootstraps, F op) {
  std::vector<sockaddr_in> brokers;
  for (size_t at = 0; at < bootstraps.size();) {
    size_t comma = std::min(bootstraps.find(',', at), bootstraps.size());
    std::string hostport = bootstraps.substr(at, comma - at);
    size_t colon = hostport.rfind(':');
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1))));
    if (::inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &addr.sin_addr) == 1) brokers.push_back(addr);
    at = comma + 1;
  }
  std::jthread knock([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      for (const sockaddr_in& addr : brokers) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        ::close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  return op();
}

// A mock cluster of `brokers` brokers, made and destroyed while Served.
class MockKafka {
 public:
  explicit MockKafka(int brokers) {
    owner_ = NewClient(RD_KAFKA_PRODUCER, {});
    mc_ = rd_kafka_mock_cluster_new(owner_.get(), brokers);
    REQUIRE(mc_ != nullptr);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc_);
  }
  ~MockKafka() {
    Served(bootstraps_, [&] { rd_kafka_mock_cluster_destroy(mc_); });
  }
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  rd_kafka_mock_cluster_t* get() const { return mc_; }
  const std::string& bootstraps() const { return bootstraps_; }
  // Injected errors (and delays) not yet taken by a request of ApiKey `api`
  // to `broker`.
  size_t Pending(int32_t broker, int16_t api) const {
    size_t n = 0;
    REQUIRE(rd_kafka_mock_broker_error_stack_cnt(mc_, broker, api, &n) == RD_KAFKA_RESP_ERR_NO_ERROR);
    return n;
  }

 private:
  KafkaHandle owner_;  // the mock cluster's own client
  rd_kafka_mock_cluster_t* mc_ = nullptr;
  std::string bootstraps_;
};

}  // namespace kpipe::test
