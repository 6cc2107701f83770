// tests/core/agent_stats_test.cpp: an agent's counters, histograms and errors by type.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_stats.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace serendip {
namespace {

using Errors = std::vector<std::pair<std::string, std::uint64_t>>;

constexpr int per_thread = SERENDIP_TEST_SCALE_DOWN ? 2'000 : 20'000;

TEST(AgentStats, a_new_agent_has_nothing_to_report) {
  AgentStats uut;
  const auto s = uut.snapshot();
  EXPECT_EQ(s.handled, 0u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.queue_wait.count, 0u);
  EXPECT_EQ(s.handler_time.count, 0u);
  EXPECT_TRUE(s.errors.empty());
}

TEST(AgentStats, a_snapshot_holds_every_counter_and_both_histograms) {
  AgentStats uut;
  for (int i = 0; i < 3; ++i) uut.count_handled();
  uut.count_failed();
  uut.count_dropped();
  uut.count_dropped();
  uut.add_in_flight(1);
  uut.add_in_flight(1);
  uut.add_in_flight(-1);
  uut.record_queue_wait(500);
  uut.record_queue_wait(1'500);
  uut.record_handler_time(20'000);
  uut.record_error("ValueError");
  const auto s = uut.snapshot();
  EXPECT_EQ(s.handled, 3u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.dropped, 2u);
  EXPECT_EQ(s.in_flight, 1);
  EXPECT_EQ(s.queue_wait.count, 2u);
  EXPECT_EQ(s.queue_wait.sum_ns, 2'000u);
  EXPECT_EQ(s.queue_wait.max_ns, 1'500u);
  EXPECT_EQ(s.handler_time.count, 1u);
  EXPECT_EQ(s.handler_time.p50_ns, 20'000u);
  EXPECT_EQ(s.errors, (Errors{{"ValueError", 1}}));
}

TEST(AgentStats, errors_are_counted_by_exact_type_name_and_listed_by_name) {
  AgentStats uut;
  const char* types[] = {"TimeoutError", "KeyError", "ValueError", "KeyError", "Key", "KeyErrorX"};
  for (const char* type : types) uut.record_error(type);
  const Errors want = {
      {"Key", 1}, {"KeyError", 2}, {"KeyErrorX", 1}, {"TimeoutError", 1}, {"ValueError", 1}};
  EXPECT_EQ(uut.snapshot().errors, want);
}

TEST(AgentStats, errors_recorded_from_several_threads_are_all_counted) {
  AgentStats uut;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&uut, odd = "odd" + std::to_string(t % 2)] {
      for (int i = 0; i < per_thread; ++i) uut.record_error(i % 2 == 0 ? "even" : odd);
    });
  }
  for (auto& t : threads) t.join();
  const std::uint64_t half = per_thread / 2;
  const Errors want = {{"even", 4 * half}, {"odd0", 2 * half}, {"odd1", 2 * half}};
  EXPECT_EQ(uut.snapshot().errors, want);
}

TEST(AgentStats, drops_counted_by_several_pushing_threads_are_all_counted) {
  AgentStats uut;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) uut.count_dropped();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(uut.snapshot().dropped, 4u * per_thread);
}

TEST(AgentStats, snapshots_taken_while_the_owner_works_never_go_backwards) {
  AgentStats uut;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    AgentStats::Snapshot previous;
    for (;;) {
      const bool last = done.load(std::memory_order_acquire);
      const auto s = uut.snapshot();
      EXPECT_GE(s.handled, previous.handled);
      EXPECT_GE(s.handler_time.count, previous.handler_time.count);
      EXPECT_GE(s.in_flight, 0);
      EXPECT_LE(s.in_flight, 1);
      previous = s;
      if (last) return;
    }
  });
  for (int i = 0; i < per_thread; ++i) {
    uut.add_in_flight(1);
    uut.record_queue_wait(static_cast<std::uint64_t>(i));
    uut.record_handler_time(static_cast<std::uint64_t>(i) * 3);
    if (i % 100 == 0) {
      uut.count_failed();
      uut.record_error("RuntimeError");
    }
    uut.count_handled();
    uut.add_in_flight(-1);
  }
  done.store(true, std::memory_order_release);
  reader.join();
  const auto s = uut.snapshot();
  EXPECT_EQ(s.handled, static_cast<std::uint64_t>(per_thread));
  EXPECT_EQ(s.failed, static_cast<std::uint64_t>(per_thread / 100));
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.handler_time.count, static_cast<std::uint64_t>(per_thread));
  EXPECT_EQ(s.errors, (Errors{{"RuntimeError", per_thread / 100}}));
}

}  // namespace
}  // namespace serendip
