// include/serendip/native_context.hpp: a native handler's view of its message, and its voice.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/envelope.hpp>
#include <serendip/fwd.hpp>
#include <serendip/outcome.hpp>
#include <serendip/route_result.hpp>

#include <chrono>
#include <coroutine>
#include <string>
#include <string_view>

namespace serendip {

class NativeAgent;
namespace detail {
struct Invocation;
}

/// Passed by reference to every native handler invocation; valid until that invocation
/// returns (for a coroutine handler: until its Task finishes, across every co_await).
/// Owner only: the handler it was passed to, which runs on its agent, one step at a time.
class NativeContext {
 public:
  /// The awaitable that `query` returns: sends the request when awaited, and resumes the
  /// awaiting coroutine on its own agent with the request's Outcome. Never throws on
  /// failure: not_found, closed, a full mailbox (`error`, type "MailboxFull") and timeout
  /// all arrive as the Outcome. Owner only; await it once, right away.
  class [[nodiscard]] Query {
   public:
    bool await_ready() const noexcept { return false; }
    /// Sends the request; false (resume at once) when it could not be delivered.
    bool await_suspend(std::coroutine_handle<> awaiting);
    Outcome await_resume() noexcept { return std::move(outcome_); }

   private:
    friend class NativeContext;
    Query(NativeContext& ctx, std::string target, Payload payload,
          std::chrono::milliseconds timeout)
        : ctx_(ctx), target_(std::move(target)), payload_(std::move(payload)), timeout_(timeout) {}

    NativeContext& ctx_;
    std::string target_;
    Payload payload_;
    std::chrono::milliseconds timeout_;
    Outcome outcome_;  // written by the agent before it resumes the awaiting coroutine
  };

  NativeContext(const NativeContext&) = delete;
  NativeContext& operator=(const NativeContext&) = delete;

  /// The sending agent's name; empty when sent from outside any agent. Owner only.
  std::string_view sender() const noexcept { return envelope_.sender; }
  /// This agent's name. Owner only.
  const std::string& name() const noexcept;
  /// The message being handled. Owner only.
  MessageId message_id() const noexcept { return envelope_.id; }
  /// The request this handler answers by returning; 0 for one-way messages. Owner only.
  RequestId request_id() const noexcept { return envelope_.request_id; }
  /// When the caller stops waiting: Deadline::max() for one-way messages and requests without
  /// one, Deadline::min() once the request has ended (answered, cancelled, expired). Asks the
  /// mesh's RequestTable (a lock). Owner only.
  Deadline deadline() const;
  /// The mesh this agent belongs to. Owner only.
  Mesh& mesh() const noexcept;

  /// Sends a one-way message from this agent; never blocks (a full mailbox is reported, not
  /// waited for). Owner only.
  RouteResult tell(std::string target, Payload payload);

  /// Asks `target`; `co_await` the result for its Outcome. The request ends as `timeout` if no
  /// reply comes within `timeout` (milliseconds::max() means no deadline). Only from a
  /// coroutine handler. Owner only; one allocation for the reply hand-off.
  Query query(std::string target, Payload payload,
              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return Query(*this, std::move(target), std::move(payload), timeout);
  }

 private:
  friend class NativeAgent;
  friend struct detail::Invocation;
  NativeContext(NativeAgent& agent, const Envelope& envelope, detail::Invocation* invocation)
      : agent_(agent), envelope_(envelope), invocation_(invocation) {}

  NativeAgent& agent_;
  const Envelope& envelope_;
  detail::Invocation* invocation_;  // null for a plain (non-coroutine) handler
};

}  // namespace serendip
