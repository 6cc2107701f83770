// include/serendip/llm/chat_client.hpp: chat completions over the HttpClient, ending in a Waiter.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/http/client.hpp>
#include <serendip/latency_histogram.hpp>
#include <serendip/llm/chat.hpp>
#include <serendip/llm/provider.hpp>
#include <serendip/llm/stream_decoder.hpp>
#include <serendip/waiter.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace serendip::llm {

/// Why a call failed, when it did not end `ok`, `cancelled` or `closed`. The name of each is
/// the `Outcome::error_type` the call ends with (see `to_string`).
enum class CallError : std::uint8_t {
  http,       ///< "LlmHttpError": a non-2xx status after any retries
  provider,   ///< "LlmProviderError": the provider answered with an error object
  protocol,   ///< "LlmProtocolError": the answer was not the protocol's JSON or stream
  timeout,    ///< "LlmTimeout": connect, idle or total timeout
  transport,  ///< "LlmTransportError": refused, reset, TLS or DNS failure...
  too_large,  ///< "LlmResponseTooLarge": the answer passed the response size limit
};
inline constexpr std::size_t call_error_count = 6;

/// The `Outcome::error_type` of `error`.
const char* to_string(CallError error) noexcept;

/// The payload of a failed call's Outcome: what the caller may want beside the message.
struct CallFailure {
  CallError error = CallError::http;
  long status = 0;            ///< the last HTTP status; 0 when no response arrived
  int attempts = 0;           ///< HTTP attempts made
  std::string provider_type;  ///< the provider's error type or code, when it sent one
};

/// The payload of a successful call's Outcome.
struct CallResult {
  ChatResponse response;
  int attempts = 0;  ///< HTTP attempts made (more than 1 after retries)
};

class StatsWriter;

/// Counters of one caller (an LLM agent: one provider and model), written by the client's I/O
/// thread only and read by any thread. Every field is a relaxed atomic: a snapshot taken while
/// calls end may be slightly inconsistent across fields, never torn within one.
class CallStats {
 public:
  struct Snapshot {
    std::uint64_t calls = 0;       ///< submitted
    std::uint64_t succeeded = 0;   ///< ended ok
    std::uint64_t cancelled = 0;   ///< ended cancelled or closed
    std::array<std::uint64_t, call_error_count> failed{};  ///< by CallError
    std::uint64_t retries = 0;     ///< HTTP attempts beyond the first, all calls
    std::uint64_t prompt_tokens = 0;
    std::uint64_t completion_tokens = 0;
    std::uint64_t estimated_calls = 0;  ///< successes whose usage was estimated, not reported
    LatencyHistogram::Summary latency;  ///< submit to end, ended calls
  };

  /// The counters now. Thread-safe.
  Snapshot snapshot() const;

 private:
  friend class StatsWriter;
  std::atomic<std::uint64_t> calls_{0};  // the only field written by submitters (fetch_add)
  std::atomic<std::uint64_t> succeeded_{0};
  std::atomic<std::uint64_t> cancelled_{0};
  std::array<std::atomic<std::uint64_t>, call_error_count> failed_{};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> prompt_tokens_{0};
  std::atomic<std::uint64_t> completion_tokens_{0};
  std::atomic<std::uint64_t> estimated_calls_{0};
  LatencyHistogram latency_;  // its one writer: the I/O thread
};

/// Receives a streamed call's events as they are decoded, then (as a Waiter) its Outcome.
class StreamSink : public Waiter {
 public:
  /// The next decoded events, in order; never empty. Called on the I/O thread, before
  /// `complete`; must be short and must not block (threading rule 1: never Python).
  virtual void on_events(std::vector<StreamEvent>&& events) noexcept = 0;
};

/// One chat completion to run.
struct ChatCall {
  std::shared_ptr<const Endpoint> endpoint;  ///< shared: an agent makes many calls to one
  ChatRequest request;                       ///< `stream` is set by `submit`
  std::vector<std::string> limit_keys;       ///< RateLimiter keys, passed in order
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{600'000};  ///< per attempt; 0 = none
  /// Per attempt, longest silence. Only for streams: a non-streamed answer is silent until done.
  std::chrono::milliseconds stream_idle_timeout{120'000};
  http::RetryPolicy retry;
  std::size_t max_response_bytes = std::size_t{8} << 20;
  std::shared_ptr<CallStats> stats;  ///< counted here when set
};

/// Runs chat completions on one HttpClient: builds the provider's body, sends it, parses or
/// stream-decodes the answer on the I/O thread, and completes the caller's Waiter with an
/// Outcome: `ok` with a CallResult, `error` with a CallFailure (`error_type` names the
/// CallError, `error_message` says what happened, with the API key redacted), or `cancelled` /
/// `closed`. Exactly one completion per submit.
///
/// Thread-safe; every member may be called from any thread but the I/O thread's callbacks
/// (`close` never from there). Costs per call: the body built on the submitting thread, one
/// HTTP request, one parse (or one decode per chunk) on the I/O thread.
class ChatClient {
 public:
  explicit ChatClient(http::ClientOptions options = {});
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  /// Starts `call`, non-streamed; `done` gets the Outcome. Never blocks.
  http::RequestId submit(ChatCall call, WaiterPtr done);
  /// Starts `call` as a stream: `sink` gets the events, then the Outcome. Never blocks.
  http::RequestId submit_stream(ChatCall call, std::shared_ptr<StreamSink> sink);

  /// Ends the call with `cancelled` unless it ended first. Never blocks.
  void cancel(http::RequestId id);
  /// The limits of a RateLimiter key (see http::RateLimiter). Never blocks.
  void set_limits(std::string key, http::Limits limits);
  /// Ends every open call with `closed` and stops the I/O thread. Idempotent; blocks.
  void close();

 private:
  http::RequestId start(ChatCall&& call, WaiterPtr done, std::shared_ptr<StreamSink> sink);

  http::HttpClient http_;
};

}  // namespace serendip::llm
