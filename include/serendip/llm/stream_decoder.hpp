// include/serendip/llm/stream_decoder.hpp: incremental decoding of streamed chat responses.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/llm/chat.hpp>
#include <serendip/llm/wire.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace serendip::llm {

/// What a StreamEvent reports.
enum class StreamEventKind : std::uint8_t {
  text_delta,                 ///< `text`: more answer text
  tool_call_started,          ///< `tool_index`, `tool_call_id`, `tool_name`: a new tool call
  tool_call_arguments_delta,  ///< `tool_index`, `text`: the next piece of the arguments' JSON
  usage,                      ///< `usage`: the totals the provider reported so far
  done,                       ///< `finish_reason`: the provider's end-of-stream marker arrived
};

/// One thing learnt from the stream. Fields not listed for the kind are left at their defaults.
struct StreamEvent {
  StreamEventKind kind = StreamEventKind::text_delta;
  std::string text;
  std::size_t tool_index = 0;  ///< the call's position in the final `ChatResponse::tool_calls`
  std::string tool_call_id;
  std::string tool_name;
  Usage usage;
  FinishReason finish_reason = FinishReason::other;

  bool operator==(const StreamEvent&) const = default;
};

/// Turns the bytes of a streamed response into events and, at the end, the whole ChatResponse.
///
/// Framing: OpenAI and Anthropic streams are server-sent events (`data:` lines, `event:` lines,
/// `:` comments, blank-line separated, any of CRLF, LF, CR as line ends); Ollama streams are
/// one JSON object per line. Bytes may be split anywhere (mid-line, mid-UTF-8, between CR and
/// LF): events are only produced from complete lines, so any split yields the same events.
///
/// Not thread-safe: one owner at a time (typically the HTTP thread's chunk callback, then the
/// code that finishes the request). After `feed` or `finish` threw, every later call throws the
/// same error again. A moved-from decoder may only be destroyed or assigned to.
class StreamDecoder {
 public:
  /// Decodes a stream of `family`. The request is read once, here, to have a prompt estimate
  /// ready should the provider report no usage; it is not kept.
  StreamDecoder(WireFamily family, const ChatRequest& request);
  ~StreamDecoder();
  StreamDecoder(StreamDecoder&&) noexcept;
  StreamDecoder& operator=(StreamDecoder&&) noexcept;

  /// Consumes the next bytes; returns the events they completed, in order (often none).
  /// Cost: linear in the bytes plus one JSON parse per complete event or line.
  /// Throws ProviderError for an error the provider sent in the stream, ProtocolError for a
  /// line that is not the expected JSON or a line longer than `max_line_bytes`.
  std::vector<StreamEvent> feed(std::string_view bytes);

  /// Ends the stream: decodes a last line that had no line end, then returns the assembled
  /// response (usage estimated if the provider reported none). Call once.
  /// Throws ProtocolError if the stream ended before the provider finished the answer.
  ChatResponse finish();

  /// True once the provider's end-of-stream marker was decoded.
  bool done() const noexcept;

  /// Longest line accepted; a longer one is a ProtocolError rather than unbounded buffering.
  static constexpr std::size_t max_line_bytes = std::size_t{16} << 20;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace serendip::llm
