// src/router.cpp: the name table and delivery.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/errors.hpp>
#include <serendip/router.hpp>
#include <serendip/transport.hpp>

#include <mutex>

namespace serendip {

void Router::add(AgentCellPtr agent) {
  std::unique_lock lock(mutex_);
  auto [it, inserted] = agents_.try_emplace(agent->name(), agent);
  if (!inserted) throw DuplicateAgent(agent->name());
  generation_.fetch_add(1, std::memory_order_release);
}

AgentCellPtr Router::remove(std::string_view name) {
  std::unique_lock lock(mutex_);
  auto it = agents_.find(name);
  if (it == agents_.end()) return nullptr;
  AgentCellPtr agent = std::move(it->second);
  agents_.erase(it);
  generation_.fetch_add(1, std::memory_order_release);
  return agent;
}

AgentCellPtr Router::find(std::string_view name) const {
  std::shared_lock lock(mutex_);
  auto it = agents_.find(name);
  return it == agents_.end() ? nullptr : it->second;
}

std::vector<AgentCellPtr> Router::agents() const {
  std::shared_lock lock(mutex_);
  std::vector<AgentCellPtr> out;
  out.reserve(agents_.size());
  for (const auto& [name, agent] : agents_) out.push_back(agent);
  return out;
}

std::size_t Router::size() const {
  std::shared_lock lock(mutex_);
  return agents_.size();
}

RouteResult Router::after_push(const AgentCellPtr& agent, PushResult pushed) {
  switch (pushed) {
    case PushResult::armed:
      agent->home().schedule(agent);
      return RouteResult::delivered;
    case PushResult::accepted:
    case PushResult::replaced:
    case PushResult::dropped: return RouteResult::delivered;
    case PushResult::full: return RouteResult::full;
    case PushResult::rejected: return RouteResult::rejected;
    case PushResult::closed: return RouteResult::closed;
  }
  return RouteResult::closed;
}

RouteResult Router::deliver(const AgentCellPtr& agent, EnvelopePtr& env) {
  return after_push(agent, agent->mailbox().push(env));
}

RouteResult Router::deliver_urgent(const AgentCellPtr& agent, EnvelopePtr& env) {
  return after_push(agent, agent->mailbox().push_urgent(env));
}

RouteResult Router::forward(std::string_view target, EnvelopePtr& env) const {
  if (transport_ != nullptr) return transport_->send(target, env);
  return RouteResult::not_found;
}

}  // namespace serendip
