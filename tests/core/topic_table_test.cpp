// tests/core/topic_table_test.cpp: subject and pattern rules, matching, ordering and pruning.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/topic_table.hpp>

#include "failing_allocation.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <initializer_list>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace serendip {
namespace {

using testing::ParkedAgent;

// Whether an agent subscribed to `pattern` alone hears `subject`.
bool matches(std::string_view pattern, std::string_view subject) {
  TopicTable uut;
  ParkedAgent a("a");
  uut.subscribe(a.cell, pattern);
  return uut.match(subject) == std::vector<AgentCellPtr>{a.cell};
}

// The message check_pattern (or check_subject) throws for `text`; empty if it accepts it.
std::string rejection(std::string_view text, bool pattern) {
  try {
    if (pattern) {
      TopicTable::check_pattern(text);
    } else {
      TopicTable::check_subject(text);
    }
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

std::string many_tokens(int n) {
  std::string s = "t";
  for (int i = 1; i < n; ++i) s += ".t";
  return s;
}

TEST(TopicTable, a_literal_pattern_matches_only_the_same_subject) {
  EXPECT_TRUE(matches("orders.new", "orders.new"));
  EXPECT_FALSE(matches("orders.new", "orders.newer"));
  EXPECT_FALSE(matches("orders.new", "orders"));
  EXPECT_FALSE(matches("orders.new", "orders.new.eu"));
  EXPECT_FALSE(matches("orders", "orders.new"));
}

TEST(TopicTable, a_star_matches_exactly_one_whole_token) {
  EXPECT_TRUE(matches("orders.*", "orders.new"));
  EXPECT_FALSE(matches("orders.*", "orders"));
  EXPECT_FALSE(matches("orders.*", "orders.new.eu"));
  EXPECT_TRUE(matches("*.new", "orders.new"));
  EXPECT_FALSE(matches("*.new", "orders.old"));
  EXPECT_FALSE(matches("*.new", "new"));
  EXPECT_TRUE(matches("*", "orders"));
  EXPECT_FALSE(matches("*", "orders.new"));
  EXPECT_TRUE(matches("a.*.c", "a.b.c"));
  EXPECT_FALSE(matches("a.*.c", "a.b.d"));
}

TEST(TopicTable, a_trailing_gt_matches_one_or_more_tokens) {
  EXPECT_TRUE(matches("orders.>", "orders.new"));
  EXPECT_TRUE(matches("orders.>", "orders.new.eu"));
  EXPECT_FALSE(matches("orders.>", "orders"));
  EXPECT_FALSE(matches("orders.>", "invoices.new"));
  EXPECT_TRUE(matches("*.new.>", "orders.new.eu.fr"));
  EXPECT_FALSE(matches("*.new.>", "orders.new"));
}

TEST(TopicTable, a_lone_gt_matches_every_subject) {
  EXPECT_TRUE(matches(">", "orders"));
  EXPECT_TRUE(matches(">", "orders.new.eu"));
  EXPECT_TRUE(matches(">", many_tokens(256)));
}

TEST(TopicTable, valid_subjects_and_patterns_are_accepted) {
  for (const char* s : {"a", "orders.new.eu", "a-b_c:d/é", "x.0.\x01"}) {
    EXPECT_EQ(rejection(s, false), "") << s;
    EXPECT_EQ(rejection(s, true), "") << s;
  }
  for (const char* p : {"*", ">", "*.*", "a.*.>", "*.>"}) EXPECT_EQ(rejection(p, true), "") << p;
  EXPECT_EQ(rejection(many_tokens(256), false), "");
}

TEST(TopicTable, malformed_subjects_and_patterns_are_refused_for_both) {
  for (bool pattern : {false, true}) {
    EXPECT_NE(rejection("", pattern).find("it is empty"), std::string::npos);
    EXPECT_NE(rejection("a..b", pattern).find("empty token"), std::string::npos);
    EXPECT_NE(rejection(".a", pattern).find("starts with '.'"), std::string::npos);
    EXPECT_NE(rejection("a.", pattern).find("ends with '.'"), std::string::npos);
    EXPECT_NE(rejection(".", pattern).find("starts with '.'"), std::string::npos);
    for (const char* s : {"a b", "a.\tb", "a\r", "a.b\n"}) {
      EXPECT_NE(rejection(s, pattern).find("whitespace"), std::string::npos) << s;
    }
    EXPECT_NE(rejection(many_tokens(257), pattern).find("more than 256 tokens"), std::string::npos);
  }
}

TEST(TopicTable, a_subject_may_not_contain_wildcards) {
  for (const char* s : {"*", ">", "orders.*", "orders.>", "a*", "a.b>c"}) {
    EXPECT_NE(rejection(s, false).find("belong in patterns"), std::string::npos) << s;
  }
}

TEST(TopicTable, a_wildcard_must_be_a_whole_token_and_gt_the_last_one) {
  for (const char* p : {"a*", "*a", "a.b*.c", "a>", ">b", "**"}) {
    EXPECT_NE(rejection(p, true).find("must be a whole token"), std::string::npos) << p;
  }
  for (const char* p : {"a.>.b", ">.a", ">.>"}) {
    EXPECT_NE(rejection(p, true).find("'>' must be the last token"), std::string::npos) << p;
  }
}

TEST(TopicTable, the_message_quotes_the_subject_and_names_its_kind) {
  EXPECT_EQ(rejection("a..b", false), "invalid subject \"a..b\": it has an empty token (\"..\")");
  EXPECT_EQ(rejection("a.>.b", true), "invalid pattern \"a.>.b\": '>' must be the last token");
}

TEST(TopicTable, subscribe_and_match_check_their_argument) {
  TopicTable uut;
  ParkedAgent a("a");
  EXPECT_THROW(uut.subscribe(a.cell, "a..b"), std::invalid_argument);
  EXPECT_THROW(uut.subscribe(a.cell, "a.>.b"), std::invalid_argument);
  EXPECT_EQ(uut.size(), 0u);
  EXPECT_TRUE(uut.patterns_of(a.cell.get()).empty());
  ASSERT_TRUE(uut.subscribe(a.cell, ">"));
  EXPECT_THROW(uut.match("orders.*"), std::invalid_argument);
  EXPECT_THROW(uut.match(""), std::invalid_argument);
}

TEST(TopicTable, a_second_subscription_to_the_same_pattern_is_refused) {
  TopicTable uut;
  ParkedAgent a("a");
  EXPECT_TRUE(uut.subscribe(a.cell, "orders.*"));
  EXPECT_FALSE(uut.subscribe(a.cell, "orders.*"));
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_EQ(uut.patterns_of(a.cell.get()), std::vector<std::string>{"orders.*"});
  ASSERT_TRUE(uut.unsubscribe(a.cell.get(), "orders.*"));
  EXPECT_TRUE(uut.match("orders.new").empty());
}

TEST(TopicTable, an_agent_whose_patterns_overlap_is_matched_once) {
  TopicTable uut;
  ParkedAgent a("a");
  ParkedAgent b("b");
  for (const char* p : {"orders.new", "orders.*", "orders.>", "*.new", ">"}) {
    ASSERT_TRUE(uut.subscribe(a.cell, p));
  }
  ASSERT_TRUE(uut.subscribe(b.cell, "*.*"));
  EXPECT_EQ(uut.size(), 6u);
  EXPECT_EQ(uut.match("orders.new"), (std::vector<AgentCellPtr>{a.cell, b.cell}));
  EXPECT_EQ(uut.match("orders.new.eu"), std::vector<AgentCellPtr>{a.cell});
}

TEST(TopicTable, matches_come_in_the_order_the_agents_first_subscribed) {
  TopicTable uut;
  ParkedAgent a("a");
  ParkedAgent b("b");
  ParkedAgent c("c");
  ASSERT_TRUE(uut.subscribe(c.cell, "orders.>"));
  ASSERT_TRUE(uut.subscribe(a.cell, "invoices.*"));
  ASSERT_TRUE(uut.subscribe(b.cell, "orders.new"));
  ASSERT_TRUE(uut.subscribe(a.cell, "*.new"));  // a keeps its earlier place
  EXPECT_EQ(uut.match("orders.new"), (std::vector<AgentCellPtr>{c.cell, a.cell, b.cell}));

  ASSERT_TRUE(uut.unsubscribe(a.cell.get(), "invoices.*"));  // still subscribed: same place
  EXPECT_EQ(uut.match("orders.new"), (std::vector<AgentCellPtr>{c.cell, a.cell, b.cell}));

  ASSERT_EQ(uut.unsubscribe_all(c.cell.get()), 1u);  // c left; coming back puts it last
  ASSERT_TRUE(uut.subscribe(c.cell, ">"));
  EXPECT_EQ(uut.match("orders.new"), (std::vector<AgentCellPtr>{a.cell, b.cell, c.cell}));
}

TEST(TopicTable, patterns_of_lists_an_agents_patterns_in_subscription_order) {
  TopicTable uut;
  ParkedAgent a("a");
  ParkedAgent b("b");
  for (const char* p : {"z", "a.>", "m.*"}) ASSERT_TRUE(uut.subscribe(a.cell, p));
  ASSERT_TRUE(uut.subscribe(b.cell, "b"));
  EXPECT_EQ(uut.patterns_of(a.cell.get()), (std::vector<std::string>{"z", "a.>", "m.*"}));
  ASSERT_TRUE(uut.unsubscribe(a.cell.get(), "a.>"));
  EXPECT_EQ(uut.patterns_of(a.cell.get()), (std::vector<std::string>{"z", "m.*"}));
  EXPECT_TRUE(uut.patterns_of(nullptr).empty());
}

TEST(TopicTable, unsubscribe_refuses_what_was_not_subscribed) {
  TopicTable uut;
  ParkedAgent a("a");
  ParkedAgent b("b");
  ASSERT_TRUE(uut.subscribe(a.cell, "orders.*"));
  EXPECT_FALSE(uut.unsubscribe(a.cell.get(), "orders.>"));
  EXPECT_FALSE(uut.unsubscribe(a.cell.get(), "orders"));
  EXPECT_FALSE(uut.unsubscribe(b.cell.get(), "orders.*"));
  EXPECT_FALSE(uut.unsubscribe(a.cell.get(), "not..valid"));
  EXPECT_EQ(uut.unsubscribe_all(b.cell.get()), 0u);
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_EQ(uut.match("orders.new"), std::vector<AgentCellPtr>{a.cell});
}

// Patterns that share a path: removing one prunes only the nodes no other pattern uses.
TEST(TopicTable, unsubscribing_one_pattern_leaves_those_sharing_its_path) {
  TopicTable uut;
  ParkedAgent a("a");
  ParkedAgent b("b");
  const std::vector<const char*> patterns = {"x.y.z", "x.y", "x.>", "x.*.z", "x.y.>", "*"};
  for (const char* p : patterns) ASSERT_TRUE(uut.subscribe(a.cell, p));
  ASSERT_TRUE(uut.subscribe(b.cell, "x.y.z"));
  ASSERT_TRUE(uut.unsubscribe(b.cell.get(), "x.y.z"));  // a's x.y.z must survive
  EXPECT_EQ(uut.match("x.y.z"), std::vector<AgentCellPtr>{a.cell});

  // Remove a's patterns one by one; after each, only the rest still match.
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    ASSERT_TRUE(uut.unsubscribe(a.cell.get(), patterns[i]));
    const std::set<std::string> left(patterns.begin() + i + 1, patterns.end());
    auto kept = [&](std::initializer_list<const char*> any) {
      return std::ranges::any_of(any, [&](const char* p) { return left.contains(p); });
    };
    auto heard = [&](const char* subject) { return !uut.match(subject).empty(); };
    EXPECT_EQ(heard("x.y.z"), kept({"x.y.z", "x.>", "x.*.z", "x.y.>"})) << i;
    EXPECT_EQ(heard("x.y"), kept({"x.y", "x.>"})) << i;
    EXPECT_EQ(heard("x"), kept({"*"})) << i;
    EXPECT_EQ(uut.size(), patterns.size() - i - 1);
  }
  EXPECT_TRUE(uut.match("x.y.z").empty());
  EXPECT_TRUE(uut.patterns_of(a.cell.get()).empty());
}

TEST(TopicTable, a_subscription_that_cannot_get_memory_leaves_the_table_as_it_was) {
  // The trie and the subscriber's list of patterns must agree: unsubscribing walks the trie
  // along each listed pattern. Three patterns leave room for a fourth in the list, and a
  // short one needs no memory of its own, so only the fourth's new trie nodes would fail.
  TopicTable uut;
  ParkedAgent a("a");
  for (const char* p : {"a.b", "c.d", "e.f"}) ASSERT_TRUE(uut.subscribe(a.cell, p));
  {
    testing::FailingAllocations failing;
    EXPECT_THROW(uut.subscribe(a.cell, "x.y"), std::bad_alloc);
  }
  EXPECT_EQ(uut.patterns_of(a.cell.get()), (std::vector<std::string>{"a.b", "c.d", "e.f"}));
  EXPECT_EQ(uut.size(), 3u);
  EXPECT_TRUE(uut.match("x.y").empty());
  EXPECT_EQ(uut.unsubscribe_all(a.cell.get()), 3u);
  EXPECT_EQ(uut.size(), 0u);
  ASSERT_TRUE(uut.subscribe(a.cell, "x.y"));
  EXPECT_EQ(uut.match("x.y"), std::vector<AgentCellPtr>{a.cell});
}

TEST(TopicTable, unsubscribe_all_removes_every_pattern_of_one_agent_only) {
  TopicTable uut;
  ParkedAgent a("a");
  ParkedAgent b("b");
  for (const char* p : {"orders.new", "orders.*", ">"}) ASSERT_TRUE(uut.subscribe(a.cell, p));
  ASSERT_TRUE(uut.subscribe(b.cell, "orders.new"));
  EXPECT_EQ(uut.unsubscribe_all(a.cell.get()), 3u);
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_TRUE(uut.patterns_of(a.cell.get()).empty());
  EXPECT_EQ(uut.match("orders.new"), std::vector<AgentCellPtr>{b.cell});
  EXPECT_TRUE(uut.match("invoices").empty());
  EXPECT_EQ(uut.unsubscribe_all(b.cell.get()), 1u);
  EXPECT_EQ(uut.size(), 0u);
  EXPECT_TRUE(uut.match("orders.new").empty());
  ASSERT_TRUE(uut.subscribe(a.cell, "orders.*"));  // the pruned paths can be built again
  EXPECT_EQ(uut.match("orders.new"), std::vector<AgentCellPtr>{a.cell});
}

TEST(TopicTable, the_table_shares_the_agents_it_holds_and_lets_go_of_them) {
  TopicTable uut;
  ParkedAgent a("a");
  ASSERT_TRUE(uut.subscribe(a.cell, "x"));
  ASSERT_TRUE(uut.subscribe(a.cell, "y"));
  EXPECT_EQ(a.cell.use_count(), 2);
  ASSERT_TRUE(uut.unsubscribe(a.cell.get(), "x"));
  EXPECT_EQ(a.cell.use_count(), 2);
  ASSERT_TRUE(uut.unsubscribe(a.cell.get(), "y"));
  EXPECT_EQ(a.cell.use_count(), 1);
}

// Churners subscribe and unsubscribe their own patterns while matchers publish. The anchors,
// subscribed before everything else, must be in every match, first and in order, and no agent
// may ever appear twice.
TEST(TopicTable, matching_stays_consistent_while_other_threads_subscribe_and_unsubscribe) {
  constexpr int churners = 3;
  constexpr int matchers = 2;
  constexpr int rounds = SERENDIP_TEST_SCALE_DOWN ? 500 : 5'000;
  TopicTable uut;
  ParkedAgent anchor_all("anchor_all");
  ParkedAgent anchor_orders("anchor_orders");
  ASSERT_TRUE(uut.subscribe(anchor_all.cell, ">"));
  ASSERT_TRUE(uut.subscribe(anchor_orders.cell, "orders.*"));
  std::vector<ParkedAgent> agents;
  for (int i = 0; i < churners; ++i) agents.emplace_back("churner" + std::to_string(i));

  std::atomic<int> running{churners};
  std::atomic<bool> consistent{true};
  std::vector<std::thread> threads;
  for (int i = 0; i < churners; ++i) {
    threads.emplace_back([&, i] {
      const AgentCellPtr& self = agents[i].cell;
      const std::string mine = "orders.c" + std::to_string(i);
      for (int r = 0; r < rounds; ++r) {
        bool ok = uut.subscribe(self, "orders.>") && uut.subscribe(self, mine) &&
                  uut.subscribe(self, "*.new");
        ok = ok && uut.unsubscribe(self.get(), mine);
        ok = ok && uut.unsubscribe_all(self.get()) == 2;
        if (!ok) consistent = false;
      }
      running.fetch_sub(1);
    });
  }
  for (int m = 0; m < matchers; ++m) {
    threads.emplace_back([&] {
      do {
        const std::vector<AgentCellPtr> hit = uut.match("orders.new");
        const std::set<AgentCellPtr> distinct(hit.begin(), hit.end());
        if (hit.size() < 2 || hit[0] != anchor_all.cell || hit[1] != anchor_orders.cell ||
            distinct.size() != hit.size() || hit.size() > 2 + churners) {
          consistent = false;
        }
      } while (running.load() > 0);
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_TRUE(consistent);
  EXPECT_EQ(uut.size(), 2u);
  EXPECT_EQ(uut.match("orders.new"),
            (std::vector<AgentCellPtr>{anchor_all.cell, anchor_orders.cell}));
}

}  // namespace
}  // namespace serendip
