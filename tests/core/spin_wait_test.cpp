// tests/core/spin_wait_test.cpp: polling for an event before sleeping for it.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/spin_wait.hpp>
#include <serendip/waiter.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace serendip {
namespace {

TEST(SpinWait, returns_true_at_once_when_the_event_already_happened) {
  int polls = 0;
  EXPECT_TRUE(spin_until([&] { return ++polls > 0; }));
  EXPECT_EQ(polls, 1);
}

TEST(SpinWait, gives_up_after_its_budget_and_says_so) {
  int polls = 0;
  EXPECT_FALSE(spin_until([&] { return ++polls < 0; }, std::chrono::microseconds(20)));
  EXPECT_GE(polls, 1);
}

TEST(SpinWait, a_budget_of_zero_polls_once) {
  int polls = 0;
  EXPECT_FALSE(spin_until([&] { return ++polls < 0; }, std::chrono::nanoseconds::zero()));
  EXPECT_EQ(polls, 1);
}

TEST(SpinWait, sees_an_event_set_by_another_thread) {
  std::atomic<bool> flag{false};
  std::thread setter([&] { flag.store(true, std::memory_order_release); });
  // Polls until seen: a budget running out between two polls just means polling again.
  while (!spin_until([&] { return flag.load(std::memory_order_acquire); })) {
  }
  setter.join();
  EXPECT_TRUE(flag.load());
}

TEST(BlockingWaiter, done_and_wait_until_see_a_completion_from_another_thread) {
  auto waiter = std::make_shared<BlockingWaiter>();
  EXPECT_FALSE(waiter->done());
  EXPECT_FALSE(waiter->wait_until(Clock::now()));  // a deadline already past: no completion
  std::thread completer([waiter] { waiter->complete(Outcome::success(std::string("answer"))); });
  EXPECT_TRUE(waiter->wait_until(Clock::now() + std::chrono::seconds(30)));
  completer.join();
  EXPECT_TRUE(waiter->done());
  Outcome out = waiter->take();
  EXPECT_EQ(*out.payload.get<std::string>(), "answer");
  EXPECT_FALSE(waiter->done());  // taken
}

}  // namespace
}  // namespace serendip
