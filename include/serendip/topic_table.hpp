// include/serendip/topic_table.hpp: topic subscriptions, matched against NATS-style subjects.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace serendip {

/// Which agents hear a published subject. A subject is tokens joined by `.`: each token is
/// non-empty and holds any bytes but `.`, space, tab, CR, LF, `*` and `>`; at most 256 tokens.
/// A pattern is a subject whose tokens may also be the wildcards `*` (exactly one token) and
/// `>` (one or more tokens; last token only): `orders.*` matches `orders.new`, `orders.>`
/// matches `orders.new` and `orders.new.eu`, `>` matches every subject.
///
/// Patterns live in a token trie (literal children by hash, one `*` child, and the set of
/// patterns ending in `>` at each node); emptied nodes are pruned. Cost: `match` is
/// O(tokens × wildcard branches), tokenises with string_views and allocates only its scratch
/// and result vectors; subscribe and unsubscribe are O(tokens + the agent's patterns + the
/// subscribers of that pattern).
///
/// Locking: `mutex_` guards every member. Publishing (`match`) is the frequent operation, so
/// reads share the lock and only subscription changes take it exclusively. It is a leaf lock.
class TopicTable {
 public:
  TopicTable();
  ~TopicTable();
  TopicTable(const TopicTable&) = delete;
  TopicTable& operator=(const TopicTable&) = delete;

  /// Throws std::invalid_argument, quoting `subject` and saying what is wrong, unless it is a
  /// valid subject (no wildcards).
  static void check_subject(std::string_view subject);
  /// Like check_subject, for a pattern (wildcards allowed).
  static void check_pattern(std::string_view pattern);

  /// Subscribes `agent` to `pattern` (checked with check_pattern). Returns false if it already
  /// was. Thread-safe.
  bool subscribe(const AgentCellPtr& agent, std::string_view pattern);
  /// Removes one subscription. Returns false if `agent` was not subscribed to `pattern`.
  /// Thread-safe.
  bool unsubscribe(const AgentCell* agent, std::string_view pattern);
  /// Removes every subscription of `agent` (it is leaving the mesh); returns how many.
  /// Thread-safe.
  std::size_t unsubscribe_all(const AgentCell* agent);

  /// The agents with a pattern matching `subject` (checked with check_subject), each once even
  /// if several of its patterns match, in the order they first subscribed (an agent keeps its
  /// place while it holds at least one subscription). Thread-safe.
  std::vector<AgentCellPtr> match(std::string_view subject) const;
  /// `agent`'s patterns in subscription order. Thread-safe.
  std::vector<std::string> patterns_of(const AgentCell* agent) const;
  /// Subscriptions, counted as (agent, pattern) pairs. Thread-safe.
  std::size_t size() const;

 private:
  struct Node;
  /// One subscribed agent. Trie nodes point at it; it outlives them, since an agent's entry
  /// is erased only after its last pattern has left the trie.
  struct Subscriber {
    AgentCellPtr agent;
    std::uint64_t order = 0;            // when it went from no subscriptions to one
    std::vector<std::string> patterns;  // in subscription order
  };

  void erase_from_trie(std::string_view pattern, const Subscriber* sub);

  mutable std::shared_mutex mutex_;
  std::unique_ptr<Node> root_;                                    // guarded by mutex_
  std::unordered_map<const AgentCell*, Subscriber> subscribers_;  // guarded by mutex_
  std::uint64_t next_order_ = 0;                                  // guarded by mutex_
  std::size_t size_ = 0;                                          // guarded by mutex_
};

}  // namespace serendip
