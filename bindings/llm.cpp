// bindings/llm.cpp: LlmEndpoint, LlmTools, LlmStats, LlmStream and LlmClient for Python.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "py_payload.hpp"

#include <serendip/llm/chat_client.hpp>
#include <serendip/llm/provider.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <optional>

namespace serendip::binding {

namespace {

using llm::ChatCall;
using llm::ChatClient;
using llm::StreamEvent;

// A resolved model string: where to send, in which protocol, with which key. Resolved once
// per agent, so a missing key is an error before any request; the key is never shown.
struct EndpointHandle {
  llm::ModelRef ref;
  std::shared_ptr<const llm::Endpoint> endpoint;
};

EndpointHandle resolve(const std::string& model, const std::string& base_url,
                       const std::string& api_key, const std::string& api_version) {
  try {
    llm::ModelRef ref = llm::parse_model(model);
    auto endpoint = std::make_shared<const llm::Endpoint>(
        llm::endpoint(ref, {.base_url = base_url, .api_key = api_key, .api_version = api_version}));
    return {std::move(ref), std::move(endpoint)};
  } catch (const llm::LlmConfigError& e) {
    raise_error("LlmConfigError", e.what());
  }
}

// The tools offered to the model, parsed once per tool set rather than once per call.
struct ToolsHandle {
  std::vector<llm::ToolSpec> specs;
};

ToolsHandle make_tools(const std::vector<std::tuple<std::string, std::string, std::string>>& tools) {
  ToolsHandle h;
  for (const auto& [name, description, parameters] : tools) {
    nlohmann::json schema = nlohmann::json::parse(parameters, nullptr, false);
    if (schema.is_discarded()) throw nb::value_error(("tool '" + name + "': parameters are not JSON").c_str());
    h.specs.push_back({name, description, std::move(schema)});
  }
  return h;
}

// The events and the end of one streamed call, handed from the I/O thread to the loop. The
// I/O thread never touches Python (threading rule 1): it appends under `mutex_` and completes
// the one armed waiter, a bridge waiter whose completion the loop drains.
class StreamQueue final : public llm::StreamSink {
 public:
  void on_events(std::vector<StreamEvent>&& events) noexcept override {
    WaiterPtr wake;
    {
      std::lock_guard lock(mutex_);
      for (auto& e : events) events_.push_back(std::move(e));
      wake = std::move(armed_);
    }
    if (wake) wake->complete(Outcome::success(Payload{}));
  }

  void complete(Outcome&& outcome) noexcept override {
    WaiterPtr wake;
    {
      std::lock_guard lock(mutex_);
      outcome_ = std::move(outcome);
      wake = std::move(armed_);
    }
    if (wake) wake->complete(Outcome::success(Payload{}));
  }

  // Loop thread: the events so far and, once ended, the outcome.
  std::pair<std::vector<StreamEvent>, std::optional<Outcome>> take() {
    std::lock_guard lock(mutex_);
    std::pair<std::vector<StreamEvent>, std::optional<Outcome>> out{std::move(events_), std::nullopt};
    events_.clear();
    if (outcome_) out.second = std::move(outcome_);
    outcome_.reset();
    return out;
  }

  // Loop thread: arms `waiter` for the next event or the end; false when one is already here.
  bool arm(WaiterPtr waiter) {
    std::lock_guard lock(mutex_);
    if (!events_.empty() || outcome_) return false;
    armed_ = std::move(waiter);
    return true;
  }

 private:
  std::mutex mutex_;
  std::vector<StreamEvent> events_;  // guarded by mutex_
  std::optional<Outcome> outcome_;   // guarded by mutex_
  WaiterPtr armed_;                  // guarded by mutex_
};

// Python's message tuples: (role, text, tool_calls, tool_call_id, tool_name, is_error), with
// tool_calls a list of (id, name, arguments JSON text).
using Messages = nb::typed<nb::list, nb::typed<nb::tuple, nb::any, nb::ellipsis>>;
llm::Role role_of(int role) {
  if (role < 0 || role > 3) throw nb::value_error("a message role must be 0 (system) to 3 (tool)");
  return static_cast<llm::Role>(role);
}

std::vector<llm::Message> messages_of(nb::list messages) {
  std::vector<llm::Message> out;
  out.reserve(nb::len(messages));
  for (nb::handle item : messages) {
    auto t = nb::borrow<nb::tuple>(item);
    if (nb::len(t) != 6) throw nb::value_error("a message is a 6-tuple");
    llm::Message m;
    m.role = role_of(nb::cast<int>(t[0]));
    m.text = nb::cast<std::string>(t[1]);
    if (!t[2].is_none()) {
      for (nb::handle c : nb::borrow<nb::list>(t[2])) {
        auto call = nb::borrow<nb::tuple>(c);
        llm::ToolCall tc;
        tc.id = nb::cast<std::string>(call[0]);
        tc.name = nb::cast<std::string>(call[1]);
        auto text = nb::cast<std::string>(call[2]);
        nlohmann::json args = nlohmann::json::parse(text, nullptr, false);
        if (args.is_object()) {
          tc.arguments = std::move(args);
        } else {
          // What the model wrote goes back to it as written.
          tc.raw_arguments = std::move(text);
          tc.arguments_error = "not a JSON object";
        }
        m.tool_calls.push_back(std::move(tc));
      }
    }
    m.tool_call_id = nb::cast<std::string>(t[3]);
    m.tool_name = nb::cast<std::string>(t[4]);
    m.is_error = nb::cast<bool>(t[5]);
    out.push_back(std::move(m));
  }
  return out;
}

nb::tuple event_tuple(const StreamEvent& e) {
  return nb::make_tuple(static_cast<int>(e.kind), nb::str(e.text.data(), e.text.size()),
                        e.tool_index, e.tool_call_id, e.tool_name);
}

// Rounded up: a timeout below a millisecond is one, not zero, which means none.
std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::ceil(seconds * 1000.0))));
}

// Everything a call takes, bundled so that chat and chat_stream share one conversion.
ChatCall make_call(const EndpointHandle& endpoint, const std::string& system, nb::list messages,
                   const ToolsHandle* tools, std::optional<double> temperature,
                   std::optional<int> max_tokens, std::vector<std::string> limit_keys,
                   double timeout, int max_attempts, std::size_t max_response_bytes,
                   std::shared_ptr<llm::CallStats> stats) {
  ChatCall call;
  call.endpoint = endpoint.endpoint;
  call.request.model = endpoint.ref.model;
  call.request.system = system;
  call.request.messages = messages_of(messages);
  if (tools != nullptr) call.request.tools = tools->specs;
  call.request.temperature = temperature;
  call.request.max_tokens = max_tokens;
  call.limit_keys = std::move(limit_keys);
  call.total_timeout = millis(timeout);
  call.stream_idle_timeout = std::min(call.total_timeout, call.stream_idle_timeout);
  call.retry.max_attempts = std::max(max_attempts, 1);
  call.max_response_bytes = max_response_bytes;
  call.stats = std::move(stats);
  return call;
}

nb::dict stats_dict(const llm::CallStats& stats) {
  llm::CallStats::Snapshot s = stats.snapshot();
  nb::dict failed;
  for (std::size_t i = 0; i < llm::call_error_count; ++i) {
    failed[llm::to_string(static_cast<llm::CallError>(i))] = s.failed[i];
  }
  nb::dict latency;
  latency["count"] = s.latency.count;
  latency["sum"] = static_cast<double>(s.latency.sum_ns) / 1e9;
  latency["max"] = static_cast<double>(s.latency.max_ns) / 1e9;
  latency["p50"] = static_cast<double>(s.latency.p50_ns) / 1e9;
  latency["p95"] = static_cast<double>(s.latency.p95_ns) / 1e9;
  latency["p99"] = static_cast<double>(s.latency.p99_ns) / 1e9;
  nb::dict d;
  d["calls"] = s.calls;
  d["succeeded"] = s.succeeded;
  d["cancelled"] = s.cancelled;
  d["failed"] = failed;
  d["retries"] = s.retries;
  d["prompt_tokens"] = s.prompt_tokens;
  d["completion_tokens"] = s.completion_tokens;
  d["estimated_calls"] = s.estimated_calls;
  d["latency"] = latency;
  return d;
}

}  // namespace

nb::object llm_payload(const Payload& payload) {
  if (const auto* r = payload.get<llm::CallResult>()) {
    const llm::ChatResponse& c = r->response;
    nb::list calls;
    for (const llm::ToolCall& tc : c.tool_calls) {
      std::string args = tc.arguments_error.empty() ? tc.arguments.dump() : tc.raw_arguments;
      calls.append(nb::make_tuple(tc.id, tc.name, args, tc.arguments_error));
    }
    return nb::make_tuple(nb::str(c.text.data(), c.text.size()), calls,
                          llm::to_string(c.finish_reason), c.raw_finish_reason,
                          c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.estimated,
                          r->attempts);
  }
  if (const auto* f = payload.get<llm::CallFailure>()) {
    return nb::make_tuple(f->status, f->attempts, f->provider_type);
  }
  return nb::object();
}

void bind_llm(nb::module_& m) {
  nb::class_<EndpointHandle>(m, "LlmEndpoint",
                             "A resolved 'provider::model': URL, protocol and key (never shown).")
      .def(nb::new_(&resolve), nb::arg("model"), nb::arg("base_url") = "", nb::arg("api_key") = "",
           nb::arg("api_version") = "",
           "Resolves the model string; raises LlmConfigError (a missing key, an unknown provider).")
      .def_prop_ro("provider", [](const EndpointHandle& h) { return std::string(h.ref.provider.alias); })
      .def_prop_ro("model", [](const EndpointHandle& h) { return h.ref.model; })
      .def_prop_ro("family", [](const EndpointHandle& h) { return std::string(llm::to_string(h.endpoint->family)); })
      .def_prop_ro("url", [](const EndpointHandle& h) { return h.endpoint->url; })
      .def_prop_ro("has_key", [](const EndpointHandle& h) { return !h.endpoint->api_key.empty(); })
      .def("redact", [](const EndpointHandle& h, const std::string& text) {
        return llm::redact(text, h.endpoint->api_key);
      }, nb::arg("text"), "`text` with the key replaced by '***'.");

  nb::class_<ToolsHandle>(m, "LlmTools", "Tool specs parsed once: (name, description, JSON schema text).")
      .def(nb::new_(&make_tools), nb::arg("tools"))
      .def("__len__", [](const ToolsHandle& h) { return h.specs.size(); });

  nb::class_<llm::CallStats>(m, "LlmStats", "Counters of one LLM agent's calls.")
      .def(nb::new_([] { return std::make_shared<llm::CallStats>(); }))
      .def("snapshot", &stats_dict, nb::sig("def snapshot(self) -> dict[str, typing.Any]"),
           "calls, succeeded, cancelled, failed (by error), retries, tokens, latency.");

  nb::class_<StreamQueue, Waiter>(m, "LlmStream", "Events of one streamed call, for its loop.")
      .def(nb::new_([] { return std::make_shared<StreamQueue>(); }))
      .def(
          "take",
          [](StreamQueue& q) {
            auto [events, outcome] = q.take();
            nb::list out;
            for (const StreamEvent& e : events) out.append(event_tuple(e));
            nb::object end = nb::none();
            if (outcome) {
              end = outcome_tuple(*outcome);
            }
            return nb::make_tuple(out, end);
          },
          nb::sig("def take(self) -> tuple[list[tuple[int, str, int, str, str]], "
                  "tuple[int, object, str, str] | None]"),
          "(events, outcome or None): the events so far, and the end once it came.")
      .def("arm", &StreamQueue::arm, nb::arg("waiter"),
           "Completes `waiter` at the next event or the end; False when one is already here.");

  nb::class_<ChatClient>(m, "LlmClient", "Chat completions on one native HTTP I/O thread.")
      .def(nb::new_([](std::size_t max_connections) {
             return std::make_shared<ChatClient>(http::ClientOptions{max_connections});
           }),
           nb::arg("max_connections") = 1024)
      .def(
          "chat",
          [](ChatClient& c, WaiterPtr done, const EndpointHandle& endpoint, const std::string& system,
             Messages messages, const ToolsHandle* tools, std::optional<double> temperature,
             std::optional<int> max_tokens, std::vector<std::string> limit_keys, double timeout,
             int max_attempts, std::size_t max_response_bytes,
             std::shared_ptr<llm::CallStats> stats) {
            ChatCall call = make_call(endpoint, system, messages, tools, temperature, max_tokens,
                                      std::move(limit_keys), timeout, max_attempts,
                                      max_response_bytes, std::move(stats));
            auto stream = std::dynamic_pointer_cast<StreamQueue>(done);
            nb::gil_scoped_release release;
            if (stream) return c.submit_stream(std::move(call), std::move(stream));
            return c.submit(std::move(call), std::move(done));
          },
          nb::arg("done"), nb::arg("endpoint"), nb::arg("system"), nb::arg("messages"),
          nb::arg("tools").none(), nb::arg("temperature").none(), nb::arg("max_tokens").none(),
          nb::arg("limit_keys"), nb::arg("timeout"), nb::arg("max_attempts"),
          nb::arg("max_response_bytes"), nb::arg("stats").none(),
          "Starts a call; `done` completes with its outcome; an LlmStream as `done` streams the "
          "call into it. Returns the call's id.")
      .def("cancel", &ChatClient::cancel, nb::arg("call_id"))
      .def(
          "set_limits",
          [](ChatClient& c, std::string key, std::size_t max_concurrency,
             std::uint64_t requests_per_minute, std::uint64_t tokens_per_minute) {
            c.set_limits(std::move(key), {max_concurrency, requests_per_minute, tokens_per_minute});
          },
          nb::arg("key"), nb::arg("max_concurrency"), nb::arg("requests_per_minute"),
          nb::arg("tokens_per_minute"), "A limit key's limits (0 = unlimited).")
      .def(
          "close",
          [](ChatClient& c) {
            nb::gil_scoped_release release;
            c.close();
          },
          "Ends every open call with 'closed' and stops the I/O thread.");
}

}  // namespace serendip::binding
