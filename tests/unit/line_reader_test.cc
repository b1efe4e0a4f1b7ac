#include "kpipe/io/line_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include <simdjson.h>

#include "kpipe/io/file_input.h"
#include "temp_dir.h"

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

// With read-ahead, a regular file's blocks come through a second buffer
// filled on another thread: the same lines, offsets and padding as without
// it, whatever the lines' lengths (up to past the buffer, which then grows
// and is read in place), when block reads and line reads mix, and when
// blocks are taken as they are buffered.
TEST_CASE("LineReader reads ahead a regular file, block by block") {
  std::mt19937_64 rng(7);
  std::string data;
  std::vector<std::string> want;
  for (int i = 0; i < 40000; i++) {
    size_t len = rng() % 200 == 0 ? 200000 + rng() % 1500000 : rng() % 120;  // some longer than a block
    std::string line(len, static_cast<char>('a' + i % 26));
    want.push_back(line);
    data += line + "\n";
  }
  data += "last";  // no newline
  want.push_back("last");
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path);
  std::string path = dir.path + "/lines";
  std::ofstream(path, std::ios::binary) << data;

  // Modes: 0 without read-ahead, 1 with, 2 with and mixed with line reads,
  // 3 with, through BufferedBlock and ReadOnce (FileInput::TryBlock's way).
  for (int mode = 0; mode < 4; mode++) {
    INFO("mode " << mode);
    int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    LineReader r(fd, "test");
    r.set_read_ahead(mode != 0);
    int refills = 0;
    r.set_before_refill([&] {
      refills++;
      return Status::OK();
    });
    std::vector<std::string> got;
    std::string_view block, line;
    for (int n = 0;; n++) {
      // Mode 2 takes every fourth block line by line.
      if (mode == 2 && n % 4 == 3) {
        if (!r.Next(&line)) break;
        got.emplace_back(line);
        continue;
      }
      if (mode == 3) {
        if (!r.BufferedBlock(&block)) {
          if (r.eof() || !r.status().ok()) break;
          r.ReadOnce();
          continue;
        }
      } else if (!r.NextBlock(&block)) {
        break;
      }
      REQUIRE(!block.empty());
      for (size_t i = 0; i < simdjson::SIMDJSON_PADDING; i++) (void)block.data()[block.size() + i];
      size_t pos = 0;
      while (pos < block.size()) {
        size_t nl = block.find('\n', pos);
        if (nl == std::string_view::npos) nl = block.size();
        got.emplace_back(block.substr(pos, nl - pos));
        pos = nl + 1;
      }
    }
    ::close(fd);
    CHECK(r.status().ok());
    CHECK(r.offset() == data.size());
    REQUIRE(got.size() == want.size());
    CHECK(got == want);
    if (mode != 3) CHECK(refills > 0);
  }
  // Destroyed, or turned off, with a read in flight: the thread is done with
  // the buffer and the descriptor first (valgrind and ASan see it).
  for (bool destroy : {true, false}) {
    int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    {
      LineReader r(fd, "test");
      r.set_read_ahead(true);
      std::string_view block;
      REQUIRE(r.NextBlock(&block));
      if (!destroy) {
        r.set_read_ahead(false);  // keeps what it read: the rest follows
        std::string_view line;
        uint64_t lines = 0;
        while (r.Next(&line)) lines++;
        CHECK(r.status().ok());
        CHECK(r.offset() == data.size());
        CHECK(lines + std::count(block.begin(), block.end(), '\n') == want.size());
      }
    }
    ::close(fd);
  }
}

// A block from a pipe is all it holds, up to the buffer; a line cut between
// two writes waits for its end.
TEST_CASE("LineReader takes what a pipe holds as one block") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  LineReader r(fds[0], "test");
  // Written in lines of 100 bytes and writes of 10 lines, without blocking:
  // a pipe of 64 KiB takes 16 pages, of which a write fills a part it fits
  // in (four writes a page).
  const size_t total = 32000;
  std::string line(99, 'x');
  line += '\n';
  std::string ten;
  for (int i = 0; i < 10; i++) ten += line;
  for (size_t off = 0; off < total; off += ten.size()) REQUIRE(::write(fds[1], ten.data(), ten.size()) == 1000);
  std::string_view block;
  REQUIRE(r.NextBlock(&block));
  CHECK(block.size() == total);
  bool wrote = true;  // the writer's own checks, made by this thread after it ends
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    wrote = ::write(fds[1], "{\"a\":", 5) == 5;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    wrote = ::write(fds[1], "1}\nlast", 7) == 7 && wrote;
    ::close(fds[1]);
  });
  std::vector<std::string> blocks;
  while (r.NextBlock(&block)) blocks.emplace_back(block);
  writer.join();
  CHECK(wrote);
  CHECK(blocks == std::vector<std::string>{"{\"a\":1}\n", "last"});
  CHECK(r.status().ok());
  CHECK(r.offset() == total + 12);
  ::close(fds[0]);
}

// A pipe a tool reads with a parse thread (read-ahead asked for) is grown to
// 1 MiB, where the system allows; without, it is left at its size.
TEST_CASE("FileInput grows a pipe only when it is read with a parse thread") {
  std::ifstream max_file("/proc/sys/fs/pipe-max-size");
  long max = 0;
  max_file >> max;
  for (bool parse_thread : {false, true}) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    int before = ::fcntl(fds[0], F_GETPIPE_SZ);
    auto in = FileInput::Open("/proc/self/fd/" + std::to_string(fds[0]));
    REQUIRE(in.ok());
    (*in)->set_read_ahead(parse_thread);
    bool rewound = true;
    REQUIRE((*in)->Start(nullptr, &rewound).ok());
    CHECK_FALSE(rewound);
    int after = ::fcntl(fds[0], F_GETPIPE_SZ);
    if (!parse_thread) CHECK(after == before);
    else if (max >= (1 << 20)) CHECK(after >= (1 << 20));
    else WARN("pipe-max-size " << max << ": the pipe stays at " << after << " bytes");
    REQUIRE(::write(fds[1], "{}\n", 3) == 3);
    ::close(fds[1]);
    std::string_view block;
    REQUIRE((*in)->NextBlock(&block));
    CHECK(block == "{}\n");
    in->reset();
    ::close(fds[0]);
  }
}
