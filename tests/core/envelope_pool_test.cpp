// tests/core/envelope_pool_test.cpp: envelope memory recycled across threads keeps envelopes
// whole (src/envelope_pool.cpp).
// SPDX-License-Identifier: Apache-2.0
#include <serendip/envelope.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace serendip {
namespace {

constexpr int per_thread = SERENDIP_TEST_SCALE_DOWN ? 2'000 : 20'000;

EnvelopePtr numbered(std::uint64_t n) {
  EnvelopePtr env = make_envelope(Kind::tell, Payload(n));
  env->sender = std::string(40, 'a' + static_cast<char>(n % 26));  // on the heap
  env->id = n;
  return env;
}

void expect_whole(const Envelope& env, std::uint64_t n) {
  ASSERT_EQ(env.id, n);
  ASSERT_EQ(env.sender, std::string(40, 'a' + static_cast<char>(n % 26)));
  const std::uint64_t* got = env.payload.get<std::uint64_t>();
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(*got, n);
}

// The pattern of a mesh: one thread allocates, another frees (its free list fills and hands
// batches on), and the allocating thread takes those batches back.
TEST(EnvelopePool, envelopes_made_on_one_thread_and_freed_on_another_stay_whole) {
  std::vector<EnvelopePtr> made;
  std::mutex mutex;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < per_thread; ++i) made.push_back(numbered(round * per_thread + i));
    std::thread freeing([&] {
      std::vector<EnvelopePtr> mine;
      {
        std::lock_guard lock(mutex);
        mine.swap(made);
      }
      for (std::size_t i = 0; i < mine.size(); ++i) {
        expect_whole(*mine[i], round * per_thread + i);
        mine[i].reset();
      }
    });
    freeing.join();  // the freeing thread exits holding blocks: they go to the shared list
    ASSERT_TRUE(made.empty());
  }
}

// Many short-lived threads allocate and free at once, each keeping some envelopes past others'
// frees; every envelope must read back what was written into it.
TEST(EnvelopePool, concurrent_threads_never_share_a_live_envelope) {
  constexpr int threads = 8;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([t] {
      std::vector<EnvelopePtr> live;
      for (int i = 0; i < per_thread; ++i) {
        const std::uint64_t n = static_cast<std::uint64_t>(t) * per_thread + i;
        live.push_back(numbered(n));
        if (live.size() == 300) {
          for (std::size_t k = 0; k < live.size(); ++k) expect_whole(*live[k], n - 299 + k);
          live.erase(live.begin(), live.begin() + 200);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
}

// A burst maps slabs for its envelopes; once they are freed the slabs go back to the system,
// all but the slabs of what the thread keeps at hand (its free blocks and a run of unused
// ones), and a second burst maps no more than the first.
TEST(EnvelopePool, a_burst_gives_its_memory_back_once_its_envelopes_are_freed) {
  {
    EnvelopePtr probe = numbered(0);
    if (envelope_memory() == 0) GTEST_SKIP() << "envelopes come from the general allocator";
  }
  const std::size_t before = envelope_memory();
  constexpr std::size_t slab = std::size_t{2} << 20;
  constexpr std::size_t burst = SERENDIP_TEST_SCALE_DOWN ? 20'000 : 100'000;
  std::size_t first_peak = 0;
  for (int round = 0; round < 2; ++round) {
    std::vector<EnvelopePtr> queued;
    for (std::size_t i = 0; i < burst; ++i) queued.push_back(numbered(i));
    const std::size_t peak = envelope_memory();
    EXPECT_GE(peak, burst * sizeof(Envelope));
    EXPECT_LE(peak, before + burst * sizeof(Envelope) + 2 * slab);
    if (round == 0) first_peak = peak;
    EXPECT_LE(peak, first_peak);  // the second burst reuses what the first gave back
    for (std::size_t i = 0; i < burst; ++i) {
      expect_whole(*queued[i], i);
      queued[i].reset();
    }
    EXPECT_LE(envelope_memory(), before + 2 * slab);
  }
}

}  // namespace
}  // namespace serendip
