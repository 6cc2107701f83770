// src/llm/openai_wire.cpp: OpenAI chat-completions request bodies and response parsing.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/wire.hpp>

#include "wire_support.hpp"

namespace serendip::llm::openai {

namespace {

using internal::json;

json message_json(const Message& message) {
  switch (message.role) {
    case Role::system:
    case Role::user:
      return {{"role", to_string(message.role)}, {"content", message.text}};
    case Role::tool:
      return {{"role", "tool"}, {"tool_call_id", message.tool_call_id}, {"content", message.text}};
    case Role::assistant: break;
  }
  json out{{"role", "assistant"}};
  // OpenAI wants null, not "", as the content of a turn that only calls tools.
  bool calls_only = message.text.empty() && !message.tool_calls.empty();
  out["content"] = calls_only ? json() : json(message.text);
  if (message.tool_calls.empty()) return out;
  json& calls = out["tool_calls"] = json::array();
  for (const ToolCall& call : message.tool_calls) {
    json function{{"name", call.name}, {"arguments", internal::arguments_text(call)}};
    calls.push_back({{"id", call.id}, {"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}
}  // namespace

std::string build_body(const ChatRequest& request) {
  json body = internal::function_chat_body(request, message_json);
  if (request.temperature) body["temperature"] = *request.temperature;
  if (request.max_tokens) body["max_tokens"] = *request.max_tokens;
  if (request.stream && request.include_usage) body["stream_options"] = {{"include_usage", true}};
  return internal::dump(body);
}

ChatResponse parse_body(std::string_view body, const ChatRequest& request) {
  json doc = internal::parse_json(body, "the response");
  internal::throw_if_error(doc);
  internal::Reader in(body);
  const json& choices = in.array(doc, "choices");
  if (choices.empty()) in.fail("the response has no choices");
  const json& message = in.object(choices[0], "message");

  ChatResponse response;
  auto content = message.find("content");
  response.text = in.content_text(content == message.end() ? json() : *content);
  response.tool_calls = internal::function_calls(in, message, 0);
  response.raw_finish_reason = in.string(choices[0], "finish_reason");
  response.finish_reason = internal::openai_finish(response.raw_finish_reason);
  internal::settle_finish(response);

  const json* usage = in.optional_object(doc, "usage");
  auto prompt = usage ? in.count(*usage, "prompt_tokens") : std::nullopt;
  auto completion = usage ? in.count(*usage, "completion_tokens") : std::nullopt;
  response.usage = internal::reported_or_estimated(prompt, completion, request, response);
  return response;
}

}  // namespace serendip::llm::openai
