// src/llm/chat_client.cpp: a chat call's life on the HTTP I/O thread, from bytes to an Outcome.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/chat_client.hpp>

#include <serendip/llm/wire.hpp>

#include "wire_support.hpp"

#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace serendip::llm {

namespace {

using std::memory_order_relaxed;

// One call between submit and its Outcome. Shared by the two HTTP callbacks, both of which
// run on the I/O thread, one at a time: nothing here needs a lock.
struct CallState {
  std::shared_ptr<const Endpoint> endpoint;
  ChatRequest request;  // kept for the usage estimate when the provider reports none
  std::optional<StreamDecoder> decoder;
  std::shared_ptr<StreamSink> sink;
  WaiterPtr done;
  std::shared_ptr<CallStats> stats;
  Deadline submitted = Clock::now();
  // The first error the stream decoder threw; later bytes are ignored and the call fails.
  std::optional<std::pair<CallError, std::string>> stream_error;
  std::string provider_type;
};

Outcome failure(CallState& s, CallError error, std::string message, long status, int attempts) {
  Outcome o;
  o.status = Status::error;
  o.error_type = to_string(error);
  // Providers may quote the key they were sent in their error messages.
  o.error_message = redact(message, s.endpoint->api_key);
  o.payload = CallFailure{error, status, attempts, std::move(s.provider_type)};
  return o;
}

// The reason a non-2xx answer gives: the provider's error object when it sent one.
std::string http_error_text(CallState& s, const http::Response& r) {
  std::string text = "HTTP " + std::to_string(r.status);
  // Redacted before it is cut short: an excerpt could end inside a quoted key, whose first
  // part `failure` would then not recognise.
  const std::string body = redact(r.body, s.endpoint->api_key);
  try {
    internal::throw_if_error(internal::parse_json(body, "the error body"));
    if (!body.empty()) text += ": " + internal::excerpt(body);
  } catch (const ProviderError& e) {
    s.provider_type = e.type();
    text += ": " + e.message();
  } catch (const std::exception&) {  // not JSON, or a shape the error readers did not expect
    if (!body.empty()) text += ": " + internal::excerpt(body);
  }
  if (r.attempts > 1) text += " (after " + std::to_string(r.attempts) + " attempts)";
  return text;
}

Outcome parse_answer(CallState& s, http::Response& r) {
  try {
    ChatResponse response = s.decoder ? s.decoder->finish()
                                      : parse_body(s.endpoint->family, r.body, s.request);
    return Outcome::success(CallResult{std::move(response), r.attempts});
  } catch (const ProviderError& e) {
    s.provider_type = e.type();
    return failure(s, CallError::provider, e.what(), r.status, r.attempts);
  } catch (const ProtocolError& e) {
    return failure(s, CallError::protocol, e.what(), r.status, r.attempts);
  } catch (const std::exception& e) {
    // A shape the readers did not expect (a JSON type error): on the I/O thread, where an
    // escaping exception would end the process, it is the answer's fault like any other.
    return failure(s, CallError::protocol, std::string("the response is malformed: ") + e.what(),
                   r.status, r.attempts);
  }
}

Outcome outcome_of(CallState& s, http::Response& r) {
  using http::ResponseKind;
  switch (r.kind) {
    case ResponseKind::ok:
      if (s.stream_error) {
        return failure(s, s.stream_error->first, std::move(s.stream_error->second), r.status,
                       r.attempts);
      }
      return parse_answer(s, r);
    case ResponseKind::http_error:
      return failure(s, CallError::http, http_error_text(s, r), r.status, r.attempts);
    case ResponseKind::timeout:
      return failure(s, CallError::timeout, r.error, r.status, r.attempts);
    case ResponseKind::transport:
      return failure(s, CallError::transport, r.error, r.status, r.attempts);
    case ResponseKind::too_large:
      return failure(s, CallError::too_large, r.error, r.status, r.attempts);
    case ResponseKind::cancelled:
      return Outcome::failure(Status::cancelled, "the LLM call was cancelled");
    case ResponseKind::closed:
      return Outcome::failure(Status::closed, "the LLM client closed");
  }
  return Outcome::failure(Status::error, "unknown HTTP outcome");
}

}  // namespace

const char* to_string(CallError error) noexcept {
  switch (error) {
    case CallError::http: return "LlmHttpError";
    case CallError::provider: return "LlmProviderError";
    case CallError::protocol: return "LlmProtocolError";
    case CallError::timeout: return "LlmTimeout";
    case CallError::transport: return "LlmTransportError";
    case CallError::too_large: return "LlmResponseTooLarge";
  }
  return "LlmError";
}

CallStats::Snapshot CallStats::snapshot() const {
  Snapshot s;
  s.calls = calls_.load(memory_order_relaxed);
  s.succeeded = succeeded_.load(memory_order_relaxed);
  s.cancelled = cancelled_.load(memory_order_relaxed);
  for (std::size_t i = 0; i < call_error_count; ++i) s.failed[i] = failed_[i].load(memory_order_relaxed);
  s.retries = retries_.load(memory_order_relaxed);
  s.prompt_tokens = prompt_tokens_.load(memory_order_relaxed);
  s.completion_tokens = completion_tokens_.load(memory_order_relaxed);
  s.estimated_calls = estimated_calls_.load(memory_order_relaxed);
  s.latency = latency_.summary();
  return s;
}

namespace {

// Relaxed load + store, not fetch_add: the I/O thread is the only writer of these fields.
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
  counter.store(counter.load(memory_order_relaxed) + by, memory_order_relaxed);
}

}  // namespace

// The one place CallStats is written: `calls_` by submitters, the rest by the I/O thread only.
class StatsWriter {
 public:
  static void submitted(CallStats& stats) { stats.calls_.fetch_add(1, memory_order_relaxed); }

  static void count(CallStats& stats, const Outcome& o, int attempts, Deadline submitted) {
    if (attempts > 1) bump(stats.retries_, static_cast<std::uint64_t>(attempts - 1));
    if (o.status == Status::ok) {
      bump(stats.succeeded_);
      const Usage& usage = o.payload.get<CallResult>()->response.usage;
      bump(stats.prompt_tokens_, static_cast<std::uint64_t>(std::max<std::int64_t>(usage.prompt_tokens, 0)));
      bump(stats.completion_tokens_,
           static_cast<std::uint64_t>(std::max<std::int64_t>(usage.completion_tokens, 0)));
      if (usage.estimated) bump(stats.estimated_calls_);
    } else if (const auto* f = o.payload.get<CallFailure>()) {
      bump(stats.failed_[static_cast<std::size_t>(f->error)]);
    } else {
      bump(stats.cancelled_);
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - submitted);
    stats.latency_.record(static_cast<std::uint64_t>(elapsed.count()));
  }
};

ChatClient::ChatClient(http::ClientOptions options) : http_(options) {}

ChatClient::~ChatClient() { close(); }

http::RequestId ChatClient::submit(ChatCall call, WaiterPtr done) {
  call.request.stream = false;
  return start(std::move(call), std::move(done), nullptr);
}

http::RequestId ChatClient::submit_stream(ChatCall call, std::shared_ptr<StreamSink> sink) {
  call.request.stream = true;
  WaiterPtr done = sink;
  return start(std::move(call), std::move(done), std::move(sink));
}

http::RequestId ChatClient::start(ChatCall&& call, WaiterPtr done, std::shared_ptr<StreamSink> sink) {
  if (call.stats) StatsWriter::submitted(*call.stats);
  const Endpoint& endpoint = *call.endpoint;

  http::Request request;
  request.method = "POST";
  request.url = endpoint.url;
  request.headers = endpoint.headers;
  request.body = build_body(endpoint.family, call.request);
  request.connect_timeout = call.connect_timeout;
  request.total_timeout = call.total_timeout;
  if (sink) request.idle_timeout = call.stream_idle_timeout;
  request.limit_keys = std::move(call.limit_keys);
  const int reserved = call.request.max_tokens.value_or(0);
  request.estimated_tokens = static_cast<std::uint64_t>(estimate_prompt_tokens(call.request)) +
                             static_cast<std::uint64_t>(std::max(reserved, 0));
  request.retry = call.retry;
  request.max_response_bytes = call.max_response_bytes;

  auto state = std::make_shared<CallState>();
  state->endpoint = std::move(call.endpoint);
  state->sink = std::move(sink);
  state->done = std::move(done);
  state->stats = std::move(call.stats);
  if (state->sink) state->decoder.emplace(endpoint.family, call.request);
  state->request = std::move(call.request);

  http::HttpClient::OnChunk on_chunk;
  if (state->sink) {
    on_chunk = [state](std::string_view bytes) {
      if (state->stream_error) return;
      try {
        std::vector<StreamEvent> events = state->decoder->feed(bytes);
        if (!events.empty()) state->sink->on_events(std::move(events));
      } catch (const ProviderError& e) {
        state->provider_type = e.type();
        state->stream_error.emplace(CallError::provider, e.what());
      } catch (const ProtocolError& e) {
        state->stream_error.emplace(CallError::protocol, e.what());
      } catch (const std::exception& e) {  // as in parse_answer
        state->stream_error.emplace(CallError::protocol,
                                    std::string("the stream is malformed: ") + e.what());
      }
    };
  }
  auto on_done = [state](http::Response&& response) {
    Outcome outcome = outcome_of(*state, response);
    if (state->stats) {
      StatsWriter::count(*state->stats, outcome, response.attempts, state->submitted);
    }
    WaiterPtr done = std::move(state->done);
    done->complete(std::move(outcome));
  };
  return http_.submit(std::move(request), std::move(on_chunk), std::move(on_done));
}

void ChatClient::cancel(http::RequestId id) { http_.cancel(id); }

void ChatClient::set_limits(std::string key, http::Limits limits) {
  http_.set_limits(std::move(key), limits);
}

void ChatClient::close() { http_.close(); }

}  // namespace serendip::llm
