// include/serendip/dead_letter_log.hpp: a bounded record of messages that reached no handler.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/waiter.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace serendip {

/// Why a message reached no handler. The values index DeadLetterLog::counts().
enum class DeadLetterReason : std::uint8_t {
  unknown_target,  ///< no agent (and no transport) knew the target
  dropped,         ///< the target's overflow policy dropped it
  expired,         ///< its deadline passed before a handler took it
  failed,          ///< its handler raised and nobody was waiting for the error
};

/// The reason's enumerator name, e.g. "unknown_target".
const char* to_string(DeadLetterReason reason) noexcept;

/// What is remembered of one dead message. The payload is not kept: the log may be written
/// from native threads, which must not own (and so must not release) a foreign payload.
struct DeadLetter {
  DeadLetterReason reason = DeadLetterReason::unknown_target;
  std::string target;
  std::string sender;        ///< empty: not sent by an agent
  MessageId message_id = 0;  ///< 0 when none was assigned
  RequestId request_id = 0;  ///< 0 for one-way messages
  std::string detail;        ///< e.g. the failure's "TypeName: message"; may be empty
  std::chrono::system_clock::time_point time;  ///< when it died; set by the caller of record()
};

/// Keeps the newest `capacity` dead letters, oldest first, and counts every one ever recorded.
///
/// Locking: `mutex_` guards every member but `capacity_` (const). It is a leaf lock: nothing is
/// called under it but the containers' own operations, so any thread may record, scheduler
/// workers included. Cost: one lock and one deque slot per record; snapshot copies the log.
class DeadLetterLog {
 public:
  /// Throws std::invalid_argument if `capacity` is 0.
  explicit DeadLetterLog(std::size_t capacity = 1000);
  DeadLetterLog(const DeadLetterLog&) = delete;
  DeadLetterLog& operator=(const DeadLetterLog&) = delete;

  /// Appends `letter`, evicting (and counting) the oldest one when full. Thread-safe.
  void record(DeadLetter letter);
  /// The kept letters, oldest first. Thread-safe.
  std::vector<DeadLetter> snapshot() const;
  /// The kept letters, oldest first; the log is left empty (the counters are not reset).
  /// Thread-safe.
  std::vector<DeadLetter> take();
  /// Letters ever recorded. Thread-safe.
  std::uint64_t recorded() const;
  /// Letters pushed out by newer ones before anyone took them. Thread-safe.
  std::uint64_t evicted() const;
  /// Letters ever recorded, by reason (index: the enum's value). Thread-safe.
  std::array<std::uint64_t, 4> counts() const;
  std::size_t capacity() const noexcept { return capacity_; }

  /// The kept letters recorded after the first `seen` ones (letters are numbered from 1 in
  /// recording order), oldest first; `now` is set to recorded(). Thread-safe.
  std::vector<DeadLetter> since(std::uint64_t seen, std::uint64_t& now) const;
  /// Registers `waiter` to be completed (ok) by the next record, so a reader on a loop hears
  /// of new letters without polling and without the recording thread running its code.
  /// Returns false without registering when letters beyond `seen` exist already, or after
  /// close_watchers. Thread-safe.
  bool watch(std::uint64_t seen, WaiterPtr waiter);
  /// Completes the registered waiters with `closed` and refuses new ones. Thread-safe.
  void close_watchers();

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<DeadLetter> letters_;          // guarded by mutex_
  std::uint64_t evicted_ = 0;               // guarded by mutex_
  std::array<std::uint64_t, 4> counts_{};  // guarded by mutex_; their sum is recorded()
  std::uint64_t recorded_ = 0;              // guarded by mutex_
  std::vector<WaiterPtr> watchers_;         // guarded by mutex_; completed after unlocking
  bool watch_closed_ = false;               // guarded by mutex_
};

}  // namespace serendip
