// tests/core/mailbox_test.cpp: the two-lane bounded mailbox and its idle->armed contract.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/mailbox.hpp>

#include "failing_allocation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace serendip {
namespace {

EnvelopePtr letter(int n) { return make_envelope(Kind::tell, n); }

int number(const EnvelopePtr& env) { return *env->payload.get<int>(); }

PushResult push(Mailbox& box, int n) {
  EnvelopePtr env = letter(n);
  return box.push(env);
}

PushResult push_urgent(Mailbox& box, int n) {
  EnvelopePtr env = letter(n);
  return box.push_urgent(env);
}

TEST(Mailbox, envelopes_are_popped_in_the_order_they_were_pushed) {
  Mailbox uut(8);
  for (int i = 0; i < 5; ++i) push(uut, i);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(number(uut.pop()), i);
  EXPECT_EQ(uut.pop(), nullptr);
}

TEST(Mailbox, a_full_normal_lane_refuses_the_push_and_leaves_the_envelope_with_the_caller) {
  Mailbox uut(2);
  EXPECT_TRUE(taken(push(uut, 0)));
  EXPECT_TRUE(taken(push(uut, 1)));
  EnvelopePtr third = letter(2);
  EXPECT_EQ(uut.push(third), PushResult::full);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(number(third), 2);
  EXPECT_EQ(uut.size(), 2u);
  EXPECT_EQ(uut.capacity(), 2u);
}

TEST(Mailbox, reject_refuses_saying_the_sender_must_not_wait) {
  Mailbox uut(1, Overflow::reject);
  push(uut, 0);
  EXPECT_EQ(push(uut, 1), PushResult::rejected);
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_EQ(uut.overflow(), Overflow::reject);
}

TEST(Mailbox, drop_newest_takes_the_new_envelope_and_keeps_it_for_the_owner_to_dispose_of) {
  Mailbox uut(2, Overflow::drop_newest);
  push(uut, 0);
  push(uut, 1);
  EnvelopePtr third = make_envelope(Kind::request, 2);
  third->id = 7;
  third->request_id = 9;
  third->sender = "asker";
  Mailbox::Dropped dropped;
  EXPECT_EQ(uut.push(third, &dropped), PushResult::dropped);
  EXPECT_EQ(third, nullptr);
  EXPECT_EQ(dropped.kind, Kind::request);
  EXPECT_EQ(dropped.id, 7u);
  EXPECT_EQ(dropped.request_id, 9u);
  EXPECT_EQ(dropped.sender, "asker");
  EXPECT_EQ(uut.size(), 2u);
  std::vector<EnvelopePtr> out;
  EXPECT_EQ(uut.take_dropped(out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(number(out[0]), 2);
  EXPECT_EQ(uut.take_dropped(out), 0u);
  EXPECT_EQ(number(uut.pop()), 0);
  EXPECT_EQ(number(uut.pop()), 1);
}

TEST(Mailbox, drop_oldest_queues_the_new_envelope_and_drops_the_oldest_queued_one) {
  Mailbox uut(2, Overflow::drop_oldest);
  push(uut, 0);
  push(uut, 1);
  EnvelopePtr third = letter(2);
  Mailbox::Dropped dropped;
  EXPECT_EQ(uut.push(third, &dropped), PushResult::replaced);
  EXPECT_EQ(third, nullptr);
  EXPECT_EQ(uut.push(third = letter(3)), PushResult::replaced);
  EXPECT_EQ(uut.size(), 2u);
  EXPECT_EQ(number(uut.pop()), 2);
  EXPECT_EQ(number(uut.pop()), 3);
  std::vector<EnvelopePtr> out;
  EXPECT_EQ(uut.take_dropped(out), 2u);
  EXPECT_EQ(number(out[0]), 0);
  EXPECT_EQ(number(out[1]), 1);
}

// A drop_oldest push that cannot get memory for its lanes changes nothing: the envelope stays
// with the caller, the oldest stays queued, nothing is dropped.
TEST(Mailbox, drop_oldest_without_memory_leaves_everything_where_it_was) {
  Mailbox uut(4, Overflow::drop_oldest);
  // 12 pushes through a 4-slot mailbox: the queued lane's second segment (8 slots) is full and
  // the dropped lane has room, so only the queued lane needs memory for the next push.
  for (int i = 0; i < 12; ++i) push(uut, i);
  EnvelopePtr env = letter(12);
  {
    testing::FailingAllocations failing;
    EXPECT_THROW(uut.push(env), std::bad_alloc);
  }
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(number(env), 12);
  EXPECT_EQ(uut.size(), 4u);
  std::vector<EnvelopePtr> out;
  EXPECT_EQ(uut.take_dropped(out), 8u);
  for (int i = 8; i < 12; ++i) EXPECT_EQ(number(uut.pop()), i);
}

TEST(Mailbox, draining_without_memory_moves_nothing) {
  // pop_batch, take_dropped and close each move envelopes into a vector that must grow: one
  // that cannot must not leave an envelope popped and destroyed on the way out.
  Mailbox uut(2, Overflow::drop_newest);
  for (int i = 0; i < 4; ++i) push(uut, i);  // 0 and 1 queued, 2 and 3 dropped
  push_urgent(uut, 9);
  std::vector<EnvelopePtr> out;
  {
    testing::FailingAllocations failing;
    EXPECT_THROW(uut.pop_batch(out, 4), std::bad_alloc);
    EXPECT_THROW(uut.take_dropped(out), std::bad_alloc);
    EXPECT_THROW(uut.close(), std::bad_alloc);
  }
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(uut.closed());
  EXPECT_EQ(uut.size(), 2u);
  EXPECT_EQ(uut.take_dropped(out), 2u);
  EXPECT_EQ(number(out[0]), 2);
  EXPECT_EQ(number(out[1]), 3);
  out.clear();
  EXPECT_EQ(uut.pop_batch(out, 4), 3u);
  EXPECT_EQ(number(out[0]), 9);
  EXPECT_EQ(number(out[1]), 0);
  EXPECT_EQ(number(out[2]), 1);
}

TEST(Mailbox, a_batch_takes_room_for_what_is_queued_not_for_its_maximum) {
  // Each agent keeps its batch vector: sized by `max`, 100,000 agents with one message each
  // held 50 MB more (bench/, many_agents).
  Mailbox uut(8);
  push(uut, 0);
  std::vector<EnvelopePtr> out;
  EXPECT_EQ(uut.pop_batch(out, 64), 1u);
  EXPECT_LT(out.capacity(), 64u);
}

TEST(Mailbox, close_hands_back_dropped_envelopes_too) {
  Mailbox uut(1, Overflow::drop_newest);
  push(uut, 0);
  push(uut, 1);
  std::vector<EnvelopePtr> left = uut.close();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(number(left[0]), 0);
  EXPECT_EQ(number(left[1]), 1);
  std::vector<EnvelopePtr> out;
  EXPECT_EQ(uut.take_dropped(out), 0u);
}

TEST(Mailbox, urgent_envelopes_come_first_and_are_never_refused_for_capacity) {
  Mailbox uut(1);
  push(uut, 0);
  EXPECT_EQ(push(uut, 1), PushResult::full);
  for (int i = 10; i < 13; ++i) EXPECT_TRUE(taken(push_urgent(uut, i)));
  EXPECT_EQ(uut.size(), 1u);  // the urgent lane is not counted against capacity
  EXPECT_EQ(number(uut.pop()), 10);
  EXPECT_EQ(number(uut.pop()), 11);
  EXPECT_EQ(number(uut.pop()), 12);
  EXPECT_EQ(number(uut.pop()), 0);
}

TEST(Mailbox, only_the_push_into_an_idle_mailbox_arms_it) {
  Mailbox uut(8);
  EXPECT_EQ(push(uut, 0), PushResult::armed);
  EXPECT_EQ(push(uut, 1), PushResult::accepted);
  EXPECT_EQ(push_urgent(uut, 2), PushResult::accepted);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_EQ(push(uut, 3), PushResult::accepted);  // still scheduled: no empty pop yet
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_EQ(uut.pop(), nullptr);  // the empty pop makes it idle
  EXPECT_EQ(push_urgent(uut, 4), PushResult::armed);
}

TEST(Mailbox, try_idle_makes_only_an_empty_mailbox_idle) {
  Mailbox uut(8);
  EXPECT_EQ(push(uut, 0), PushResult::armed);
  EXPECT_FALSE(uut.try_idle());  // a message is queued: still scheduled
  EXPECT_EQ(push(uut, 1), PushResult::accepted);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_TRUE(uut.try_idle());  // empty: idle without an empty pop
  EXPECT_EQ(push(uut, 2), PushResult::armed);
}

TEST(Mailbox, a_claimed_mailbox_arms_nothing_until_it_goes_idle_again) {
  Mailbox uut(8);
  uut.claim();
  EXPECT_EQ(push(uut, 0), PushResult::accepted);  // the claiming owner pops it
  EXPECT_EQ(push_urgent(uut, 1), PushResult::accepted);
  EXPECT_FALSE(uut.try_idle());
  EXPECT_EQ(number(uut.pop()), 1);
  EXPECT_EQ(number(uut.pop()), 0);
  EXPECT_TRUE(uut.try_idle());
  EXPECT_EQ(push(uut, 2), PushResult::armed);
  uut.claim();  // claiming a scheduled mailbox changes nothing
  EXPECT_EQ(push(uut, 3), PushResult::accepted);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_NE(uut.pop(), nullptr);
  EXPECT_EQ(uut.pop(), nullptr);
  EXPECT_EQ(push(uut, 4), PushResult::armed);
}

TEST(Mailbox, a_pop_that_skips_the_normal_lane_leaves_it_queued_and_the_mailbox_idle) {
  Mailbox uut(8);
  EXPECT_EQ(push(uut, 0), PushResult::armed);
  EXPECT_EQ(uut.pop(/*take_normal=*/false), nullptr);
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_EQ(push_urgent(uut, 1), PushResult::armed);
  EXPECT_EQ(number(uut.pop(false)), 1);
  EXPECT_EQ(number(uut.pop(true)), 0);
}

TEST(Mailbox, pop_batch_takes_urgent_first_up_to_the_limit_and_a_short_batch_makes_it_idle) {
  Mailbox uut(8);
  push(uut, 0);
  push(uut, 1);
  push_urgent(uut, 9);
  std::vector<EnvelopePtr> out;
  EXPECT_EQ(uut.pop_batch(out, 2), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(number(out[0]), 9);
  EXPECT_EQ(number(out[1]), 0);
  EXPECT_EQ(uut.pop_batch(out, 1), 1u);
  EXPECT_EQ(push(uut, 2), PushResult::accepted);  // a full batch keeps it scheduled, even if empty
  EXPECT_EQ(uut.pop_batch(out, 8), 1u);
  EXPECT_EQ(push(uut, 3), PushResult::armed);  // a short batch found the end: idle
  EXPECT_EQ(uut.pop_batch(out, 8), 1u);
  EXPECT_EQ(uut.pop_batch(out, 8), 0u);
  EXPECT_EQ(push(uut, 4), PushResult::armed);
}

TEST(Mailbox, close_hands_back_what_was_queued_urgent_first_and_refuses_later_pushes) {
  Mailbox uut(8);
  push(uut, 0);
  push_urgent(uut, 1);
  std::vector<EnvelopePtr> left = uut.close();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(number(left[0]), 1);
  EXPECT_EQ(number(left[1]), 0);
  EXPECT_TRUE(uut.closed());
  EXPECT_EQ(uut.size(), 0u);

  EnvelopePtr late = letter(2);
  EXPECT_EQ(uut.push(late), PushResult::closed);
  EXPECT_NE(late, nullptr);
  EnvelopePtr late_urgent = letter(3);
  EXPECT_EQ(uut.push_urgent(late_urgent), PushResult::closed);
  EXPECT_NE(late_urgent, nullptr);
  EXPECT_TRUE(uut.close().empty());  // idempotent
  EXPECT_EQ(uut.pop(), nullptr);
}

TEST(Mailbox, a_space_waiter_is_registered_only_while_full) {
  Mailbox uut(1);
  EXPECT_FALSE(uut.wait_for_space(std::make_shared<BlockingWaiter>()));
  push(uut, 0);
  EXPECT_TRUE(uut.wait_for_space(std::make_shared<BlockingWaiter>()));
  uut.close();
  EXPECT_FALSE(uut.wait_for_space(std::make_shared<BlockingWaiter>()));
}

TEST(Mailbox, a_pop_that_frees_space_completes_the_space_waiters) {
  Mailbox uut(1);
  push(uut, 0);
  auto waiter = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.wait_for_space(waiter));
  EXPECT_FALSE(waiter->done());
  EXPECT_EQ(uut.pop(false), nullptr);  // an empty pop frees nothing
  EXPECT_FALSE(waiter->done());
  EXPECT_NE(uut.pop(), nullptr);
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::ok);
}

TEST(Mailbox, close_completes_the_space_waiters_with_closed) {
  Mailbox uut(1);
  push(uut, 0);
  auto waiter = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.wait_for_space(waiter));
  uut.close();
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::closed);
}

TEST(Mailbox, envelopes_still_queued_are_freed_with_the_mailbox) {
  // Checked by the sanitizer builds: nothing may leak.
  Mailbox uut(4);
  push(uut, 0);
  push_urgent(uut, 1);
}

// Producers follow the contract: whoever gets `armed` hands the mailbox one token; the consumer
// takes a token and pops until empty. There must never be two tokens at once, and each token
// must correspond to exactly one run.
TEST(Mailbox, many_producers_lose_nothing_keep_their_order_and_arm_once_per_idle_period) {
  constexpr int producers = 4;
  constexpr int per_producer = SERENDIP_TEST_SCALE_DOWN ? 5'000 : 50'000;
  Mailbox uut(64);

  std::mutex mutex;
  std::condition_variable cv;
  int tokens = 0;       // guarded by mutex
  int max_tokens = 0;   // guarded by mutex
  int armed_count = 0;  // guarded by mutex

  auto produce = [&](int p) {
    for (int i = 0; i < per_producer; ++i) {
      EnvelopePtr env = make_envelope(Kind::tell, std::pair<int, int>(p, i));
      PushResult r;
      while ((r = uut.push(env)) == PushResult::full) std::this_thread::yield();
      if (r == PushResult::armed) {
        std::lock_guard lock(mutex);
        ++armed_count;
        max_tokens = std::max(max_tokens, ++tokens);
        cv.notify_one();
      }
    }
  };

  std::vector<int> next_seq(producers, 0);
  int received = 0;
  int runs = 0;
  bool in_order = true;
  std::thread consumer([&] {
    while (received < producers * per_producer) {
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return tokens > 0; });
        --tokens;
      }
      ++runs;
      while (EnvelopePtr env = uut.pop()) {
        auto [p, i] = *env->payload.get<std::pair<int, int>>();
        in_order = in_order && next_seq[p] == i;
        next_seq[p] = i + 1;
        ++received;
      }
    }
  });

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) threads.emplace_back(produce, p);
  for (auto& t : threads) t.join();
  consumer.join();

  EXPECT_EQ(received, producers * per_producer);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(max_tokens, 1);
  EXPECT_EQ(armed_count, runs);
  EXPECT_EQ(uut.size(), 0u);
}

}  // namespace
}  // namespace serendip
