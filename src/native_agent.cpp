// src/native_agent.cpp: native agents: handlers, and coroutines resumed on their own agent.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/handling_meter.hpp>
#include <serendip/mesh.hpp>
#include <serendip/native_agent.hpp>

#include "internal/deadline.hpp"
#include "internal/route_failure.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <typeinfo>
#include <utility>

namespace serendip {

namespace detail {

/// One coroutine handler call in flight: the message it handles, its context (which refers to
/// the message) and the Task. Members die in reverse order, so the frame goes first.
struct Invocation {
  Invocation(NativeAgent& agent, EnvelopePtr env)
      : envelope(std::move(env)), context(agent, *envelope, this) {}

  EnvelopePtr envelope;
  NativeContext context;
  Task<Payload> task;
  std::int64_t started = 0;  // from begin_handling
};

}  // namespace detail

namespace {

// Hands a query's outcome to the asking agent as an urgent reply keyed by request id. The id
// is known only once Mesh::request returns, yet the outcome may arrive before that from
// another thread; whichever of the two arrives second sends the reply, with no lock and no
// blocking. Holds the agent weakly: a reply to an agent that is gone has nobody to resume.
class ReplyWaiter final : public Waiter {
 public:
  explicit ReplyWaiter(std::weak_ptr<AgentCell> agent) : agent_(std::move(agent)) {}

  void complete(Outcome&& outcome) noexcept override {
    outcome_ = std::move(outcome);
    arrive();
  }

  void bind(RequestId id) noexcept {
    id_ = id;
    arrive();
  }

 private:
  void arrive() noexcept {
    if (arrivals_.fetch_add(1, std::memory_order_acq_rel) == 1) send();
  }

  void send() noexcept {
    AgentCellPtr agent = agent_.lock();
    if (!agent) return;
    const Kind kind = outcome_.status == Status::ok ? Kind::reply : Kind::error;
    EnvelopePtr env = make_envelope(kind, Payload(std::move(outcome_)));
    env->request_id = id_;
    // Refused only once the agent's mailbox closed; its suspended handler then dies with it.
    Router::deliver_urgent(agent, env);
  }

  std::weak_ptr<AgentCell> agent_;
  RequestId id_ = 0;              // written by bind() before its arrival
  Outcome outcome_;               // written by complete() before its arrival
  std::atomic<int> arrivals_{0};  // the second arrival reads both fields above
};

std::string type_name(const std::exception& e) {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name != nullptr ? name : "std::exception";
  std::free(name);
  return out;
}

// The Outcome for the exception being handled; call only inside a catch block.
Outcome current_failure() {
  try {
    throw;
  } catch (const std::exception& e) {
    return Outcome{Status::error, {}, type_name(e), e.what()};
  } catch (...) {
    return Outcome{Status::error, {}, "unknown", "the handler threw a non-standard exception"};
  }
}

}  // namespace

// -- the agent ---------------------------------------------------------------------------------

NativeAgent::NativeAgent(Key, Mesh& mesh, std::string name, NativeHandler handler,
                         NativeOptions options)
    : AgentCell(std::move(name), options.mailbox_capacity, mesh.scheduler(), options.overflow),
      mesh_(mesh),
      handler_(std::move(handler)),
      max_concurrency_(std::max<std::size_t>(options.max_concurrency, 1)) {}

NativeAgent::~NativeAgent() = default;

std::shared_ptr<NativeAgent> spawn(Mesh& mesh, std::string name, NativeHandler handler,
                                   NativeOptions options) {
  auto agent = std::make_shared<NativeAgent>(NativeAgent::Key{}, mesh, std::move(name),
                                             std::move(handler), options);
  mesh.add(agent);
  return agent;
}

void NativeAgent::dispose_dropped() {
  std::vector<EnvelopePtr> dropped;  // native payloads: disposable on this worker
  if (const std::size_t n = mailbox().take_dropped(dropped); n > 0) {
    mesh_.work().finish(static_cast<std::int64_t>(n));
  }
}

bool NativeAgent::resume(std::size_t budget) {
  // Drops happen only while the mailbox is full, hence scheduled: taking them at each end
  // of a run (after the pops that synchronise with them) leaves none behind.
  dispose_dropped();
  // Finished messages are counted off the mesh's work once per run, not once each: the
  // counter is shared by every thread. Taken out of `finished_` before each pop, because the
  // empty pop hands the agent (and the member) to whichever worker runs it next.
  std::int64_t finished = 0;
  for (std::size_t handled = 0; handled < budget; ++handled) {
    finished += std::exchange(finished_, 0);
    // At the concurrency limit only replies are taken: they are what lets a handler finish.
    // The empty pop that follows leaves the mailbox idle, so the next reply re-arms it.
    EnvelopePtr env = mailbox().pop(in_flight_.size() < max_concurrency_);
    if (!env) {
      if (finished > 0) mesh_.work().finish(finished);
      dispose_dropped();
      return false;
    }
    if (env->kind == Kind::reply || env->kind == Kind::error) {
      on_reply(*env);
    } else {
      handle(std::move(env));
    }
  }
  finished += std::exchange(finished_, 0);
  if (finished > 0) mesh_.work().finish(finished);
  return true;
}

void NativeAgent::handle(EnvelopePtr env) {
  // Cancelled or expired while queued: nobody would read the answer.
  if (env->kind == Kind::request && !mesh_.requests().pending(env->request_id)) {
    mesh_.dead_letter(DeadLetterReason::expired, name(), env->sender, env->id, env->request_id,
                      "the request ended while it was queued");
    ++finished_;
    return;
  }
  if (handler_.plain()) {
    run_plain(*env);
  } else {
    start_coroutine(std::move(env));
  }
}

void NativeAgent::run_plain(Envelope& env) {
  const std::int64_t started = begin_handling(stats(), env);
  NativeContext context(*this, env, nullptr);
  Outcome outcome;
  try {
    outcome = Outcome::success(handler_.plain()(context, std::move(env.payload)));
  } catch (...) {
    outcome = current_failure();
  }
  answer(env, std::move(outcome), started);
}

void NativeAgent::start_coroutine(EnvelopePtr env) {
  auto owned = std::make_unique<detail::Invocation>(*this, std::move(env));
  detail::Invocation* invocation = owned.get();
  invocation->started = begin_handling(stats(), *invocation->envelope);
  try {
    invocation->task =
        handler_.coroutine()(invocation->context, std::move(invocation->envelope->payload));
    if (!invocation->task) throw std::logic_error("the handler returned an empty Task");
  } catch (...) {
    answer(*invocation->envelope, current_failure(), invocation->started);
    return;
  }
  in_flight_.emplace(invocation, std::move(owned));
  invocation->task.start();
  if (invocation->task.done()) finish(invocation);
}

void NativeAgent::on_reply(Envelope& env) {
  auto it = pending_.find(env.request_id);
  Outcome* outcome = env.payload.get<Outcome>();
  // Reply kinds are reserved for the query hand-off; anything else has nobody to resume.
  if (it == pending_.end() || outcome == nullptr) return;
  const Pending pending = it->second;
  pending_.erase(it);
  *pending.slot = std::move(*outcome);
  pending.awaiting.resume();
  if (pending.invocation->task.done()) finish(pending.invocation);
}

void NativeAgent::finish(detail::Invocation* invocation) {
  auto node = in_flight_.extract(invocation);  // keeps the envelope alive until answered
  Outcome outcome;
  try {
    outcome = Outcome::success(invocation->task.result());
  } catch (...) {
    outcome = current_failure();
  }
  // The frame goes before the answer, so that whoever waits for the answer (or for the mesh
  // to go idle) finds every handler-owned object already destroyed.
  invocation->task = {};
  answer(*invocation->envelope, std::move(outcome), invocation->started);
}

void NativeAgent::answer(const Envelope& env, Outcome&& outcome, std::int64_t started) {
  const bool failed = outcome.status == Status::error;
  if (failed && outcome.error_type.empty()) outcome.error_type = "unknown";
  end_handling(stats(), started, failed ? std::string_view(outcome.error_type) : "");
  if (failed && env.kind != Kind::request) {
    mesh_.dead_letter(DeadLetterReason::failed, name(), env.sender, env.id, 0,
                      outcome.error_type + ": " + outcome.error_message);
  }
  // A request that already ended (timeout, cancel, close) refuses it; it dies here.
  if (env.kind == Kind::request) mesh_.reply(env.request_id, std::move(outcome));
  ++finished_;
}

bool NativeAgent::send_query(detail::Invocation* invocation, std::string_view target, Payload payload,
                             std::chrono::milliseconds timeout, Outcome& slot,
                             std::coroutine_handle<> awaiting) {
  if (invocation == nullptr) {
    // A plain handler has no frame this agent could resume.
    slot = Outcome{Status::error, {}, "std::logic_error",
                   "query() must be awaited by a coroutine handler"};
    return false;
  }
  auto waiter = std::make_shared<ReplyWaiter>(weak_from_this());
  EnvelopePtr env = make_envelope(Kind::request, std::move(payload));
  env->sender = name();
  const Sent sent = mesh_.request(target, env, waiter, internal::deadline_after(timeout));
  if (sent.result != RouteResult::delivered) {
    slot = internal::route_failure(sent.result, target);
    return false;
  }
  // Registered before bind(), which may send the reply; it is popped by this agent only after
  // the awaiting coroutine has suspended and control is back in resume().
  pending_.emplace(sent.request, Pending{awaiting, &slot, invocation});
  waiter->bind(sent.request);
  return true;
}

// -- the context -------------------------------------------------------------------------------

const std::string& NativeContext::name() const noexcept { return agent_.name(); }

Mesh& NativeContext::mesh() const noexcept { return agent_.mesh_; }

Deadline NativeContext::deadline() const {
  if (envelope_.kind != Kind::request) return Deadline::max();
  return agent_.mesh_.requests().deadline(envelope_.request_id);
}

RouteResult NativeContext::tell(std::string target, Payload payload) {
  EnvelopePtr env = make_envelope(Kind::tell, std::move(payload));
  env->sender = agent_.name();
  return agent_.mesh_.tell(target, env);
}

bool NativeContext::Query::await_suspend(std::coroutine_handle<> awaiting) {
  return ctx_.agent_.send_query(ctx_.invocation_, target_, std::move(payload_),
                                timeout_, outcome_, awaiting);
}

}  // namespace serendip
