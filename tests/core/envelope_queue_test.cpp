// tests/core/envelope_queue_test.cpp: the segments behind each mailbox lane keep order and own
// what they hold (include/serendip/envelope_queue.hpp).
// SPDX-License-Identifier: Apache-2.0
#include <serendip/envelope_queue.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <memory>

namespace serendip {
namespace {

EnvelopePtr numbered(MessageId n) {
  EnvelopePtr env = make_envelope(Kind::tell, Payload(n));
  env->id = n;
  return env;
}

// Pushes and pops interleaved so that segments are added while others are half popped, the
// queue empties (a large segment is freed then, a small one kept) and fills again; every pop
// must match a plain FIFO.
TEST(EnvelopeQueue, pops_in_push_order_across_segments_and_emptying) {
  EnvelopeQueue queue;
  std::deque<MessageId> expected;
  MessageId next = 1;
  std::uint64_t state = 12345;
  for (int step = 0; step < 20'000; ++step) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    // Phases: mostly pushes, then mostly pops, so sizes sweep from empty to hundreds.
    const bool filling = (step / 500) % 2 == 0;
    const bool push = (state >> 33) % 4 != 0 ? filling : !filling;
    if (push) {
      EnvelopePtr env = numbered(next);
      queue.push(env);
      EXPECT_EQ(env, nullptr);
      expected.push_back(next++);
    } else {
      const Envelope* front = queue.front();
      EnvelopePtr env = queue.pop();
      if (expected.empty()) {
        EXPECT_EQ(front, nullptr);
        EXPECT_EQ(env, nullptr);
        continue;
      }
      ASSERT_NE(env, nullptr);
      EXPECT_EQ(front, env.get());
      EXPECT_EQ(env->id, expected.front());
      EXPECT_EQ(*env->payload.get<MessageId>(), expected.front());
      expected.pop_front();
    }
    ASSERT_EQ(queue.size(), expected.size());
    ASSERT_EQ(queue.empty(), expected.empty());
  }
}

// A burst longer than many of the longest segments, popped in two parts with a second burst
// between them.
TEST(EnvelopeQueue, a_long_burst_keeps_its_order) {
  EnvelopeQueue queue;
  MessageId pushed = 0;
  MessageId popped = 0;
  auto push = [&](int n) {
    for (int i = 0; i < n; ++i) {
      EnvelopePtr env = numbered(++pushed);
      queue.push(env);
    }
  };
  auto pop = [&](int n) {
    for (int i = 0; i < n; ++i) {
      EnvelopePtr env = queue.pop();
      ASSERT_NE(env, nullptr);
      ASSERT_EQ(env->id, ++popped);
    }
  };
  push(5'000);
  pop(2'500);
  push(3'000);
  EXPECT_EQ(queue.size(), 5'500u);
  pop(5'500);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pop(), nullptr);
  push(3);
  pop(3);
}

struct Counted {
  explicit Counted(std::shared_ptr<int> alive) : alive(std::move(alive)) { ++*this->alive; }
  Counted(Counted&& other) noexcept = default;
  ~Counted() {
    if (alive) --*alive;
  }
  std::shared_ptr<int> alive;
};

TEST(EnvelopeQueue, what_is_still_queued_is_destroyed_with_the_queue) {
  auto alive = std::make_shared<int>(0);
  {
    EnvelopeQueue queue;
    for (int i = 0; i < 100; ++i) {
      EnvelopePtr env = make_envelope(Kind::tell, Payload(Counted(alive)));
      queue.push(env);
    }
    EnvelopePtr first = queue.pop();
    first.reset();
    EXPECT_EQ(*alive, 99);
  }
  EXPECT_EQ(*alive, 0);
}

}  // namespace
}  // namespace serendip
