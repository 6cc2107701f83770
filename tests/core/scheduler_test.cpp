// tests/core/scheduler_test.cpp: the work-sharing pool runs each agent on one worker at a time.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/scheduler.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace serendip {
namespace {

using testing::patience;

// An agent that pops its mailbox like a native agent and checks that no two workers run it
// at once. Fulfils `all_done` when it has handled `expected` envelopes.
class CheckingAgent final : public AgentCell {
 public:
  CheckingAgent(std::shared_ptr<Home> home, int expected)
      : AgentCell("checking", 16, std::move(home)), expected_(expected) {}

  // The flag is down across each pop: the empty pop hands the agent back (a push may
  // schedule it on another worker at once), so nothing after it may count as running.
  bool resume(std::size_t budget) override {
    last_budget_ = budget;
    for (std::size_t i = 0; i < budget; ++i) {
      if (!mailbox().pop()) return false;
      if (running_.exchange(true)) overlapped_ = true;
      if (++handled_ == expected_) all_done.set_value();
      running_ = false;
    }
    return true;
  }

  std::promise<void> all_done;
  std::atomic<bool> overlapped_{false};
  std::atomic<std::size_t> last_budget_{0};

 private:
  std::atomic<bool> running_{false};
  int handled_ = 0;  // owner only
  const int expected_;
};

// Holds a worker in its first resume until released; then always asks to run again, so only
// stop() ends its runs.
class BlockingAgent final : public AgentCell {
 public:
  explicit BlockingAgent(std::shared_ptr<Home> home) : AgentCell("blocking", 1, std::move(home)) {}

  bool resume(std::size_t) override {
    if (runs++ == 0) {
      entered.set_value();
      release_future.wait();
      finished = true;
    }
    return true;
  }

  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  std::atomic<bool> finished{false};
  std::atomic<int> runs{0};
};

void push_and_schedule(const AgentCellPtr& agent, int n) {
  EnvelopePtr env = make_envelope(Kind::tell, n);
  PushResult r;
  while ((r = agent->mailbox().push(env)) == PushResult::full) std::this_thread::yield();
  if (r == PushResult::armed) agent->home().schedule(agent);
}

TEST(WorkSharing, the_pool_has_the_requested_number_of_workers) {
  EXPECT_EQ(make_work_sharing(3)->size(), 3u);
  EXPECT_GE(make_work_sharing(0)->size(), 1u);
}

TEST(WorkSharing, agents_are_run_until_empty_with_a_bounded_budget_and_never_by_two_workers) {
  constexpr int agents = 8;
  constexpr int producers = 4;
  constexpr int per_agent_per_producer = SERENDIP_TEST_SCALE_DOWN ? 500 : 5'000;
  auto uut = make_work_sharing(4);
  std::vector<std::shared_ptr<CheckingAgent>> cells;
  for (int a = 0; a < agents; ++a) {
    cells.push_back(std::make_shared<CheckingAgent>(uut, producers * per_agent_per_producer));
  }
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_agent_per_producer; ++i) {
        for (auto& cell : cells) push_and_schedule(cell, i);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& cell : cells) {
    ASSERT_EQ(cell->all_done.get_future().wait_for(patience), std::future_status::ready);
    EXPECT_FALSE(cell->overlapped_);
    EXPECT_GT(cell->last_budget_, 0u);
  }
  uut->stop();
}

// Idle workers spin, then yield, then park on the condition variable; an agent scheduled
// after they parked must wake one.
TEST(WorkSharing, an_agent_scheduled_after_the_workers_parked_is_run) {
  constexpr int rounds = 20;
  auto uut = make_work_sharing(2);
  for (int round = 0; round < rounds; ++round) {
    auto agent = std::make_shared<CheckingAgent>(uut, 1);
    // Long enough for both workers to end their spins and park.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    push_and_schedule(agent, round);
    ASSERT_EQ(agent->all_done.get_future().wait_for(patience), std::future_status::ready)
        << "round " << round;
  }
  uut->stop();
}

TEST(WorkSharing, stop_waits_for_the_running_agent_and_lets_go_of_every_queued_one) {
  auto uut = make_work_sharing(1);
  auto agent = std::make_shared<BlockingAgent>(uut);
  uut->schedule(agent);
  agent->entered.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { uut->stop(); });
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  agent->release.set_value();
  ASSERT_EQ(stopped.wait_for(patience), std::future_status::ready);
  EXPECT_TRUE(agent->finished);
  const int runs = agent->runs;
  uut->schedule(agent);  // dropped: the pool is stopped
  EXPECT_EQ(agent->runs, runs);
  std::weak_ptr<BlockingAgent> watch = agent;
  agent.reset();
  EXPECT_TRUE(watch.expired());  // the pool kept no reference to it
}

TEST(WorkSharing, stop_is_idempotent_and_safe_from_several_threads) {
  auto uut = make_work_sharing(2);
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 3; ++i) stoppers.emplace_back([&] { uut->stop(); });
  for (auto& t : stoppers) t.join();
  uut->stop();
}

TEST(WorkSharing, agents_scheduled_after_stop_are_dropped_unrun) {
  auto uut = make_work_sharing(1);
  uut->stop();
  auto agent = std::make_shared<CheckingAgent>(uut, 1);
  std::weak_ptr<CheckingAgent> watch = agent;
  push_and_schedule(agent, 0);
  EXPECT_EQ(agent->mailbox().size(), 1u);
  agent.reset();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace serendip
