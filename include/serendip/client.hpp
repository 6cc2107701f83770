// include/serendip/client.hpp: blocking helpers for plain C++ callers outside any agent.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/outcome.hpp>
#include <serendip/route_result.hpp>

#include <chrono>
#include <string>

namespace serendip {

/// Sends a one-way message to `target`; never blocks. On anything but `delivered` the payload
/// is dropped by the caller's thread. Thread-safe.
RouteResult tell(Mesh& mesh, std::string target, Payload payload);

/// Like tell, but while the target's mailbox is full waits for space, up to `wait`; `full`
/// means it stayed full. Thread-safe; blocks. Not from a native handler: it would hold a
/// scheduler worker that the target may need.
RouteResult tell(Mesh& mesh, std::string target, Payload payload, std::chrono::milliseconds wait);

/// Sends a request and blocks until it ends. `timeout` covers both waiting for mailbox space
/// and the reply; milliseconds::max() means no deadline. Returns the Outcome: the reply, or
/// error, timeout, not_found or closed; never throws for those. Thread-safe; blocks.
/// Not from a native handler (use `co_await ctx.query` there).
Outcome ask(Mesh& mesh, std::string target, Payload payload,
            std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Blocks until every message accepted so far has been handled, or `timeout` passes. Returns
/// true when idle, false on timeout or when the mesh closed first. Thread-safe; blocks.
bool wait_idle(Mesh& mesh, std::chrono::milliseconds timeout);

}  // namespace serendip
