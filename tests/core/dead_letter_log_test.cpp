// tests/core/dead_letter_log_test.cpp: the bounded dead-letter record, its eviction and counters.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/dead_letter_log.hpp>

#include <gtest/gtest.h>

#include <memory>

#include <array>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace serendip {
namespace {

DeadLetter letter(MessageId id, DeadLetterReason reason = DeadLetterReason::unknown_target) {
  DeadLetter d;
  d.reason = reason;
  d.target = "target" + std::to_string(id);
  d.message_id = id;
  return d;
}

std::vector<MessageId> ids(const std::vector<DeadLetter>& letters) {
  std::vector<MessageId> out;
  for (const DeadLetter& d : letters) out.push_back(d.message_id);
  return out;
}

TEST(DeadLetterLog, reasons_are_named_after_their_enumerators) {
  EXPECT_STREQ(to_string(DeadLetterReason::unknown_target), "unknown_target");
  EXPECT_STREQ(to_string(DeadLetterReason::dropped), "dropped");
  EXPECT_STREQ(to_string(DeadLetterReason::expired), "expired");
  EXPECT_STREQ(to_string(DeadLetterReason::failed), "failed");
}

TEST(DeadLetterLog, a_capacity_of_zero_is_refused) {
  EXPECT_THROW(DeadLetterLog(0), std::invalid_argument);
  EXPECT_EQ(DeadLetterLog(1).capacity(), 1u);
  EXPECT_EQ(DeadLetterLog().capacity(), 1000u);
}

TEST(DeadLetterLog, letters_are_kept_oldest_first_with_every_field) {
  DeadLetterLog uut(4);
  DeadLetter first = letter(1, DeadLetterReason::failed);
  first.sender = "caller";
  first.request_id = 9;
  first.detail = "ValueError: bad input";
  first.time = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  uut.record(first);
  uut.record(letter(2));
  uut.record(letter(3));
  const std::vector<DeadLetter> seen = uut.snapshot();
  EXPECT_EQ(ids(seen), (std::vector<MessageId>{1, 2, 3}));
  EXPECT_EQ(seen[0].reason, DeadLetterReason::failed);
  EXPECT_EQ(seen[0].target, "target1");
  EXPECT_EQ(seen[0].sender, "caller");
  EXPECT_EQ(seen[0].request_id, 9u);
  EXPECT_EQ(seen[0].detail, "ValueError: bad input");
  EXPECT_EQ(seen[0].time, first.time);
  EXPECT_EQ(ids(uut.snapshot()), (std::vector<MessageId>{1, 2, 3}));  // snapshot leaves them
}

TEST(DeadLetterLog, since_hands_out_the_letters_recorded_after_those_seen_that_are_still_kept) {
  DeadLetterLog uut(3);
  std::uint64_t now = 0;
  EXPECT_TRUE(uut.since(0, now).empty());
  EXPECT_EQ(now, 0u);
  for (MessageId id = 1; id <= 5; ++id) uut.record(letter(id));
  std::vector<DeadLetter> fresh = uut.since(3, now);
  EXPECT_EQ(now, 5u);
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_EQ(fresh[0].message_id, 4u);
  EXPECT_EQ(fresh[1].message_id, 5u);
  EXPECT_EQ(uut.since(0, now).size(), 3u);  // 1 and 2 were evicted
  EXPECT_TRUE(uut.since(5, now).empty());
}

TEST(DeadLetterLog, a_watcher_hears_of_the_next_letter_once_and_close_releases_the_rest) {
  DeadLetterLog uut;
  uut.record(letter(1));
  auto early = std::make_shared<BlockingWaiter>();
  EXPECT_FALSE(uut.watch(0, early));  // there is news already: read it first
  auto waiter = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.watch(1, waiter));
  EXPECT_FALSE(waiter->done());
  uut.record(letter(2));
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::ok);
  auto last = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut.watch(2, last));
  uut.close_watchers();
  ASSERT_TRUE(last->done());
  EXPECT_EQ(last->take().status, Status::closed);
  EXPECT_FALSE(uut.watch(2, std::make_shared<BlockingWaiter>()));
}

TEST(DeadLetterLog, a_full_log_evicts_its_oldest_letters_and_counts_them) {
  DeadLetterLog uut(3);
  for (MessageId id = 1; id <= 7; ++id) uut.record(letter(id));
  EXPECT_EQ(ids(uut.snapshot()), (std::vector<MessageId>{5, 6, 7}));
  EXPECT_EQ(uut.recorded(), 7u);
  EXPECT_EQ(uut.evicted(), 4u);
}

TEST(DeadLetterLog, take_hands_out_the_letters_and_empties_the_log_but_not_the_counters) {
  DeadLetterLog uut(2);
  for (MessageId id = 1; id <= 3; ++id) uut.record(letter(id));
  EXPECT_EQ(ids(uut.take()), (std::vector<MessageId>{2, 3}));
  EXPECT_TRUE(uut.snapshot().empty());
  EXPECT_TRUE(uut.take().empty());
  EXPECT_EQ(uut.recorded(), 3u);
  EXPECT_EQ(uut.evicted(), 1u);
  uut.record(letter(4));
  uut.record(letter(5));  // room again for two: nothing evicted
  EXPECT_EQ(uut.evicted(), 1u);
  EXPECT_EQ(ids(uut.snapshot()), (std::vector<MessageId>{4, 5}));
}

TEST(DeadLetterLog, counts_are_kept_by_reason_including_evicted_letters) {
  DeadLetterLog uut(1);
  uut.record(letter(1, DeadLetterReason::dropped));
  uut.record(letter(2, DeadLetterReason::dropped));
  uut.record(letter(3, DeadLetterReason::expired));
  uut.record(letter(4, DeadLetterReason::failed));
  uut.record(letter(5, DeadLetterReason::dropped));
  EXPECT_EQ(uut.counts(), (std::array<std::uint64_t, 4>{0, 3, 1, 1}));
  EXPECT_EQ(uut.recorded(), 5u);
}

// Every thread records its own ascending ids: all are counted exactly, and what is kept is
// the newest `capacity`, each thread's letters still in the order it recorded them.
TEST(DeadLetterLog, concurrent_records_are_all_counted_and_keep_each_threads_order) {
  constexpr int threads = 4;
  constexpr int per_thread = SERENDIP_TEST_SCALE_DOWN ? 2'000 : 20'000;
  constexpr std::size_t capacity = 100;
  DeadLetterLog uut(capacity);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        DeadLetter d = letter(static_cast<MessageId>(t) * per_thread + i,
                              static_cast<DeadLetterReason>(t % 4));
        d.sender = std::to_string(t);
        uut.record(std::move(d));
      }
    });
  }
  for (auto& t : pool) t.join();

  constexpr std::uint64_t total = threads * per_thread;
  EXPECT_EQ(uut.recorded(), total);
  EXPECT_EQ(uut.evicted(), total - capacity);
  const std::uint64_t each = per_thread;
  EXPECT_EQ(uut.counts(), (std::array<std::uint64_t, 4>{each, each, each, each}));
  const std::vector<DeadLetter> kept = uut.take();
  ASSERT_EQ(kept.size(), capacity);
  std::array<MessageId, threads> last{};
  std::array<bool, threads> any{};
  for (const DeadLetter& d : kept) {
    const int t = std::stoi(d.sender);
    EXPECT_TRUE(!any[t] || d.message_id > last[t]) << d.message_id;
    any[t] = true;
    last[t] = d.message_id;
  }
}

}  // namespace
}  // namespace serendip
