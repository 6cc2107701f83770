// src/client.cpp: blocking tell, ask and wait_idle for plain C++ callers.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/client.hpp>
#include <serendip/mesh.hpp>

#include "internal/deadline.hpp"
#include "internal/route_failure.hpp"

namespace serendip {

namespace {

// Waits until the mailbox frees a slot (or closes), or `until`. True means "push again".
bool wait_for_space(AgentCell& agent, Deadline until) {
  auto space = std::make_shared<BlockingWaiter>();
  if (!agent.mailbox().wait_for_space(space)) return true;  // space already, or closed
  return space->wait_until(until);
}

}  // namespace

RouteResult tell(Mesh& mesh, std::string target, Payload payload) {
  EnvelopePtr env = make_envelope(Kind::tell, std::move(payload));
  return mesh.tell(target, env);
}

RouteResult tell(Mesh& mesh, std::string target, Payload payload, std::chrono::milliseconds wait) {
  AgentCellPtr agent = mesh.find(target);
  if (!agent) return tell(mesh, std::move(target), std::move(payload));  // the transport's turn
  const Deadline until = internal::deadline_after(wait);
  EnvelopePtr env = make_envelope(Kind::tell, std::move(payload));
  for (;;) {
    const RouteResult r = mesh.tell(agent, env);
    if (r != RouteResult::full || !wait_for_space(*agent, until)) return r;
  }
}

Outcome ask(Mesh& mesh, std::string target, Payload payload, std::chrono::milliseconds timeout) {
  AgentCellPtr agent = mesh.find(target);
  if (!agent) return internal::route_failure(RouteResult::not_found, target);
  const Deadline deadline = internal::deadline_after(timeout);
  EnvelopePtr env = make_envelope(Kind::request, std::move(payload));
  auto waiter = std::make_shared<BlockingWaiter>();
  for (;;) {
    const Sent sent = mesh.request(agent, env, waiter, deadline);
    if (sent.result == RouteResult::delivered) break;
    if (sent.result != RouteResult::full) return internal::route_failure(sent.result, target);
    if (!wait_for_space(*agent, deadline)) {
      return Outcome::failure(Status::timeout, "the mailbox of '" + target + "' stayed full");
    }
  }
  // No wait limit needed: the request table ends the request by its deadline, or at close.
  waiter->wait_until(Deadline::max());
  return waiter->take();
}

bool wait_idle(Mesh& mesh, std::chrono::milliseconds timeout) {
  auto idle = std::make_shared<BlockingWaiter>();
  if (!mesh.work().wait_idle(idle)) return true;
  return idle->wait_until(internal::deadline_after(timeout)) && idle->take().status == Status::ok;
}

}  // namespace serendip
