// src/http/rate_limiter.cpp: FIFO queues per key gated by a concurrency cap and two token buckets.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/http/rate_limiter.hpp>

#include <algorithm>
#include <chrono>

namespace serendip::http {

namespace {

// Bucket arithmetic is in doubles; a level this close to what is needed counts as enough, so
// that waking at exactly `ready_at` always starts the head despite rounding.
constexpr double kSlack = 1e-9;

}  // namespace

void RateLimiter::Bucket::refill(Deadline now) {
  if (now <= updated) return;
  const double seconds = std::chrono::duration<double>(now - updated).count();
  level = std::min(capacity, level + seconds * capacity / 60.0);
  updated = now;
}

double RateLimiter::Bucket::cost(std::uint64_t amount) const {
  return std::min(static_cast<double>(amount), capacity);
}

Deadline RateLimiter::Bucket::ready_at(double need) const {
  if (level + kSlack >= need) return updated;
  const std::chrono::duration<double> wait((need - level) * 60.0 / capacity);
  // Rounded up, so the refill at that instant has reached `need`.
  return updated + std::chrono::ceil<Clock::duration>(wait);
}

RateLimiter::RateLimiter(Now now) : now_(std::move(now)) {}

void RateLimiter::reshape(std::optional<Bucket>& bucket, std::uint64_t per_minute, Deadline now) {
  if (per_minute == 0) {
    bucket.reset();
    return;
  }
  const auto capacity = static_cast<double>(per_minute);
  if (!bucket) {
    bucket = Bucket{capacity, capacity, now};
    return;
  }
  bucket->refill(now);
  bucket->capacity = capacity;
  bucket->level = std::min(bucket->level, capacity);
}

void RateLimiter::set_limits(const std::string& key, const Limits& limits) {
  KeyState& state = keys_[key];
  const Deadline now = now_();
  state.limits = limits;
  reshape(state.requests, limits.requests_per_minute, now);
  reshape(state.tokens, limits.tokens_per_minute, now);
}

void RateLimiter::push(const std::string& key, Ticket ticket, std::uint64_t tokens) {
  keys_[key].queue.push_back(Waiting{ticket, tokens});
}

void RateLimiter::push_front(const std::string& key, Ticket ticket, std::uint64_t tokens) {
  keys_[key].queue.push_front(Waiting{ticket, tokens});
}

bool RateLimiter::remove(const std::string& key, Ticket ticket) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  auto& queue = it->second.queue;
  auto found = std::find_if(queue.begin(), queue.end(),
                            [ticket](const Waiting& w) { return w.ticket == ticket; });
  if (found == queue.end()) return false;
  queue.erase(found);
  return true;
}

bool RateLimiter::may_start(KeyState& state, Deadline now) {
  const Waiting& head = state.queue.front();
  if (state.limits.max_concurrency != 0 && state.running >= state.limits.max_concurrency) {
    return false;
  }
  if (state.requests) {
    state.requests->refill(now);
    if (state.requests->level + kSlack < state.requests->cost(1)) return false;
  }
  if (state.tokens) {
    state.tokens->refill(now);
    if (state.tokens->level + kSlack < state.tokens->cost(head.tokens)) return false;
  }
  return true;
}

void RateLimiter::take_ready(std::vector<Ticket>& out) {
  const Deadline now = now_();
  for (auto& [key, state] : keys_) {
    while (!state.queue.empty() && may_start(state, now)) {
      const Waiting head = state.queue.front();
      state.queue.pop_front();
      ++state.running;
      if (state.requests) state.requests->level -= state.requests->cost(1);
      if (state.tokens) state.tokens->level -= state.tokens->cost(head.tokens);
      out.push_back(head.ticket);
    }
  }
}

void RateLimiter::release(const std::string& key) {
  auto it = keys_.find(key);
  if (it != keys_.end() && it->second.running > 0) --it->second.running;
}

std::optional<Deadline> RateLimiter::next_ready_at() {
  const Deadline now = now_();
  std::optional<Deadline> earliest;
  for (auto& [key, state] : keys_) {
    if (state.queue.empty()) continue;
    if (state.limits.max_concurrency != 0 && state.running >= state.limits.max_concurrency) {
      continue;
    }
    Deadline at = now;
    if (state.requests) {
      state.requests->refill(now);
      at = std::max(at, state.requests->ready_at(state.requests->cost(1)));
    }
    if (state.tokens) {
      state.tokens->refill(now);
      at = std::max(at, state.tokens->ready_at(state.tokens->cost(state.queue.front().tokens)));
    }
    if (!earliest || at < *earliest) earliest = at;
  }
  return earliest;
}

std::size_t RateLimiter::waiting() const {
  std::size_t n = 0;
  for (const auto& [key, state] : keys_) n += state.queue.size();
  return n;
}

std::size_t RateLimiter::running(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? 0 : it->second.running;
}

}  // namespace serendip::http
