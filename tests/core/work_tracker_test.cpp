// tests/core/work_tracker_test.cpp: counting unfinished messages and waking idle waiters.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/work_tracker.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace serendip {
namespace {

TEST(WorkTracker, a_tracker_with_no_work_is_idle_and_registers_no_waiter) {
  WorkTracker uut;
  EXPECT_EQ(uut.outstanding(), 0);
  EXPECT_FALSE(uut.wait_idle(std::make_shared<BlockingWaiter>()));
}

TEST(WorkTracker, an_idle_waiter_is_completed_when_the_last_message_finishes) {
  WorkTracker uut;
  uut.begin(2);
  auto waiter = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.wait_idle(waiter));
  uut.finish();
  EXPECT_FALSE(waiter->done());
  EXPECT_EQ(uut.outstanding(), 1);
  uut.finish();
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::ok);
}

TEST(WorkTracker, an_idle_waiter_is_completed_once_and_forgotten) {
  WorkTracker uut;
  uut.begin();
  auto waiter = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.wait_idle(waiter));
  uut.finish();
  ASSERT_TRUE(waiter->done());
  waiter->take();
  uut.begin();
  uut.finish();
  EXPECT_FALSE(waiter->done());
}

TEST(WorkTracker, release_all_completes_every_waiter_with_the_given_status) {
  WorkTracker uut;
  uut.begin();
  auto first = std::make_shared<BlockingWaiter>();
  auto second = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.wait_idle(first));
  ASSERT_TRUE(uut.wait_idle(second));
  uut.release_all(Status::closed);
  ASSERT_TRUE(first->done());
  ASSERT_TRUE(second->done());
  EXPECT_EQ(first->take().status, Status::closed);
  EXPECT_EQ(second->take().status, Status::closed);
  EXPECT_EQ(uut.outstanding(), 1);
}

TEST(WorkTracker, a_waiter_is_not_woken_while_any_thread_still_holds_work) {
  WorkTracker uut;
  uut.begin();  // held by the test until the end
  auto waiter = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.wait_idle(waiter));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        uut.begin();
        uut.finish();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(waiter->done());
  EXPECT_EQ(uut.outstanding(), 1);
  uut.finish();
  EXPECT_TRUE(waiter->done());
}

}  // namespace
}  // namespace serendip
