// src/llm/wire_support.cpp: helpers shared by the wire parsers and the stream decoder.
// SPDX-License-Identifier: Apache-2.0
#include "wire_support.hpp"

#include <utility>

namespace serendip::llm::internal {

namespace {

constexpr std::size_t excerpt_bytes = 200;

bool is_continuation(unsigned char c) noexcept { return (c & 0xC0) == 0x80; }

// A readable name for an error's `type`, trying the fields different providers use.
std::string error_type(const json& error) {
  for (const char* key : {"type", "status", "code"}) {
    auto it = error.find(key);
    if (it == error.end() || it->is_null()) continue;
    return it->is_string() ? it->get<std::string>() : dump(*it);
  }
  return "error";
}

std::string error_message(const json& holder) {
  auto it = holder.find("message");
  if (it == holder.end() || it->is_null()) return dump(holder);
  return it->is_string() ? it->get<std::string>() : dump(*it);
}

}  // namespace

bool nested_too_deeply(std::string_view text) noexcept {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_nesting) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::string excerpt(std::string_view text) {
  if (text.size() <= excerpt_bytes) return std::string(text);
  std::size_t cut = excerpt_bytes;
  while (cut > 0 && is_continuation(static_cast<unsigned char>(text[cut]))) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json parse_json(std::string_view text, std::string_view what) {
  if (nested_too_deeply(text)) {
    throw ProtocolError(std::string(what) + " is nested more than " +
                            std::to_string(max_nesting) + " levels deep",
                        excerpt(text));
  }
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw ProtocolError(std::string(what) + " is not JSON", excerpt(text));
  return doc;
}

void throw_if_error(const json& doc) {
  if (doc.is_array() && doc.size() == 1) return throw_if_error(doc[0]);
  if (!doc.is_object()) return;
  if (auto it = doc.find("error"); it != doc.end() && !it->is_null()) {
    if (it->is_string()) throw ProviderError("error", it->get<std::string>());
    if (it->is_object()) throw ProviderError(error_type(*it), error_message(*it));
    throw ProviderError("error", dump(*it));
  }
  if (auto it = doc.find("object"); it != doc.end() && *it == "error") {
    throw ProviderError(error_type(doc), error_message(doc));
  }
}

void Reader::fail(const std::string& reason) const {
  throw ProtocolError(reason, excerpt(source_));
}

const json& Reader::typed(const json& parent, const char* key, json::value_t type,
                          const char* what) const {
  if (!parent.is_object()) fail(std::string("expected an object holding '") + key + "'");
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) fail(std::string("field '") + key + "' is missing");
  if (it->type() != type) fail(std::string("field '") + key + "' is not " + what);
  return *it;
}

const json& Reader::object(const json& parent, const char* key) const {
  return typed(parent, key, json::value_t::object, "an object");
}

const json& Reader::array(const json& parent, const char* key) const {
  return typed(parent, key, json::value_t::array, "an array");
}

const json* Reader::optional_object(const json& parent, const char* key) const {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  return &object(parent, key);
}

const json* Reader::optional_array(const json& parent, const char* key) const {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return nullptr;
  return &array(parent, key);
}

std::string Reader::string(const json& parent, const char* key) const {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return {};
  if (!it->is_string()) fail(std::string("field '") + key + "' is not a string");
  return it->get<std::string>();
}

std::optional<std::int64_t> Reader::count(const json& parent, const char* key) const {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_unsigned()) fail(std::string("field '") + key + "' is not a count");
  return it->get<std::int64_t>();
}

std::string Reader::content_text(const json& content) const {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) fail("field 'content' is neither text nor a list of parts");
  std::string text;
  for (const json& part : content) {
    if (!part.is_object()) continue;
    auto type = part.find("type");
    if (type != part.end() && type->is_string() && *type == "text") text += string(part, "text");
  }
  return text;
}

ToolCall tool_call_from_text(std::string id, std::string name, std::string_view text) {
  ToolCall call{std::move(id), std::move(name), json::object(), {}, {}};
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return call;
  if (nested_too_deeply(text)) {
    call.raw_arguments = excerpt(text);
    call.arguments_error = "the arguments are nested too deeply";
    return call;
  }
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    call.arguments = std::move(parsed);
    return call;
  }
  call.raw_arguments = std::string(text);
  call.arguments_error = parsed.is_discarded() ? "the arguments are not valid JSON"
                                               : "the arguments are not a JSON object";
  return call;
}

ToolCall tool_call_from_value(std::string id, std::string name, const json& value) {
  if (value.is_string()) {
    return tool_call_from_text(std::move(id), std::move(name), value.get<std::string>());
  }
  if (value.is_null()) return tool_call_from_text(std::move(id), std::move(name), "");
  if (value.is_object()) return ToolCall{std::move(id), std::move(name), value, {}, {}};
  ToolCall call{std::move(id), std::move(name), json::object(), dump(value), {}};
  call.arguments_error = "the arguments are not a JSON object";
  return call;
}

std::vector<ToolCall> function_calls(const Reader& in, const json& message,
                                     std::size_t first_position) {
  std::vector<ToolCall> calls;
  const json* list = in.optional_array(message, "tool_calls");
  if (list == nullptr) return calls;
  for (const json& entry : *list) {
    const json& function = in.object(entry, "function");
    std::string id = in.string(entry, "id");
    if (id.empty()) id = fallback_call_id(first_position + calls.size());
    std::string name = in.string(function, "name");
    if (name.empty()) in.fail("a tool call has no function name");
    auto arguments = function.find("arguments");
    calls.push_back(tool_call_from_value(std::move(id), std::move(name),
                                         arguments == function.end() ? json() : *arguments));
  }
  return calls;
}

std::string arguments_text(const ToolCall& call) {
  return call.arguments_error.empty() ? dump(call.arguments) : call.raw_arguments;
}

json parameters_schema(const ToolSpec& tool) {
  if (!tool.parameters.is_null()) return tool.parameters;
  return json{{"type", "object"}, {"properties", json::object()}};
}

json function_tool(const ToolSpec& tool) {
  json function{{"name", tool.name}, {"parameters", parameters_schema(tool)}};
  if (!tool.description.empty()) function["description"] = tool.description;
  return {{"type", "function"}, {"function", std::move(function)}};
}

std::string fallback_call_id(std::size_t position) { return "call_" + std::to_string(position); }

FinishReason openai_finish(std::string_view raw) noexcept {
  if (raw == "stop") return FinishReason::stop;
  if (raw == "tool_calls" || raw == "function_call") return FinishReason::tool_calls;
  if (raw == "length") return FinishReason::length;
  return FinishReason::other;
}

FinishReason anthropic_finish(std::string_view raw) noexcept {
  if (raw == "end_turn" || raw == "stop_sequence") return FinishReason::stop;
  if (raw == "tool_use") return FinishReason::tool_calls;
  if (raw == "max_tokens" || raw == "model_context_window_exceeded") return FinishReason::length;
  return FinishReason::other;
}

FinishReason ollama_finish(std::string_view raw) noexcept {
  if (raw == "stop") return FinishReason::stop;
  if (raw == "length") return FinishReason::length;
  return FinishReason::other;
}

json function_chat_body(const ChatRequest& request, json (*message_json)(const Message&)) {
  json messages = json::array();
  if (!request.system.empty()) {
    messages.push_back({{"role", "system"}, {"content", request.system}});
  }
  for (const Message& message : request.messages) messages.push_back(message_json(message));
  json body{{"model", request.model}, {"messages", std::move(messages)}, {"stream", request.stream}};
  if (!request.tools.empty()) {
    json& tools = body["tools"] = json::array();
    for (const ToolSpec& tool : request.tools) tools.push_back(function_tool(tool));
  }
  return body;
}

Usage reported_or_estimated(std::optional<std::int64_t> prompt,
                            std::optional<std::int64_t> completion, const ChatRequest& request,
                            const ChatResponse& response) {
  if (prompt && completion) return Usage{*prompt, *completion, false};
  return estimate_usage(request, response);
}

void settle_finish(ChatResponse& response) noexcept {
  if (!response.tool_calls.empty() && response.finish_reason == FinishReason::stop) {
    response.finish_reason = FinishReason::tool_calls;
  }
}

}  // namespace serendip::llm::internal
