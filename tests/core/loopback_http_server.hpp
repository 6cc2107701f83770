// tests/core/loopback_http_server.hpp: a scripted HTTP/1.1 server on 127.0.0.1 for the HTTP client's tests.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/http/request.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace serendip::testing {

/// A request as the server read it.
struct RecordedRequest {
  std::string method;
  std::string target;
  http::Headers headers;
  std::string body;
  std::size_t connection = 0;  ///< which accepted connection carried it, from 1

  /// The first field named `name` (ASCII case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

/// How the server answers one request: raw bytes in steps, each after a pause, then an ending.
struct ScriptedReply {
  struct Step {
    std::chrono::milliseconds pause{0};  ///< before these bytes go out
    std::string bytes;
  };
  enum class End : std::uint8_t {
    keep_alive,  ///< the connection waits for the next request
    stall,       ///< nothing more is ever sent; the request stays in flight
    close,       ///< an orderly close (FIN)
    reset,       ///< an abortive close (RST)
  };

  std::vector<Step> steps;
  End end = End::keep_alive;
  /// Nothing is sent until the server has seen this many requests in flight at once: a gate
  /// that proves concurrency without timing.
  std::size_t hold_until_in_flight = 0;

  /// A complete response with Content-Length.
  static ScriptedReply plain(int status, std::string body, http::Headers headers = {});
  /// A chunked response: the head, then one HTTP chunk per piece, `pause` before each piece
  /// after the first, then the last-chunk unless `finish` is false.
  static ScriptedReply chunked(int status, std::vector<std::string> pieces,
                               std::chrono::milliseconds pause, bool finish = true);
  /// No response at all, ever.
  static ScriptedReply silent();
};

/// Picks the reply to the `index`-th request (from 0, in arrival order). Runs on the server
/// thread.
using Script = std::function<ScriptedReply(const RecordedRequest& request, std::size_t index)>;

/// A single-threaded HTTP/1.1 server on 127.0.0.1 with an OS-chosen port: it reads requests
/// (Content-Length bodies only), records them, and plays `script`'s replies, keeping
/// connections alive between requests. It counts the requests in flight (read, reply not yet
/// fully sent) and the most ever in flight at once. Queries are thread-safe; `mutex_` guards
/// the records and counters, the rest belongs to the server thread.
class LoopbackHttpServer {
 public:
  explicit LoopbackHttpServer(Script script);
  /// Stops the thread and closes every connection.
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  std::uint16_t port() const { return port_; }
  /// "http://127.0.0.1:<port><path>".
  std::string url(std::string_view path = "/") const;

  std::vector<RecordedRequest> requests() const;
  std::size_t max_in_flight() const;
  std::size_t connections_accepted() const;

  /// Blocks until `n` requests were read in all; false after `patience`.
  bool wait_for_requests(std::size_t n) const;
  /// Blocks until `n` requests are in flight at once; false after `patience`.
  bool wait_for_in_flight(std::size_t n) const;

 private:
  struct Connection;

  void run();
  void accept_all(std::vector<Connection>& conns);
  bool read_from(Connection& c);
  void parse_requests(Connection& c);
  void advance(Connection& c);
  bool flush(Connection& c);
  void finish_reply(Connection& c);
  void drop(Connection& c);

  Script script_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;

  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<RecordedRequest> requests_;  // guarded by mutex_
  std::size_t in_flight_ = 0;              // guarded by mutex_
  std::size_t max_in_flight_ = 0;          // guarded by mutex_
  std::size_t accepted_ = 0;               // guarded by mutex_

  std::thread thread_;
};

}  // namespace serendip::testing
