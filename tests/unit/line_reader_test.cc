#include "kpipe/io/line_reader.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

using namespace kpipe;

namespace {
std::vector<std::string> ReadAll(const std::string& data, uint64_t* bytes = nullptr) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::thread writer([&] {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fds[1], data.data() + off, std::min<size_t>(data.size() - off, 65536));
      if (n <= 0) break;
      off += n;
    }
    ::close(fds[1]);
  });
  LineReader r(fds[0], "test");
  std::vector<std::string> lines;
  std::string_view line;
  while (r.Next(&line)) lines.emplace_back(line);
  writer.join();
  ::close(fds[0]);
  CHECK(r.status().ok());
  if (bytes) *bytes = r.offset();
  return lines;
}
}  // namespace

TEST_CASE("LineReader splits lines and keeps a last line without newline") {
  auto lines = ReadAll("a\n\nbc\nlast");
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "a");
  CHECK(lines[1] == "");
  CHECK(lines[2] == "bc");
  CHECK(lines[3] == "last");
  CHECK(ReadAll("").empty());
  CHECK(ReadAll("x\n").size() == 1);
}

TEST_CASE("LineReader reads a 10 MB line between short ones") {
  std::string big(10 * 1024 * 1024, 'x');
  uint64_t bytes = 0;
  auto lines = ReadAll("s\n" + big + "\nt\n", &bytes);
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].size() == big.size());
  CHECK(lines[2] == "t");
  CHECK(bytes == big.size() + 5);
}

TEST_CASE("LineReader counts lines across many blocks") {
  std::string data;
  for (int i = 0; i < 300000; i++) data += "{\"i\":" + std::to_string(i) + "}\n";
  auto lines = ReadAll(data);
  REQUIRE(lines.size() == 300000);
  CHECK(lines[123456] == "{\"i\":123456}");
}
