// tests/core/request_table_test.cpp: every request ends exactly once, whoever races to end it.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/errors.hpp>
#include <serendip/request_table.hpp>

#include "failing_allocation.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace serendip {
namespace {

using namespace std::chrono_literals;
using testing::ParkedAgent;
using testing::patience_deadline;

// Counts its completions, so a second one is caught rather than overwritten.
class CountingWaiter final : public Waiter {
 public:
  void complete(Outcome&& outcome) noexcept override {
    status_.store(outcome.status, std::memory_order_relaxed);
    calls_.fetch_add(1, std::memory_order_acq_rel);
  }
  int calls() const { return calls_.load(std::memory_order_acquire); }
  Status status() const { return status_.load(std::memory_order_relaxed); }

 private:
  std::atomic<Status> status_{Status::ok};
  std::atomic<int> calls_{0};
};

class RequestTableTest : public ::testing::Test {
 protected:
  TimerQueue timers;
  RequestTable uut{timers};
};

TEST_F(RequestTableTest, resolve_completes_the_waiter_once_and_every_later_end_reports_false) {
  auto waiter = std::make_shared<BlockingWaiter>();
  const RequestId id = uut.open(waiter, Clock::now() + 1h);
  EXPECT_TRUE(uut.pending(id));
  EXPECT_EQ(timers.size(), 1u);
  EXPECT_TRUE(uut.resolve(id, Outcome::success(std::string("answer"))));
  EXPECT_FALSE(uut.pending(id));
  EXPECT_EQ(timers.size(), 0u);  // the deadline timer went with it

  Outcome late = Outcome::success(std::string("late"));
  EXPECT_FALSE(uut.resolve(id, std::move(late)));
  EXPECT_EQ(*late.payload.get<std::string>(), "late");  // left with the caller
  EXPECT_FALSE(uut.cancel(id));
  EXPECT_FALSE(uut.discard(id));

  ASSERT_TRUE(waiter->done());
  Outcome outcome = waiter->take();
  EXPECT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<std::string>(), "answer");
}

TEST_F(RequestTableTest, the_table_tells_a_request_s_deadline_until_it_ends) {
  const Deadline at = Clock::now() + 1h;
  const RequestId timed = uut.open(std::make_shared<BlockingWaiter>(), at);
  const RequestId untimed = uut.open(std::make_shared<BlockingWaiter>(), Deadline::max());
  EXPECT_EQ(uut.deadline(timed), at);
  EXPECT_EQ(uut.deadline(untimed), Deadline::max());
  EXPECT_TRUE(uut.resolve(timed, Outcome{}));
  EXPECT_TRUE(uut.cancel(untimed));
  EXPECT_EQ(uut.deadline(timed), Deadline::min());
  EXPECT_EQ(uut.deadline(untimed), Deadline::min());
}

TEST_F(RequestTableTest, a_request_without_deadline_arms_no_timer) {
  const RequestId id = uut.open(std::make_shared<BlockingWaiter>(), Deadline::max());
  EXPECT_EQ(timers.size(), 0u);
  EXPECT_TRUE(uut.pending(id));
  EXPECT_EQ(uut.size(), 1u);
}

TEST_F(RequestTableTest, a_request_past_its_deadline_ends_as_timeout_and_its_handler_is_told) {
  ParkedAgent handler("handler");
  auto waiter = std::make_shared<BlockingWaiter>();
  const RequestId id = uut.open(waiter, Clock::now() + 10ms);
  uut.set_handler(id, handler.cell);
  ASSERT_TRUE(waiter->wait_until(patience_deadline()));
  EXPECT_EQ(waiter->take().status, Status::timeout);
  EXPECT_FALSE(uut.pending(id));
  ASSERT_TRUE(handler.home->wait_abandoned(1));
  EXPECT_EQ(handler.home->abandoned(), std::vector<RequestId>{id});
}

TEST_F(RequestTableTest, cancel_ends_the_request_as_cancelled_and_tells_its_handler) {
  ParkedAgent handler("handler");
  auto waiter = std::make_shared<BlockingWaiter>();
  const RequestId id = uut.open(waiter, Clock::now() + 1h);
  uut.set_handler(id, handler.cell);
  EXPECT_TRUE(uut.cancel(id));
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::cancelled);
  EXPECT_EQ(handler.home->abandoned(), std::vector<RequestId>{id});
  EXPECT_EQ(timers.size(), 0u);
}

TEST_F(RequestTableTest, a_resolved_request_does_not_tell_its_handler) {
  ParkedAgent handler("handler");
  const RequestId id = uut.open(std::make_shared<BlockingWaiter>(), Clock::now() + 1h);
  uut.set_handler(id, handler.cell);
  EXPECT_TRUE(uut.resolve(id, Outcome{}));
  EXPECT_TRUE(handler.home->abandoned().empty());
}

TEST_F(RequestTableTest, discard_forgets_a_request_without_completing_its_waiter) {
  auto waiter = std::make_shared<BlockingWaiter>();
  const RequestId id = uut.open(waiter, Clock::now() + 1h);
  EXPECT_TRUE(uut.discard(id));
  EXPECT_FALSE(uut.pending(id));
  EXPECT_FALSE(waiter->done());
  EXPECT_EQ(timers.size(), 0u);
}

TEST_F(RequestTableTest, close_all_ends_every_open_request_and_refuses_new_ones) {
  std::vector<std::shared_ptr<BlockingWaiter>> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(std::make_shared<BlockingWaiter>());
    uut.open(waiters.back(), Clock::now() + 1h);
  }
  EXPECT_EQ(uut.close_all(Status::closed, "closing"), 3u);
  for (auto& w : waiters) {
    ASSERT_TRUE(w->done());
    Outcome outcome = w->take();
    EXPECT_EQ(outcome.status, Status::closed);
    EXPECT_EQ(outcome.error_message, "closing");
  }
  EXPECT_EQ(uut.size(), 0u);
  EXPECT_EQ(timers.size(), 0u);
  EXPECT_THROW(uut.open(std::make_shared<BlockingWaiter>(), Deadline::max()), MeshClosed);
}

TEST_F(RequestTableTest, ending_requests_without_memory_leaves_them_open) {
  // Each way of ending a request builds its outcome (a message longer than the string's
  // inline buffer) before it takes the entry: a failure must not leave a waiter unanswered.
  ParkedAgent handler("handler");
  auto waiter = std::make_shared<BlockingWaiter>();
  const RequestId id = uut.open(waiter, Clock::now() + 1h);
  uut.set_handler(id, handler.cell);
  const std::string removed = "the agent was removed from the mesh";
  const std::string closing = "the mesh closed while it was open";
  {
    testing::FailingAllocations failing;
    EXPECT_THROW(uut.cancel(id), std::bad_alloc);
    EXPECT_THROW(uut.close_handled_by(handler.cell.get(), Status::closed, removed),
                 std::bad_alloc);
    EXPECT_THROW(uut.close_all(Status::closed, closing), std::bad_alloc);
  }
  EXPECT_TRUE(uut.pending(id));
  EXPECT_FALSE(waiter->done());
  EXPECT_EQ(uut.close_handled_by(handler.cell.get(), Status::closed, removed), 1u);
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().error_message, removed);
}

TEST_F(RequestTableTest, racing_resolve_cancel_and_expiry_end_each_request_exactly_once) {
  constexpr int requests = SERENDIP_TEST_SCALE_DOWN ? 2'000 : 20'000;
  constexpr int racers = 4;
  std::vector<std::shared_ptr<CountingWaiter>> waiters;
  std::vector<RequestId> ids;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> micros(0, 2'000);
  const Deadline base = Clock::now();
  for (int i = 0; i < requests; ++i) {
    waiters.push_back(std::make_shared<CountingWaiter>());
    ids.push_back(uut.open(waiters.back(), base + std::chrono::microseconds(micros(rng))));
  }

  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < racers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < requests; ++i) {
        const RequestId id = ids[(i + t * requests / racers) % requests];
        const bool won = t % 2 == 0 ? uut.resolve(id, Outcome{}) : uut.cancel(id);
        if (won) wins.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  timers.stop();  // lets an expiry caught between its finish and its completion complete

  int expired = 0;
  for (const auto& w : waiters) {
    EXPECT_EQ(w->calls(), 1);
    if (w->status() == Status::timeout) ++expired;
  }
  EXPECT_EQ(wins.load() + expired, requests);
  EXPECT_EQ(uut.size(), 0u);
}

}  // namespace
}  // namespace serendip
