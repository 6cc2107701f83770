// include/serendip/envelope.hpp: the unit the mesh routes: its kind, sender and payload.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/name.hpp>
#include <serendip/payload.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace serendip {

/// What an envelope is for; it decides how the receiver answers it.
enum class Kind : std::uint8_t {
  tell,       ///< one-way; the handler's result is discarded
  request,    ///< the handler's result (or failure) resolves `request_id`
  reply,      ///< a result delivered into a native agent's mailbox to resume a coroutine
  error,      ///< a failure delivered like `reply`
  broadcast,  ///< one-way copy sent to every agent
  publish,    ///< one-way copy sent to a topic's subscribers
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// One message. Plain data: every field is set by the sender before routing and read by the
/// receiver after popping; the mailbox that carries it is the only synchronisation needed.
/// Owned by exactly one party at a time through EnvelopePtr (sender, mailbox, receiver).
///
/// 64 bytes, one cache line: every queued message is memory that a burst touches for the
/// first time, which costs more here than the instructions of a send. So the envelope does not
/// carry what the mailbox it sits in already says (its target: the mailbox's owner; routing
/// takes the name beside the envelope) or what the RequestTable keeps (a request's deadline),
/// and the headers few messages have are behind a pointer.
struct Envelope {
  MessageId id = 0;
  Kind kind : 8 = Kind::tell;
  /// When the mesh queued it, if it was chosen for timing: a stamp of handling_meter.hpp
  /// (steady-clock nanoseconds modulo 2^56) in the bytes beside `kind`; zero when untimed.
  std::uint64_t enqueued : 56 = 0;
  /// For `request`: the entry in the RequestTable to resolve. For `reply`/`error`: the request
  /// this answers.
  RequestId request_id = 0;
  Name sender{};  ///< empty when sent from outside any agent
  /// Null unless the message carries any (published ones carry their topic).
  std::unique_ptr<Headers> headers{};
  Payload payload;

  /// Envelopes live in slabs recycled per thread (src/envelope_pool.cpp): the sender
  /// allocates, the receiver frees, and the general allocator would make both take one lock
  /// per message, and split and coalesce a block per message in a burst.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;
};

static_assert(sizeof(Envelope) <= 64, "an envelope is one cache line: see its comment");

/// Bytes the envelope pool holds from the system (src/envelope_pool.cpp): slabs that still
/// hold a queued envelope, and the last one; a slab whose envelopes are all freed again goes
/// back. Zero where envelopes come from the general allocator (AddressSanitizer builds).
std::size_t envelope_memory();

/// Allocates an envelope (one allocation; a one-word payload lives inside it).
/// @relates Envelope
inline EnvelopePtr make_envelope(Kind kind, Payload payload) {
  return EnvelopePtr(new Envelope{.kind = kind, .payload = std::move(payload)});
}

}  // namespace serendip
