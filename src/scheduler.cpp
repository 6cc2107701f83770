// src/scheduler.cpp: the native worker pools behind Scheduler.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_cell.hpp>
#include <serendip/scheduler.hpp>
#include <serendip/spin_wait.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace serendip {

namespace {

// -- work sharing: one queue for every worker ------------------------------------------------

// Messages one agent may handle before going to the back of the queue, so that a busy agent
// cannot starve the others; large enough that the re-queue (one lock) is amortised.
constexpr std::size_t fairness_budget = 64;

// Polls of the queue an idle worker makes before it parks. Parking and the wake-up that
// follows cost a futex call on each side (microseconds under a hypervisor); a sender that
// schedules agents one message at a time would pay them per message. A short spin catches the
// next agent within a few hundred nanoseconds; the yields that follow let a sender that
// shares the core run meanwhile (a longer spin took its CPU time: measured slower).
constexpr int spins_before_park = 100;
constexpr int yields_before_park = 10;

// Members: `queue_`, `stopping_` and `parked_` are guarded by `mutex_`; `queued_` mirrors
// the queue's length for spinning workers (a hint: they re-check under the lock); `workers_`
// is filled by the constructor and emptied by stop() under `join_mutex_`, which serialises
// concurrent stops; `size_` is written once at construction.
class WorkSharing final : public Scheduler {
 public:
  explicit WorkSharing(std::size_t threads) : size_(threads) {
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  }

  ~WorkSharing() override { stop(); }

  void schedule(const AgentCellPtr& agent) override {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      // Dropped after stop: the queue would keep the agent (which owns this pool as its
      // home) alive in a cycle, and no worker would ever run it.
      if (stopping_) return;
      push_locked(agent);
      // A spinning worker finds the agent by itself; only a parked one needs the futex.
      wake = parked_ > 0;
    }
    if (wake) cv_.notify_one();
  }

  // Native handlers run to completion; the RequestTable already drops a late reply to a
  // request that ended, so there is nothing to interrupt.
  void abandon(const AgentCellPtr&, RequestId) override {}

  void stop() override {
    std::lock_guard join_lock(join_mutex_);
    std::deque<AgentCellPtr> dropped;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      queued_.store(1, std::memory_order_relaxed);  // ends the spins: they check stopping_
    }
    cv_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
    {
      std::lock_guard lock(mutex_);
      dropped.swap(queue_);
    }
    // `dropped` dies here, outside the lock: destroying an agent may run handler code.
  }

  std::size_t size() const noexcept override { return size_; }

 private:
  // The next agent to run, or null once stopping. Spins on the hint, then parks.
  AgentCellPtr take() {
    for (int poll = 0; poll < spins_before_park + yields_before_park; ++poll) {
      if (queued_.load(std::memory_order_relaxed) > 0) {
        std::lock_guard lock(mutex_);
        if (stopping_) return nullptr;
        if (!queue_.empty()) return pop_locked();
      }
      if (poll < spins_before_park) {
        spin_pause();
      } else {
        std::this_thread::yield();
      }
    }
    std::unique_lock lock(mutex_);
    ++parked_;
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --parked_;
    if (stopping_) return nullptr;
    return pop_locked();
  }

  // The queue and its hint change together, always under mutex_.
  void push_locked(AgentCellPtr agent) {
    queue_.push_back(std::move(agent));
    queued_.store(queue_.size(), std::memory_order_relaxed);
  }

  AgentCellPtr pop_locked() {
    AgentCellPtr agent = std::move(queue_.front());
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_relaxed);
    return agent;
  }

  void run() {
    while (AgentCellPtr agent = take()) {
      // With nobody waiting, a busy agent keeps its worker: the re-queue would only hand it
      // back. The hint may be stale; fairness tolerates one extra turn.
      while (agent->resume(fairness_budget)) {
        if (queued_.load(std::memory_order_relaxed) == 0) continue;
        std::lock_guard lock(mutex_);
        // After stop() the queue is emptied once every worker has joined, so this push
        // cannot leak the agent.
        push_locked(std::move(agent));
        break;
      }
      // `agent`, if still held, is released here, outside the lock: it may be the last
      // reference.
    }
  }

  const std::size_t size_;
  std::mutex join_mutex_;
  std::vector<std::thread> workers_;  // guarded by join_mutex_ after construction
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<AgentCellPtr> queue_;      // guarded by mutex_
  std::atomic<std::size_t> queued_{0};  // written under mutex_; read anywhere as a hint
  std::size_t parked_ = 0;              // guarded by mutex_
  bool stopping_ = false;               // guarded by mutex_
};

}  // namespace

std::shared_ptr<Scheduler> make_work_sharing(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return std::make_shared<WorkSharing>(threads);
}

}  // namespace serendip
