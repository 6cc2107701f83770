// include/serendip/push_result.hpp: what a push into a mailbox did.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

namespace serendip {

/// The result of Mailbox::push. `armed` is the one result that obliges the pusher to schedule
/// the mailbox's owner; every other push leaves scheduling to whoever armed it before.
enum class PushResult : std::uint8_t {
  accepted,  ///< queued; the owner is already scheduled
  armed,     ///< queued; the mailbox went idle -> scheduled, so the pusher must schedule the owner
  full,      ///< refused: at capacity (policy `wait`); the pusher may wait for space
  rejected,  ///< refused: at capacity (policy `reject`); the pusher must not wait
  closed,    ///< refused: closed; the envelope stays with the pusher
  replaced,  ///< queued; the oldest queued envelope was dropped (drop_oldest)
  dropped,   ///< taken but dropped at once (drop_newest)
};

/// True for the results that took the envelope.
constexpr bool taken(PushResult r) noexcept {
  return r != PushResult::full && r != PushResult::rejected && r != PushResult::closed;
}

}  // namespace serendip
