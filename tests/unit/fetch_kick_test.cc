// MayKick (kpipe/kafka/client.h): when a reader whose queue ran empty
// restarts a partition's fetcher that librdkafka 2.0 may have stopped for a
// second. Found with a reader faster than the fetches: kconsume of 1M
// messages waited out the second in 5 of 8 runs (a refilled queue drained
// within 20 ms of the last kick), and with small queue limits in every run
// (outdated records a kick left in flight filled the queue, and the reader
// dropped them without counting them).
#include <chrono>

#include <catch2/catch.hpp>

#include "kpipe/kafka/client.h"

using kpipe::FetchCursor;
using kpipe::MayKick;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST_CASE("MayKick: nothing read from the partition yet, no offset to seek to") {
  FetchCursor c;
  Clock::time_point t0 = Clock::now();
  CHECK_FALSE(MayKick(&c, true, t0));
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(500)));
}

TEST_CASE("MayKick: a filled queue kicks again as soon as the last kick brought records") {
  FetchCursor c;
  Clock::time_point t0 = Clock::now();
  c.next = 100;
  REQUIRE(MayKick(&c, true, t0));
  c.kicked_at = c.next;  // what KickStalledFetchers records of a kick
  c.last_kick = t0;
  // Its fetch is on its way: a second seek would cancel it.
  CHECK_FALSE(MayKick(&c, true, t0 + milliseconds(5)));
  CHECK_FALSE(MayKick(&c, true, t0 + milliseconds(99)));
  // It came, filled the queue, and was read 2 ms after the kick: kick now.
  c.next = 30'100;
  CHECK(MayKick(&c, true, t0 + milliseconds(2)));
  // A kick that brought nothing for 100 ms is made again.
  c.kicked_at = c.next;
  c.last_kick = t0 + milliseconds(2);
  CHECK_FALSE(MayKick(&c, true, t0 + milliseconds(50)));
  CHECK(MayKick(&c, true, t0 + milliseconds(102)));
}

TEST_CASE("MayKick: without a fill, within a second of a kick for one, a partition quiet for 100 ms") {
  FetchCursor c;
  Clock::time_point t0 = Clock::now();
  c.filled_kick = t0 - milliseconds(300);  // its outdated records may have filled the queue
  c.next = 10;
  CHECK_FALSE(MayKick(&c, false, t0));  // it moved since the last look (never looked)
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(60)));
  c.next = 20;  // records keep coming: its fetcher runs
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(120)));
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(200)));
  CHECK(MayKick(&c, false, t0 + milliseconds(220)));  // quiet since 120
  c.kicked_at = c.next;
  c.last_kick = t0 + milliseconds(220);
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(300)));  // kicked 80 ms ago
  CHECK(MayKick(&c, false, t0 + milliseconds(320)));
  // A second after the kick for a fill: what is left unread may be past an
  // open transaction, which no fetch brings before its end.
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(700)));
}

TEST_CASE("MayKick: a partition quiet with data past it and no fill is left to its fetcher") {
  FetchCursor c;
  Clock::time_point t0 = Clock::now();
  c.next = 10;
  CHECK_FALSE(MayKick(&c, false, t0));
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(500)));
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(5000)));
}
