// src/llm/wire_support.hpp: helpers shared by the wire parsers and the stream decoder.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/llm/chat.hpp>
#include <serendip/llm/errors.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace serendip::llm::internal {

using nlohmann::json;

/// At most ~200 bytes of `text`, cut at a UTF-8 boundary, "..." appended when cut.
std::string excerpt(std::string_view text);

/// `value` as compact JSON; invalid UTF-8 in strings becomes U+FFFD instead of throwing.
std::string dump(const json& value);

/// Levels of arrays and objects a provider's JSON may nest: answers use a handful, and
/// printing a value (dump) or converting it for Python recurses once per level.
inline constexpr int max_nesting = 256;

/// Whether the JSON text `text` nests arrays and objects more than max_nesting levels deep
/// (brackets inside strings do not count). Any text is accepted; it need not be valid JSON.
bool nested_too_deeply(std::string_view text) noexcept;

/// `text` parsed as JSON; ProtocolError "<what> is not JSON" otherwise, or when it nests
/// more than max_nesting levels deep.
json parse_json(std::string_view text, std::string_view what);

/// Throws ProviderError when `doc` is an error in one of the shapes providers use:
/// `{"error": {...}}`, `{"error": "..."}`, `{"object": "error", "message": ...}` (vLLM) or a
/// one-element array around one of those (Gemini's OpenAI endpoint).
void throw_if_error(const json& doc);

/// Typed access to fields of a parsed document. A missing required field or a wrong type
/// throws ProtocolError naming the field and quoting the start of the source.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const std::string& reason) const;

  /// A required member of type object / array.
  const json& object(const json& parent, const char* key) const;
  const json& array(const json& parent, const char* key) const;
  /// A member of type object / array, or nullptr when it is missing or null.
  const json* optional_object(const json& parent, const char* key) const;
  const json* optional_array(const json& parent, const char* key) const;
  /// A string member; "" when missing or null.
  std::string string(const json& parent, const char* key) const;
  /// A non-negative integer member; nullopt when missing or null.
  std::optional<std::int64_t> count(const json& parent, const char* key) const;
  /// Message text given as a string, null, or an array of `{"type":"text","text":...}` parts.
  std::string content_text(const json& content) const;

 private:
  const json& typed(const json& parent, const char* key, json::value_t type,
                    const char* what) const;
  std::string_view source_;
};

/// A tool call whose arguments arrived as JSON text (OpenAI). Empty text means no arguments;
/// text that is not a JSON object is kept raw and flagged in `arguments_error`.
ToolCall tool_call_from_text(std::string id, std::string name, std::string_view text);

/// A tool call whose arguments arrived as a JSON value (Anthropic, Ollama, some OpenAI-compatible
/// servers); a string value is treated as JSON text.
ToolCall tool_call_from_value(std::string id, std::string name, const json& value);

/// The calls in `message["tool_calls"]`, shaped `[{"id"?, "function": {"name", "arguments"}}]`
/// by both OpenAI and Ollama; calls without an id get `fallback_call_id(first_position + i)`.
std::vector<ToolCall> function_calls(const Reader& in, const json& message,
                                     std::size_t first_position);

/// The arguments as JSON text: what the model sent if it was not an object, else `arguments`.
std::string arguments_text(const ToolCall& call);

/// The tool's parameter schema; an empty object schema when it has none.
json parameters_schema(const ToolSpec& tool);

/// A tool as OpenAI and Ollama declare it: `{"type": "function", "function": {...}}`.
json function_tool(const ToolSpec& tool);

/// The id given to the call at `position` when the provider sent none.
std::string fallback_call_id(std::size_t position);

/// The provider's finish reason, normalised.
FinishReason openai_finish(std::string_view raw) noexcept;
FinishReason anthropic_finish(std::string_view raw) noexcept;
FinishReason ollama_finish(std::string_view raw) noexcept;

/// The body fields OpenAI and Ollama share: `model`, `messages` (a leading system message, then
/// each message as `message_json` writes it), `stream`, and `tools` when there are any.
json function_chat_body(const ChatRequest& request, json (*message_json)(const Message&));

/// The provider's counts when it sent both, else the estimate (marked `estimated`).
Usage reported_or_estimated(std::optional<std::int64_t> prompt,
                            std::optional<std::int64_t> completion, const ChatRequest& request,
                            const ChatResponse& response);

/// "stop" with tool calls becomes `tool_calls`: several OpenAI-compatible servers and Ollama say
/// "stop" when they send calls, and the agent loop keys on the normalised reason.
void settle_finish(ChatResponse& response) noexcept;

}  // namespace serendip::llm::internal
