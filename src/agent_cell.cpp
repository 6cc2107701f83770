// src/agent_cell.cpp: the mesh's record of one agent.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_cell.hpp>
#include <serendip/handling_meter.hpp>

#include <atomic>

namespace serendip {

namespace {
std::atomic<AgentId> next_agent_id{1};
}  // namespace

AgentCell::AgentCell(std::string name, std::size_t mailbox_capacity, std::shared_ptr<Home> home,
                     Overflow overflow)
    : id_(next_agent_id.fetch_add(1, std::memory_order_relaxed)),
      name_(std::move(name)),
      mailbox_(mailbox_capacity, overflow),
      home_(std::move(home)),
      first_timed_(kTimedFirst) {}

bool AgentCell::resume(std::size_t) { return false; }

}  // namespace serendip
