// include/serendip/http/rate_limiter.hpp: per-key queues that hold requests until their limits allow them to start.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace serendip::http {

/// A key's limits; 0 means unlimited.
struct Limits {
  std::size_t max_concurrency = 0;        ///< started and not yet released, at once
  std::uint64_t requests_per_minute = 0;  ///< starts per minute
  std::uint64_t tokens_per_minute = 0;    ///< `tokens` of started tickets per minute
};

/// Decides when queued tickets may start. Each key has a FIFO queue; only its head may start,
/// so a heavy head holds back lighter tickets behind it (no overtaking). A request over a limit
/// only waits: nothing here fails.
///
/// Rates are token buckets that refill continuously: a per-minute limit L holds at most L
/// (a full minute's burst, the way providers meter) and gains L/60 per second; a bucket
/// starts full. A ticket heavier than its bucket's capacity costs the capacity instead, so it
/// waits for a full bucket rather than forever.
///
/// Not thread-safe: one owner (the HttpClient's I/O thread) calls everything. Costs: O(1)
/// amortised per push, start and release; `take_ready` and `next_ready_at` are O(keys);
/// `remove` is O(queue length of its key). Key states live until the limiter dies.
class RateLimiter {
 public:
  /// What a queued entry is known by; the HttpClient uses the request id.
  using Ticket = std::uint64_t;
  /// The time source; tests inject a hand-moved clock.
  using Now = std::function<Deadline()>;

  explicit RateLimiter(Now now = [] { return Clock::now(); });

  /// Replaces `key`'s limits. Running tickets keep running; a bucket that existed keeps its
  /// level (cut to the new capacity); a new one starts full. Owner only.
  void set_limits(const std::string& key, const Limits& limits);

  /// Queues `ticket` at the back of `key`'s queue. Owner only.
  void push(const std::string& key, Ticket ticket, std::uint64_t tokens);
  /// Queues `ticket` at the front: for a retry, which has already waited its turn. Owner only.
  void push_front(const std::string& key, Ticket ticket, std::uint64_t tokens);

  /// Drops a queued `ticket`; false if it is not queued under `key`. Owner only.
  bool remove(const std::string& key, Ticket ticket);

  /// Appends every ticket that may start now to `out`, in queue order per key, counts them as
  /// running and takes their share of the buckets. Owner only.
  void take_ready(std::vector<Ticket>& out);

  /// A started ticket of `key` ended: frees its concurrency slot. Owner only.
  void release(const std::string& key);

  /// The earliest time a queue head held back only by a bucket can start, or nullopt when
  /// nothing waits on a bucket (a head held by concurrency waits for `release`). Owner only.
  std::optional<Deadline> next_ready_at();

  /// Tickets queued, all keys. Owner only.
  std::size_t waiting() const;
  /// Tickets of `key` started and not released. Owner only.
  std::size_t running(const std::string& key) const;

 private:
  /// A continuously refilling budget of `capacity` per minute.
  struct Bucket {
    double capacity = 0;
    double level = 0;
    Deadline updated{};

    void refill(Deadline now);
    double cost(std::uint64_t amount) const;
    Deadline ready_at(double need) const;
  };

  struct Waiting {
    Ticket ticket;
    std::uint64_t tokens;
  };

  struct KeyState {
    Limits limits;
    std::deque<Waiting> queue;
    std::size_t running = 0;
    std::optional<Bucket> requests;  // present iff limits.requests_per_minute > 0
    std::optional<Bucket> tokens;    // present iff limits.tokens_per_minute > 0
  };

  static void reshape(std::optional<Bucket>& bucket, std::uint64_t per_minute, Deadline now);
  static bool may_start(KeyState& state, Deadline now);

  Now now_;
  std::unordered_map<std::string, KeyState> keys_;
};

}  // namespace serendip::http
