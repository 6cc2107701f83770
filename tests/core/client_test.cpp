// tests/core/client_test.cpp: blocking tell and ask (waiting for space) and wait_idle.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/client.hpp>
#include <serendip/mesh.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <future>
#include <string>

namespace serendip {
namespace {

using namespace std::chrono_literals;
using testing::answer;
using testing::ParkedAgent;
using testing::patience;

// The test plays the target agent, a parked foreign agent with room for one message.
class ClientTest : public ::testing::Test {
 protected:
  ClientTest() { mesh.add(target.cell); }

  ParkedAgent target{"target", 1};
  Mesh mesh;
};

TEST_F(ClientTest, ask_returns_the_reply) {
  auto asked = std::async(std::launch::async, [&] { return ask(mesh, "target", 20); });
  EnvelopePtr env = target.next();
  EXPECT_EQ(env->kind, Kind::request);
  EXPECT_TRUE(env->sender.empty());
  answer(mesh, *env, Outcome::success(*env->payload.get<int>() + 1));
  Outcome outcome = asked.get();
  ASSERT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<int>(), 21);
}

TEST_F(ClientTest, ask_reports_an_unknown_target_as_not_found) {
  EXPECT_EQ(ask(mesh, "nobody", 0).status, Status::not_found);
}

TEST_F(ClientTest, ask_reports_an_unanswered_request_as_timeout) {
  EXPECT_EQ(ask(mesh, "target", 0, 20ms).status, Status::timeout);
  EXPECT_NE(target.next(), nullptr);  // it was delivered; nobody answered
}

TEST_F(ClientTest, ask_on_a_closed_mesh_reports_closed) {
  mesh.close();
  EXPECT_EQ(ask(mesh, "target", 0).status, Status::closed);
}

TEST_F(ClientTest, ask_waits_for_space_in_a_full_mailbox) {
  ASSERT_EQ(tell(mesh, "target", 1), RouteResult::delivered);
  EXPECT_EQ(tell(mesh, "target", 2), RouteResult::full);
  auto asked = std::async(std::launch::async, [&] { return ask(mesh, "target", 3); });
  answer(mesh, *target.next());  // frees the one slot
  EnvelopePtr request = target.next();
  EXPECT_EQ(*request->payload.get<int>(), 3);
  answer(mesh, *request, Outcome::success(std::string("done")));
  EXPECT_EQ(asked.get().status, Status::ok);
}

TEST_F(ClientTest, ask_gives_up_as_timeout_when_the_mailbox_stays_full) {
  ASSERT_EQ(tell(mesh, "target", 1), RouteResult::delivered);
  Outcome outcome = ask(mesh, "target", 2, 20ms);
  EXPECT_EQ(outcome.status, Status::timeout);
  EXPECT_EQ(mesh.requests().size(), 0u);
}

TEST_F(ClientTest, tell_with_a_wait_delivers_once_space_frees_up) {
  ASSERT_EQ(tell(mesh, "target", 1), RouteResult::delivered);
  EXPECT_EQ(tell(mesh, "target", 2, 20ms), RouteResult::full);
  auto told = std::async(std::launch::async, [&] { return tell(mesh, "target", 3, patience); });
  answer(mesh, *target.next());
  EXPECT_EQ(told.get(), RouteResult::delivered);
  EXPECT_EQ(*target.next()->payload.get<int>(), 3);
}

TEST(Client, a_reject_mailbox_refuses_blocking_senders_at_once_instead_of_making_them_wait) {
  ParkedAgent strict{"strict", 1, Overflow::reject};
  Mesh mesh;
  mesh.add(strict.cell);
  ASSERT_EQ(tell(mesh, "strict", 1), RouteResult::delivered);
  // A patience-long wait would be allowed; the policy says not to wait at all.
  EXPECT_EQ(tell(mesh, "strict", 2, patience), RouteResult::rejected);
  const Outcome asked = ask(mesh, "strict", 3, patience);
  EXPECT_EQ(asked.status, Status::error);
  EXPECT_EQ(asked.error_type, "MailboxFull");
  EXPECT_NE(asked.error_message.find("overflow='reject'"), std::string::npos);
  EXPECT_EQ(strict.cell->mailbox().size(), 1u);
}

TEST_F(ClientTest, tell_reports_unknown_targets_and_a_closed_mesh) {
  EXPECT_EQ(tell(mesh, "nobody", 0), RouteResult::not_found);
  EXPECT_EQ(tell(mesh, "nobody", 0, 20ms), RouteResult::not_found);
  mesh.close();
  EXPECT_EQ(tell(mesh, "target", 0), RouteResult::closed);
  EXPECT_EQ(tell(mesh, "target", 0, 20ms), RouteResult::closed);
}

TEST_F(ClientTest, wait_idle_returns_once_every_message_was_handled) {
  EXPECT_TRUE(wait_idle(mesh, 0ms));
  ASSERT_EQ(tell(mesh, "target", 1), RouteResult::delivered);
  EXPECT_FALSE(wait_idle(mesh, 20ms));
  auto idle = std::async(std::launch::async, [&] { return wait_idle(mesh, patience); });
  answer(mesh, *target.next());
  EXPECT_TRUE(idle.get());
}

}  // namespace
}  // namespace serendip
