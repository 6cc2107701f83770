// tests/core/router_test.cpp: the name table, delivery into mailboxes, and the transport fallback.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/errors.hpp>
#include <serendip/router.hpp>
#include <serendip/transport.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace serendip {
namespace {

using testing::ParkedAgent;

// Accepts everything it is handed and keeps it.
class KeepingTransport final : public Transport {
 public:
  RouteResult send(std::string_view target, EnvelopePtr& env) override {
    kept.emplace_back(std::string(target), std::move(env));
    return RouteResult::delivered;
  }
  std::vector<std::pair<std::string, EnvelopePtr>> kept;
};

TEST(Router, a_registered_agent_is_found_by_name) {
  Router uut;
  ParkedAgent a("a");
  uut.add(a.cell);
  EXPECT_EQ(uut.find("a"), a.cell);
  EXPECT_EQ(uut.find("b"), nullptr);
  EXPECT_EQ(uut.size(), 1u);
  EXPECT_EQ(uut.agents(), std::vector<AgentCellPtr>{a.cell});
}

TEST(Router, a_second_agent_with_the_same_name_is_refused) {
  Router uut;
  ParkedAgent first("a");
  ParkedAgent second("a");
  uut.add(first.cell);
  EXPECT_THROW(uut.add(second.cell), DuplicateAgent);
  EXPECT_EQ(uut.find("a"), first.cell);
}

TEST(Router, remove_unregisters_and_returns_the_agent_without_closing_its_mailbox) {
  Router uut;
  ParkedAgent a("a");
  uut.add(a.cell);
  EXPECT_EQ(uut.remove("a"), a.cell);
  EXPECT_EQ(uut.find("a"), nullptr);
  EXPECT_EQ(uut.remove("a"), nullptr);
  EXPECT_FALSE(a.cell->mailbox().closed());
  uut.add(a.cell);  // the name is free again
}

TEST(Router, the_generation_moves_on_every_add_and_remove_and_only_then) {
  Router uut;
  ParkedAgent a("a");
  ParkedAgent other("a");
  std::uint64_t seen = uut.generation();
  const auto moved = [&] {
    const std::uint64_t now = uut.generation();
    return std::exchange(seen, now) != now;
  };
  uut.add(a.cell);
  EXPECT_TRUE(moved());
  EXPECT_THROW(uut.add(other.cell), DuplicateAgent);
  EXPECT_FALSE(moved());
  (void)uut.find("a");
  EXPECT_FALSE(moved());
  EXPECT_EQ(uut.remove("b"), nullptr);
  EXPECT_FALSE(moved());
  EXPECT_EQ(uut.remove("a"), a.cell);
  EXPECT_TRUE(moved());
  uut.add(other.cell);  // the same name, another agent: a cached answer must not survive
  EXPECT_TRUE(moved());
}

TEST(Router, delivery_to_a_found_agent_schedules_it_on_the_arming_push_only) {
  Router uut;
  ParkedAgent a("a");
  uut.add(a.cell);
  for (int i = 0; i < 3; ++i) {
    EnvelopePtr env = make_envelope(Kind::tell, i);
    EXPECT_EQ(Router::deliver(uut.find("a"), env), RouteResult::delivered);
    EXPECT_EQ(env, nullptr);
  }
  EXPECT_EQ(a.home->scheduled(), 1u);
  EXPECT_EQ(a.cell->mailbox().size(), 3u);
}

TEST(Router, forwarding_without_a_transport_is_not_found_and_the_envelope_stays_with_the_caller) {
  Router uut;
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  EXPECT_EQ(uut.forward("nobody", env), RouteResult::not_found);
  EXPECT_NE(env, nullptr);
}

TEST(Router, forwarding_goes_to_the_transport_when_one_is_installed) {
  Router uut;
  KeepingTransport transport;
  uut.set_transport(&transport);
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  EXPECT_EQ(uut.forward("remote", env), RouteResult::delivered);
  ASSERT_EQ(transport.kept.size(), 1u);
  EXPECT_EQ(transport.kept[0].first, "remote");
  EXPECT_EQ(*transport.kept[0].second->payload.get<int>(), 1);
}

TEST(Router, forwarding_never_delivers_here_even_to_a_name_registered_since_the_lookup) {
  // The caller's lookup missed; delivering now would bypass what it counts (Mesh::deliver).
  Router uut;
  KeepingTransport transport;
  uut.set_transport(&transport);
  ParkedAgent a("late");
  uut.add(a.cell);
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  EXPECT_EQ(uut.forward("late", env), RouteResult::delivered);
  EXPECT_EQ(transport.kept.size(), 1u);
  EXPECT_EQ(a.cell->mailbox().size(), 0u);
  EXPECT_EQ(a.home->scheduled(), 0u);
}

TEST(Router, delivery_reports_full_and_closed_mailboxes) {
  ParkedAgent a("a", 1);
  EnvelopePtr first = make_envelope(Kind::tell, 1);
  EXPECT_EQ(Router::deliver(a.cell, first), RouteResult::delivered);
  EnvelopePtr second = make_envelope(Kind::tell, 2);
  EXPECT_EQ(Router::deliver(a.cell, second), RouteResult::full);
  EXPECT_EQ(Router::deliver_urgent(a.cell, second), RouteResult::delivered);
  a.cell->mailbox().close();
  EnvelopePtr third = make_envelope(Kind::tell, 3);
  EXPECT_EQ(Router::deliver(a.cell, third), RouteResult::closed);
  EXPECT_EQ(Router::deliver_urgent(a.cell, third), RouteResult::closed);
  EXPECT_NE(third, nullptr);
}

}  // namespace
}  // namespace serendip
