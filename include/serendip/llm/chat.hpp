// include/serendip/llm/chat.hpp: protocol-neutral chat types: messages, tools, requests, responses.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serendip::llm {

// Every type here is a plain value: copy and move freely; like std::string, not synchronised.

/// Who wrote a message.
enum class Role : std::uint8_t { system, user, assistant, tool };

/// One call of a tool that the model asked for.
///
/// `arguments` is always a JSON object. When the provider sent arguments that are not a JSON
/// object (OpenAI sends them as a string the model wrote, which may be broken), `arguments` is
/// `{}`, `raw_arguments` keeps the text as sent and `arguments_error` says what is wrong, so the
/// agent can hand that back to the model instead of failing the turn.
struct ToolCall {
  std::string id;                               ///< provider's id, or "call_<n>" when it sent none
  std::string name;                             ///< the tool's name
  nlohmann::json arguments = nlohmann::json::object();
  std::string raw_arguments;                    ///< only set together with `arguments_error`
  std::string arguments_error;                  ///< empty when `arguments` is what the model sent

  bool operator==(const ToolCall&) const = default;
};

/// One turn of a conversation. Which fields matter depends on the role:
/// - system, user: `text`;
/// - assistant: `text` (may be empty) and `tool_calls`;
/// - tool: the result of one call: `text`, `tool_call_id`, `tool_name`, `is_error`.
struct Message {
  Role role = Role::user;
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::string tool_call_id;
  std::string tool_name;
  bool is_error = false;  ///< a tool result that reports a failure (Anthropic's `is_error`)

  static Message system(std::string text) {
    return {Role::system, std::move(text), {}, {}, {}, false};
  }
  static Message user(std::string text) { return {Role::user, std::move(text), {}, {}, {}, false}; }
  static Message assistant(std::string text, std::vector<ToolCall> calls = {}) {
    return {Role::assistant, std::move(text), std::move(calls), {}, {}, false};
  }
  static Message tool_result(std::string call_id, std::string name, std::string text,
                             bool error = false) {
    return {Role::tool, std::move(text), {}, std::move(call_id), std::move(name), error};
  }

  bool operator==(const Message&) const = default;
};

/// A tool the model may call: its name, what it does and a JSON schema of its arguments
/// (an object schema; null stands for "no arguments").
struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters;
};

/// Everything a chat-completion request says, whatever the provider.
///
/// `system` is sent where the family wants it: Anthropic's top-level `system` field, a leading
/// system message for the others. `max_tokens` is required by Anthropic, which gets
/// `anthropic_default_max_tokens` when it is unset. `include_usage` asks OpenAI-compatible
/// streams for their final usage chunk (the other families always report usage).
struct ChatRequest {
  std::string model;  ///< the provider's model name (Azure: the deployment), no "provider::"
  std::string system;
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  bool stream = false;
  bool include_usage = true;
};

/// Why the model stopped, normalised across providers; the provider's own word is kept beside it.
enum class FinishReason : std::uint8_t {
  stop,        ///< a natural end or a stop sequence
  tool_calls,  ///< the model wants tools run (also when a provider says "stop" but sent calls)
  length,      ///< the token limit or context window cut the answer
  other,       ///< anything else: content filter, refusal, unknown, or not reported
};

/// Tokens spent by one request, as the provider reported them; `estimated` when the provider
/// reported nothing and the numbers come from `estimate_usage`.
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  bool estimated = false;

  bool operator==(const Usage&) const = default;
};

/// The model's answer to one request.
struct ChatResponse {
  std::string text;
  std::vector<ToolCall> tool_calls;
  FinishReason finish_reason = FinishReason::other;
  std::string raw_finish_reason;  ///< as the provider wrote it; empty when it sent none
  Usage usage;

  bool operator==(const ChatResponse&) const = default;
};

/// A short lowercase name ("system", "user", ...).
const char* to_string(Role role) noexcept;
/// A short lowercase name ("stop", "tool_calls", "length", "other").
const char* to_string(FinishReason reason) noexcept;

/// A rough token count: one token per 4 UTF-8 code points, rounded up. O(size).
std::int64_t estimate_tokens(std::string_view text) noexcept;

/// Usage estimated from the request (system prompt, messages, tool calls, tool specs) and the
/// answer (text, tool calls), marked `estimated`. Used only when the provider reports no usage.
Usage estimate_usage(const ChatRequest& request, const ChatResponse& response);

/// The prompt half of `estimate_usage`.
std::int64_t estimate_prompt_tokens(const ChatRequest& request);

/// The completion half of `estimate_usage`.
std::int64_t estimate_completion_tokens(const ChatResponse& response);

}  // namespace serendip::llm
