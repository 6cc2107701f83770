// src/llm/wire.cpp: the family-dispatching entry points of wire.hpp.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/wire.hpp>

namespace serendip::llm {

const char* to_string(WireFamily family) noexcept {
  switch (family) {
    case WireFamily::openai: return "openai";
    case WireFamily::anthropic: return "anthropic";
    case WireFamily::ollama: return "ollama";
  }
  return "unknown";
}

std::string build_body(WireFamily family, const ChatRequest& request) {
  switch (family) {
    case WireFamily::anthropic: return anthropic::build_body(request);
    case WireFamily::ollama: return ollama::build_body(request);
    case WireFamily::openai: break;
  }
  return openai::build_body(request);
}

ChatResponse parse_body(WireFamily family, std::string_view body, const ChatRequest& request) {
  switch (family) {
    case WireFamily::anthropic: return anthropic::parse_body(body, request);
    case WireFamily::ollama: return ollama::parse_body(body, request);
    case WireFamily::openai: break;
  }
  return openai::parse_body(body, request);
}

}  // namespace serendip::llm
