// tests/core/llm_chat_client_test.cpp: chat calls end to end against a scripted loopback server.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/chat_client.hpp>

#include "loopback_http_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace serendip::llm {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackHttpServer;
using testing::RecordedRequest;
using testing::ScriptedReply;

constexpr char kKey[] = "sk-test-secret-0123";

std::shared_ptr<const Endpoint> openai_endpoint(const LoopbackHttpServer& server) {
  return std::make_shared<const Endpoint>(endpoint(
      parse_model("openai::gpt-test"), {.base_url = server.url("/v1"), .api_key = kKey}));
}

ChatCall call_to(const LoopbackHttpServer& server, std::shared_ptr<CallStats> stats = nullptr) {
  ChatCall call;
  call.endpoint = openai_endpoint(server);
  call.request.model = "gpt-test";
  call.request.messages = {Message::user("hello")};
  call.retry.base_delay = 1ms;
  call.stats = std::move(stats);
  return call;
}

Outcome wait(const std::shared_ptr<BlockingWaiter>& waiter) {
  EXPECT_TRUE(waiter->wait_until(Clock::now() + 30s));
  return waiter->take();
}

Outcome run(ChatClient& client, ChatCall call) {
  auto waiter = std::make_shared<BlockingWaiter>();
  client.submit(std::move(call), waiter);
  return wait(waiter);
}

const char* kAnswer =
    R"({"id":"c1","object":"chat.completion","choices":[{"index":0,"finish_reason":"stop",)"
    R"("message":{"role":"assistant","content":"Hi there"}}],)"
    R"("usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}})";

// Collects a stream's events; completes like a BlockingWaiter.
class RecordingSink final : public StreamSink {
 public:
  void on_events(std::vector<StreamEvent>&& events) noexcept override {
    std::lock_guard lock(mutex_);
    for (auto& e : events) events_.push_back(std::move(e));
  }
  void complete(Outcome&& outcome) noexcept override { done_->complete(std::move(outcome)); }

  std::vector<StreamEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::shared_ptr<BlockingWaiter> done_ = std::make_shared<BlockingWaiter>();

 private:
  std::mutex mutex_;
  std::vector<StreamEvent> events_;
};

TEST(ChatClient, a_plain_answer_arrives_parsed_with_the_providers_usage_and_is_counted) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::plain(200, kAnswer, {{"Content-Type", "application/json"}});
  });
  ChatClient client;
  auto stats = std::make_shared<CallStats>();
  Outcome o = run(client, call_to(server, stats));

  ASSERT_EQ(o.status, Status::ok) << o.error_message;
  const CallResult* result = o.payload.get<CallResult>();
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(result->response.text, "Hi there");
  EXPECT_EQ(result->response.finish_reason, FinishReason::stop);
  EXPECT_EQ(result->response.usage, (Usage{11, 3, false}));
  EXPECT_EQ(result->attempts, 1);

  const RecordedRequest request = server.requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1/chat/completions");
  EXPECT_EQ(request.header("Authorization"), std::string("Bearer ") + kKey);
  EXPECT_NE(request.body.find("\"hello\""), std::string::npos);

  CallStats::Snapshot s = stats->snapshot();
  EXPECT_EQ(s.calls, 1u);
  EXPECT_EQ(s.succeeded, 1u);
  EXPECT_EQ(s.prompt_tokens, 11u);
  EXPECT_EQ(s.completion_tokens, 3u);
  EXPECT_EQ(s.latency.count, 1u);
}

TEST(ChatClient, a_429_is_retried_and_the_retry_is_counted) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t index) {
    if (index == 0) return ScriptedReply::plain(429, "{}", {{"Retry-After", "0"}});
    return ScriptedReply::plain(200, kAnswer);
  });
  ChatClient client;
  auto stats = std::make_shared<CallStats>();
  Outcome o = run(client, call_to(server, stats));

  ASSERT_EQ(o.status, Status::ok) << o.error_message;
  EXPECT_EQ(o.payload.get<CallResult>()->attempts, 2);
  EXPECT_EQ(stats->snapshot().retries, 1u);
}

TEST(ChatClient, an_http_error_carries_the_providers_message_and_type_without_the_key) {
  const std::string body = std::string(R"({"error":{"message":"Incorrect API key provided: )") +
                           kKey + R"(","type":"invalid_request_error","code":"invalid_api_key"}})";
  LoopbackHttpServer server([&](const RecordedRequest&, std::size_t) {
    return ScriptedReply::plain(401, body);
  });
  ChatClient client;
  auto stats = std::make_shared<CallStats>();
  Outcome o = run(client, call_to(server, stats));

  ASSERT_EQ(o.status, Status::error);
  EXPECT_EQ(o.error_type, "LlmHttpError");
  EXPECT_NE(o.error_message.find("HTTP 401"), std::string::npos) << o.error_message;
  EXPECT_NE(o.error_message.find("Incorrect API key provided: ***"), std::string::npos)
      << o.error_message;
  EXPECT_EQ(o.error_message.find(kKey), std::string::npos);
  const CallFailure* failure = o.payload.get<CallFailure>();
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->status, 401);
  EXPECT_EQ(failure->attempts, 1);
  EXPECT_EQ(failure->provider_type, "invalid_request_error");
  EXPECT_EQ(stats->snapshot().failed[static_cast<std::size_t>(CallError::http)], 1u);
}

TEST(ChatClient, malformed_json_in_a_2xx_is_a_protocol_error) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::plain(200, "{\"choices\": [");
  });
  ChatClient client;
  Outcome o = run(client, call_to(server));
  ASSERT_EQ(o.status, Status::error);
  EXPECT_EQ(o.error_type, "LlmProtocolError");
}

TEST(ChatClient, a_stream_hands_over_events_in_order_then_the_assembled_answer) {
  const std::vector<std::string> pieces = {
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
      "data: [DONE]\n\n"};
  LoopbackHttpServer server([&](const RecordedRequest&, std::size_t) {
    return ScriptedReply::chunked(200, pieces, 1ms);
  });
  ChatClient client;
  auto sink = std::make_shared<RecordingSink>();
  client.submit_stream(call_to(server), sink);
  Outcome o = wait(sink->done_);

  ASSERT_EQ(o.status, Status::ok) << o.error_message;
  EXPECT_EQ(o.payload.get<CallResult>()->response.text, "Hello");
  EXPECT_EQ(o.payload.get<CallResult>()->response.usage, (Usage{5, 2, false}));
  std::string text;
  for (const StreamEvent& e : sink->events()) {
    if (e.kind == StreamEventKind::text_delta) text += e.text;
  }
  EXPECT_EQ(text, "Hello");
  EXPECT_NE(server.requests().at(0).body.find("\"stream\":true"), std::string::npos);
}

TEST(ChatClient, a_stalled_server_ends_the_call_with_a_timeout) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::silent();
  });
  ChatClient client;
  ChatCall call = call_to(server);
  call.total_timeout = 200ms;
  call.retry.max_attempts = 1;
  Outcome o = run(client, std::move(call));
  ASSERT_EQ(o.status, Status::error);
  EXPECT_EQ(o.error_type, "LlmTimeout");
}

TEST(ChatClient, cancel_and_close_end_calls_exactly_once) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::silent();
  });
  auto client = std::make_unique<ChatClient>();
  auto cancelled = std::make_shared<BlockingWaiter>();
  auto closed = std::make_shared<BlockingWaiter>();
  const http::RequestId id = client->submit(call_to(server), cancelled);
  client->submit(call_to(server), closed);
  ASSERT_TRUE(server.wait_for_in_flight(2));
  client->cancel(id);
  EXPECT_EQ(wait(cancelled).status, Status::cancelled);
  client->close();
  EXPECT_EQ(wait(closed).status, Status::closed);
}

}  // namespace
}  // namespace serendip::llm
