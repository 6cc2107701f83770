// src/llm/ollama_wire.cpp: Ollama /api/chat request bodies and response parsing.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/wire.hpp>

#include "wire_support.hpp"

namespace serendip::llm::ollama {

namespace {

using internal::json;

json message_json(const Message& message) {
  json out{{"role", to_string(message.role)}, {"content", message.text}};
  if (message.role == Role::tool) out["tool_name"] = message.tool_name;
  if (message.role != Role::assistant || message.tool_calls.empty()) return out;
  json& calls = out["tool_calls"] = json::array();
  for (const ToolCall& call : message.tool_calls) {
    calls.push_back({{"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return out;
}
}  // namespace

std::string build_body(const ChatRequest& request) {
  json body = internal::function_chat_body(request, message_json);
  json options = json::object();
  if (request.temperature) options["temperature"] = *request.temperature;
  if (request.max_tokens) options["num_predict"] = *request.max_tokens;
  if (!options.empty()) body["options"] = std::move(options);
  return internal::dump(body);
}

ChatResponse parse_body(std::string_view body, const ChatRequest& request) {
  json doc = internal::parse_json(body, "the response");
  internal::throw_if_error(doc);
  internal::Reader in(body);
  const json& message = in.object(doc, "message");

  ChatResponse response;
  response.text = in.string(message, "content");
  response.tool_calls = internal::function_calls(in, message, 0);
  response.raw_finish_reason = in.string(doc, "done_reason");
  response.finish_reason = internal::ollama_finish(response.raw_finish_reason);
  internal::settle_finish(response);

  auto prompt = in.count(doc, "prompt_eval_count");
  auto completion = in.count(doc, "eval_count");
  response.usage = internal::reported_or_estimated(prompt, completion, request, response);
  return response;
}

}  // namespace serendip::llm::ollama
