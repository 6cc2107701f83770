// src/llm/stream_decoder.cpp: SSE and NDJSON framing, and the per-family stream events.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/stream_decoder.hpp>

#include "wire_support.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>

namespace serendip::llm {

namespace {

using internal::json;

// How many bytes of the stream's start are kept to quote in a ProtocolError.
constexpr std::size_t head_bytes = 256;

// One tool call being assembled from deltas.
struct ToolSlot {
  std::string id;
  std::string name;
  std::string arguments;        // JSON text received so far
  std::string start_arguments;  // Anthropic: a non-empty `input` sent whole in the block start
};

}  // namespace

class StreamDecoder::Impl {
 public:
  Impl(WireFamily family, std::int64_t prompt_estimate)
      : family_(family), prompt_estimate_(prompt_estimate) {}

  std::vector<StreamEvent> feed(std::string_view bytes);
  ChatResponse finish();
  bool done() const noexcept { return done_; }

 private:
  // -- framing --
  void split_lines();
  void on_line(std::string_view line);
  void dispatch_sse();

  // -- families: one complete SSE event's data, or one NDJSON line --
  void on_openai(std::string_view data);
  void on_openai_tool_delta(const internal::Reader& in, const json& delta);
  void on_anthropic(std::string_view event, std::string_view data);
  void on_ollama(std::string_view line);

  // -- assembly --
  StreamEvent& emit(StreamEventKind kind);
  void add_text(std::string delta);
  std::size_t start_tool(std::string id, std::string name);
  void add_arguments(std::size_t slot, std::string fragment);
  void report_usage(std::optional<std::int64_t> prompt, std::optional<std::int64_t> completion);
  void mark_done();
  FinishReason finish_reason() const;

  WireFamily family_;
  std::int64_t prompt_estimate_;

  std::string buffer_;       // bytes not yet split into lines
  std::size_t scanned_ = 0;  // buffer_[0, scanned_) holds no line end: not searched again
  bool skip_lf_ = false;     // the last line ended with CR; a LF right after it ends nothing
  std::string head_;         // the stream's first bytes, quoted when it ends too early
  std::string event_;        // SSE: the pending event's name
  std::string data_;         // SSE: the pending event's data lines, joined by '\n'
  bool has_data_ = false;

  std::vector<StreamEvent>* out_ = nullptr;  // where events go during one feed
  std::string text_;
  std::string raw_finish_;
  std::vector<ToolSlot> slots_;
  std::map<std::int64_t, std::size_t> slot_of_index_;  // OpenAI `index`, Anthropic block index
  Usage usage_;
  bool prompt_known_ = false;
  bool completion_known_ = false;
  bool finish_seen_ = false;
  bool done_ = false;
  bool finished_ = false;
  std::exception_ptr failure_;
};

// -- framing ----------------------------------------------------------------------------------

std::vector<StreamEvent> StreamDecoder::Impl::feed(std::string_view bytes) {
  if (failure_) std::rethrow_exception(failure_);
  if (finished_) throw std::logic_error("StreamDecoder::feed after finish");
  std::vector<StreamEvent> events;
  out_ = &events;
  try {
    if (head_.size() < head_bytes) head_.append(bytes.substr(0, head_bytes - head_.size()));
    buffer_.append(bytes);
    split_lines();
  } catch (...) {
    failure_ = std::current_exception();
    throw;
  }
  return events;
}

void StreamDecoder::Impl::split_lines() {
  std::size_t start = 0;
  for (;;) {
    if (skip_lf_ && start < buffer_.size()) {
      if (buffer_[start] == '\n') ++start;
      skip_lf_ = false;
    }
    auto end = buffer_.find_first_of("\r\n", std::max(start, scanned_));
    if (end == std::string::npos) break;
    on_line(std::string_view(buffer_).substr(start, end - start));
    skip_lf_ = buffer_[end] == '\r';
    start = end + 1;
  }
  buffer_.erase(0, start);
  scanned_ = buffer_.size();
  if (buffer_.size() > max_line_bytes) {
    throw ProtocolError("a stream line is longer than 16 MiB", internal::excerpt(buffer_));
  }
}

void StreamDecoder::Impl::on_line(std::string_view line) {
  if (family_ == WireFamily::ollama) return on_ollama(line);
  if (line.empty()) return dispatch_sse();
  if (line.front() == ':') return;  // an SSE comment, used as a keep-alive
  auto colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_ = std::string(value);
  }
}

void StreamDecoder::Impl::dispatch_sse() {
  std::string event = std::move(event_);
  std::string data = std::move(data_);
  bool has_data = has_data_;
  event_.clear();
  data_.clear();
  has_data_ = false;
  if (!has_data || done_) return;
  if (family_ == WireFamily::anthropic) return on_anthropic(event, data);
  on_openai(data);
}

// -- families ---------------------------------------------------------------------------------

void StreamDecoder::Impl::on_openai(std::string_view data) {
  if (data == "[DONE]") return mark_done();
  json doc = internal::parse_json(data, "a stream event");
  internal::throw_if_error(doc);
  internal::Reader in(data);
  const json* usage = in.optional_object(doc, "usage");
  if (const json* groq = in.optional_object(doc, "x_groq"); usage == nullptr && groq != nullptr) {
    usage = in.optional_object(*groq, "usage");  // Groq reports stream usage here
  }
  if (usage != nullptr) {
    report_usage(in.count(*usage, "prompt_tokens"), in.count(*usage, "completion_tokens"));
  }
  const json* choices = in.optional_array(doc, "choices");
  if (choices == nullptr) return;
  for (const json& choice : *choices) {
    if (in.count(choice, "index").value_or(0) != 0) continue;  // only one answer is asked for
    if (const json* delta = in.optional_object(choice, "delta")) {
      auto content = delta->find("content");
      if (content != delta->end()) add_text(in.content_text(*content));
      if (const json* calls = in.optional_array(*delta, "tool_calls")) {
        for (const json& call : *calls) on_openai_tool_delta(in, call);
      }
    }
    if (std::string reason = in.string(choice, "finish_reason"); !reason.empty()) {
      raw_finish_ = std::move(reason);
      finish_seen_ = true;
    }
  }
}

// Calls are told apart by `index`, so deltas of parallel calls may interleave. Servers that
// send no index get a new call for each new id and otherwise continue the last one.
void StreamDecoder::Impl::on_openai_tool_delta(const internal::Reader& in, const json& delta) {
  if (!delta.is_object()) in.fail("a tool call delta is not an object");
  std::string id = in.string(delta, "id");
  const json* function = in.optional_object(delta, "function");
  std::string name = function != nullptr ? in.string(*function, "name") : std::string();
  std::size_t slot = 0;
  if (auto index = in.count(delta, "index")) {
    auto known = slot_of_index_.find(*index);
    slot = known != slot_of_index_.end() ? known->second
                                         : slot_of_index_[*index] = start_tool(id, name);
  } else if (slots_.empty() || (!id.empty() && slots_.back().id != id)) {
    slot = start_tool(id, name);
  } else {
    slot = slots_.size() - 1;
  }
  if (slots_[slot].name.empty()) slots_[slot].name = std::move(name);
  if (function == nullptr) return;
  auto arguments = function->find("arguments");
  if (arguments == function->end() || arguments->is_null()) return;
  add_arguments(slot, arguments->is_string() ? arguments->get<std::string>()
                                             : internal::dump(*arguments));
}

void StreamDecoder::Impl::on_anthropic(std::string_view event, std::string_view data) {
  json doc = internal::parse_json(data, "a stream event");
  internal::throw_if_error(doc);  // the `error` event: {"type": "error", "error": {...}}
  internal::Reader in(data);
  std::string type = in.string(doc, "type");
  if (type.empty()) type = std::string(event);

  if (type == "message_start") {
    const json* usage = in.optional_object(in.object(doc, "message"), "usage");
    if (usage != nullptr) {
      report_usage(in.count(*usage, "input_tokens"), in.count(*usage, "output_tokens"));
    }
  } else if (type == "content_block_start") {
    auto index = in.count(doc, "index");
    if (!index) in.fail("content_block_start has no index");
    const json& block = in.object(doc, "content_block");
    std::string kind = in.string(block, "type");
    if (kind == "text") {
      add_text(in.string(block, "text"));
    } else if (kind == "tool_use") {
      std::size_t slot = slot_of_index_[*index] =
          start_tool(in.string(block, "id"), in.string(block, "name"));
      const json* input = in.optional_object(block, "input");
      if (input != nullptr && !input->empty()) {
        slots_[slot].start_arguments = internal::dump(*input);
      }
    }
  } else if (type == "content_block_delta") {
    const json& delta = in.object(doc, "delta");
    std::string kind = in.string(delta, "type");
    if (kind == "text_delta") {
      add_text(in.string(delta, "text"));
    } else if (kind == "input_json_delta") {
      auto slot = slot_of_index_.find(in.count(doc, "index").value_or(-1));
      if (slot == slot_of_index_.end()) in.fail("input_json_delta outside a tool_use block");
      add_arguments(slot->second, in.string(delta, "partial_json"));
    }
  } else if (type == "message_delta") {
    if (const json* delta = in.optional_object(doc, "delta")) {
      if (std::string reason = in.string(*delta, "stop_reason"); !reason.empty()) {
        raw_finish_ = std::move(reason);
        finish_seen_ = true;
      }
    }
    if (const json* usage = in.optional_object(doc, "usage")) {
      report_usage(in.count(*usage, "input_tokens"), in.count(*usage, "output_tokens"));
    }
  } else if (type == "message_stop") {
    mark_done();
  }
  // ping, content_block_stop and event types added later carry nothing to assemble.
}

void StreamDecoder::Impl::on_ollama(std::string_view line) {
  if (done_ || line.find_first_not_of(" \t") == std::string_view::npos) return;
  json doc = internal::parse_json(line, "a stream line");
  internal::throw_if_error(doc);
  internal::Reader in(line);
  if (const json* message = in.optional_object(doc, "message")) {
    add_text(in.string(*message, "content"));
    // Ollama sends each tool call whole, in one line.
    for (ToolCall& call : internal::function_calls(in, *message, slots_.size())) {
      std::size_t slot = start_tool(std::move(call.id), std::move(call.name));
      add_arguments(slot, internal::arguments_text(call));
    }
  }
  auto done = doc.find("done");
  if (done == doc.end() || *done != true) return;
  raw_finish_ = in.string(doc, "done_reason");
  finish_seen_ = true;
  report_usage(in.count(doc, "prompt_eval_count"), in.count(doc, "eval_count"));
  mark_done();
}

// -- assembly ---------------------------------------------------------------------------------

StreamEvent& StreamDecoder::Impl::emit(StreamEventKind kind) {
  out_->emplace_back().kind = kind;
  return out_->back();
}

void StreamDecoder::Impl::add_text(std::string delta) {
  if (delta.empty()) return;
  text_ += delta;
  emit(StreamEventKind::text_delta).text = std::move(delta);
}

std::size_t StreamDecoder::Impl::start_tool(std::string id, std::string name) {
  std::size_t slot = slots_.size();
  if (id.empty()) id = internal::fallback_call_id(slot);
  slots_.push_back(ToolSlot{id, name, {}, {}});
  StreamEvent& event = emit(StreamEventKind::tool_call_started);
  event.tool_index = slot;
  event.tool_call_id = std::move(id);
  event.tool_name = std::move(name);
  return slot;
}

void StreamDecoder::Impl::add_arguments(std::size_t slot, std::string fragment) {
  if (fragment.empty()) return;
  slots_[slot].arguments += fragment;
  StreamEvent& event = emit(StreamEventKind::tool_call_arguments_delta);
  event.tool_index = slot;
  event.text = std::move(fragment);
}

void StreamDecoder::Impl::report_usage(std::optional<std::int64_t> prompt,
                                       std::optional<std::int64_t> completion) {
  if (!prompt && !completion) return;
  if (prompt) usage_.prompt_tokens = *prompt;
  if (completion) usage_.completion_tokens = *completion;
  prompt_known_ = prompt_known_ || prompt.has_value();
  completion_known_ = completion_known_ || completion.has_value();
  emit(StreamEventKind::usage).usage = usage_;
}

void StreamDecoder::Impl::mark_done() {
  done_ = true;
  emit(StreamEventKind::done).finish_reason = finish_reason();
}

FinishReason StreamDecoder::Impl::finish_reason() const {
  FinishReason reason = family_ == WireFamily::anthropic ? internal::anthropic_finish(raw_finish_)
                        : family_ == WireFamily::ollama  ? internal::ollama_finish(raw_finish_)
                                                         : internal::openai_finish(raw_finish_);
  return reason == FinishReason::stop && !slots_.empty() ? FinishReason::tool_calls : reason;
}

ChatResponse StreamDecoder::Impl::finish() {
  if (failure_) std::rethrow_exception(failure_);
  if (finished_) throw std::logic_error("StreamDecoder::finish called twice");
  finished_ = true;
  std::vector<StreamEvent> unseen;  // events of a last unterminated line: the response has them
  out_ = &unseen;
  try {
    // A last line or event without its terminator still counts; if it does not parse, the
    // stream was cut inside it, which the check below reports.
    try {
      if (!buffer_.empty()) on_line(std::string(std::move(buffer_)));
      if (family_ != WireFamily::ollama) dispatch_sse();
    } catch (const ProtocolError&) {
      if (done_ || finish_seen_) throw;
    }
    if (!done_ && !finish_seen_) {
      throw ProtocolError("the stream ended before the answer was complete",
                          internal::excerpt(head_));
    }
    ChatResponse response;
    response.finish_reason = finish_reason();
    response.text = std::move(text_);
    for (ToolSlot& slot : slots_) {
      if (slot.name.empty()) throw ProtocolError("a streamed tool call has no name", {});
      std::string_view arguments = slot.arguments.empty() ? slot.start_arguments : slot.arguments;
      response.tool_calls.push_back(
          internal::tool_call_from_text(std::move(slot.id), std::move(slot.name), arguments));
    }
    response.raw_finish_reason = std::move(raw_finish_);
    response.usage = prompt_known_ && completion_known_
                         ? usage_
                         : Usage{prompt_estimate_, estimate_completion_tokens(response), true};
    return response;
  } catch (...) {
    failure_ = std::current_exception();
    throw;
  }
}

// -- StreamDecoder ----------------------------------------------------------------------------

StreamDecoder::StreamDecoder(WireFamily family, const ChatRequest& request)
    : impl_(std::make_unique<Impl>(family, estimate_prompt_tokens(request))) {}

StreamDecoder::~StreamDecoder() = default;
StreamDecoder::StreamDecoder(StreamDecoder&&) noexcept = default;
StreamDecoder& StreamDecoder::operator=(StreamDecoder&&) noexcept = default;

std::vector<StreamEvent> StreamDecoder::feed(std::string_view bytes) { return impl_->feed(bytes); }

ChatResponse StreamDecoder::finish() { return impl_->finish(); }

bool StreamDecoder::done() const noexcept { return impl_->done(); }

}  // namespace serendip::llm
