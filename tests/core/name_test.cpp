// tests/core/name_test.cpp: the 16-byte names envelopes carry.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/envelope.hpp>
#include <serendip/name.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serendip {
namespace {

TEST(Name, is_sixteen_bytes_so_an_envelope_fits_in_128) {
  EXPECT_EQ(sizeof(Name), 16u);
  EXPECT_LE(sizeof(Envelope), 128u);
}

TEST(Name, holds_any_length_and_reads_back_exactly) {
  // Empty, inline (up to 15 bytes, the last one included), on the heap, with a NUL inside.
  const std::vector<std::string> texts = {"",
                                          "a",
                                          "agent-14",
                                          "fifteen-bytes!!",
                                          "sixteen-bytes!!!",
                                          std::string(1000, 'x'),
                                          std::string("nul\0inside", 10)};
  for (const std::string& text : texts) {
    const Name name(text);
    EXPECT_EQ(name.view(), text);
    EXPECT_EQ(name.str(), text);
    EXPECT_EQ(name.empty(), text.empty());
    EXPECT_TRUE(name == std::string_view(text));
  }
  EXPECT_EQ(Name().view(), "");
}

TEST(Name, copies_are_independent_and_a_moved_from_name_is_empty) {
  for (const std::string text : {"short", "a name well over fifteen bytes long"}) {
    Name original(text);
    Name copy(original);
    Name assigned("something else entirely, also long");
    assigned = copy;
    EXPECT_EQ(copy.view(), text);
    EXPECT_EQ(assigned.view(), text);

    Name moved(std::move(original));
    EXPECT_EQ(moved.view(), text);
    EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): specified state
    Name target("x");
    target = std::move(moved);
    EXPECT_EQ(target.view(), text);
    EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move): specified state
    target = target;             // self-assignment keeps the value
    EXPECT_EQ(target.view(), text);
    original = Name("reused after the move");
    EXPECT_EQ(original.view(), "reused after the move");
  }
}

TEST(Name, compares_by_content) {
  EXPECT_TRUE(Name("agent") == "agent");
  EXPECT_FALSE(Name("agent") == "agent2");
  EXPECT_TRUE(Name(std::string(40, 'y')) == std::string(40, 'y'));
  EXPECT_FALSE(Name(std::string(40, 'y')) == std::string(41, 'y'));
}

}  // namespace
}  // namespace serendip
