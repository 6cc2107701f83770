// src/mesh.cpp: composition of router, requests, timers, work tracking and scheduler.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/errors.hpp>
#include <serendip/handling_meter.hpp>
#include <serendip/mesh.hpp>

#include <stdexcept>

namespace serendip {

Mesh::Mesh(MeshOptions options)
    : options_(options), dead_letters_(options.dead_letter_capacity) {}

Mesh::~Mesh() {
  close();
  join();
}

void Mesh::add(AgentCellPtr agent) {
  if (closed()) throw MeshClosed();
  router_.add(std::move(agent));
}

AgentCellPtr Mesh::detach(std::string_view name) {
  AgentCellPtr agent = router_.remove(name);
  if (agent) topics_.unsubscribe_all(agent.get());  // a publish finds agents by topic, not name
  return agent;
}

AgentCellPtr Mesh::remove(std::string_view name, std::vector<EnvelopePtr>& undelivered) {
  AgentCellPtr agent = detach(name);
  if (agent) retire(agent, undelivered);
  return agent;
}

void Mesh::retire(const AgentCellPtr& agent, std::vector<EnvelopePtr>& undelivered) {
  undelivered = agent->mailbox().close();
  fail_requests(undelivered, Status::not_found, "the agent was removed before handling it");
  requests_.close_handled_by(agent.get(), Status::not_found,
                             "the agent was removed before answering");
}

std::vector<std::string> Mesh::names() const {
  std::vector<std::string> out;
  for (const auto& agent : router_.agents()) out.push_back(agent->name());
  return out;
}

RouteResult Mesh::deliver(const AgentCellPtr& agent, EnvelopePtr& env) {
  // Counted before the push: once pushed, the handler may finish (and un-count) at once.
  // A dropped envelope stays counted until its owner disposes of it (Mailbox::take_dropped).
  work_.begin();
  if (chosen_for_timing(agent->first_timed(), env->id)) env->enqueued = timing_stamp(Clock::now());
  Mailbox::Dropped dropped;
  PushResult pushed;
  try {
    pushed = agent->mailbox().push(env, &dropped);
  } catch (...) {  // out of memory for the mailbox's ring: `env` is still the caller's
    work_.finish();
    throw;
  }
  RouteResult r = Router::after_push(agent, pushed);
  if (r != RouteResult::delivered) {
    work_.finish();
  } else if (pushed == PushResult::replaced || pushed == PushResult::dropped) {
    on_dropped(*agent, dropped);
  }
  return r;
}

void Mesh::dead_letter(DeadLetterReason reason, std::string_view target, std::string_view sender,
                       MessageId id, RequestId request, std::string detail) {
  dead_letters_.record(DeadLetter{reason, std::string(target), std::string(sender), id, request,
                                  std::move(detail), std::chrono::system_clock::now()});
}

void Mesh::on_dropped(AgentCell& agent, const Mailbox::Dropped& dropped) {
  agent.stats().count_dropped();
  dead_letter(DeadLetterReason::dropped, agent.name(), dropped.sender, dropped.id,
              dropped.request_id, "the mailbox was full");
  if (dropped.kind == Kind::request) {
    requests_.resolve(dropped.request_id,
                      Outcome::failure(Status::dropped, "agent '" + agent.name() +
                                                            "' dropped the request: its mailbox "
                                                            "was full"));
  }
}

RouteResult Mesh::tell(std::string_view target, EnvelopePtr& env) {
  if (closed()) return RouteResult::closed;
  AgentCellPtr agent = router_.find(target);
  if (!agent) {
    env->id = next_message_id_.fetch_add(1, std::memory_order_relaxed);
    const RouteResult r = router_.forward(target, env);  // the transport's turn, if any
    if (r == RouteResult::not_found) {
      dead_letter(DeadLetterReason::unknown_target, target, env->sender, env->id, 0);
    }
    return r;
  }
  return tell(agent, env);
}

RouteResult Mesh::tell(const AgentCellPtr& agent, EnvelopePtr& env) {
  // Reply kinds travel only through the urgent lane and are never counted as work.
  if (env->kind == Kind::reply || env->kind == Kind::error) {
    throw std::invalid_argument("reply and error envelopes are the mesh's own; send tell kinds");
  }
  if (closed()) return RouteResult::closed;
  env->id = next_message_id_.fetch_add(1, std::memory_order_relaxed);
  return deliver(agent, env);
}

Sent Mesh::request(std::string_view target, EnvelopePtr& env, WaiterPtr waiter,
                   Deadline deadline) {
  if (closed()) return {RouteResult::closed, 0};
  AgentCellPtr agent = router_.find(target);
  if (!agent) {
    dead_letter(DeadLetterReason::unknown_target, target, env->sender, 0, 0);
    return {RouteResult::not_found, 0};
  }
  return request(agent, env, std::move(waiter), deadline);
}

Sent Mesh::request(const AgentCellPtr& agent, EnvelopePtr& env, WaiterPtr waiter,
                   Deadline deadline) {
  if (closed()) return {RouteResult::closed, 0};
  env->kind = Kind::request;
  env->id = next_message_id_.fetch_add(1, std::memory_order_relaxed);
  RequestId id = 0;
  try {
    id = requests_.open(std::move(waiter), deadline);
  } catch (const MeshClosed&) {
    return {RouteResult::closed, 0};
  }
  requests_.set_handler(id, agent);
  env->request_id = id;
  RouteResult r = deliver(agent, env);
  if (r != RouteResult::delivered) {
    env->request_id = 0;
    // Its deadline or the mesh's close may have ended the request meanwhile: the waiter then
    // holds that outcome, so the caller must take it rather than retry with the same waiter.
    if (!requests_.discard(id)) return {RouteResult::delivered, id};
    return {r, 0};
  }
  return {r, id};
}

void Mesh::fail_requests(std::vector<EnvelopePtr>& envs, Status status, const char* why) {
  std::int64_t counted = 0;
  for (const auto& env : envs) {
    if (env->kind != Kind::reply && env->kind != Kind::error) ++counted;
  }
  try {
    for (auto& env : envs) {
      if (env->kind == Kind::request) {
        requests_.resolve(env->request_id, Outcome::failure(status, why));
      }
    }
  } catch (...) {  // out of memory for an outcome: the work still ends, or wait_idle would hang
    if (counted > 0) work_.finish(counted);
    throw;
  }
  if (counted > 0) work_.finish(counted);
}

std::vector<EnvelopePtr> Mesh::close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return {};
  requests_.close_all(Status::closed, "the mesh closed");
  std::vector<EnvelopePtr> undelivered;
  for (const auto& agent : router_.agents()) {
    auto left = agent->mailbox().close();
    for (auto& env : left) undelivered.push_back(std::move(env));
  }
  fail_requests(undelivered, Status::closed, "the mesh closed");
  work_.release_all(Status::closed);
  dead_letters_.close_watchers();
  return undelivered;
}

void Mesh::join() {
  std::shared_ptr<Scheduler> scheduler;
  {
    std::lock_guard lock(scheduler_mutex_);
    scheduler = scheduler_;
  }
  if (scheduler) scheduler->stop();
  timers_.stop();
}

std::shared_ptr<Scheduler> Mesh::scheduler() {
  std::lock_guard lock(scheduler_mutex_);
  if (closed()) throw MeshClosed();
  if (!scheduler_) scheduler_ = make_work_sharing(options_.worker_threads);
  return scheduler_;
}

}  // namespace serendip
