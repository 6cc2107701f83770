// src/topic_table.cpp: subject checks and the subscription trie.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_cell.hpp>
#include <serendip/topic_table.hpp>

#include <algorithm>
#include <functional>
#include <mutex>
#include <stdexcept>

namespace serendip {
namespace {

constexpr std::size_t max_tokens = 256;

/// The first token of a subject or pattern, and what follows its dot.
struct Split {
  std::string_view token;
  std::string_view after;
  bool last;  // no dot followed: `after` is empty and means nothing
};

Split split_first(std::string_view text) noexcept {
  const std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) return {text, {}, true};
  return {text.substr(0, dot), text.substr(dot + 1), false};
}

[[noreturn]] void reject(const char* kind, std::string_view text, const char* why) {
  throw std::invalid_argument(std::string("invalid ") + kind + " \"" + std::string(text) + "\": " +
                              why);
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void check(std::string_view text, bool pattern) {
  const char* kind = pattern ? "pattern" : "subject";
  if (text.empty()) reject(kind, text, "it is empty");
  if (text.front() == '.') reject(kind, text, "it starts with '.'");
  if (text.back() == '.') reject(kind, text, "it ends with '.'");
  std::size_t tokens = 0;
  for (std::string_view rest = text;;) {
    const Split s = split_first(rest);
    if (s.token.empty()) reject(kind, text, "it has an empty token (\"..\")");
    if (++tokens > max_tokens) reject(kind, text, "it has more than 256 tokens");
    for (char c : s.token) {
      if (is_space(c)) reject(kind, text, "it contains whitespace");
      if (c != '*' && c != '>') continue;
      if (!pattern) reject(kind, text, "wildcards ('*', '>') belong in patterns, not subjects");
      if (s.token.size() != 1) reject(kind, text, "a wildcard ('*' or '>') must be a whole token");
      if (c == '>' && !s.last) reject(kind, text, "'>' must be the last token");
    }
    if (s.last) return;
    rest = s.after;
  }
}

struct TokenHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace

/// One token position. A pattern ending at this node is in `exact`; a pattern whose next
/// (and last) token is `>` is in `tail`, since `>` needs no node of its own.
struct TopicTable::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, TokenHash, std::equal_to<>> literals;
  std::unique_ptr<Node> star;
  std::vector<const Subscriber*> exact;
  std::vector<const Subscriber*> tail;

  bool empty() const noexcept {
    return literals.empty() && star == nullptr && exact.empty() && tail.empty();
  }

  /// The child for `token` (a literal or `*`), created if missing.
  Node& child(std::string_view token) {
    if (token == "*") {
      if (star == nullptr) star = std::make_unique<Node>();
      return *star;
    }
    auto it = literals.find(token);
    if (it == literals.end()) it = literals.emplace(token, std::make_unique<Node>()).first;
    return *it->second;
  }

  /// Appends the subscribers whose pattern matches `text`, a valid subject with at least one
  /// token left. Recursion depth is at most the subject's tokens (max_tokens).
  void collect(std::string_view text, std::vector<const Subscriber*>& out) const {
    out.insert(out.end(), tail.begin(), tail.end());
    const Split s = split_first(text);
    auto visit = [&](const Node& next) {
      if (s.last) {
        out.insert(out.end(), next.exact.begin(), next.exact.end());
      } else {
        next.collect(s.after, out);
      }
    };
    if (auto it = literals.find(s.token); it != literals.end()) visit(*it->second);
    if (star != nullptr) visit(*star);
  }

  /// Removes `sub` from the end of `pattern`, which it is known to hold, and prunes the
  /// nodes this leaves empty (below this one; the caller prunes this one).
  void erase(std::string_view pattern, const Subscriber* sub) {
    const Split s = split_first(pattern);
    if (s.token == ">") {
      std::erase(tail, sub);
      return;
    }
    const bool is_star = s.token == "*";
    auto it = is_star ? literals.end() : literals.find(s.token);
    Node& next = is_star ? *star : *it->second;
    if (s.last) {
      std::erase(next.exact, sub);
    } else {
      next.erase(s.after, sub);
    }
    if (!next.empty()) return;
    if (is_star) {
      star.reset();
    } else {
      literals.erase(it);
    }
  }
};

TopicTable::TopicTable() : root_(std::make_unique<Node>()) {}

TopicTable::~TopicTable() = default;

void TopicTable::check_subject(std::string_view subject) { check(subject, false); }

void TopicTable::check_pattern(std::string_view pattern) { check(pattern, true); }

// Room for one more element, growing geometrically as push_back would.
template <typename T>
static void make_room_for_one(std::vector<T>& v) {
  if (v.size() == v.capacity()) v.reserve(2 * v.size() + 1);
}

bool TopicTable::subscribe(const AgentCellPtr& agent, std::string_view pattern) {
  check_pattern(pattern);
  std::unique_lock lock(mutex_);
  auto [it, fresh] = subscribers_.try_emplace(agent.get());
  Subscriber& sub = it->second;
  if (!fresh && std::ranges::find(sub.patterns, pattern) != sub.patterns.end()) return false;
  try {
    // What may throw (the pattern's nodes, room in its list and among the subscriber's
    // patterns) comes before anything is recorded, so that a failure leaves no subscription
    // that the trie and the subscriber disagree on.
    Node* node = root_.get();
    std::vector<const Subscriber*>* list = nullptr;
    for (std::string_view rest = pattern; list == nullptr;) {
      const Split s = split_first(rest);
      if (s.token == ">") {
        list = &node->tail;
      } else {
        node = &node->child(s.token);
        if (s.last) list = &node->exact;
        rest = s.after;
      }
    }
    make_room_for_one(*list);
    make_room_for_one(sub.patterns);
    std::string copy(pattern);
    if (fresh) {
      sub.agent = agent;
      sub.order = next_order_++;
    }
    sub.patterns.push_back(std::move(copy));
    list->push_back(&sub);
  } catch (...) {
    if (fresh) subscribers_.erase(it);
    throw;
  }
  ++size_;
  return true;
}

bool TopicTable::unsubscribe(const AgentCell* agent, std::string_view pattern) {
  AgentCellPtr leaving;  // released after the lock: it may be the agent's last reference
  std::unique_lock lock(mutex_);
  auto it = subscribers_.find(agent);
  if (it == subscribers_.end()) return false;
  Subscriber& sub = it->second;
  auto p = std::ranges::find(sub.patterns, pattern);
  if (p == sub.patterns.end()) return false;
  root_->erase(pattern, &sub);
  sub.patterns.erase(p);
  --size_;
  if (sub.patterns.empty()) {
    leaving = std::move(sub.agent);
    subscribers_.erase(it);
  }
  return true;
}

std::size_t TopicTable::unsubscribe_all(const AgentCell* agent) {
  AgentCellPtr leaving;  // released after the lock: it may be the agent's last reference
  std::unique_lock lock(mutex_);
  auto it = subscribers_.find(agent);
  if (it == subscribers_.end()) return 0;
  Subscriber& sub = it->second;
  for (const std::string& pattern : sub.patterns) root_->erase(pattern, &sub);
  const std::size_t removed = sub.patterns.size();
  size_ -= removed;
  leaving = std::move(sub.agent);
  subscribers_.erase(it);
  return removed;
}

std::vector<AgentCellPtr> TopicTable::match(std::string_view subject) const {
  check_subject(subject);
  std::vector<const Subscriber*> hits;
  std::vector<AgentCellPtr> out;
  std::shared_lock lock(mutex_);
  root_->collect(subject, hits);
  // Orders are unique per agent, so sorting by them also puts an agent's hits side by side.
  std::ranges::sort(hits, {}, &Subscriber::order);
  const auto dup = std::ranges::unique(hits);
  hits.erase(dup.begin(), dup.end());
  out.reserve(hits.size());
  for (const Subscriber* sub : hits) out.push_back(sub->agent);
  return out;
}

std::vector<std::string> TopicTable::patterns_of(const AgentCell* agent) const {
  std::shared_lock lock(mutex_);
  auto it = subscribers_.find(agent);
  return it == subscribers_.end() ? std::vector<std::string>{} : it->second.patterns;
}

std::size_t TopicTable::size() const {
  std::shared_lock lock(mutex_);
  return size_;
}

}  // namespace serendip
