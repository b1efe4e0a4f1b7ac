#include "kpipe/window/assigner.h"

#include <catch2/catch.hpp>

using namespace kpipe;

namespace {
std::vector<Window> Windows(const WindowAssigner& a, int64_t t) {
  std::vector<Window> w;
  a.Assign(t, &w);
  return w;
}
}  // namespace

TEST_CASE("FloorDiv rounds toward minus infinity") {
  CHECK(FloorDiv(7, 5) == 1);
  CHECK(FloorDiv(5, 5) == 1);
  CHECK(FloorDiv(0, 5) == 0);
  CHECK(FloorDiv(-1, 5) == -1);
  CHECK(FloorDiv(-5, 5) == -1);
  CHECK(FloorDiv(-6, 5) == -2);
}

TEST_CASE("Tumbling windows are half-open and epoch-aligned") {
  auto a = *WindowAssigner::Tumbling(60'000);
  CHECK(Windows(a, 0) == std::vector<Window>{{0, 60'000}});
  CHECK(Windows(a, 59'999) == std::vector<Window>{{0, 60'000}});
  // A record exactly at a window end belongs to the next window.
  CHECK(Windows(a, 60'000) == std::vector<Window>{{60'000, 120'000}});
  // Negative times: floor division.
  CHECK(Windows(a, -1) == std::vector<Window>{{-60'000, 0}});
  CHECK(Windows(a, -60'000) == std::vector<Window>{{-60'000, 0}});
  CHECK(Windows(a, -60'001) == std::vector<Window>{{-120'000, -60'000}});
  CHECK_FALSE(WindowAssigner::Tumbling(0).ok());
}

TEST_CASE("Hopping windows: every start k*slide with start <= t < start+size") {
  auto a = *WindowAssigner::Hopping(10, 5);
  CHECK(Windows(a, 0) == std::vector<Window>{{-5, 5}, {0, 10}});
  CHECK(Windows(a, 4) == std::vector<Window>{{-5, 5}, {0, 10}});
  CHECK(Windows(a, 5) == std::vector<Window>{{0, 10}, {5, 15}});
  CHECK(Windows(a, -1) == std::vector<Window>{{-10, 0}, {-5, 5}});
  // A size that is not a multiple of the slide.
  auto b = *WindowAssigner::Hopping(10, 4);
  CHECK(Windows(b, 0) == std::vector<Window>{{-8, 2}, {-4, 6}, {0, 10}});
  CHECK(Windows(b, 9) == std::vector<Window>{{0, 10}, {4, 14}, {8, 18}});
  CHECK(Windows(b, 10) == std::vector<Window>{{4, 14}, {8, 18}});
  // Slide equal to size is tumbling.
  auto c = *WindowAssigner::Hopping(7, 7);
  CHECK(Windows(c, 13) == std::vector<Window>{{7, 14}});
  CHECK_FALSE(WindowAssigner::Hopping(5, 10).ok());
  CHECK_FALSE(WindowAssigner::Hopping(5, 0).ok());
}

TEST_CASE("Hopping assignment matches a brute-force scan") {
  for (int64_t size : {3, 7, 10, 12}) {
    for (int64_t slide : {1, 2, 3, 5}) {
      if (slide > size) continue;
      auto a = *WindowAssigner::Hopping(size, slide);
      for (int64_t t = -40; t <= 40; t++) {
        std::vector<Window> want;
        for (int64_t k = -100; k <= 100; k++) {
          int64_t s = k * slide;  // every epoch-aligned start
          if (s <= t && t < s + size) want.push_back({s, s + size});
        }
        INFO("size " << size << " slide " << slide << " t " << t);
        CHECK(Windows(a, t) == want);
      }
    }
  }
}

TEST_CASE("Windows order by end, then start") {
  CHECK(Window{0, 10} < Window{5, 15});
  CHECK(Window{2, 10} < Window{0, 11});
  CHECK(Window{0, 10} < Window{2, 10});
}

TEST_CASE("A hop of more than 10,000 slides is refused: bounded work per record") {
  CHECK(WindowAssigner::Hopping(10'000, 1).ok());
  auto r = WindowAssigner::Hopping(10'001, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().Is(Status::Code::kUsage));
  CHECK(r.status().message().find("10001 windows") != std::string::npos);
  CHECK_FALSE(WindowAssigner::Hopping(3'600'000, 1).ok());
  CHECK(WindowAssigner::Hopping(3'600'000, 360).ok());  // exactly 10,000
  CHECK_FALSE(WindowAssigner::Hopping(3'600'000, 359).ok());  // 10,028, rounded up
}
