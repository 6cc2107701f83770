// tests/core/timer_queue_test.cpp: deadline-ordered callbacks on the timer thread, cancel and stop.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/timer_queue.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace serendip {
namespace {

using namespace std::chrono_literals;
using testing::patience;

// Records callback order; the last expected callback fulfils `all_ran`.
struct Recorder {
  explicit Recorder(std::size_t expected) : expected(expected) {}

  std::function<void()> note(int n) {
    return [this, n] {
      std::lock_guard lock(mutex);
      order.push_back(n);
      if (order.size() == expected) all_ran.set_value();
    };
  }

  bool wait() { return all_ran.get_future().wait_for(patience) == std::future_status::ready; }

  std::size_t expected;
  std::mutex mutex;
  std::vector<int> order;  // guarded by mutex
  std::promise<void> all_ran;
};

TEST(TimerQueue, callbacks_run_in_deadline_order_not_in_scheduling_order) {
  Recorder recorder(3);
  TimerQueue uut;
  const Deadline base = Clock::now() + 20ms;
  uut.schedule(base + 20ms, recorder.note(3));
  uut.schedule(base, recorder.note(1));
  uut.schedule(base + 10ms, recorder.note(2));
  ASSERT_TRUE(recorder.wait());
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueue, timers_with_the_same_deadline_run_in_creation_order) {
  Recorder recorder(3);
  TimerQueue uut;
  const Deadline at = Clock::now() + 5ms;
  for (int i = 0; i < 3; ++i) uut.schedule(at, recorder.note(i));
  ASSERT_TRUE(recorder.wait());
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.order, (std::vector<int>{0, 1, 2}));
}

TEST(TimerQueue, a_cancelled_timer_never_runs_and_cancels_only_once) {
  TimerQueue uut;
  std::atomic<bool> ran{false};
  const TimerQueue::Key key = uut.schedule(Clock::now() + 1h, [&] { ran = true; });
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_TRUE(uut.cancel(key));
  EXPECT_FALSE(uut.cancel(key));
  EXPECT_EQ(uut.size(), 0u);
  uut.stop();
  EXPECT_FALSE(ran);
}

TEST(TimerQueue, cancelling_a_timer_that_already_ran_reports_false) {
  Recorder recorder(1);
  TimerQueue uut;
  const TimerQueue::Key key = uut.schedule(Clock::now(), recorder.note(0));
  ASSERT_TRUE(recorder.wait());
  EXPECT_FALSE(uut.cancel(key));
}

TEST(TimerQueue, a_callback_may_schedule_another_timer) {
  Recorder recorder(2);
  TimerQueue uut;
  uut.schedule(Clock::now(), [&] {
    recorder.note(1)();
    uut.schedule(Clock::now(), recorder.note(2));
  });
  ASSERT_TRUE(recorder.wait());
}

TEST(TimerQueue, cancelling_the_timer_the_thread_sleeps_towards_is_safe) {
  // The thread once slept on a reference into the cancelled node; AddressSanitizer builds
  // catch a regression here.
  Recorder recorder(1);
  TimerQueue uut;
  for (int i = 0; i < 100; ++i) {
    const TimerQueue::Key key = uut.schedule(Clock::now() + 1h, [] {});
    std::this_thread::yield();
    EXPECT_TRUE(uut.cancel(key));
  }
  uut.schedule(Clock::now(), recorder.note(0));
  ASSERT_TRUE(recorder.wait());
}

TEST(TimerQueue, a_later_timer_runs_after_the_one_the_thread_slept_towards_was_cancelled) {
  // The later deadline does not wake the thread; its planned wake-up must find the timer.
  Recorder recorder(1);
  TimerQueue uut;
  const TimerQueue::Key first = uut.schedule(Clock::now() + 20ms, [] {});
  std::this_thread::sleep_for(5ms);  // usually asleep towards `first` by now; either way works
  EXPECT_TRUE(uut.cancel(first));
  uut.schedule(Clock::now() + 40ms, recorder.note(0));
  ASSERT_TRUE(recorder.wait());
}

TEST(TimerQueue, stop_drops_pending_timers_without_running_them_and_is_idempotent) {
  TimerQueue uut;
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) uut.schedule(Clock::now() + 1h, [&] { ++ran; });
  uut.stop();
  EXPECT_EQ(uut.size(), 0u);
  uut.stop();
  EXPECT_EQ(ran, 0);
}

}  // namespace
}  // namespace serendip
