// src/llm/chat.cpp: names of chat enums and the usage estimate for providers that report none.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/chat.hpp>

#include "wire_support.hpp"

namespace serendip::llm {

namespace {

std::int64_t estimate_calls(const std::vector<ToolCall>& calls) {
  std::int64_t tokens = 0;
  for (const ToolCall& call : calls) {
    tokens += estimate_tokens(call.name) + estimate_tokens(internal::arguments_text(call));
  }
  return tokens;
}

}  // namespace

const char* to_string(Role role) noexcept {
  switch (role) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "unknown";
}

const char* to_string(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::tool_calls: return "tool_calls";
    case FinishReason::length: return "length";
    case FinishReason::other: return "other";
  }
  return "unknown";
}

std::int64_t estimate_tokens(std::string_view text) noexcept {
  std::int64_t code_points = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++code_points;
  }
  return (code_points + 3) / 4;
}

std::int64_t estimate_prompt_tokens(const ChatRequest& request) {
  std::int64_t tokens = estimate_tokens(request.system);
  for (const Message& message : request.messages) {
    tokens += estimate_tokens(message.text) + estimate_calls(message.tool_calls);
  }
  for (const ToolSpec& tool : request.tools) {
    tokens += estimate_tokens(tool.name) + estimate_tokens(tool.description) +
              estimate_tokens(internal::dump(tool.parameters));
  }
  return tokens;
}

std::int64_t estimate_completion_tokens(const ChatResponse& response) {
  return estimate_tokens(response.text) + estimate_calls(response.tool_calls);
}

Usage estimate_usage(const ChatRequest& request, const ChatResponse& response) {
  return Usage{estimate_prompt_tokens(request), estimate_completion_tokens(response), true};
}

}  // namespace serendip::llm
