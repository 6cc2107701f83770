// src/llm/anthropic_wire.cpp: Anthropic Messages request bodies and response parsing.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/wire.hpp>

#include "wire_support.hpp"

namespace serendip::llm::anthropic {

namespace {

using internal::json;

json text_block(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

json blocks_of(const Message& message) {
  json blocks = json::array();
  if (message.role == Role::tool) {
    json result{{"type", "tool_result"},
                {"tool_use_id", message.tool_call_id},
                {"content", message.text}};
    if (message.is_error) result["is_error"] = true;
    blocks.push_back(std::move(result));
    return blocks;
  }
  // Anthropic rejects empty text blocks, so a turn that only calls tools has none.
  if (!message.text.empty() || message.tool_calls.empty()) {
    blocks.push_back(text_block(message.text));
  }
  for (const ToolCall& call : message.tool_calls) {
    blocks.push_back(
        {{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", call.arguments}});
  }
  return blocks;
}

// Roles must alternate and every tool result of a turn must sit in the one user message that
// follows it, so consecutive messages of the same role are merged into one list of blocks.
json messages_of(const ChatRequest& request) {
  json messages = json::array();
  for (const Message& message : request.messages) {
    if (message.role == Role::system) continue;
    const char* role = message.role == Role::assistant ? "assistant" : "user";
    json blocks = blocks_of(message);
    if (!messages.empty() && messages.back()["role"] == role) {
      json& content = messages.back()["content"];
      for (json& block : blocks) content.push_back(std::move(block));
    } else {
      messages.push_back({{"role", role}, {"content", std::move(blocks)}});
    }
  }
  // A lone text block is sent in the short form, as a plain string.
  for (json& message : messages) {
    json& content = message["content"];
    if (content.size() == 1 && content[0]["type"] == "text") content = content[0]["text"];
  }
  return messages;
}

// Anthropic has one top-level system prompt: the request's, then any system messages in order.
std::string system_of(const ChatRequest& request) {
  std::string system = request.system;
  for (const Message& message : request.messages) {
    if (message.role != Role::system) continue;
    if (!system.empty()) system += "\n\n";
    system += message.text;
  }
  return system;
}

}  // namespace

std::string build_body(const ChatRequest& request) {
  json body{{"model", request.model},
            {"max_tokens", request.max_tokens.value_or(anthropic_default_max_tokens)},
            {"messages", messages_of(request)},
            {"stream", request.stream}};
  if (std::string system = system_of(request); !system.empty()) body["system"] = std::move(system);
  if (!request.tools.empty()) {
    json& tools = body["tools"] = json::array();
    for (const ToolSpec& tool : request.tools) {
      json entry{{"name", tool.name}, {"input_schema", internal::parameters_schema(tool)}};
      if (!tool.description.empty()) entry["description"] = tool.description;
      tools.push_back(std::move(entry));
    }
  }
  if (request.temperature) body["temperature"] = *request.temperature;
  return internal::dump(body);
}

ChatResponse parse_body(std::string_view body, const ChatRequest& request) {
  json doc = internal::parse_json(body, "the response");
  internal::throw_if_error(doc);
  internal::Reader in(body);

  ChatResponse response;
  for (const json& block : in.array(doc, "content")) {
    std::string type = in.string(block, "type");
    if (type == "text") {
      response.text += in.string(block, "text");
    } else if (type == "tool_use") {
      std::string name = in.string(block, "name");
      if (name.empty()) in.fail("a tool_use block has no name");
      std::string id = in.string(block, "id");
      if (id.empty()) id = internal::fallback_call_id(response.tool_calls.size());
      auto input = block.find("input");
      response.tool_calls.push_back(internal::tool_call_from_value(
          std::move(id), std::move(name), input == block.end() ? json() : *input));
    }
  }
  response.raw_finish_reason = in.string(doc, "stop_reason");
  response.finish_reason = internal::anthropic_finish(response.raw_finish_reason);
  internal::settle_finish(response);

  const json* usage = in.optional_object(doc, "usage");
  auto prompt = usage ? in.count(*usage, "input_tokens") : std::nullopt;
  auto completion = usage ? in.count(*usage, "output_tokens") : std::nullopt;
  response.usage = internal::reported_or_estimated(prompt, completion, request, response);
  return response;
}

}  // namespace serendip::llm::anthropic
