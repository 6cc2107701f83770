// tests/core/payload_test.cpp: Payload holds any movable value, in place or on the heap.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/payload.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace serendip {
namespace {

// Counts live instances through a pointer, so each test has its own counter.
struct SmallTracked {
  explicit SmallTracked(int* live) : live(live) { ++*live; }
  SmallTracked(SmallTracked&& other) noexcept : live(other.live) { ++*live; }
  ~SmallTracked() { --*live; }
  int* live;
};
struct LargeTracked : SmallTracked {
  using SmallTracked::SmallTracked;
  std::array<char, 128> padding{};
};
static_assert(sizeof(SmallTracked) <= Payload::inline_size);
static_assert(sizeof(LargeTracked) > Payload::inline_size);

// Large and inline-sized, but its move may throw, so it must not be stored in place.
struct ThrowingMove {
  ThrowingMove() = default;
  ThrowingMove(ThrowingMove&&) noexcept(false) {}
  int value = 7;
};

TEST(Payload, an_empty_payload_holds_nothing) {
  Payload uut;
  EXPECT_FALSE(uut.has_value());
  EXPECT_FALSE(uut.holds<int>());
  EXPECT_EQ(uut.get<int>(), nullptr);
}

TEST(Payload, a_small_value_is_read_back_as_its_exact_type_only) {
  Payload uut = std::string("hello");
  ASSERT_TRUE(uut.holds<std::string>());
  EXPECT_EQ(*uut.get<std::string>(), "hello");
  EXPECT_FALSE(uut.holds<const char*>());
  EXPECT_EQ(uut.get<int>(), nullptr);

  Payload number = 42;
  EXPECT_TRUE(number.holds<int>());
  EXPECT_FALSE(number.holds<long>());
  EXPECT_EQ(*number.get<int>(), 42);
}

TEST(Payload, a_large_value_lives_on_the_heap_and_keeps_its_address_when_moved) {
  int live = 0;
  Payload uut{LargeTracked(&live)};
  EXPECT_EQ(live, 1);
  const LargeTracked* before = uut.get<LargeTracked>();
  Payload moved = std::move(uut);
  EXPECT_FALSE(uut.has_value());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(moved.get<LargeTracked>(), before);
  EXPECT_EQ(live, 1);
}

TEST(Payload, a_small_value_is_relocated_in_place_when_moved) {
  int live = 0;
  Payload uut{SmallTracked(&live)};
  const SmallTracked* before = uut.get<SmallTracked>();
  Payload moved = std::move(uut);
  EXPECT_FALSE(uut.has_value());  // NOLINT(bugprone-use-after-move)
  ASSERT_TRUE(moved.holds<SmallTracked>());
  EXPECT_NE(moved.get<SmallTracked>(), before);
  EXPECT_EQ(live, 1);
}

TEST(Payload, an_over_aligned_value_is_kept_on_the_heap_at_its_alignment) {
  struct alignas(16) Wide {
    std::uint64_t low;
    std::uint64_t high;
  };
  Payload uut{Wide{1, 2}};
  const Wide* before = uut.get<Wide>();
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(before) % alignof(Wide), 0u);
  Payload moved = std::move(uut);
  EXPECT_EQ(moved.get<Wide>(), before);  // on the heap: the value did not move
  EXPECT_EQ(moved.get<Wide>()->low, 1u);
  EXPECT_EQ(moved.get<Wide>()->high, 2u);
}

TEST(Payload, a_value_whose_move_may_throw_is_kept_on_the_heap) {
  Payload uut{ThrowingMove{}};
  const ThrowingMove* before = uut.get<ThrowingMove>();
  Payload moved = std::move(uut);
  EXPECT_EQ(moved.get<ThrowingMove>(), before);
  EXPECT_EQ(moved.get<ThrowingMove>()->value, 7);
}

TEST(Payload, reset_destroys_the_value_exactly_once_inline_and_on_the_heap) {
  int live = 0;
  {
    Payload small{SmallTracked(&live)};
    Payload large{LargeTracked(&live)};
    EXPECT_EQ(live, 2);
    small.reset();
    large.reset();
    EXPECT_EQ(live, 0);
    EXPECT_FALSE(small.has_value());
    EXPECT_FALSE(large.has_value());
    small.reset();  // idempotent
  }
  EXPECT_EQ(live, 0);
}

TEST(Payload, destruction_and_move_assignment_destroy_the_held_value) {
  int live = 0;
  {
    Payload uut{LargeTracked(&live)};
    uut = Payload{SmallTracked(&live)};
    EXPECT_EQ(live, 1);
    EXPECT_TRUE(uut.holds<SmallTracked>());
  }
  EXPECT_EQ(live, 0);
}

TEST(Payload, move_only_values_are_accepted) {
  Payload uut = std::make_unique<int>(5);
  ASSERT_TRUE(uut.holds<std::unique_ptr<int>>());
  std::unique_ptr<int> taken = std::move(*uut.get<std::unique_ptr<int>>());
  EXPECT_EQ(*taken, 5);
}

TEST(Payload, a_const_payload_reads_its_value) {
  const Payload uut = 3.5;
  ASSERT_NE(uut.get<double>(), nullptr);
  EXPECT_EQ(*uut.get<double>(), 3.5);
}

}  // namespace
}  // namespace serendip
