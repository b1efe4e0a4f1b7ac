#include "kpipe/time/watermark.h"

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

TEST_CASE("Upstream watermarks: W = min(W_in, W_own); end of input makes it +inf; never backwards") {
  Watermark w(/*max_delay=*/5, -1);
  w.Observe("0", 100, 0);
  CHECK(w.current() == 95);  // no watermark record yet: W = W_own
  w.Control(50);             // upstream is stricter, but W never goes back
  CHECK(w.current() == 95);
  w.Observe("0", 200, 0);    // W_own = 195, W_in = 50
  CHECK(w.current() == 95);
  w.Control(150);            // stricter than D: upstream holds W back
  CHECK(w.current() == 150);
  w.Control(1000);           // laxer than D: the own --max-delay still holds
  CHECK(w.current() == 195);
  w.Observe("0", 300, 0);
  CHECK(w.current() == 295);
  w.Control(20);             // an older watermark record changes nothing
  CHECK(w.current() == 295);
  w.End();
  CHECK(w.current() == Watermark::kPlusInfinity);
  w.Observe("0", 1, 0);
  CHECK(w.current() == Watermark::kPlusInfinity);
}

TEST_CASE("Watermarks announced to follow hold W at -inf until the first one") {
  Watermark w(0, -1);
  w.Upstream();
  w.Observe("", 100, 0);
  w.Observe("", 50, 0);
  CHECK(w.current() == Watermark::kMinusInfinity);  // plain lines of many partitions
  w.Control(40);
  CHECK(w.current() == 40);
  w.Control(Watermark::kPlusInfinity - 1);
  CHECK(w.current() == 100);  // W_own
}

TEST_CASE("Watermark records alone move W when no record holds it back") {
  Watermark w(0, -1);
  w.Control(70);  // a side whose records were all filtered out upstream
  CHECK(w.current() == 70);
  w.Observe("a", 60, 0);  // its own bound is now below W_in
  CHECK(w.current() == 70);
  w.Control(90);
  CHECK(w.current() == 70);  // held by W_own = 60
  w.Observe("a", 80, 0);
  CHECK(w.current() == 80);
}

TEST_CASE("An announced partition holds W back until it has records or ends") {
  Watermark w(0, -1);
  w.Add("t/0", 0);
  w.Add("t/1", 0);
  w.Observe("t/0", 100, 0);
  CHECK(w.current() == Watermark::kMinusInfinity);
  w.Observe("t/1", 40, 0);
  CHECK(w.current() == 40);
  w.Remove("t/1", 0);  // its bounded read ended
  CHECK(w.current() == 100);
  w.Add("t/0", 0);  // known already: nothing changes
  w.Observe("t/0", 120, 0);
  CHECK(w.current() == 120);
}

TEST_CASE("All partitions idle: upstream's watermark alone moves W") {
  Watermark w(0, /*idle_ms=*/100);
  w.Observe("a", 10, 0);
  w.Observe("b", 20, 0);
  w.Control(500);
  CHECK(w.current() == 10);
  CHECK(w.Refresh(1000) == 500);
}

TEST_CASE("A checkpoint keeps W, W_in and the partitions") {
  Watermark w(0, -1);
  w.Upstream();
  w.Add("t/0", 0);
  w.Observe("t/1", 70, 0);
  w.Control(60);
  std::string buf;
  state::Encoder e(&buf);
  w.Save(&e);
  Watermark r(0, -1);
  state::Decoder d(buf);
  r.Load(&d, 0);
  REQUIRE(d.ok());
  CHECK(r.current() == Watermark::kMinusInfinity);  // t/0 unseen
  r.Observe("t/0", 90, 0);
  CHECK(r.current() == 60);  // W_in kept
  r.Control(100);
  CHECK(r.current() == 70);
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
