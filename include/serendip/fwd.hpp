// include/serendip/fwd.hpp: forward declarations and the small id types shared by every header.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace serendip {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// Unique per mesh; 0 means "none".
using MessageId = std::uint64_t;
/// Correlates a request with its reply; 0 means "not a request".
using RequestId = std::uint64_t;
/// Identifies an agent inside one mesh for as long as it is registered; 0 means "none".
using AgentId = std::uint64_t;

class Payload;
struct Envelope;
struct Outcome;
class Mailbox;
class Waiter;
class BlockingWaiter;
class LoopBridge;
class LoopWaiter;
class RequestTable;
class TimerQueue;
class WorkTracker;
class AgentCell;
class Home;
class Router;
class Transport;
class Scheduler;
class Mesh;

using EnvelopePtr = std::unique_ptr<Envelope>;
using WaiterPtr = std::shared_ptr<Waiter>;
using AgentCellPtr = std::shared_ptr<AgentCell>;
using LoopBridgePtr = std::shared_ptr<LoopBridge>;

}  // namespace serendip
