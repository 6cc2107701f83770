// tests/core/llm_wire_test.cpp: request bodies and response parsing of the three wire families.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/wire.hpp>

#include <gtest/gtest.h>

#include <string>

namespace serendip::llm {
namespace {

using nlohmann::json;

ToolSpec weather_tool() {
  return ToolSpec{"get_weather", "Current weather in a city",
                  json{{"type", "object"},
                       {"properties", {{"city", {{"type", "string"}}}}},
                       {"required", {"city"}}}};
}

// A conversation in which the assistant called two tools at once and got both results back.
ChatRequest tool_round_trip() {
  ChatRequest request;
  request.model = "m";
  request.system = "Be brief.";
  request.messages = {
      Message::user("Weather in Paris and Oslo?"),
      Message::assistant("", {ToolCall{"call_a", "get_weather", {{"city", "Paris"}}, {}, {}},
                              ToolCall{"call_b", "get_weather", {{"city", "Oslo"}}, {}, {}}}),
      Message::tool_result("call_a", "get_weather", "18C sunny"),
      Message::tool_result("call_b", "get_weather", "city not found", true),
  };
  request.tools = {weather_tool()};
  return request;
}

ChatRequest hello_request() {
  ChatRequest request;
  request.model = "m";
  request.messages = {Message::user("Hello there")};
  return request;
}

template <class E, class F>
E caught(F&& f) {
  try {
    f();
  } catch (const E& error) {
    return error;
  }
  ADD_FAILURE() << "expected exception not thrown";
  throw std::logic_error("unreachable");
}

// -- OpenAI bodies ------------------------------------------------------------------------------

TEST(LlmWireOpenAi, the_body_leads_with_the_system_prompt_and_declares_tools_as_functions) {
  json body = json::parse(openai::build_body(tool_round_trip()));
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["stream"], false);
  EXPECT_FALSE(body.contains("stream_options"));
  EXPECT_FALSE(body.contains("temperature"));
  EXPECT_FALSE(body.contains("max_tokens"));

  const json& messages = body["messages"];
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0], (json{{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(messages[1], (json{{"role", "user"}, {"content", "Weather in Paris and Oslo?"}}));

  const json& assistant = messages[2];
  EXPECT_EQ(assistant["role"], "assistant");
  EXPECT_TRUE(assistant["content"].is_null());  // a turn that only calls tools
  ASSERT_EQ(assistant["tool_calls"].size(), 2u);
  EXPECT_EQ(assistant["tool_calls"][0],
            (json{{"id", "call_a"},
                  {"type", "function"},
                  {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}));

  EXPECT_EQ(messages[3],
            (json{{"role", "tool"}, {"tool_call_id", "call_a"}, {"content", "18C sunny"}}));
  EXPECT_EQ(messages[4]["tool_call_id"], "call_b");

  ASSERT_EQ(body["tools"].size(), 1u);
  EXPECT_EQ(body["tools"][0],
            (json{{"type", "function"},
                  {"function",
                   {{"name", "get_weather"},
                    {"description", "Current weather in a city"},
                    {"parameters", weather_tool().parameters}}}}));
}

TEST(LlmWireOpenAi, the_body_carries_sampling_settings_and_asks_streams_for_usage) {
  ChatRequest request = hello_request();
  request.temperature = 0.25;
  request.max_tokens = 300;
  request.stream = true;
  json body = json::parse(openai::build_body(request));
  EXPECT_EQ(body["temperature"], 0.25);
  EXPECT_EQ(body["max_tokens"], 300);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"], (json{{"include_usage", true}}));

  request.include_usage = false;
  EXPECT_FALSE(json::parse(openai::build_body(request)).contains("stream_options"));
}

TEST(LlmWireOpenAi, broken_arguments_go_back_to_the_model_exactly_as_it_wrote_them) {
  ChatRequest request = hello_request();
  ToolCall broken{"call_x", "f", json::object(), "{\"city\": \"Par", "not valid JSON"};
  request.messages.push_back(Message::assistant("Let me check.", {broken}));
  json body = json::parse(openai::build_body(request));
  const json& assistant = body["messages"][1];
  EXPECT_EQ(assistant["content"], "Let me check.");
  EXPECT_EQ(assistant["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Par");
}

TEST(LlmWireOpenAi, a_tool_without_a_schema_gets_an_empty_object_schema) {
  ChatRequest request = hello_request();
  request.tools = {ToolSpec{"now", "", json()}};
  json body = json::parse(openai::build_body(request));
  EXPECT_EQ(body["tools"][0]["function"],
            (json{{"name", "now"},
                  {"parameters", {{"type", "object"}, {"properties", json::object()}}}}));
}

TEST(LlmWireOpenAi, invalid_utf8_in_a_message_is_replaced_rather_than_thrown) {
  ChatRequest request = hello_request();
  request.messages[0].text = "caf\xC3";  // a truncated two-byte sequence
  json body = json::parse(openai::build_body(request));
  EXPECT_EQ(body["messages"][0]["content"], "caf\xEF\xBF\xBD");
}

// -- OpenAI responses ---------------------------------------------------------------------------

TEST(LlmWireOpenAi, a_text_answer_is_parsed_with_its_reported_usage) {
  ChatResponse response = openai::parse_body(R"({
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1727000000, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi! How can I help?",
                 "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
  })", hello_request());
  EXPECT_EQ(response.text, "Hi! How can I help?");
  EXPECT_TRUE(response.tool_calls.empty());
  EXPECT_EQ(response.finish_reason, FinishReason::stop);
  EXPECT_EQ(response.raw_finish_reason, "stop");
  EXPECT_EQ(response.usage, (Usage{9, 6, false}));
}

TEST(LlmWireOpenAi, parallel_tool_calls_are_parsed_with_their_arguments) {
  ChatResponse response = openai::parse_body(R"({
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
      "role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]}}],
    "usage": {"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}
  })", hello_request());
  EXPECT_EQ(response.text, "");
  ASSERT_EQ(response.tool_calls.size(), 2u);
  EXPECT_EQ(response.tool_calls[0],
            (ToolCall{"call_1", "get_weather", {{"city", "Paris"}}, {}, {}}));
  EXPECT_EQ(response.tool_calls[1],
            (ToolCall{"call_2", "get_weather", {{"city", "Oslo"}}, {}, {}}));
  EXPECT_EQ(response.finish_reason, FinishReason::tool_calls);
}

TEST(LlmWireOpenAi, arguments_that_are_not_a_json_object_are_kept_raw_and_flagged) {
  ChatResponse response = openai::parse_body(R"({"choices": [{"finish_reason": "tool_calls",
    "message": {"tool_calls": [
      {"id": "a", "function": {"name": "f", "arguments": "{\"x\": 1"}},
      {"id": "b", "function": {"name": "g", "arguments": "[1, 2]"}},
      {"id": "c", "function": {"name": "h", "arguments": ""}},
      {"id": "d", "function": {"name": "k", "arguments": {"already": "an object"}}}]}}]})",
                                             hello_request());
  ASSERT_EQ(response.tool_calls.size(), 4u);
  EXPECT_EQ(response.tool_calls[0].arguments, json::object());
  EXPECT_EQ(response.tool_calls[0].raw_arguments, "{\"x\": 1");
  EXPECT_EQ(response.tool_calls[0].arguments_error, "the arguments are not valid JSON");
  EXPECT_EQ(response.tool_calls[1].raw_arguments, "[1, 2]");
  EXPECT_EQ(response.tool_calls[1].arguments_error, "the arguments are not a JSON object");
  EXPECT_EQ(response.tool_calls[2], (ToolCall{"c", "h", json::object(), {}, {}}));
  EXPECT_EQ(response.tool_calls[3].arguments, (json{{"already", "an object"}}));
}

TEST(LlmWireOpenAi, arguments_nested_too_deeply_are_flagged_not_parsed) {
  // Inside a string the arguments escape the check on the body: they are checked on their
  // own, since printing or converting a value recurses once per level.
  const std::string deep = std::string(300, '[') + std::string(300, ']');
  const std::string shallow = std::string(200, '[') + std::string(200, ']');
  auto call_with = [](const std::string& arguments) {
    return openai::parse_body(R"({"choices": [{"finish_reason": "tool_calls", "message":
      {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": ")" + arguments +
                                  R"("}}]}}]})",
                              hello_request())
        .tool_calls.at(0);
  };
  EXPECT_EQ(call_with(deep).arguments_error, "the arguments are nested too deeply");
  EXPECT_EQ(call_with(deep).raw_arguments.substr(0, 3), "[[[");
  EXPECT_EQ(call_with(shallow).arguments_error, "the arguments are not a JSON object");
}

TEST(LlmWireOpenAi, finish_reasons_are_normalised_and_kept_raw) {
  auto finish = [](const char* reason) {
    return openai::parse_body(std::string(R"({"choices": [{"message": {"content": "x"},
      "finish_reason": ")") + reason + "\"}]}", hello_request());
  };
  EXPECT_EQ(finish("length").finish_reason, FinishReason::length);
  ChatResponse filtered = finish("content_filter");
  EXPECT_EQ(filtered.finish_reason, FinishReason::other);
  EXPECT_EQ(filtered.raw_finish_reason, "content_filter");
  // Some OpenAI-compatible servers say "stop" while sending calls; the loop must still run them.
  ChatResponse calls = openai::parse_body(R"({"choices": [{"finish_reason": "stop",
    "message": {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]}}]})",
                                          hello_request());
  EXPECT_EQ(calls.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(calls.raw_finish_reason, "stop");
}

TEST(LlmWireOpenAi, content_given_as_a_list_of_parts_is_joined) {
  ChatResponse response = openai::parse_body(R"({"choices": [{"finish_reason": "stop",
    "message": {"content": [{"type": "text", "text": "Hello, "}, {"type": "image_url"},
                            {"type": "text", "text": "world"}]}}]})",
                                             hello_request());
  EXPECT_EQ(response.text, "Hello, world");
}

TEST(LlmWireOpenAi, missing_usage_is_estimated_and_marked_so) {
  ChatRequest request = hello_request();
  ChatResponse response = openai::parse_body(
      R"({"choices": [{"message": {"content": "Twelve chars"}, "finish_reason": "stop"}]})",
      request);
  EXPECT_TRUE(response.usage.estimated);
  EXPECT_EQ(response.usage.prompt_tokens, 3);      // "Hello there": 11 code points
  EXPECT_EQ(response.usage.completion_tokens, 3);  // "Twelve chars": 12 code points
  EXPECT_EQ(response.usage, estimate_usage(request, response));
}

TEST(LlmWireOpenAi, an_error_object_becomes_a_provider_error_with_its_type_and_message) {
  auto error = caught<ProviderError>([] {
    openai::parse_body(R"({"error": {"message": "Incorrect API key provided: sk-ab***yz.",
      "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})",
                       hello_request());
  });
  EXPECT_EQ(error.type(), "invalid_request_error");
  EXPECT_EQ(error.message(), "Incorrect API key provided: sk-ab***yz.");

  auto vllm = caught<ProviderError>([] {
    openai::parse_body(R"({"object": "error", "message": "model not found",
      "type": "NotFoundError", "param": null, "code": 404})",
                       hello_request());
  });
  EXPECT_EQ(vllm.type(), "NotFoundError");
  EXPECT_EQ(vllm.message(), "model not found");

  auto gemini = caught<ProviderError>([] {
    openai::parse_body(R"([{"error": {"code": 400, "message": "API key not valid.",
      "status": "INVALID_ARGUMENT"}}])",
                       hello_request());
  });
  EXPECT_EQ(gemini.type(), "INVALID_ARGUMENT");
  EXPECT_EQ(gemini.message(), "API key not valid.");

  auto plain = caught<ProviderError>(
      [] { openai::parse_body(R"({"error": "rate limited"})", hello_request()); });
  EXPECT_EQ(plain.type(), "error");
  EXPECT_EQ(plain.message(), "rate limited");
}

TEST(LlmWireOpenAi, malformed_bodies_are_protocol_errors_quoting_a_short_excerpt) {
  auto not_json = caught<ProtocolError>(
      [] { openai::parse_body("<html>502 Bad Gateway</html>", hello_request()); });
  EXPECT_EQ(not_json.reason(), "the response is not JSON");
  EXPECT_EQ(not_json.excerpt(), "<html>502 Bad Gateway</html>");

  auto no_choices = caught<ProtocolError>(
      [] { openai::parse_body(R"({"id": "x", "object": "chat.completion"})", hello_request()); });
  EXPECT_EQ(no_choices.reason(), "field 'choices' is missing");

  auto empty = caught<ProtocolError>(
      [] { openai::parse_body(R"({"choices": []})", hello_request()); });
  EXPECT_EQ(empty.reason(), "the response has no choices");

  auto wrong_type = caught<ProtocolError>(
      [] { openai::parse_body(R"({"choices": "none"})", hello_request()); });
  EXPECT_EQ(wrong_type.reason(), "field 'choices' is not an array");

  auto bad_count = caught<ProtocolError>([] {
    openai::parse_body(R"({"choices": [{"message": {"content": "x"}}], "usage":
      {"prompt_tokens": "nine", "completion_tokens": 1}})",
                       hello_request());
  });
  EXPECT_EQ(bad_count.reason(), "field 'prompt_tokens' is not a count");

  auto nameless = caught<ProtocolError>([] {
    openai::parse_body(
        R"({"choices": [{"message": {"tool_calls": [{"id": "a", "function": {}}]}}]})",
        hello_request());
  });
  EXPECT_EQ(nameless.reason(), "a tool call has no function name");
}

TEST(LlmWireOpenAi, the_excerpt_is_short_and_cut_at_a_utf8_boundary) {
  std::string body = "not json: ";
  for (int i = 0; i < 300; ++i) body += "\xC3\xA9";  // "é", two bytes each
  auto error = caught<ProtocolError>([&] { openai::parse_body(body, hello_request()); });
  ASSERT_TRUE(error.excerpt().ends_with("..."));
  std::string kept = error.excerpt().substr(0, error.excerpt().size() - 3);
  EXPECT_LE(kept.size(), 200u);
  EXPECT_EQ(body.compare(0, kept.size(), kept), 0);
  EXPECT_NE(static_cast<unsigned char>(kept.back()), 0xC3);  // no half character at the end
  EXPECT_LE(std::string(error.what()).size(), 300u);
}

// -- Anthropic ----------------------------------------------------------------------------------

TEST(LlmWireAnthropic, the_system_prompt_is_top_level_and_max_tokens_always_sent) {
  ChatRequest request = hello_request();
  request.system = "Be brief.";
  request.messages.insert(request.messages.begin(), Message::system("Answer in French."));
  json body = json::parse(anthropic::build_body(request));
  EXPECT_EQ(body["system"], "Be brief.\n\nAnswer in French.");
  EXPECT_EQ(body["max_tokens"], anthropic_default_max_tokens);
  EXPECT_EQ(body["messages"], (json::array({{{"role", "user"}, {"content", "Hello there"}}})));
  EXPECT_EQ(body["stream"], false);
  EXPECT_FALSE(body.contains("tools"));

  request.max_tokens = 64;
  request.temperature = 0.5;
  request.stream = true;
  request.system.clear();
  request.messages.erase(request.messages.begin());
  body = json::parse(anthropic::build_body(request));
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["temperature"], 0.5);
  EXPECT_EQ(body["stream"], true);
  EXPECT_FALSE(body.contains("system"));
  EXPECT_FALSE(body.contains("stream_options"));
}

TEST(LlmWireAnthropic, tool_calls_are_tool_use_blocks_and_their_results_share_one_user_turn) {
  json body = json::parse(anthropic::build_body(tool_round_trip()));
  EXPECT_EQ(body["system"], "Be brief.");
  const json& messages = body["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0], (json{{"role", "user"}, {"content", "Weather in Paris and Oslo?"}}));
  EXPECT_EQ(messages[1],
            (json{{"role", "assistant"},
                  {"content",
                   {{{"type", "tool_use"}, {"id", "call_a"}, {"name", "get_weather"},
                     {"input", {{"city", "Paris"}}}},
                    {{"type", "tool_use"}, {"id", "call_b"}, {"name", "get_weather"},
                     {"input", {{"city", "Oslo"}}}}}}}));
  EXPECT_EQ(messages[2],
            (json{{"role", "user"},
                  {"content",
                   {{{"type", "tool_result"}, {"tool_use_id", "call_a"}, {"content", "18C sunny"}},
                    {{"type", "tool_result"},
                     {"tool_use_id", "call_b"},
                     {"content", "city not found"},
                     {"is_error", true}}}}}));
  EXPECT_EQ(body["tools"],
            (json::array({{{"name", "get_weather"},
                           {"description", "Current weather in a city"},
                           {"input_schema", weather_tool().parameters}}})));
}

TEST(LlmWireAnthropic, a_user_turn_after_tool_results_joins_their_message) {
  ChatRequest request = tool_round_trip();
  request.messages.push_back(Message::user("And tomorrow?"));
  request.messages[1].text = "Checking both.";
  json body = json::parse(anthropic::build_body(request));
  const json& messages = body["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[1]["content"][0], (json{{"type", "text"}, {"text", "Checking both."}}));
  ASSERT_EQ(messages[2]["content"].size(), 3u);
  EXPECT_EQ(messages[2]["content"][2], (json{{"type", "text"}, {"text", "And tomorrow?"}}));
}

TEST(LlmWireAnthropic, a_response_with_text_and_tool_use_is_parsed) {
  ChatResponse response = anthropic::parse_body(R"({
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [
      {"type": "thinking", "thinking": "...", "signature": "x"},
      {"type": "text", "text": "I'll check both."},
      {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
      {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}}],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 420, "output_tokens": 95}
  })", hello_request());
  EXPECT_EQ(response.text, "I'll check both.");
  ASSERT_EQ(response.tool_calls.size(), 2u);
  EXPECT_EQ(response.tool_calls[1],
            (ToolCall{"toolu_2", "get_weather", {{"city", "Oslo"}}, {}, {}}));
  EXPECT_EQ(response.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(response.raw_finish_reason, "tool_use");
  EXPECT_EQ(response.usage, (Usage{420, 95, false}));
}

TEST(LlmWireAnthropic, stop_reasons_are_normalised) {
  auto finish = [](const char* reason) {
    return anthropic::parse_body(std::string(R"({"content": [{"type": "text", "text": "x"}],
      "stop_reason": ")") + reason + R"(", "usage": {"input_tokens": 1, "output_tokens": 1}})",
                                 hello_request())
        .finish_reason;
  };
  EXPECT_EQ(finish("end_turn"), FinishReason::stop);
  EXPECT_EQ(finish("stop_sequence"), FinishReason::stop);
  EXPECT_EQ(finish("max_tokens"), FinishReason::length);
  EXPECT_EQ(finish("refusal"), FinishReason::other);
}

TEST(LlmWireAnthropic, an_error_response_becomes_a_provider_error) {
  auto error = caught<ProviderError>([] {
    anthropic::parse_body(R"({"type": "error", "error": {"type": "overloaded_error",
      "message": "Overloaded"}, "request_id": "req_1"})",
                          hello_request());
  });
  EXPECT_EQ(error.type(), "overloaded_error");
  EXPECT_EQ(error.message(), "Overloaded");
  EXPECT_EQ(std::string(error.what()), "provider error (overloaded_error): Overloaded");
}

TEST(LlmWireAnthropic, a_response_without_content_is_a_protocol_error) {
  auto error = caught<ProtocolError>(
      [] { anthropic::parse_body(R"({"type": "message"})", hello_request()); });
  EXPECT_EQ(error.reason(), "field 'content' is missing");
}

// -- Ollama -------------------------------------------------------------------------------------

TEST(LlmWireOllama, the_body_has_a_system_message_tool_names_on_results_and_options) {
  ChatRequest request = tool_round_trip();
  request.temperature = 0.1;
  request.max_tokens = 200;
  json body = json::parse(ollama::build_body(request));
  EXPECT_EQ(body["stream"], false);  // sent explicitly: Ollama streams by default
  EXPECT_EQ(body["options"], (json{{"temperature", 0.1}, {"num_predict", 200}}));
  const json& messages = body["messages"];
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(messages[0], (json{{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(messages[2]["tool_calls"][1],
            (json{{"function", {{"name", "get_weather"}, {"arguments", {{"city", "Oslo"}}}}}}));
  EXPECT_EQ(messages[3],
            (json{{"role", "tool"}, {"content", "18C sunny"}, {"tool_name", "get_weather"}}));
  EXPECT_EQ(body["tools"][0]["type"], "function");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "get_weather");

  ChatRequest plain = hello_request();
  plain.stream = true;
  json streaming = json::parse(ollama::build_body(plain));
  EXPECT_EQ(streaming["stream"], true);
  EXPECT_FALSE(streaming.contains("options"));
  EXPECT_FALSE(streaming.contains("tools"));
}

TEST(LlmWireOllama, a_response_with_tool_calls_gets_ids_and_the_tool_calls_reason) {
  ChatResponse response = ollama::parse_body(R"({
    "model": "llama3.2:latest", "created_at": "2025-01-01T00:00:00Z",
    "message": {"role": "assistant", "content": "",
      "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                     {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
    "done_reason": "stop", "done": true, "total_duration": 1, "prompt_eval_count": 150,
    "eval_count": 30
  })", hello_request());
  ASSERT_EQ(response.tool_calls.size(), 2u);
  EXPECT_EQ(response.tool_calls[0],
            (ToolCall{"call_0", "get_weather", {{"city", "Paris"}}, {}, {}}));
  EXPECT_EQ(response.tool_calls[1].id, "call_1");
  EXPECT_EQ(response.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(response.raw_finish_reason, "stop");
  EXPECT_EQ(response.usage, (Usage{150, 30, false}));
}

TEST(LlmWireOllama, a_text_response_and_an_error_are_parsed) {
  ChatResponse response = ollama::parse_body(R"({"message": {"role": "assistant",
    "content": "Bonjour"}, "done": true, "done_reason": "length"})",
                                             hello_request());
  EXPECT_EQ(response.text, "Bonjour");
  EXPECT_EQ(response.finish_reason, FinishReason::length);
  EXPECT_TRUE(response.usage.estimated);

  auto error = caught<ProviderError>([] {
    ollama::parse_body(R"({"error": "model \"llama9\" not found, try pulling it first"})",
                       hello_request());
  });
  EXPECT_EQ(error.message(), "model \"llama9\" not found, try pulling it first");
}

// -- shared -------------------------------------------------------------------------------------

TEST(LlmWire, the_family_entry_points_dispatch_to_the_family) {
  ChatRequest request = tool_round_trip();
  EXPECT_EQ(build_body(WireFamily::openai, request), openai::build_body(request));
  EXPECT_EQ(build_body(WireFamily::anthropic, request), anthropic::build_body(request));
  EXPECT_EQ(build_body(WireFamily::ollama, request), ollama::build_body(request));
  EXPECT_EQ(parse_body(WireFamily::ollama, R"({"message": {"content": "x"}})", request).text, "x");
  EXPECT_STREQ(to_string(WireFamily::anthropic), "anthropic");
}

TEST(LlmWire, token_estimates_count_code_points_four_to_a_token) {
  EXPECT_EQ(estimate_tokens(""), 0);
  EXPECT_EQ(estimate_tokens("abcd"), 1);
  EXPECT_EQ(estimate_tokens("abcde"), 2);
  EXPECT_EQ(estimate_tokens("h\xC3\xA9llo"), 2);  // five code points, six bytes
  ChatRequest request = tool_round_trip();
  // System prompt, texts, both calls, both results and the tool's schema all count.
  std::int64_t texts_only = estimate_tokens("Be brief.Weather in Paris and Oslo?") +
                           estimate_tokens("18C sunnycity not found");
  EXPECT_GT(estimate_prompt_tokens(request), texts_only);
}

}  // namespace
}  // namespace serendip::llm
