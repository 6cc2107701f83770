// include/serendip/native_agent.hpp: agents whose handlers are C++ functions or coroutines.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_cell.hpp>
#include <serendip/native_context.hpp>
#include <serendip/task.hpp>

#include <chrono>
#include <concepts>
#include <coroutine>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

namespace serendip {

/// How a native agent runs its handler.
struct NativeOptions {
  /// Handler invocations in flight at once; a suspended coroutine counts. 1 (the default)
  /// handles the mailbox in strict order, one message at a time.
  std::size_t max_concurrency = 1;
  /// Bound of the mailbox's normal lane; beyond it `overflow` decides.
  std::size_t mailbox_capacity = 1024;
  Overflow overflow = Overflow::wait;
};

/// A native agent's handler: `(NativeContext&, Payload) -> Payload` runs to completion;
/// `(NativeContext&, Payload) -> Task<Payload>` may `co_await` Tasks and `ctx.query`. The
/// result answers a request; an exception becomes an `error` Outcome. Coroutine handlers must
/// take the Payload by value (a reference would dangle after the first suspension).
/// Immutable after construction; called only by its agent.
class NativeHandler {
 public:
  using Plain = std::function<Payload(NativeContext&, Payload)>;
  using Coroutine = std::function<Task<Payload>(NativeContext&, Payload)>;

  /// Picks the kind from what `f` returns.
  template <class F>
    requires std::invocable<F&, NativeContext&, Payload>
  NativeHandler(F f) {  // NOLINT(google-explicit-constructor): lambdas convert implicitly
    using R = std::invoke_result_t<F&, NativeContext&, Payload>;
    if constexpr (std::is_same_v<R, Task<Payload>>) {
      coroutine_ = std::move(f);
    } else {
      static_assert(std::is_convertible_v<R, Payload>, "handlers return Payload or Task<Payload>");
      plain_ = std::move(f);
    }
  }

  /// Exactly one of the two is set.
  const Plain& plain() const noexcept { return plain_; }
  const Coroutine& coroutine() const noexcept { return coroutine_; }

 private:
  Plain plain_;
  Coroutine coroutine_;
};

class NativeAgent;

/// Creates a native agent run by `mesh.scheduler()` and registers it. Throws DuplicateAgent,
/// or MeshClosed after close(). Thread-safe.
std::shared_ptr<NativeAgent> spawn(Mesh& mesh, std::string name, NativeHandler handler,
                                   NativeOptions options = {});

/// An agent whose handler is C++. Run by the mesh's scheduler workers: at most one worker at
/// a time runs it, and every coroutine handler is resumed only by its own agent (query replies
/// come back through the mailbox's urgent lane), so agent state is never touched by two threads
/// at once. Requests it handles are answered with the handler's result; every message it
/// takes from the normal lane is reported to the mesh's WorkTracker once its handler is done.
///
/// Ownership: created by spawn(); shared by the mesh's Router and the scheduler while queued.
/// Owns the frames of its suspended coroutine handlers, which die with it. The mesh must
/// outlive every call into the agent. Cancelled or expired requests do not interrupt a
/// running handler: its late answer is dropped.
class NativeAgent final : public AgentCell {
  struct Key {
    explicit Key() = default;
  };

 public:
  /// Use spawn().
  NativeAgent(Key, Mesh& mesh, std::string name, NativeHandler handler, NativeOptions options);
  /// Destroys the frames of handlers still suspended, without touching the mesh, so it may
  /// run after the mesh is gone, on whichever thread drops the last reference.
  ~NativeAgent() override;

  /// Handles up to `budget` messages and replies, urgent lane first, taking new messages only
  /// while fewer than `max_concurrency` handlers are in flight. Owner only: the worker that
  /// took this agent from the scheduler's queue.
  bool resume(std::size_t budget) override;

 private:
  friend class NativeContext;
  friend class NativeContext::Query;
  friend std::shared_ptr<NativeAgent> spawn(Mesh&, std::string, NativeHandler, NativeOptions);

  /// A coroutine suspended in `ctx.query`, waiting for the reply to one request.
  struct Pending {
    std::coroutine_handle<> awaiting;
    Outcome* slot;  // the Query's outcome, inside the suspended frame
    detail::Invocation* invocation;
  };

  void handle(EnvelopePtr env);
  void dispose_dropped();
  void run_plain(Envelope& env);
  void start_coroutine(EnvelopePtr env);
  void on_reply(Envelope& env);
  void finish(detail::Invocation* invocation);
  /// Ends one invocation begun at `started` (see handling_meter.hpp): counts it, answers it,
  /// and leaves it in `finished_` for resume() to count off the mesh's work.
  void answer(const Envelope& env, Outcome&& outcome, std::int64_t started);
  bool send_query(detail::Invocation* invocation, std::string_view target, Payload payload,
                  std::chrono::milliseconds timeout, Outcome& slot,
                  std::coroutine_handle<> awaiting);

  Mesh& mesh_;
  const NativeHandler handler_;
  const std::size_t max_concurrency_;
  // Owner only: touched by resume() and what it calls. Successive workers are ordered by the
  // mailbox's lock (the empty pop of one happens before the armed push that reschedules).
  std::unordered_map<detail::Invocation*, std::unique_ptr<detail::Invocation>> in_flight_;
  std::unordered_map<RequestId, Pending> pending_;
  std::int64_t finished_ = 0;  // messages done since resume() last counted them off
};

}  // namespace serendip
