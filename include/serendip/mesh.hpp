// include/serendip/mesh.hpp: the mesh: agents, routing, requests and their deadlines, and shutdown.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_cell.hpp>
#include <serendip/dead_letter_log.hpp>
#include <serendip/request_table.hpp>
#include <serendip/route_result.hpp>
#include <serendip/router.hpp>
#include <serendip/scheduler.hpp>
#include <serendip/timer_queue.hpp>
#include <serendip/topic_table.hpp>
#include <serendip/work_tracker.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace serendip {

struct MeshOptions {
  /// Worker threads for native agents; 0 means one per hardware thread. Started on the first
  /// native agent, so a mesh of foreign agents only has no worker threads.
  std::size_t worker_threads = 0;
  /// Dead letters kept (the newest); older ones are counted and forgotten.
  std::size_t dead_letter_capacity = 1000;
};

/// What a send did: the routing result and, for a delivered request, its id.
struct Sent {
  RouteResult result;
  RequestId request = 0;
};

/// Composes the router, request table, timer thread, work tracker and scheduler.
///
/// Lifetime: `close()` refuses new work, fails what is queued and in flight, and returns the
/// undelivered envelopes so the caller can dispose of their payloads on its own thread;
/// `join()` then stops and joins the native threads. The destructor does both.
class Mesh {
 public:
  explicit Mesh(MeshOptions options = {});
  ~Mesh();
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  /// Registers `agent`. Throws DuplicateAgent or MeshClosed. Thread-safe.
  void add(AgentCellPtr agent);
  /// Unregisters `name` and closes its mailbox; its queued requests end as `not_found`.
  /// Returns the agent (null if unknown) and, in `undelivered`, the envelopes it never handled.
  /// Thread-safe.
  AgentCellPtr remove(std::string_view name, std::vector<EnvelopePtr>& undelivered);
  /// The first half of a draining removal: unregisters `name` and its subscriptions (new
  /// sends and publishes find no agent) but leaves its mailbox open for its owner to drain.
  /// Returns the agent, null if unknown. Thread-safe.
  AgentCellPtr detach(std::string_view name);
  /// The second half: closes the mailbox of a detached agent and ends what it left, as
  /// `remove` does. Thread-safe.
  void retire(const AgentCellPtr& agent, std::vector<EnvelopePtr>& undelivered);
  AgentCellPtr find(std::string_view name) const { return router_.find(name); }
  std::vector<std::string> names() const;

  /// Sends a one-way envelope to `target`: fills its id and routes it. Takes `env` only on
  /// `delivered`. Thread-safe.
  RouteResult tell(std::string_view target, EnvelopePtr& env);
  /// Like tell, to one agent already looked up (skips the name lookup). Thread-safe.
  /// Throws std::invalid_argument for `reply`/`error` kinds, which only the mesh sends.
  RouteResult tell(const AgentCellPtr& agent, EnvelopePtr& env);

  /// Sends `env` to `target` as a request that `waiter` hears the end of. Fills its id and
  /// request id; the RequestTable keeps the deadline. On `delivered` the waiter will hear the
  /// end (if the deadline or close ended the request while a full mailbox refused it, `env`
  /// stays with the caller but the waiter has that outcome). On anything else nothing was
  /// opened, `env` stays with the caller and `waiter` is untouched (the caller may wait for
  /// space and retry). Thread-safe.
  Sent request(std::string_view target, EnvelopePtr& env, WaiterPtr waiter, Deadline deadline);
  /// Like request, to one agent already looked up. Thread-safe.
  Sent request(const AgentCellPtr& agent, EnvelopePtr& env, WaiterPtr waiter, Deadline deadline);

  /// Records a message that reached no handler. Thread-safe.
  void dead_letter(DeadLetterReason reason, std::string_view target, std::string_view sender,
                   MessageId id, RequestId request, std::string detail = {});

  /// Answers a request; false if it already ended (the outcome stays with the caller).
  /// Thread-safe.
  bool reply(RequestId id, Outcome&& outcome) { return requests_.resolve(id, std::move(outcome)); }
  /// Gives up a request; false if it already ended. Thread-safe.
  bool cancel(RequestId id) { return requests_.cancel(id); }

  /// Refuses new work, ends every request as `closed`, releases idle waiters, and closes every
  /// mailbox. Returns the envelopes that were never handled. Idempotent. Thread-safe;
  /// does not block on other threads.
  std::vector<EnvelopePtr> close();
  /// Stops and joins the scheduler and timer threads. Call after close(). Blocks.
  void join();
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  Router& router() noexcept { return router_; }
  RequestTable& requests() noexcept { return requests_; }
  WorkTracker& work() noexcept { return work_; }
  TimerQueue& timers() noexcept { return timers_; }
  DeadLetterLog& dead_letters() noexcept { return dead_letters_; }
  TopicTable& topics() noexcept { return topics_; }
  /// The native scheduler, started on first use. Throws MeshClosed after close().
  std::shared_ptr<Scheduler> scheduler();

 private:
  RouteResult deliver(const AgentCellPtr& agent, EnvelopePtr& env);
  /// Fails a dropped request at once: its asker need not wait for its deadline.
  void on_dropped(AgentCell& agent, const Mailbox::Dropped& dropped);
  /// Ends the requests among `envs` with `status`; they stay in `envs` for the caller.
  void fail_requests(std::vector<EnvelopePtr>& envs, Status status, const char* why);

  const MeshOptions options_;
  std::atomic<bool> closed_{false};
  std::atomic<MessageId> next_message_id_{1};
  TimerQueue timers_;
  RequestTable requests_{timers_};
  Router router_;
  WorkTracker work_;
  DeadLetterLog dead_letters_;
  TopicTable topics_;
  std::mutex scheduler_mutex_;
  std::shared_ptr<Scheduler> scheduler_;  // guarded by scheduler_mutex_
};

}  // namespace serendip
