// src/scheduler.cpp: the native worker pools behind Scheduler.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_cell.hpp>
#include <serendip/scheduler.hpp>

#include <algorithm>
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

// Members: `queue_` and `stopping_` are guarded by `mutex_`; `workers_` is filled by the
// constructor and emptied by stop() under `join_mutex_`, which serialises concurrent stops;
// `size_` is written once at construction.
class WorkSharing final : public Scheduler {
 public:
  explicit WorkSharing(std::size_t threads) : size_(threads) {
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  }

  ~WorkSharing() override { stop(); }

  void schedule(const AgentCellPtr& agent) override {
    {
      std::lock_guard lock(mutex_);
      // Dropped after stop: the queue would keep the agent (which owns this pool as its
      // home) alive in a cycle, and no worker would ever run it.
      if (stopping_) return;
      queue_.push_back(agent);
    }
    cv_.notify_one();
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
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      AgentCellPtr agent = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      const bool again = agent->resume(fairness_budget);
      if (!again) agent.reset();  // outside the lock: it may be the last reference
      lock.lock();
      // No notify: this worker loops and takes from the queue itself. After stop() the
      // queue is emptied once every worker has joined, so this push cannot leak the agent.
      if (again) queue_.push_back(std::move(agent));
    }
  }

  const std::size_t size_;
  std::mutex join_mutex_;
  std::vector<std::thread> workers_;  // guarded by join_mutex_ after construction
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<AgentCellPtr> queue_;  // guarded by mutex_
  bool stopping_ = false;           // guarded by mutex_
};

}  // namespace

std::shared_ptr<Scheduler> make_work_sharing(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return std::make_shared<WorkSharing>(threads);
}

}  // namespace serendip
