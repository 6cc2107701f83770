// include/serendip/llm/errors.hpp: the exceptions of the LLM protocol layer.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace serendip::llm {

/// A model string, provider or endpoint setting is unusable; raised before any request is made.
/// The message names what is missing (an argument, an environment variable) and never holds a key.
class LlmConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The provider's bytes could not be understood: not JSON, a missing field, a wrong type, a
/// stream that ended early. Carries a short reason and at most ~200 bytes of the offending input.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(std::string reason, std::string excerpt)
      : std::runtime_error(reason + (excerpt.empty() ? "" : "; received: " + excerpt)),
        reason_(std::move(reason)), excerpt_(std::move(excerpt)) {}

  /// What was wrong, without the excerpt.
  const std::string& reason() const noexcept { return reason_; }
  /// The start of the offending input, cut at a UTF-8 boundary; may be empty.
  const std::string& excerpt() const noexcept { return excerpt_; }

 private:
  std::string reason_;
  std::string excerpt_;
};

/// The provider answered with an error object (`{"error": {...}}`, Anthropic's `error` event,
/// Ollama's `{"error": "..."}`): its own error type and message, passed on unchanged.
class ProviderError : public std::runtime_error {
 public:
  ProviderError(std::string type, std::string message)
      : std::runtime_error("provider error (" + type + "): " + message),
        type_(std::move(type)), message_(std::move(message)) {}

  /// The provider's error type, status or code, such as "invalid_request_error"; "error" if none.
  const std::string& type() const noexcept { return type_; }
  /// The provider's message.
  const std::string& message() const noexcept { return message_; }

 private:
  std::string type_;
  std::string message_;
};

}  // namespace serendip::llm
