// tests/core/llm_stream_decoder_test.cpp: streamed responses decoded from bytes split anywhere.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/stream_decoder.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace serendip::llm {
namespace {

using nlohmann::json;

ChatRequest hello_request() {
  ChatRequest request;
  request.model = "m";
  request.messages = {Message::user("Hello there")};
  request.stream = true;
  return request;
}

struct Decoded {
  std::vector<StreamEvent> events;
  ChatResponse response;
};

// Feeds `stream` in pieces of the given sizes (the rest in one piece) and finishes.
Decoded decode(WireFamily family, std::string_view stream, const std::vector<std::size_t>& sizes) {
  StreamDecoder uut(family, hello_request());
  Decoded out;
  std::size_t at = 0;
  for (std::size_t size : sizes) {
    if (at >= stream.size()) break;
    for (StreamEvent& event : uut.feed(stream.substr(at, size))) out.events.push_back(event);
    at += size;
  }
  if (at < stream.size()) {
    for (StreamEvent& event : uut.feed(stream.substr(at))) out.events.push_back(event);
  }
  out.response = uut.finish();
  return out;
}

Decoded decode_whole(WireFamily family, std::string_view stream) {
  return decode(family, stream, {});
}

// Decodes whole, byte by byte and in seeded random splits; all must agree. Returns the first.
Decoded decode_every_way(WireFamily family, std::string_view stream) {
  Decoded whole = decode_whole(family, stream);
  Decoded bytewise = decode(family, stream, std::vector<std::size_t>(stream.size(), 1));
  EXPECT_EQ(bytewise.events, whole.events);
  EXPECT_EQ(bytewise.response, whole.response);
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 random(seed);
    std::uniform_int_distribution<std::size_t> piece(1, 23);
    std::vector<std::size_t> sizes;
    for (std::size_t total = 0; total < stream.size(); total += sizes.back()) {
      sizes.push_back(piece(random));
    }
    Decoded split = decode(family, stream, sizes);
    EXPECT_EQ(split.events, whole.events) << "seed " << seed;
    EXPECT_EQ(split.response, whole.response) << "seed " << seed;
  }
  return whole;
}

std::vector<StreamEventKind> kinds(const std::vector<StreamEvent>& events) {
  std::vector<StreamEventKind> out;
  for (const StreamEvent& event : events) out.push_back(event.kind);
  return out;
}

std::string texts(const std::vector<StreamEvent>& events, StreamEventKind kind) {
  std::string out;
  for (const StreamEvent& event : events) {
    if (event.kind == kind) out += event.text;
  }
  return out;
}

using K = StreamEventKind;

// -- OpenAI -------------------------------------------------------------------------------------

// CRLF line ends, a keep-alive comment and non-ASCII text, as a real server may send them.
constexpr std::string_view openai_text_stream =
    ": keep-alive\r\n\r\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],"
    "\"usage\":null}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"H\xC3\xA9llo \"},"
    "\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\"w\xC3\xB6rld \xF0\x9F\x91\x8B\"},"
    "\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":4,"
    "\"total_tokens\":15}}\r\n\r\n"
    "data: [DONE]\r\n\r\n";

TEST(LlmStreamDecoderOpenAi, a_text_stream_gives_the_same_events_however_it_is_split) {
  Decoded decoded = decode_every_way(WireFamily::openai, openai_text_stream);
  EXPECT_EQ(kinds(decoded.events), (std::vector{K::text_delta, K::text_delta, K::usage, K::done}));
  EXPECT_EQ(decoded.events[0].text, "H\xC3\xA9llo ");
  EXPECT_EQ(decoded.events[2].usage, (Usage{11, 4, false}));
  EXPECT_EQ(decoded.events[3].finish_reason, FinishReason::stop);
  EXPECT_EQ(decoded.response.text, "H\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x91\x8B");
  EXPECT_EQ(decoded.response.finish_reason, FinishReason::stop);
  EXPECT_EQ(decoded.response.usage, (Usage{11, 4, false}));
}

TEST(LlmStreamDecoderOpenAi, interleaved_parallel_tool_call_deltas_are_told_apart_by_index) {
  std::string stream =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":["
      "{\"index\":0,\"id\":\"call_P\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
      "\"arguments\":\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
      "{\"index\":1,\"id\":\"call_O\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
      "\"arguments\":\"{\\\"ci\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
      "{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\": \"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
      "{\"index\":1,\"function\":{\"arguments\":\"ty\\\": \\\"Oslo\\\"}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
      "{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  Decoded decoded = decode_every_way(WireFamily::openai, stream);
  EXPECT_EQ(kinds(decoded.events),
            (std::vector{K::tool_call_started, K::tool_call_started, K::tool_call_arguments_delta,
                         K::tool_call_arguments_delta, K::tool_call_arguments_delta,
                         K::tool_call_arguments_delta, K::done}));
  EXPECT_EQ(decoded.events[0].tool_call_id, "call_P");
  EXPECT_EQ(decoded.events[0].tool_name, "get_weather");
  EXPECT_EQ(decoded.events[1].tool_index, 1u);
  EXPECT_EQ(decoded.events[1].tool_name, "get_time");
  EXPECT_EQ(decoded.events[2].tool_index, 1u);
  EXPECT_EQ(decoded.events[3].tool_index, 0u);

  ASSERT_EQ(decoded.response.tool_calls.size(), 2u);
  EXPECT_EQ(decoded.response.tool_calls[0],
            (ToolCall{"call_P", "get_weather", {{"city", "Paris"}}, {}, {}}));
  EXPECT_EQ(decoded.response.tool_calls[1],
            (ToolCall{"call_O", "get_time", {{"city", "Oslo"}}, {}, {}}));
  EXPECT_EQ(decoded.response.finish_reason, FinishReason::tool_calls);
  EXPECT_TRUE(decoded.response.usage.estimated);
}

TEST(LlmStreamDecoderOpenAi, calls_without_an_index_are_told_apart_by_id) {
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\","
      "\"arguments\":\"{\\\"n\\\":\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":"
      "{\"arguments\":\"1}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"b\",\"function\":{\"name\":\"g\","
      "\"arguments\":{\"m\":2}}}]},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  ChatResponse response = decode_every_way(WireFamily::openai, stream).response;
  ASSERT_EQ(response.tool_calls.size(), 2u);
  EXPECT_EQ(response.tool_calls[0], (ToolCall{"a", "f", {{"n", 1}}, {}, {}}));
  EXPECT_EQ(response.tool_calls[1], (ToolCall{"b", "g", {{"m", 2}}, {}, {}}));
}

TEST(LlmStreamDecoderOpenAi, broken_streamed_arguments_are_flagged_not_fatal) {
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":"
      "{\"name\":\"f\",\"arguments\":\"{\\\"n\\\": 1\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n";
  ChatResponse response = decode_whole(WireFamily::openai, stream).response;
  ASSERT_EQ(response.tool_calls.size(), 1u);
  EXPECT_EQ(response.tool_calls[0].raw_arguments, "{\"n\": 1");
  EXPECT_EQ(response.tool_calls[0].arguments_error, "the arguments are not valid JSON");
}

TEST(LlmStreamDecoderOpenAi, groq_usage_and_lf_cr_and_bare_cr_line_ends_are_understood) {
  std::string stream =
      "data:{\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
      "\"x_groq\":{\"id\":\"req_1\",\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}}\r\r"
      "event: ignored-by-openai\n"
      "data: [DONE]\n\n";
  Decoded decoded = decode_every_way(WireFamily::openai, stream);
  EXPECT_EQ(decoded.response.text, "ok");
  EXPECT_EQ(decoded.response.usage, (Usage{7, 1, false}));
  EXPECT_EQ(kinds(decoded.events), (std::vector{K::usage, K::text_delta, K::done}));
}

TEST(LlmStreamDecoderOpenAi, an_event_spread_over_several_data_lines_is_joined) {
  // The data lines are joined with '\n', JSON whitespace; a CRLF split into CR and LF must end
  // one line, not two (an empty line in between would dispatch half an event).
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"one\"},\r\n"
      "data: \"finish_reason\":\"stop\"}]}\r\n\r\n"
      "data: [DONE]\r\n\r\n";
  Decoded decoded = decode_every_way(WireFamily::openai, stream);
  EXPECT_EQ(decoded.response.text, "one");
  EXPECT_EQ(decoded.response.finish_reason, FinishReason::stop);
}

TEST(LlmStreamDecoderOpenAi, a_stream_cut_before_the_answer_ended_is_a_protocol_error) {
  auto end = openai_text_stream.find("\"finish_reason\":\"stop\"");
  std::string cut(openai_text_stream.substr(0, end));
  StreamDecoder uut(WireFamily::openai, hello_request());
  EXPECT_FALSE(uut.feed(cut).empty());
  EXPECT_FALSE(uut.done());
  try {
    uut.finish();
    FAIL() << "finish accepted a cut stream";
  } catch (const ProtocolError& error) {
    EXPECT_EQ(error.reason(), "the stream ended before the answer was complete");
    EXPECT_TRUE(error.excerpt().starts_with(": keep-alive")) << error.excerpt();
  }
  EXPECT_THROW(uut.finish(), ProtocolError);  // the failure sticks
}

TEST(LlmStreamDecoderOpenAi, a_finished_answer_without_the_done_marker_is_accepted) {
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}\n\n";
  Decoded decoded = decode_whole(WireFamily::openai, stream);
  EXPECT_EQ(decoded.response.text, "Hi");
  EXPECT_EQ(decoded.response.finish_reason, FinishReason::length);
  EXPECT_TRUE(decoded.response.usage.estimated);
  EXPECT_EQ(decoded.response.usage.prompt_tokens, estimate_prompt_tokens(hello_request()));
  EXPECT_EQ(decoded.response.usage.completion_tokens, 1);
}

TEST(LlmStreamDecoderOpenAi, an_error_in_the_stream_is_a_provider_error_that_sticks) {
  StreamDecoder uut(WireFamily::openai, hello_request());
  uut.feed("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n");
  std::string error_event =
      "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
  try {
    uut.feed(error_event);
    FAIL() << "the error event was accepted";
  } catch (const ProviderError& error) {
    EXPECT_EQ(error.type(), "server_error");
    EXPECT_EQ(error.message(), "The server had an error");
  }
  EXPECT_THROW(uut.feed("data: [DONE]\n\n"), ProviderError);
  EXPECT_THROW(uut.finish(), ProviderError);
}

TEST(LlmStreamDecoderOpenAi, an_event_that_is_not_json_is_a_protocol_error) {
  StreamDecoder uut(WireFamily::openai, hello_request());
  try {
    uut.feed("data: {\"choices\": [\n\n");
    FAIL() << "malformed JSON was accepted";
  } catch (const ProtocolError& error) {
    EXPECT_EQ(error.reason(), "a stream event is not JSON");
    EXPECT_EQ(error.excerpt(), "{\"choices\": [");
  }
}

TEST(LlmStreamDecoderOpenAi, a_line_without_end_beyond_the_limit_is_refused) {
  StreamDecoder uut(WireFamily::openai, hello_request());
  std::string endless(StreamDecoder::max_line_bytes + 1, 'x');
  EXPECT_THROW(uut.feed(endless), ProtocolError);
}

TEST(LlmStreamDecoderOpenAi, feeding_after_finish_is_a_logic_error) {
  StreamDecoder uut(WireFamily::openai, hello_request());
  uut.feed("data: [DONE]\n\n");
  EXPECT_TRUE(uut.done());
  uut.finish();
  EXPECT_THROW(uut.feed("data: [DONE]\n\n"), std::logic_error);
}

// -- Anthropic ----------------------------------------------------------------------------------

constexpr std::string_view anthropic_stream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
    "\"usage\":{\"input_tokens\":472,\"output_tokens\":2}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Let me check.\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"city\\\": \\\"Par\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"is\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

TEST(LlmStreamDecoderAnthropic, text_and_tool_use_blocks_are_assembled_however_split) {
  Decoded decoded = decode_every_way(WireFamily::anthropic, anthropic_stream);
  EXPECT_EQ(kinds(decoded.events),
            (std::vector{K::usage, K::text_delta, K::tool_call_started,
                         K::tool_call_arguments_delta, K::tool_call_arguments_delta, K::usage,
                         K::done}));
  EXPECT_EQ(decoded.events[0].usage, (Usage{472, 2, false}));
  EXPECT_EQ(decoded.events[2].tool_call_id, "toolu_01");
  EXPECT_EQ(decoded.events[2].tool_index, 0u);
  EXPECT_EQ(texts(decoded.events, K::tool_call_arguments_delta), "{\"city\": \"Paris\"}");
  EXPECT_EQ(decoded.events[5].usage, (Usage{472, 89, false}));
  EXPECT_EQ(decoded.events[6].finish_reason, FinishReason::tool_calls);

  EXPECT_EQ(decoded.response.text, "Let me check.");
  ASSERT_EQ(decoded.response.tool_calls.size(), 1u);
  EXPECT_EQ(decoded.response.tool_calls[0],
            (ToolCall{"toolu_01", "get_weather", {{"city", "Paris"}}, {}, {}}));
  EXPECT_EQ(decoded.response.raw_finish_reason, "tool_use");
  EXPECT_EQ(decoded.response.usage, (Usage{472, 89, false}));
}

TEST(LlmStreamDecoderAnthropic, a_tool_without_arguments_gets_an_empty_object) {
  std::string stream =
      "event: content_block_start\n"
      "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
      "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"now\",\"input\":{}}}\n\n"
      "event: message_delta\n"
      "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n"
      "event: message_stop\n"
      "data: {\"type\":\"message_stop\"}\n\n";
  ChatResponse response = decode_whole(WireFamily::anthropic, stream).response;
  ASSERT_EQ(response.tool_calls.size(), 1u);
  EXPECT_EQ(response.tool_calls[0], (ToolCall{"t", "now", json::object(), {}, {}}));
  EXPECT_TRUE(response.usage.estimated);
}

TEST(LlmStreamDecoderAnthropic, an_error_event_is_a_provider_error) {
  StreamDecoder uut(WireFamily::anthropic, hello_request());
  uut.feed(anthropic_stream.substr(0, anthropic_stream.find("event: ping")));
  try {
    uut.feed("event: error\ndata: {\"type\": \"error\", \"error\": "
             "{\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n");
    FAIL() << "the error event was accepted";
  } catch (const ProviderError& error) {
    EXPECT_EQ(error.type(), "overloaded_error");
    EXPECT_EQ(error.message(), "Overloaded");
  }
}

TEST(LlmStreamDecoderAnthropic, a_stream_cut_mid_tool_call_is_a_protocol_error) {
  StreamDecoder uut(WireFamily::anthropic, hello_request());
  uut.feed(anthropic_stream.substr(0, anthropic_stream.find("event: message_delta")));
  EXPECT_THROW(uut.finish(), ProtocolError);
}

TEST(LlmStreamDecoderAnthropic, json_deltas_for_a_block_that_is_no_tool_use_are_a_protocol_error) {
  StreamDecoder uut(WireFamily::anthropic, hello_request());
  EXPECT_THROW(uut.feed("data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":"
                        "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"),
               ProtocolError);
}

// -- Ollama -------------------------------------------------------------------------------------

constexpr std::string_view ollama_stream =
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Sure\"},\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\", checking.\"},"
    "\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
    "[{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},"
    "\"done\":false}\n"
    "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
    "\"done_reason\":\"stop\",\"total_duration\":5,\"prompt_eval_count\":26,\"eval_count\":12}";

TEST(LlmStreamDecoderOllama, ndjson_lines_are_assembled_even_without_a_final_line_end) {
  Decoded decoded = decode_every_way(WireFamily::ollama, ollama_stream);
  // The last line has no line end, so its events surface only in the finished response.
  EXPECT_EQ(kinds(decoded.events),
            (std::vector{K::text_delta, K::text_delta, K::tool_call_started,
                         K::tool_call_arguments_delta}));
  EXPECT_EQ(decoded.events[2].tool_call_id, "call_0");
  EXPECT_EQ(decoded.events[3].text, "{\"city\":\"Paris\"}");
  EXPECT_EQ(decoded.response.text, "Sure, checking.");
  ASSERT_EQ(decoded.response.tool_calls.size(), 1u);
  EXPECT_EQ(decoded.response.tool_calls[0],
            (ToolCall{"call_0", "get_weather", {{"city", "Paris"}}, {}, {}}));
  EXPECT_EQ(decoded.response.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(decoded.response.raw_finish_reason, "stop");
  EXPECT_EQ(decoded.response.usage, (Usage{26, 12, false}));
}

TEST(LlmStreamDecoderOllama, the_done_line_reports_usage_and_the_end) {
  StreamDecoder uut(WireFamily::ollama, hello_request());
  std::vector<StreamEvent> events = uut.feed(std::string(ollama_stream) + "\r\n\n");
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2].kind, K::usage);
  EXPECT_EQ(events.back().kind, K::done);
  EXPECT_EQ(events.back().finish_reason, FinishReason::tool_calls);
  EXPECT_TRUE(uut.done());
}

TEST(LlmStreamDecoderOllama, an_error_line_is_a_provider_error_and_a_cut_stream_a_protocol_error) {
  StreamDecoder failing(WireFamily::ollama, hello_request());
  EXPECT_THROW(failing.feed("{\"error\":\"an error was encountered while running the model\"}\n"),
               ProviderError);

  StreamDecoder cut(WireFamily::ollama, hello_request());
  cut.feed(ollama_stream.substr(0, ollama_stream.rfind("{\"model\"")));  // all but the done line
  EXPECT_THROW(cut.finish(), ProtocolError);
}

}  // namespace
}  // namespace serendip::llm
