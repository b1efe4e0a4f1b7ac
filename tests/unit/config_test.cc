#include "kpipe/kafka/config.h"

#include <cstdlib>
#include <fstream>

#include <catch2/catch.hpp>

using namespace kpipe;

TEST_CASE("Property precedence: defaults < files < -b < -X") {
  std::string dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  std::string file = dir + "/kpipe_config_test.properties";
  std::ofstream(file) << "# comment\nbootstrap.servers = filehost:1\nclient.id=fromfile\nsasl.password=hunter2\n";
  ::unsetenv("KPIPE_CONFIG");
  ::unsetenv("KPIPE_BROKERS");
  ::setenv("XDG_CONFIG_HOME", "/nonexistent-kpipe", 1);
  KafkaFlags f;
  f.files = {file};
  auto p = ResolveProperties(f, {{"client.id", "default"}, {"linger.ms", "5"}});
  REQUIRE(p.ok());
  CHECK(PropertyValue(*p, "bootstrap.servers") == "filehost:1");
  CHECK(PropertyValue(*p, "client.id") == "fromfile");
  CHECK(PropertyValue(*p, "linger.ms") == "5");

  f.brokers = "flaghost:2";
  f.properties = {"linger.ms=50", "client.id=x=y"};
  p = ResolveProperties(f, {});
  REQUIRE(p.ok());
  CHECK(PropertyValue(*p, "bootstrap.servers") == "flaghost:2");
  CHECK(PropertyValue(*p, "linger.ms") == "50");
  CHECK(PropertyValue(*p, "client.id") == "x=y");

  std::string described = DescribeProperties(*p);
  CHECK(described.find("hunter2") == std::string::npos);
  CHECK(described.find("sasl.password=[redacted]") != std::string::npos);

  f.properties = {"novalue"};
  CHECK(ResolveProperties(f, {}).status().Is(Status::Code::kUsage));
  std::remove(file.c_str());
}

TEST_CASE("Brokers default to KPIPE_BROKERS, then localhost:9092") {
  ::unsetenv("KPIPE_CONFIG");
  ::setenv("XDG_CONFIG_HOME", "/nonexistent-kpipe", 1);
  KafkaFlags f;
  ::setenv("KPIPE_BROKERS", "envhost:3", 1);
  CHECK(PropertyValue(*ResolveProperties(f, {}), "bootstrap.servers") == "envhost:3");
  ::unsetenv("KPIPE_BROKERS");
  CHECK(PropertyValue(*ResolveProperties(f, {}), "bootstrap.servers") == "localhost:9092");
}

TEST_CASE("Secret property names") {
  for (const char* k : {"sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret",
                        "ssl.key.pem", "sasl.oauthbearer.token.endpoint.url"})
    CHECK(IsSecretProperty(k));
  CHECK_FALSE(IsSecretProperty("bootstrap.servers"));
}
