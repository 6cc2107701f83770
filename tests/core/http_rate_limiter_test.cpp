// tests/core/http_rate_limiter_test.cpp: per-key concurrency caps and continuously refilled rate buckets, on a hand-moved clock.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/http/rate_limiter.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace serendip::http {
namespace {

using namespace std::chrono_literals;
using Tickets = std::vector<RateLimiter::Ticket>;

// The limiter reads this clock; tests move it by hand, so nothing sleeps.
class RateLimiterTest : public ::testing::Test {
 protected:
  Tickets ready() {
    Tickets out;
    uut.take_ready(out);
    return out;
  }

  void push_many(const std::string& key, RateLimiter::Ticket first, RateLimiter::Ticket last,
                 std::uint64_t tokens = 0) {
    for (RateLimiter::Ticket t = first; t <= last; ++t) uut.push(key, t, tokens);
  }

  const Deadline start = Deadline{} + 1h;
  Deadline now = start;
  RateLimiter uut{[this] { return now; }};
};

TEST_F(RateLimiterTest, a_key_without_limits_starts_everything_in_order) {
  push_many("k", 1, 5);
  EXPECT_EQ(ready(), (Tickets{1, 2, 3, 4, 5}));
  EXPECT_EQ(uut.running("k"), 5u);
  EXPECT_EQ(uut.waiting(), 0u);
}

TEST_F(RateLimiterTest, the_concurrency_cap_holds_the_rest_until_a_release) {
  uut.set_limits("k", Limits{2, 0, 0});
  push_many("k", 1, 5);
  EXPECT_EQ(ready(), (Tickets{1, 2}));
  EXPECT_EQ(ready(), Tickets{});
  // Held by concurrency, not by time: there is no time to wake up for.
  EXPECT_EQ(uut.next_ready_at(), std::nullopt);
  uut.release("k");
  EXPECT_EQ(ready(), (Tickets{3}));
  uut.release("k");
  uut.release("k");
  EXPECT_EQ(ready(), (Tickets{4, 5}));
  EXPECT_EQ(uut.running("k"), 2u);
}

TEST_F(RateLimiterTest, keys_are_limited_independently) {
  uut.set_limits("a", Limits{1, 0, 0});
  push_many("a", 1, 2);
  push_many("b", 3, 4);
  Tickets started = ready();
  std::sort(started.begin(), started.end());
  EXPECT_EQ(started, (Tickets{1, 3, 4}));
}

TEST_F(RateLimiterTest, requests_per_minute_allow_a_minutes_burst_then_one_per_interval) {
  uut.set_limits("k", Limits{0, 60, 0});
  push_many("k", 1, 62);
  EXPECT_EQ(ready().size(), 60u);
  const auto next = uut.next_ready_at();
  ASSERT_TRUE(next.has_value());
  EXPECT_NEAR(std::chrono::duration<double>(*next - start).count(), 1.0, 1e-6);
  now = start + 999ms;
  EXPECT_EQ(ready(), Tickets{});
  now = *next;
  EXPECT_EQ(ready(), (Tickets{61}));
  now = *next + 1s;
  EXPECT_EQ(ready(), (Tickets{62}));
}

TEST_F(RateLimiterTest, buckets_refill_continuously_not_once_a_minute) {
  uut.set_limits("k", Limits{0, 60, 0});
  push_many("k", 1, 60);
  ASSERT_EQ(ready().size(), 60u);
  push_many("k", 61, 70);
  now = start + 2500ms;  // 2.5 requests' worth
  EXPECT_EQ(ready(), (Tickets{61, 62}));
  now = start + 3s;
  EXPECT_EQ(ready(), (Tickets{63}));
}

TEST_F(RateLimiterTest, tokens_per_minute_hold_a_request_until_its_estimate_fits) {
  uut.set_limits("k", Limits{0, 0, 1000});
  uut.push("k", 1, 400);
  uut.push("k", 2, 400);
  uut.push("k", 3, 400);
  EXPECT_EQ(ready(), (Tickets{1, 2}));
  // 200 left, 200 more needed at 1000/60 per second: 12 s.
  const auto next = uut.next_ready_at();
  ASSERT_TRUE(next.has_value());
  EXPECT_NEAR(std::chrono::duration<double>(*next - start).count(), 12.0, 1e-6);
  now = start + 11'900ms;
  EXPECT_EQ(ready(), Tickets{});
  now = *next;
  EXPECT_EQ(ready(), (Tickets{3}));
}

TEST_F(RateLimiterTest, a_heavy_head_is_not_overtaken_by_lighter_requests_behind_it) {
  uut.set_limits("k", Limits{0, 0, 1000});
  uut.push("k", 1, 900);
  uut.push("k", 2, 500);
  uut.push("k", 3, 10);  // would fit in the 100 left, but waits its turn
  EXPECT_EQ(ready(), (Tickets{1}));
  EXPECT_EQ(uut.waiting(), 2u);
  now = start + 24s;  // 400 more: 500 in the bucket
  EXPECT_EQ(ready(), (Tickets{2}));
  now = start + 25s;
  EXPECT_EQ(ready(), (Tickets{3}));
}

TEST_F(RateLimiterTest, an_estimate_beyond_the_bucket_waits_for_a_full_bucket_not_forever) {
  uut.set_limits("k", Limits{0, 0, 100});
  uut.push("k", 1, 50);
  uut.push("k", 2, 1'000'000);
  EXPECT_EQ(ready(), (Tickets{1}));
  now = start + 29s;
  EXPECT_EQ(ready(), Tickets{});
  now = start + 30s;
  EXPECT_EQ(ready(), (Tickets{2}));
}

TEST_F(RateLimiterTest, every_limit_must_allow_a_start) {
  uut.set_limits("k", Limits{1, 60, 1000});
  uut.push("k", 1, 10);
  uut.push("k", 2, 10);
  EXPECT_EQ(ready(), (Tickets{1}));
  now = start + 1h;  // both buckets full again; concurrency still holds 2 back
  EXPECT_EQ(ready(), Tickets{});
  uut.release("k");
  EXPECT_EQ(ready(), (Tickets{2}));
}

TEST_F(RateLimiterTest, a_retry_pushed_to_the_front_starts_before_the_queue) {
  uut.set_limits("k", Limits{1, 0, 0});
  push_many("k", 1, 3);
  EXPECT_EQ(ready(), (Tickets{1}));
  uut.push_front("k", 9, 0);
  uut.release("k");
  EXPECT_EQ(ready(), (Tickets{9}));
}

TEST_F(RateLimiterTest, a_removed_ticket_never_starts) {
  uut.set_limits("k", Limits{1, 0, 0});
  push_many("k", 1, 3);
  EXPECT_EQ(ready(), (Tickets{1}));
  EXPECT_TRUE(uut.remove("k", 2));
  EXPECT_FALSE(uut.remove("k", 2));
  EXPECT_FALSE(uut.remove("other", 3));
  uut.release("k");
  EXPECT_EQ(ready(), (Tickets{3}));
}

TEST_F(RateLimiterTest, lowering_a_limit_cuts_the_bucket_and_lifting_it_frees_the_queue) {
  uut.set_limits("k", Limits{0, 60, 0});
  uut.set_limits("k", Limits{0, 2, 0});
  push_many("k", 1, 4);
  EXPECT_EQ(ready(), (Tickets{1, 2}));
  uut.set_limits("k", Limits{});
  EXPECT_EQ(ready(), (Tickets{3, 4}));
}

}  // namespace
}  // namespace serendip::http
