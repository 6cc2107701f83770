// include/serendip/loop_bridge.hpp: the native side of one event loop: a ready queue and a wake fd.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/home.hpp>
#include <serendip/outcome.hpp>
#include <serendip/waiter.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace serendip {

/// One unit of work for the loop: an agent to run, a wait to complete, or a request to abandon.
struct BridgeItem {
  enum class Kind : std::uint8_t { ready, completion, abandon };
  Kind kind;
  AgentId agent = 0;      ///< for `ready` and `abandon`
  std::uint64_t key = 0;  ///< for `completion`: the waiter's token; for `abandon`: the request id
  Outcome outcome;        ///< for `completion`
};

/// Connects threads that produce work for an event loop to that loop, without ever running
/// code on it: producers append to a queue, and the loop drains the queue when its fd is
/// readable (the loop registers `fd()` with its reader mechanism).
///
/// Cost: one eventfd write per idle->armed transition of the bridge, not per item; one drain
/// takes the whole batch with one lock. A post from the loop's own thread (a handler answering
/// a query from the same loop) skips the fd: the local wake installed by the loop's owner
/// schedules the drain directly, saving the write, the poll and the read.
///
/// Members: `items_`, `armed_`, `closed_` are guarded by `mutex_`; `fd_` is written once at
/// construction and closed by the destructor only; `phase_` is written by the loop thread,
/// its end of a poll under `mutex_`.
class LoopBridge final : public Home, public std::enable_shared_from_this<LoopBridge> {
 public:
  /// Creates the eventfd. Throws std::system_error when the OS refuses.
  LoopBridge();
  ~LoopBridge() override;
  LoopBridge(const LoopBridge&) = delete;
  LoopBridge& operator=(const LoopBridge&) = delete;

  /// The fd the loop watches for readability. Valid until destruction.
  int fd() const noexcept { return fd_; }

  /// Queues `ready` for `agent`. Thread-safe.
  void schedule(const AgentCellPtr& agent) override;
  /// Queues `abandon` for `agent`. Thread-safe.
  void abandon(const AgentCellPtr& agent, RequestId request) override;
  bool foreign() const noexcept override { return true; }

  /// Queues a `completion` item. Thread-safe.
  void post_completion(std::uint64_t token, Outcome&& outcome);

  /// A waiter for this loop (see LoopWaiter); it holds the bridge weakly, so a wait that
  /// outlives its loop is dropped. Thread-safe. One allocation.
  std::shared_ptr<LoopWaiter> make_waiter();

  /// Takes every queued item into `batch` (which must be empty; its capacity is reused) and
  /// re-arms the wake; the loop calls this when `fd()` is readable (a spurious call takes
  /// nothing). With `rearm` false the wake stays disarmed: items posted until the next drain
  /// neither write the fd nor call the local wake, so the caller must drain again once it has
  /// handled this batch (the loop takes what its batch produced in the same turn). Loop
  /// thread only.
  void drain(std::vector<BridgeItem>& batch, bool rearm = true);

  /// Refuses further items (they are dropped where they are posted) and hands back what was
  /// queued. Idempotent. Thread-safe.
  std::vector<BridgeItem> close();

  bool closed() const;

  /// Polls for work for up to `at_most` (and at most kSpinBudget, spin_wait.hpp) before the
  /// loop sleeps in its selector: true once anything is queued, and then the loop must drain
  /// whether or not the fd is readable (posts made while it polls skip the fd: a write and a
  /// read saved per hand-over). The caller has released whatever its loop's callers need
  /// (the binding releases the GIL), so from the first call `between_turns` tells the truth
  /// about this loop. Loop thread only.
  bool wait_for_items(std::chrono::nanoseconds at_most);

  bool between_turns() const noexcept override;

  /// Wakes the loop from its own thread without the fd; false means "use the fd". `query`:
  /// the post is a query's, made inside a QueryScope, whose caller looks for the answer as
  /// soon as the post returns (so the loop's work may run at once, inside the post).
  using LocalWake = bool (*)(void* context, bool query);
  /// Installs (or, with nullptr, removes) the local wake. `context` must stay valid until it
  /// is removed. Thread-safe.
  void set_local_wake(LocalWake wake, void* context);

  /// Marks this thread's posts, while it lives, as a query's (see LocalWake) when `query` is
  /// true. Nests; per thread, so it needs no lock.
  class QueryScope {
   public:
    explicit QueryScope(bool query) noexcept;
    ~QueryScope();
    QueryScope(const QueryScope&) = delete;
    QueryScope& operator=(const QueryScope&) = delete;

   private:
    bool outer_;
  };

 private:
  void post(BridgeItem&& item);

  int fd_ = -1;
  mutable std::mutex mutex_;
  std::vector<BridgeItem> items_;  // guarded by mutex_
  bool armed_ = false;             // guarded by mutex_: true from the fd write until the drain
  bool closed_ = false;            // guarded by mutex_
  bool fd_written_ = false;  // guarded by mutex_: the fd holds a count to read
  LocalWake local_wake_ = nullptr;  // guarded by mutex_
  void* local_context_ = nullptr;   // guarded by mutex_
  std::atomic<std::thread::id> owner_{};  // the thread that drains: the loop's
  std::atomic<bool> queued_{false};  // items_ is not empty; read without the lock while polling
  enum class Phase : std::uint8_t { unknown, turn, polling };
  std::atomic<Phase> phase_{Phase::unknown};  // unknown until the loop first polls
};

/// A wait whose outcome the loop's own thread collects. An outcome that arrives before the
/// loop listens (the answer of a plain handler that the query's own post ran, see LocalWake)
/// stays here for `take`: no completion item, no future. Once the loop listens, the outcome
/// is queued on the bridge as a `completion` item carrying the token it listens with.
///
/// `complete` may run on any thread, once; `listen` and `take` on the loop's thread. Exactly
/// one of them gets the outcome: `state_` decides, by one compare-and-swap on each side.
class LoopWaiter final : public Waiter {
 public:
  explicit LoopWaiter(std::weak_ptr<LoopBridge> bridge) : bridge_(std::move(bridge)) {}

  void complete(Outcome&& outcome) noexcept override;

  /// From now on the outcome arrives as a completion item carrying `token`; false when it has
  /// arrived already (then `take` it). Once only.
  bool listen(std::uint64_t token) noexcept;

  /// True until `listen` succeeded: the caller still looks for the outcome itself.
  bool unlistened() const noexcept {
    return state_.load(std::memory_order_relaxed) != State::listening;
  }

  /// The outcome, once: when it has arrived and nobody listens; nullopt otherwise.
  std::optional<Outcome> take();

 private:
  enum class State : std::uint8_t { waiting, arrived, listening, taken };
  std::weak_ptr<LoopBridge> bridge_;
  std::atomic<State> state_{State::waiting};
  Outcome outcome_;          // written by complete before it publishes `arrived`
  std::uint64_t token_ = 0;  // written by listen before it publishes `listening`
};

}  // namespace serendip
