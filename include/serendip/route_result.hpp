// include/serendip/route_result.hpp: what routing an envelope did.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

namespace serendip {

/// The result of routing an envelope (Router::deliver, Router::forward, Mesh::tell). Only
/// `delivered` takes the envelope.
enum class RouteResult : std::uint8_t {
  delivered,  ///< queued in the target's mailbox (or handed to the transport)
  full,       ///< the target's mailbox is at capacity; the sender may wait for space
  rejected,   ///< the target's mailbox is at capacity and its policy refuses waiting senders
  closed,     ///< the target (or the mesh) is closed
  not_found,  ///< no agent of that name
};

}  // namespace serendip
