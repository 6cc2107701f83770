// src/http/transfer.hpp: one request's state on the I/O thread and the libcurl handle of its current attempt.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/http/client.hpp>

#include <curl/curl.h>

#include <cstddef>
#include <string>

namespace serendip::http::internal {

/// A submitted request from its submission to its `on_done`. Owned by the client's I/O thread
/// (held by a unique_ptr, so its address is stable: libcurl's callbacks get `this`); nothing
/// here is shared with another thread.
struct Transfer {
  enum class State : std::uint8_t {
    queued,      ///< in the RateLimiter's queue of `request.limit_keys[stage]`
    running,     ///< `easy` is in the multi handle
    retry_wait,  ///< between attempts, on a retry timer
  };

  Transfer(RequestId id, Request&& request, HttpClient::OnChunk&& on_chunk,
           HttpClient::OnDone&& on_done);
  /// Frees the attempt's handle; the owner has taken it out of the multi handle first.
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  /// Builds the easy handle for a new attempt and resets the per-attempt fields; false when
  /// libcurl cannot allocate one. Costs one easy handle and one header list.
  bool open_attempt();
  /// Frees the attempt's easy handle and header list; the owner has removed `easy` from the
  /// multi handle first. Idempotent.
  void close_attempt();

  const RequestId id;
  Request request;
  HttpClient::OnChunk on_chunk;
  HttpClient::OnDone on_done;
  State state = State::queued;
  /// How many of `request.limit_keys` it has passed, holding a RateLimiter slot at each:
  /// while queued, the index of the key it waits at; while running, all of them; 0 while
  /// waiting to retry (an ended attempt frees them all).
  std::size_t stage = 0;
  int attempts = 0;
  bool streamed = false;  ///< a chunk reached `on_chunk`: the request is never retried

  // The current attempt, reset by open_attempt; written by libcurl's callbacks.
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  Response response;          ///< status, headers and (unless streamed) body so far
  std::size_t received = 0;   ///< body bytes, streamed or kept
  Deadline last_activity{};   ///< the attempt's start, then the last byte's arrival
  bool connected = false;     ///< the connection was ready and the request went out
  bool too_large = false;     ///< the body passed `max_response_bytes`
  char error_text[CURL_ERROR_SIZE] = {};
};

/// What an ended attempt means: its kind if it is the last, and whether to retry instead.
struct Verdict {
  ResponseKind kind = ResponseKind::ok;
  bool retry = false;
  std::string error;  ///< empty for ok and http_error
};

/// Judges the attempt libcurl ended with `result`. I/O thread only.
Verdict judge(const Transfer& transfer, CURLcode result);

}  // namespace serendip::http::internal
