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
  c.Kicked(true, t0);
  // Its fetch may be on its way (a distant broker, fetch.wait.max.ms): a
  // second seek would cancel it, and one at every fill would starve it.
  CHECK_FALSE(MayKick(&c, true, t0 + milliseconds(5)));
  CHECK_FALSE(MayKick(&c, true, t0 + milliseconds(500)));
  CHECK_FALSE(MayKick(&c, true, t0 + milliseconds(999)));
  CHECK(MayKick(&c, true, t0 + milliseconds(1000)));
  // It came, filled the queue, and was read 2 ms after the kick: kick now.
  c.next = 30'100;
  CHECK(MayKick(&c, true, t0 + milliseconds(2)));
}

TEST_CASE("MayKick: without a fill, after a kick for one, a partition quiet for 100 ms, ever less often") {
  FetchCursor c;
  Clock::time_point t0 = Clock::now();
  c.next = 10;
  CHECK_FALSE(MayKick(&c, false, t0));  // no kick for a fill yet (and it starts quiet now)
  c.Kicked(true, t0);  // a kick for a fill at t0
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(60)));
  c.next = 20;  // records came: its fetcher runs
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(120)));
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(200)));
  CHECK(MayKick(&c, false, t0 + milliseconds(220)));  // quiet since 120
  c.Kicked(false, t0 + milliseconds(220));  // the kick for a quiet partition
  // Its fetch may take longer than 100 ms: the next kick 200 ms after it,
  // the one after that 400 ms after.
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(400)));
  CHECK(MayKick(&c, false, t0 + milliseconds(420)));
  c.Kicked(false, t0 + milliseconds(420));
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(800)));
  CHECK(MayKick(&c, false, t0 + milliseconds(820)));
  c.Kicked(false, t0 + milliseconds(820));
  // A second after the kick for the fill, none at all.
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(1700)));
}

TEST_CASE("MayKick: a quiet partition a second after the kick for a fill is left to its fetcher") {
  FetchCursor c;
  Clock::time_point t0 = Clock::now();
  c.next = 10;
  CHECK_FALSE(MayKick(&c, false, t0));
  c.Kicked(true, t0 - milliseconds(1000));
  // Records past an open transaction: known past the position, brought by
  // no fetch before its end.
  CHECK_FALSE(MayKick(&c, false, t0 + milliseconds(150)));
  FetchCursor never;  // no kick for a fill at all
  never.next = 10;
  CHECK_FALSE(MayKick(&never, false, t0));
  CHECK_FALSE(MayKick(&never, false, t0 + milliseconds(5000)));
}

TEST_CASE("FetchCursor::Restart: a reassigned partition forgets where it stood") {
  FetchCursor c{"t", 3};
  c.next = 500;
  c.eof = 500;
  c.kicked_at = 400;
  c.quiet_kicks = 2;
  c.Restart(-1);
  CHECK(c.topic == "t");
  CHECK(c.partition == 3);
  CHECK(c.next == -1);
  CHECK(c.eof == -1);
  CHECK(c.kicked_at == -1);
  CHECK(c.quiet_kicks == 0);
  CHECK_FALSE(MayKick(&c, true, Clock::now()));  // no offset to seek to before its first record
  c.Restart(800);
  CHECK(c.next == 800);
}
