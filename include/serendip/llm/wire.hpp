// include/serendip/llm/wire.hpp: request bodies and response parsers of the three wire families.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/llm/chat.hpp>
#include <serendip/llm/errors.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace serendip::llm {

/// The wire protocols spoken by the providers. Azure speaks `openai` (only its URL and key
/// header differ, see provider.hpp).
enum class WireFamily : std::uint8_t {
  openai,     ///< OpenAI chat completions: `/chat/completions`, SSE streaming
  anthropic,  ///< Anthropic Messages: `/v1/messages`, SSE streaming with named events
  ollama,     ///< Ollama's native `/api/chat`, NDJSON streaming
};

/// A short lowercase name ("openai", "anthropic", "ollama").
const char* to_string(WireFamily family) noexcept;

/// Anthropic requires `max_tokens`; this is sent when the request leaves it unset.
inline constexpr int anthropic_default_max_tokens = 1024;

// Every function below is pure and thread-safe. The body builders never throw for content
// (invalid UTF-8 in a text is replaced, not rejected). The parsers throw ProviderError when the
// body is the provider's error object and ProtocolError when it is not the expected JSON; they
// take the request only to estimate usage when the provider reports none.

namespace openai {
/// The JSON body of a chat-completions request.
std::string build_body(const ChatRequest& request);
/// The answer in a non-streamed chat-completions response body.
ChatResponse parse_body(std::string_view body, const ChatRequest& request);
}  // namespace openai

namespace anthropic {
/// The JSON body of a Messages request. Consecutive tool results are merged into one user
/// message of `tool_result` blocks, as Anthropic requires after parallel tool calls.
std::string build_body(const ChatRequest& request);
/// The answer in a non-streamed Messages response body.
ChatResponse parse_body(std::string_view body, const ChatRequest& request);
}  // namespace anthropic

namespace ollama {
/// The JSON body of an `/api/chat` request (`stream` is always sent: Ollama streams by default).
std::string build_body(const ChatRequest& request);
/// The answer in a non-streamed `/api/chat` response body.
ChatResponse parse_body(std::string_view body, const ChatRequest& request);
}  // namespace ollama

/// `openai::build_body`, `anthropic::build_body` or `ollama::build_body`.
std::string build_body(WireFamily family, const ChatRequest& request);
/// `openai::parse_body`, `anthropic::parse_body` or `ollama::parse_body`.
ChatResponse parse_body(WireFamily family, std::string_view body, const ChatRequest& request);

}  // namespace serendip::llm
