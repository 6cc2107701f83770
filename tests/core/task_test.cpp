// tests/core/task_test.cpp: Task starts lazily, yields its value or exception, and owns its frame.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/payload.hpp>
#include <serendip/task.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace serendip {
namespace {

Task<int> constant(int n, bool* ran) {
  *ran = true;
  co_return n;
}

Task<int> sum_of_three(bool* ran) {
  int total = 0;
  for (int i = 1; i <= 3; ++i) total += co_await constant(i, ran);
  co_return total;
}

Task<int> failing() {
  throw std::runtime_error("boom");
  co_return 0;
}

Task<std::string> catching() {
  try {
    co_await failing();
  } catch (const std::runtime_error& e) {
    co_return std::string("caught ") + e.what();
  }
  co_return "not thrown";
}

Task<void> set_flag(bool* flag) {
  *flag = true;
  co_return;
}

Task<Payload> payload_of(std::string text) { co_return text; }

// Counts destruction, to observe what dies with a suspended frame.
struct Sentinel {
  explicit Sentinel(int* destroyed) : destroyed(destroyed) {}
  ~Sentinel() { ++*destroyed; }
  int* destroyed;
};

Task<int> suspended_forever(int* destroyed) {
  Sentinel local(destroyed);
  co_await std::suspend_always{};
  co_return 1;
}

// Suspends until the test (playing the agent) resumes the stored handle.
struct Gate {
  std::coroutine_handle<> waiting;
  auto operator co_await() {
    struct Awaiter {
      Gate& gate;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) noexcept { gate.waiting = h; }
      int await_resume() const noexcept { return 10; }
    };
    return Awaiter{*this};
  }
};

Task<int> behind_gate(Gate& gate) { co_return co_await gate + 1; }

Task<int> outer(Gate& gate) { co_return co_await behind_gate(gate) + 100; }

Task<long> many_quick_awaits(long n) {
  long total = 0;
  for (long i = 0; i < n; ++i) {
    bool ran = false;
    total += co_await constant(1, &ran);
  }
  co_return total;
}

TEST(Task, a_task_does_not_run_until_started) {
  bool ran = false;
  Task<int> uut = constant(4, &ran);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(uut);
  EXPECT_FALSE(uut.done());
  uut.start();
  EXPECT_TRUE(ran);
  ASSERT_TRUE(uut.done());
  EXPECT_EQ(uut.result(), 4);
}

TEST(Task, awaiting_tasks_yields_their_values_in_order) {
  bool ran = false;
  Task<int> uut = sum_of_three(&ran);
  uut.start();
  ASSERT_TRUE(uut.done());
  EXPECT_EQ(uut.result(), 6);
}

TEST(Task, an_exception_reaches_the_awaiter_and_the_result) {
  Task<std::string> uut = catching();
  uut.start();
  ASSERT_TRUE(uut.done());
  EXPECT_EQ(uut.result(), "caught boom");

  Task<int> direct = failing();
  direct.start();
  ASSERT_TRUE(direct.done());
  EXPECT_THROW(direct.result(), std::runtime_error);
}

TEST(Task, a_void_task_runs_its_body) {
  bool flag = false;
  Task<void> uut = set_flag(&flag);
  uut.start();
  EXPECT_TRUE(flag);
  EXPECT_TRUE(uut.done());
  uut.result();
}

TEST(Task, a_payload_task_returns_any_value_as_a_payload) {
  Task<Payload> uut = payload_of("hi");
  uut.start();
  Payload result = uut.result();
  ASSERT_TRUE(result.holds<std::string>());
  EXPECT_EQ(*result.get<std::string>(), "hi");
}

TEST(Task, a_suspended_chain_finishes_when_its_innermost_frame_is_resumed) {
  Gate gate;
  Task<int> uut = outer(gate);
  uut.start();
  ASSERT_TRUE(gate.waiting);
  EXPECT_FALSE(uut.done());
  gate.waiting.resume();
  ASSERT_TRUE(uut.done());
  EXPECT_EQ(uut.result(), 111);
}

TEST(Task, awaiting_tasks_that_finish_at_once_costs_no_stack_per_await) {
  // Would overflow the stack in unoptimised builds if each await nested a frame.
  constexpr long count = SERENDIP_TEST_SCALE_DOWN ? 200'000 : 1'000'000;
  Task<long> uut = many_quick_awaits(count);
  uut.start();
  ASSERT_TRUE(uut.done());
  EXPECT_EQ(uut.result(), count);
}

TEST(Task, destroying_a_suspended_task_destroys_its_frame) {
  int destroyed = 0;
  {
    Task<int> uut = suspended_forever(&destroyed);
    uut.start();
    EXPECT_FALSE(uut.done());
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 1);
}

TEST(Task, moving_a_task_moves_ownership_of_the_frame) {
  int destroyed = 0;
  Task<int> uut = suspended_forever(&destroyed);
  Task<int> other = std::move(uut);
  EXPECT_FALSE(uut);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  other.start();
  other = Task<int>{};
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE(other);
}

}  // namespace
}  // namespace serendip
