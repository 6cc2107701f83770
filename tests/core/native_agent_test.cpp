// tests/core/native_agent_test.cpp: native agents: answers, order, concurrency, queries, close.
// SPDX-License-Identifier: Apache-2.0
//
// Agents under test talk to each other and to a "gate": a parked foreign agent whose mailbox
// the test pops by hand. Holding a gate query keeps a coroutine handler suspended for exactly
// as long as the test wants, so concurrency and back-pressure are checked without sleeping.
#include <serendip/client.hpp>
#include <serendip/errors.hpp>
#include <serendip/native_agent.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace serendip {
namespace {

using namespace std::chrono_literals;
using testing::answer;
using testing::ParkedAgent;
using testing::patience;
using testing::patience_deadline;

class NativeAgentTest : public ::testing::Test {
 protected:
  NativeAgentTest() {
    mesh.add(gate.cell);
    spawn(mesh, "echo", [](NativeContext&, Payload p) { return p; });
  }

  // Sends a request without blocking, so the test can go on playing the gate.
  std::shared_ptr<BlockingWaiter> request(const std::string& target, int n) {
    auto waiter = std::make_shared<BlockingWaiter>();
    EnvelopePtr env = make_envelope(Kind::request, n);
    EXPECT_EQ(mesh.request(target, env, waiter, Deadline::max()).result, RouteResult::delivered);
    return waiter;
  }

  static Outcome outcome_of(BlockingWaiter& waiter) {
    EXPECT_TRUE(waiter.wait_until(patience_deadline()));
    return waiter.take();
  }

  ParkedAgent gate{"gate"};
  Mesh mesh{MeshOptions{.worker_threads = 4}};
};

Task<Payload> wait_at_gate(NativeContext& ctx, Payload p) {
  co_await ctx.query("gate", 0, 1h);
  co_return p;
}

TEST_F(NativeAgentTest, a_plain_handler_answers_a_request_with_its_return_value) {
  spawn(mesh, "uut", [](NativeContext&, Payload p) { return *p.get<int>() + 1; });
  Outcome outcome = ask(mesh, "uut", 41);
  ASSERT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<int>(), 42);
}

TEST_F(NativeAgentTest, the_context_names_the_sender_the_agent_and_the_request) {
  spawn(mesh, "probe", [this](NativeContext& ctx, Payload) {
    return std::string(ctx.sender()) + "|" + ctx.name() + "|" + std::to_string(ctx.request_id() != 0) +
           std::to_string(ctx.message_id() != 0) +
           std::to_string(ctx.deadline() != Deadline::max()) + std::to_string(&ctx.mesh() == &mesh);
  });
  spawn(mesh, "caller", [](NativeContext& ctx, Payload) -> Task<Payload> {
    ctx.tell("gate", std::string("note"));
    Outcome probed = co_await ctx.query("probe", 0);
    co_return std::move(probed.payload);
  });
  Outcome via_caller = ask(mesh, "caller", 0);
  ASSERT_EQ(via_caller.status, Status::ok);
  EXPECT_EQ(*via_caller.payload.get<std::string>(), "caller|probe|1111");
  Outcome direct = ask(mesh, "probe", 0);
  EXPECT_EQ(*direct.payload.get<std::string>(), "|probe|1111");

  EnvelopePtr note = gate.next();
  EXPECT_EQ(note->kind, Kind::tell);
  EXPECT_EQ(note->sender, "caller");
  EXPECT_EQ(*note->payload.get<std::string>(), "note");
  answer(mesh, *note);
}

TEST_F(NativeAgentTest, a_handler_exception_becomes_an_error_with_its_type_and_message) {
  spawn(mesh, "plain", [](NativeContext&, Payload) -> Payload {
    throw std::invalid_argument("bad input");
  });
  spawn(mesh, "coroutine", [](NativeContext& ctx, Payload) -> Task<Payload> {
    co_await ctx.query("echo", 1);
    throw std::out_of_range("too far");
  });
  spawn(mesh, "odd", [](NativeContext&, Payload) -> Payload { throw 42; });

  Outcome plain = ask(mesh, "plain", 0);
  EXPECT_EQ(plain.status, Status::error);
  EXPECT_EQ(plain.error_type, "std::invalid_argument");
  EXPECT_EQ(plain.error_message, "bad input");
  Outcome coroutine = ask(mesh, "coroutine", 0);
  EXPECT_EQ(coroutine.status, Status::error);
  EXPECT_EQ(coroutine.error_type, "std::out_of_range");
  EXPECT_EQ(coroutine.error_message, "too far");
  EXPECT_EQ(ask(mesh, "odd", 0).status, Status::error);
}

TEST_F(NativeAgentTest, stats_count_and_time_what_handlers_did_and_failed_tells_are_dead_letters) {
  auto plain = spawn(mesh, "plain", [](NativeContext&, Payload p) -> Payload {
    if (*p.get<int>() < 0) throw std::invalid_argument("negative");
    return p;
  });
  auto coroutine = spawn(mesh, "coroutine", [](NativeContext& ctx, Payload p) -> Task<Payload> {
    co_await ctx.query("echo", 1);
    if (*p.get<int>() < 0) throw std::out_of_range("negative");
    co_return p;
  });
  for (const char* name : {"plain", "coroutine"}) {
    EXPECT_EQ(ask(mesh, name, 1).status, Status::ok);
    EXPECT_EQ(ask(mesh, name, -1).status, Status::error);
    EXPECT_EQ(tell(mesh, name, -2), RouteResult::delivered);
  }
  ASSERT_TRUE(wait_idle(mesh, std::chrono::duration_cast<std::chrono::milliseconds>(patience)));
  for (const auto& [agent, type] : {std::pair{plain, "std::invalid_argument"},
                                    std::pair{coroutine, "std::out_of_range"}}) {
    const AgentStats::Snapshot s = agent->stats().snapshot();
    EXPECT_EQ(s.handled, 3u);
    EXPECT_EQ(s.failed, 2u);
    EXPECT_EQ(s.in_flight, 0);
    EXPECT_EQ(s.queue_wait.count, 3u);  // an agent's first messages are all timed
    EXPECT_EQ(s.handler_time.count, 3u);
    ASSERT_EQ(s.errors.size(), 1u);
    EXPECT_EQ(s.errors[0].first, type);
    EXPECT_EQ(s.errors[0].second, 2u);
  }
  const std::vector<DeadLetter> letters = mesh.dead_letters().snapshot();
  ASSERT_EQ(letters.size(), 2u);  // only the failed tells: failed requests told their askers
  for (const DeadLetter& d : letters) EXPECT_EQ(d.reason, DeadLetterReason::failed);
  EXPECT_EQ(letters[0].detail.rfind("std::", 0), 0u);
}

Task<int> doubled(NativeContext& ctx, int n) {
  Outcome echoed = co_await ctx.query("echo", n);
  co_return 2 * *echoed.payload.get<int>();
}

TEST_F(NativeAgentTest, a_handler_may_await_helper_tasks_that_query_other_agents) {
  spawn(mesh, "uut", [](NativeContext& ctx, Payload) -> Task<Payload> {
    const int a = co_await doubled(ctx, 1);
    const int b = co_await doubled(ctx, 2);
    co_return a + b;
  });
  Outcome outcome = ask(mesh, "uut", 0);
  ASSERT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<int>(), 6);
}

TEST_F(NativeAgentTest, queries_that_cannot_be_delivered_end_at_once_with_their_reason) {
  spawn(mesh, "full", wait_at_gate, NativeOptions{.mailbox_capacity = 1});
  tell(mesh, "full", 0);
  EnvelopePtr held = gate.next();  // "full" is busy, its one slot free again
  tell(mesh, "full", 1);           // and now taken
  spawn(mesh, "uut", [](NativeContext& ctx, Payload) -> Task<Payload> {
    Outcome missing = co_await ctx.query("nobody", 0);
    Outcome refused = co_await ctx.query("full", 0);
    co_return std::string(to_string(missing.status)) + " " + to_string(refused.status) + " " +
        refused.error_type;
  });
  Outcome outcome = ask(mesh, "uut", 0);
  ASSERT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<std::string>(), "not_found error MailboxFull");
  answer(mesh, *held);
  answer(mesh, *gate.next());
  EXPECT_TRUE(wait_idle(mesh, patience));
}

TEST_F(NativeAgentTest, one_way_messages_are_handled_once_each_and_counted_until_done) {
  std::atomic<int> handled{0};
  spawn(mesh, "uut", [&](NativeContext&, Payload) -> Payload {
    ++handled;
    return {};
  });
  for (int i = 0; i < 100; ++i) ASSERT_EQ(tell(mesh, "uut", i), RouteResult::delivered);
  ASSERT_TRUE(wait_idle(mesh, patience));
  EXPECT_EQ(handled, 100);
  EXPECT_EQ(mesh.work().outstanding(), 0);
}

TEST_F(NativeAgentTest, with_max_concurrency_one_messages_are_handled_in_order_across_awaits) {
  std::vector<int> seen;  // agent state: touched only by the agent's handlers
  spawn(mesh, "uut", [&](NativeContext& ctx, Payload p) -> Task<Payload> {
    const int n = *p.get<int>();
    co_await ctx.query("echo", n);
    co_await ctx.query("echo", n);
    seen.push_back(n);
    co_return Payload{};
  });
  constexpr int count = 300;
  for (int i = 0; i < count; ++i) ASSERT_EQ(tell(mesh, "uut", i, patience), RouteResult::delivered);
  ASSERT_TRUE(wait_idle(mesh, patience));
  std::vector<int> expected(count);
  for (int i = 0; i < count; ++i) expected[i] = i;
  EXPECT_EQ(seen, expected);
}

TEST_F(NativeAgentTest, no_more_than_max_concurrency_handlers_are_ever_in_flight) {
  constexpr int limit = 3;
  constexpr int count = 10;
  std::atomic<int> in_flight{0};
  std::atomic<int> most{0};
  spawn(
      mesh, "uut",
      [&](NativeContext& ctx, Payload p) -> Task<Payload> {
        const int now = ++in_flight;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        co_await ctx.query("gate", 0, 1h);
        --in_flight;
        co_return p;
      },
      NativeOptions{.max_concurrency = limit});

  std::vector<std::shared_ptr<BlockingWaiter>> waiters;
  for (int i = 0; i < count; ++i) waiters.push_back(request("uut", i));
  std::deque<EnvelopePtr> held;
  for (int i = 0; i < limit; ++i) held.push_back(gate.next());
  // Three handlers hold the gate: no fourth may have started, so no fourth query exists.
  EXPECT_EQ(gate.cell->mailbox().size(), 0u);
  for (int answered = 0; answered < count; ++answered) {
    answer(mesh, *held.front());
    held.pop_front();
    if (answered + limit < count) held.push_back(gate.next());  // one finished, one starts
    EXPECT_EQ(gate.cell->mailbox().size(), 0u);
  }
  for (int i = 0; i < count; ++i) {
    Outcome outcome = outcome_of(*waiters[i]);
    ASSERT_EQ(outcome.status, Status::ok);
    EXPECT_EQ(*outcome.payload.get<int>(), i);
  }
  EXPECT_EQ(most, limit);
}

TEST_F(NativeAgentTest, a_full_mailbox_refuses_messages_until_the_busy_handler_frees_a_slot) {
  auto uut = spawn(mesh, "uut", wait_at_gate, NativeOptions{.mailbox_capacity = 2});
  ASSERT_EQ(tell(mesh, "uut", 1), RouteResult::delivered);
  EnvelopePtr held = gate.next();  // message 1 in flight, out of the mailbox
  ASSERT_EQ(tell(mesh, "uut", 2), RouteResult::delivered);
  ASSERT_EQ(tell(mesh, "uut", 3), RouteResult::delivered);
  EXPECT_EQ(tell(mesh, "uut", 4), RouteResult::full);
  EXPECT_EQ(ask(mesh, "uut", 5, 20ms).status, Status::timeout);  // gave up waiting for space

  auto space = std::make_shared<BlockingWaiter>();
  ASSERT_TRUE(uut->mailbox().wait_for_space(space));
  answer(mesh, *held);  // message 1 done, so message 2 is taken
  ASSERT_TRUE(space->wait_until(patience_deadline()));
  EXPECT_EQ(space->take().status, Status::ok);
  EXPECT_EQ(tell(mesh, "uut", 4), RouteResult::delivered);
  for (int i = 0; i < 3; ++i) answer(mesh, *gate.next());
  EXPECT_TRUE(wait_idle(mesh, patience));
}

TEST_F(NativeAgentTest, a_query_nobody_answers_ends_as_timeout_at_its_deadline) {
  spawn(mesh, "uut", [](NativeContext& ctx, Payload) -> Task<Payload> {
    Outcome outcome = co_await ctx.query("gate", 0, 20ms);
    co_return std::string(to_string(outcome.status));
  });
  Outcome outcome = ask(mesh, "uut", 0);
  ASSERT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(*outcome.payload.get<std::string>(), "timeout");
  ASSERT_TRUE(gate.home->wait_abandoned(1));  // and the gate was told nobody waits any more
  answer(mesh, *gate.next());
}

TEST_F(NativeAgentTest, a_request_that_ended_while_queued_is_not_handled) {
  std::atomic<int> calls{0};
  spawn(mesh, "uut", [&](NativeContext& ctx, Payload p) -> Task<Payload> {
    ++calls;
    co_return co_await wait_at_gate(ctx, std::move(p));
  });
  auto first = request("uut", 1);
  EnvelopePtr env = make_envelope(Kind::request, 2);
  auto second = std::make_shared<BlockingWaiter>();
  const Sent sent = mesh.request("uut", env, second, Deadline::max());
  EnvelopePtr held = gate.next();  // the first is in flight, the second queued behind it
  ASSERT_TRUE(mesh.cancel(sent.request));
  answer(mesh, *held);
  EXPECT_EQ(outcome_of(*first).status, Status::ok);
  EXPECT_EQ(outcome_of(*second).status, Status::cancelled);
  ASSERT_TRUE(wait_idle(mesh, patience));  // the skipped message was still counted as done
  EXPECT_EQ(calls, 1);
}

TEST_F(NativeAgentTest, close_ends_every_request_while_handlers_are_suspended) {
  spawn(mesh, "uut", wait_at_gate, NativeOptions{.max_concurrency = 4});
  std::vector<std::shared_ptr<BlockingWaiter>> waiters;
  for (int i = 0; i < 8; ++i) waiters.push_back(request("uut", i));
  for (int i = 0; i < 4; ++i) gate.next();  // four suspended handlers, four queued messages

  // Whether a queued message is handed back or popped and skipped races with the workers
  // resuming the handlers; either way every request has ended by the time close returns.
  mesh.close();
  for (auto& w : waiters) {
    ASSERT_TRUE(w->done());
    EXPECT_EQ(w->take().status, Status::closed);
  }
  EXPECT_EQ(mesh.requests().size(), 0u);
  mesh.join();
}

TEST_F(NativeAgentTest, a_coroutine_always_resumes_on_its_own_agent_one_step_at_a_time) {
  constexpr int agents = 4;
  constexpr int per_agent = SERENDIP_TEST_SCALE_DOWN ? 50 : 300;
  std::map<std::string, std::atomic<bool>> running;
  for (int a = 0; a < agents; ++a) running["coordinator-" + std::to_string(a)] = false;
  std::atomic<int> overlaps{0};
  auto enter = [&](const std::string& name) {
    if (running.at(name).exchange(true)) ++overlaps;
  };
  auto leave = [&](const std::string& name) { running.at(name) = false; };

  for (int a = 0; a < agents; ++a) {
    spawn(
        mesh, "coordinator-" + std::to_string(a),
        [&](NativeContext& ctx, Payload p) -> Task<Payload> {
          enter(ctx.name());
          int total = 0;
          for (int i = 0; i < 3; ++i) {
            leave(ctx.name());
            Outcome echoed = co_await ctx.query("echo", i);
            enter(ctx.name());
            total += *echoed.payload.get<int>();
          }
          leave(ctx.name());
          co_return total + *p.get<int>();
        },
        NativeOptions{.max_concurrency = 8});
  }
  std::vector<std::shared_ptr<BlockingWaiter>> waiters;
  for (int i = 0; i < per_agent; ++i) {
    for (int a = 0; a < agents; ++a) {
      waiters.push_back(request("coordinator-" + std::to_string(a), i));
    }
  }
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    Outcome outcome = outcome_of(*waiters[i]);
    ASSERT_EQ(outcome.status, Status::ok);
    EXPECT_EQ(*outcome.payload.get<int>(), 3 + static_cast<int>(i) / agents);
  }
  EXPECT_EQ(overlaps, 0);
}

TEST_F(NativeAgentTest, spawn_refuses_a_taken_name_and_a_closed_mesh) {
  EXPECT_THROW(spawn(mesh, "echo", [](NativeContext&, Payload p) { return p; }), DuplicateAgent);
  mesh.close();
  EXPECT_THROW(spawn(mesh, "late", [](NativeContext&, Payload p) { return p; }), MeshClosed);
}

}  // namespace
}  // namespace serendip
