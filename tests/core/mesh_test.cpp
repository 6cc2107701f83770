// tests/core/mesh_test.cpp: tell, request and reply, their failures, removal and close.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/errors.hpp>
#include <serendip/mesh.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

namespace serendip {
namespace {

using namespace std::chrono_literals;
using testing::ParkedAgent;
using testing::patience_deadline;

// The test plays a foreign agent: it pops the parked agent's mailbox by hand.
class MeshTest : public ::testing::Test {
 protected:
  MeshTest() { uut.add(agent.cell); }

  Sent ask(std::string target, int n, const std::shared_ptr<BlockingWaiter>& waiter,
           Deadline deadline = Deadline::max()) {
    EnvelopePtr env = make_envelope(Kind::tell, n);
    return uut.request(target, env, waiter, deadline);
  }

  ParkedAgent agent{"agent", 2};
  Mesh uut;
};

TEST_F(MeshTest, tell_delivers_with_a_fresh_message_id_and_counts_the_work) {
  EnvelopePtr first = make_envelope(Kind::tell, 1);
  EnvelopePtr second = make_envelope(Kind::tell, 2);
  EXPECT_EQ(uut.tell("agent", first), RouteResult::delivered);
  EXPECT_EQ(uut.tell(agent.cell, second), RouteResult::delivered);
  EXPECT_EQ(uut.work().outstanding(), 2);
  EnvelopePtr a = agent.next();
  EnvelopePtr b = agent.next();
  EXPECT_EQ(*a->payload.get<int>(), 1);
  EXPECT_EQ(a->kind, Kind::tell);
  EXPECT_NE(a->id, 0u);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(uut.names(), std::vector<std::string>{"agent"});
}

TEST_F(MeshTest, sends_to_an_unknown_name_are_dead_letters) {
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  env->sender = "me";
  EXPECT_EQ(uut.tell("nobody", env), RouteResult::not_found);
  auto waiter = std::make_shared<BlockingWaiter>();
  EXPECT_EQ(ask("nobody", 2, waiter).result, RouteResult::not_found);
  const std::vector<DeadLetter> letters = uut.dead_letters().snapshot();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0].reason, DeadLetterReason::unknown_target);
  EXPECT_EQ(letters[0].target, "nobody");
  EXPECT_EQ(letters[0].sender, "me");
}

TEST_F(MeshTest, tell_to_an_unknown_name_is_not_found) {
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  EXPECT_EQ(uut.tell("nobody", env), RouteResult::not_found);
  EXPECT_NE(env, nullptr);
  EXPECT_EQ(uut.work().outstanding(), 0);
}

TEST_F(MeshTest, a_request_is_answered_once_by_reply) {
  auto waiter = std::make_shared<BlockingWaiter>();
  const Sent sent = ask("agent", 5, waiter, Clock::now() + 1h);
  ASSERT_EQ(sent.result, RouteResult::delivered);
  EnvelopePtr env = agent.next();
  EXPECT_EQ(env->kind, Kind::request);
  EXPECT_EQ(env->request_id, sent.request);
  const Deadline deadline = uut.requests().deadline(env->request_id);
  EXPECT_NE(deadline, Deadline::max());
  EXPECT_GT(deadline, Clock::now());

  EXPECT_TRUE(uut.reply(env->request_id, Outcome::success(*env->payload.get<int>() * 2)));
  EXPECT_FALSE(uut.reply(env->request_id, Outcome{}));
  ASSERT_TRUE(waiter->done());
  Outcome outcome = waiter->take();
  EXPECT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<int>(), 10);
}

TEST_F(MeshTest, a_request_to_an_unknown_name_opens_nothing_and_leaves_the_waiter_alone) {
  auto waiter = std::make_shared<BlockingWaiter>();
  const Sent sent = ask("nobody", 1, waiter);
  EXPECT_EQ(sent.result, RouteResult::not_found);
  EXPECT_EQ(sent.request, 0u);
  EXPECT_EQ(uut.requests().size(), 0u);
  EXPECT_FALSE(waiter->done());
}

TEST_F(MeshTest, a_full_mailbox_refuses_tells_and_requests_without_counting_or_opening_them) {
  for (int i = 0; i < 2; ++i) {
    EnvelopePtr env = make_envelope(Kind::tell, i);
    ASSERT_EQ(uut.tell("agent", env), RouteResult::delivered);
  }
  EnvelopePtr refused = make_envelope(Kind::tell, 2);
  EXPECT_EQ(uut.tell("agent", refused), RouteResult::full);
  EXPECT_NE(refused, nullptr);
  auto waiter = std::make_shared<BlockingWaiter>();
  EXPECT_EQ(ask("agent", 3, waiter, Clock::now() + 1h).result, RouteResult::full);
  EXPECT_EQ(uut.requests().size(), 0u);
  EXPECT_EQ(uut.timers().size(), 0u);
  EXPECT_FALSE(waiter->done());
  EXPECT_EQ(uut.work().outstanding(), 2);
}

TEST(MeshOverflow, a_dropped_request_fails_at_once_and_stays_counted_until_disposed_of) {
  ParkedAgent agent{"agent", 1, Overflow::drop_oldest};
  Mesh uut;
  uut.add(agent.cell);
  auto first = std::make_shared<BlockingWaiter>();
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  const Sent sent = uut.request("agent", env, first, Deadline::max());
  ASSERT_EQ(sent.result, RouteResult::delivered);
  EnvelopePtr newer = make_envelope(Kind::tell, 2);
  EXPECT_EQ(uut.tell("agent", newer), RouteResult::delivered);
  ASSERT_TRUE(first->done());
  EXPECT_EQ(first->take().status, Status::dropped);
  EXPECT_EQ(uut.requests().size(), 0u);
  EXPECT_EQ(uut.work().outstanding(), 2);  // the dropped one until its owner disposes of it
  EXPECT_EQ(agent.cell->stats().snapshot().dropped, 1u);
  const std::vector<DeadLetter> letters = uut.dead_letters().snapshot();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].reason, DeadLetterReason::dropped);
  EXPECT_EQ(letters[0].request_id, sent.request);
  std::vector<EnvelopePtr> dropped;
  ASSERT_EQ(agent.cell->mailbox().take_dropped(dropped), 1u);
  uut.work().finish();
  EXPECT_EQ(uut.work().outstanding(), 1);
}

TEST_F(MeshTest, reply_kinds_are_refused_by_tell_and_never_counted) {
  for (Kind kind : {Kind::reply, Kind::error}) {
    EnvelopePtr env = make_envelope(kind, 1);
    EXPECT_THROW(uut.tell("agent", env), std::invalid_argument);
    EXPECT_NE(env, nullptr);
  }
  EXPECT_EQ(uut.work().outstanding(), 0);
  EXPECT_EQ(agent.cell->mailbox().size(), 0u);
}

TEST_F(MeshTest, an_unanswered_request_ends_as_timeout_and_its_agent_is_told) {
  auto waiter = std::make_shared<BlockingWaiter>();
  const Sent sent = ask("agent", 1, waiter, Clock::now() + 10ms);
  ASSERT_TRUE(waiter->wait_until(patience_deadline()));
  EXPECT_EQ(waiter->take().status, Status::timeout);
  ASSERT_TRUE(agent.home->wait_abandoned(1));
  EXPECT_EQ(agent.home->abandoned(), std::vector<RequestId>{sent.request});
}

TEST_F(MeshTest, a_cancelled_request_ends_as_cancelled) {
  auto waiter = std::make_shared<BlockingWaiter>();
  const Sent sent = ask("agent", 1, waiter);
  EXPECT_TRUE(uut.cancel(sent.request));
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::cancelled);
  EXPECT_FALSE(uut.reply(sent.request, Outcome{}));
}

TEST_F(MeshTest, removing_an_agent_ends_its_queued_requests_as_not_found) {
  auto waiter = std::make_shared<BlockingWaiter>();
  ask("agent", 1, waiter);
  std::vector<EnvelopePtr> undelivered;
  EXPECT_EQ(uut.remove("agent", undelivered), agent.cell);
  ASSERT_EQ(undelivered.size(), 1u);
  ASSERT_TRUE(waiter->done());
  EXPECT_EQ(waiter->take().status, Status::not_found);
  EXPECT_TRUE(agent.cell->mailbox().closed());
  EXPECT_EQ(uut.find("agent"), nullptr);
  EXPECT_EQ(uut.work().outstanding(), 0);
  EXPECT_EQ(uut.remove("agent", undelivered), nullptr);
}

TEST_F(MeshTest, close_fails_queued_and_in_flight_requests_and_returns_the_undelivered) {
  auto in_flight = std::make_shared<BlockingWaiter>();
  auto queued = std::make_shared<BlockingWaiter>();
  auto idle = std::make_shared<BlockingWaiter>();
  ask("agent", 1, in_flight);
  ask("agent", 2, queued);
  EnvelopePtr taken = agent.next();  // the "handler" holds this one
  ASSERT_TRUE(uut.work().wait_idle(idle));

  std::vector<EnvelopePtr> undelivered = uut.close();
  ASSERT_EQ(undelivered.size(), 1u);
  EXPECT_EQ(*undelivered[0]->payload.get<int>(), 2);
  for (auto* w : {in_flight.get(), queued.get(), idle.get()}) {
    ASSERT_TRUE(w->done());
    EXPECT_EQ(w->take().status, Status::closed);
  }
  EXPECT_TRUE(uut.closed());
  EXPECT_FALSE(uut.reply(taken->request_id, Outcome{}));  // the late answer is refused
  EXPECT_TRUE(uut.close().empty());                       // idempotent
}

TEST_F(MeshTest, a_closed_mesh_refuses_new_work) {
  uut.close();
  EnvelopePtr env = make_envelope(Kind::tell, 1);
  EXPECT_EQ(uut.tell("agent", env), RouteResult::closed);
  EXPECT_EQ(ask("agent", 1, std::make_shared<BlockingWaiter>()).result, RouteResult::closed);
  ParkedAgent late("late");
  EXPECT_THROW(uut.add(late.cell), MeshClosed);
  EXPECT_THROW(uut.scheduler(), MeshClosed);
  uut.join();
  uut.join();  // idempotent
}

}  // namespace
}  // namespace serendip
