#include "kpipe/stream/watermark.h"

#include <catch2/catch.hpp>

using namespace kpipe;

TEST_CASE("A record is judged against W before it; then W = max(W, t - D)") {
  Watermark w(/*max_delay=*/5, /*idle_ms=*/-1);
  CHECK(w.current() == Watermark::kMinusInfinity);
  CHECK(w.Observe("0", 100, 0) == Watermark::kMinusInfinity);
  CHECK(w.current() == 95);
  CHECK(w.Observe("0", 90, 0) == 95);  // out of order: W stays
  CHECK(w.current() == 95);
  CHECK(w.Observe("0", 101, 0) == 95);
  CHECK(w.current() == 96);
}

TEST_CASE("Control records raise W; end of input makes it +inf; never backwards") {
  Watermark w(0, -1);
  w.Observe("0", 10, 0);
  w.Control(50);
  CHECK(w.current() == 50);
  w.Control(20);
  CHECK(w.current() == 50);
  w.Observe("0", 30, 0);
  CHECK(w.current() == 50);
  w.End();
  CHECK(w.current() == Watermark::kPlusInfinity);
  w.Observe("0", 1, 0);
  CHECK(w.current() == Watermark::kPlusInfinity);
}

TEST_CASE("W is the minimum over partitions, idle ones left out") {
  Watermark w(0, /*idle_ms=*/1000);
  w.Observe("a", 100, 0);
  CHECK(w.current() == 100);
  w.Observe("b", 10, 0);
  CHECK(w.current() == 100);  // never backwards, though b is behind
  w.Observe("a", 200, 500);
  CHECK(w.current() == 100);  // b (at 10) holds W back
  w.Observe("b", 150, 600);
  CHECK(w.current() == 150);
  // b goes quiet; after 1 s of processing time it no longer holds W back.
  w.Observe("a", 300, 1200);
  CHECK(w.current() == 150);
  CHECK(w.Refresh(1601) == 300);
}

TEST_CASE("t - D does not overflow at the bottom of the range") {
  Watermark w(1000, -1);
  w.Observe("0", Watermark::kMinusInfinity + 10, 0);
  CHECK(w.current() == Watermark::kMinusInfinity);
}
