// tests/core/envelope_queue_test.cpp: the ring behind each mailbox lane keeps order and owns
// what it holds (include/serendip/envelope_queue.hpp).
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

// Pushes and pops interleaved so that the ring wraps around, grows while wrapped, empties
// (a large ring is freed then) and fills again; every pop must match a plain FIFO.
TEST(EnvelopeQueue, pops_in_push_order_across_wraparound_growth_and_emptying) {
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
