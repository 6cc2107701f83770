// tests/core/handling_meter_test.cpp: a timed message's queue wait, from the stamp its envelope
// keeps in 56 bits (include/serendip/handling_meter.hpp).
// SPDX-License-Identifier: Apache-2.0
#include <serendip/handling_meter.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace serendip {
namespace {

using namespace std::chrono_literals;

Clock::time_point at_ns(std::uint64_t ns) {
  const auto since_epoch = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(since_epoch));
}

TEST(HandlingMeter, an_untimed_message_records_no_wait) {
  AgentStats stats;
  Envelope env;
  EXPECT_EQ(begin_handling(stats, env), 0);
  const auto s = stats.snapshot();
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.queue_wait.count, 0u);
}

TEST(HandlingMeter, a_stamped_message_records_how_long_it_waited) {
  AgentStats stats;
  Envelope env;
  env.enqueued = timing_stamp(Clock::now() - 2ms);
  EXPECT_NE(begin_handling(stats, env), 0);
  const auto s = stats.snapshot();
  ASSERT_EQ(s.queue_wait.count, 1u);
  EXPECT_GE(s.queue_wait.max_ns, 2'000'000u);
  EXPECT_LT(s.queue_wait.max_ns, 3'600'000'000'000u);  // not a wrapped difference
}

TEST(HandlingMeter, a_wait_across_the_stamp_s_wrap_is_still_its_length) {
  const std::uint64_t wrap = kStampMask + 1;
  EXPECT_EQ(timing_stamp(at_ns(wrap - 100)), wrap - 100);
  EXPECT_EQ(timing_stamp(at_ns(2 * wrap + 5)), 5u);
  EXPECT_EQ(waited_since(timing_stamp(at_ns(wrap - 100)), at_ns(wrap + 200)), 300u);
  EXPECT_EQ(waited_since(timing_stamp(at_ns(40)), at_ns(1'040)), 1'000u);
}

TEST(HandlingMeter, a_stamp_is_never_zero_which_means_untimed) {
  EXPECT_EQ(timing_stamp(at_ns(kStampMask + 1)), 1u);
  EXPECT_EQ(timing_stamp(at_ns(0)), 1u);
}

}  // namespace
}  // namespace serendip
