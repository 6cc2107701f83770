// include/serendip/http/client.hpp: HTTP requests by the thousand from one native I/O thread (libcurl multi).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/http/rate_limiter.hpp>
#include <serendip/http/request.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace serendip::http {

/// Settings fixed for a client's lifetime.
struct ClientOptions {
  /// Connections open at once, all hosts together; a transfer beyond it waits inside libcurl
  /// for one to free up (that wait counts toward its timeouts). As many idle connections are
  /// kept for reuse. An HTTP/1.1 connection carries one request at a time, so this bounds the
  /// requests in flight to one host; HTTP/2 (negotiated over TLS) multiplexes them.
  std::size_t max_connections = 1024;
};

/// Runs HTTP requests on one native I/O thread that drives a libcurl multi handle: no thread
/// per request, keep-alive connections reused, TLS peers and host names verified (libcurl's
/// defaults, never turned off), HTTP/2 multiplexing where the server offers it over TLS.
///
/// Every request passes through the RateLimiter under each of its `limit_keys` in order (see
/// Request::limit_keys), holding what it took at each key, then runs with up to
/// `retry.max_attempts` attempts. An attempt's end frees every key's slot; a retry waits on
/// the I/O thread's own timers and goes back to the front of its first key's queue. Exactly
/// one `on_done` per submit, whatever ends it.
///
/// Callbacks run on the I/O thread, one at a time, with no client lock held: they must be
/// short, must not block, must not throw (the process terminates), and must never call into
/// Python (threading rule 1); they may call `submit`, `cancel` and `set_limits`, not `close`.
/// The binding completes a Waiter from `on_done`.
///
/// Costs: `submit` is one lock and a vector append, plus one wake-up write only when the
/// command queue was empty (the I/O thread takes a whole batch per wake). Each attempt costs
/// one libcurl easy handle and a header list, freed when it ends. Each pass of a request
/// through a key is one RateLimiter queue push and pop; the I/O thread re-runs
/// `RateLimiter::take_ready` (O(keys)) while requests move on to their next key, so once per
/// key of the longest `limit_keys` plus one, per loop turn.
class HttpClient {
 public:
  using Options = ClientOptions;
  /// A piece of a 2xx body, in order; it is valid only during the call.
  using OnChunk = std::function<void(std::string_view)>;
  /// The request's end; called once.
  using OnDone = std::function<void(Response&&)>;

  /// Starts the I/O thread (initialising libcurl once per process). Throws std::runtime_error
  /// when libcurl cannot be set up.
  explicit HttpClient(Options options = {});
  /// `close()`. Must not run on the I/O thread (from a callback).
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Queues `request`; never blocks. With `on_chunk`, a 2xx body is handed over piece by piece
  /// and not kept (`Response::body` stays empty), and once a piece was handed over the request
  /// is never retried. After `close()`, `on_done` runs at once on the calling thread with
  /// `closed`. Thread-safe.
  RequestId submit(Request request, OnChunk on_chunk, OnDone on_done);

  /// Ends `id` with `cancelled` if it has not ended by the time the I/O thread gets to it; a
  /// request already running may still hand over chunks until then. Unknown or finished ids
  /// are ignored. Never blocks. Thread-safe.
  void cancel(RequestId id);

  /// Replaces the limits of `key` (see RateLimiter::set_limits); applied by the I/O thread in
  /// order with submissions. Never blocks. Thread-safe.
  void set_limits(std::string key, Limits limits);

  /// Refuses new requests, ends every open one with `closed` (their `on_done` runs on the I/O
  /// thread) and joins the thread. Idempotent. Thread-safe; blocks until joined; not from a
  /// callback (throws std::logic_error there rather than join its own thread).
  void close();

  /// True once `close()` has begun. Thread-safe.
  bool closed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace serendip::http
