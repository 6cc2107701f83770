// tests/core/http_client_test.cpp: the HTTP client against a scripted loopback server: echo, concurrency,
// streaming, retries, timeouts, errors, limits (chained keys too), cancel and close.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/http/client.hpp>

#include "loopback_http_server.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

namespace serendip::http {
namespace {

// "/<i>"; built by append: GCC 12 warns falsely (-Wrestrict) on "/" + std::to_string(i).
std::string path_of(int i) { return std::string("/").append(std::to_string(i)); }

using namespace std::chrono_literals;
using serendip::testing::LoopbackHttpServer;
using serendip::testing::patience;
using serendip::testing::RecordedRequest;
using serendip::testing::ScriptedReply;

#if SERENDIP_TEST_SCALE_DOWN
constexpr std::size_t kMany = 200;
#else
constexpr std::size_t kMany = 1000;
#endif

// Answers 200 with "METHOD target|body", and reflects the X-Test header.
ScriptedReply echo(const RecordedRequest& r, std::size_t) {
  return ScriptedReply::plain(200, r.method + " " + r.target + "|" + r.body,
                              {{"X-Seen", r.header("X-Test").value_or("")}});
}

// A retry policy whose backoff does not slow the tests down.
RetryPolicy quick_retries(int attempts = 3) { return RetryPolicy{attempts, 1ms, 10ms}; }

Request get(std::string url) {
  Request r;
  r.url = std::move(url);
  return r;
}

// Submits and hands back the response as a future; a second on_done would throw on the I/O
// thread (promise already satisfied) and end the test run.
std::future<Response> send(HttpClient& client, Request request,
                           HttpClient::OnChunk on_chunk = nullptr) {
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  client.submit(std::move(request), std::move(on_chunk),
                [promise](Response&& r) { promise->set_value(std::move(r)); });
  return future;
}

Response await(std::future<Response>& future) {
  if (future.wait_for(patience) != std::future_status::ready) {
    ADD_FAILURE() << "no on_done within patience";
    return Response{};
  }
  return future.get();
}

Response fetch(HttpClient& client, Request request) {
  auto future = send(client, std::move(request));
  return await(future);
}

// Counts on_done calls per submission, from any thread.
class DoneCounter {
 public:
  explicit DoneCounter(std::size_t n) : counts_(n) {}

  HttpClient::OnDone callback(std::size_t i) {
    return [this, i](Response&& r) {
      std::lock_guard lock(mutex_);
      ++counts_[i];
      kinds_.push_back(r.kind);
      cv_.notify_all();
    };
  }

  bool wait_all() {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, serendip::testing::patience_deadline(),
                          [&] { return kinds_.size() >= counts_.size(); });
  }

  std::vector<int> counts() {
    std::lock_guard lock(mutex_);
    return counts_;
  }

  std::vector<ResponseKind> kinds() {
    std::lock_guard lock(mutex_);
    return kinds_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> counts_;          // guarded by mutex_
  std::vector<ResponseKind> kinds_;  // guarded by mutex_
};

TEST(HttpClient, a_get_sends_its_headers_and_receives_status_headers_and_body) {
  LoopbackHttpServer server(echo);
  HttpClient uut;
  Request request = get(server.url("/hello?x=1"));
  request.headers = {{"X-Test", "abc"}, {"Accept", "text/plain"}};
  const Response r = fetch(uut, std::move(request));
  EXPECT_EQ(r.kind, ResponseKind::ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /hello?x=1|");
  EXPECT_EQ(r.header("x-seen"), "abc");
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.attempts, 1);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].header("Accept"), "text/plain");
}

TEST(HttpClient, a_post_sends_its_body_and_content_type) {
  LoopbackHttpServer server(echo);
  HttpClient uut;
  Request request = get(server.url("/v1/chat"));
  request.method = "POST";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"model":"m","messages":[]})";
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::ok);
  EXPECT_EQ(r.body, "POST /v1/chat|" + request.body);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, request.body);
  EXPECT_EQ(seen[0].header("Content-Type"), "application/json");
}

TEST(HttpClient, other_methods_are_sent_as_given_with_their_body) {
  LoopbackHttpServer server(echo);
  HttpClient uut;
  Request request = get(server.url("/item"));
  request.method = "PUT";
  request.body = "new";
  EXPECT_EQ(fetch(uut, request).body, "PUT /item|new");
  request.method = "DELETE";
  request.body.clear();
  EXPECT_EQ(fetch(uut, request).body, "DELETE /item|");
}

TEST(HttpClient, sequential_requests_reuse_one_kept_alive_connection) {
  LoopbackHttpServer server(echo);
  HttpClient uut;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(fetch(uut, get(server.url())).kind, ResponseKind::ok);
  EXPECT_EQ(server.connections_accepted(), 1u);
}

TEST(HttpClient, a_thousand_concurrent_requests_are_all_in_flight_together_from_one_thread) {
  // The server answers nothing until half of them are in flight at once.
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t) {
    ScriptedReply reply = ScriptedReply::plain(200, r.target);
    reply.hold_until_in_flight = kMany / 2;
    return reply;
  });
  HttpClient uut;
  std::vector<std::future<Response>> futures;
  for (std::size_t i = 0; i < kMany; ++i) {
    futures.push_back(send(uut, get(server.url(path_of(i)))));
  }
  for (std::size_t i = 0; i < kMany; ++i) {
    const Response r = await(futures[i]);
    ASSERT_EQ(r.kind, ResponseKind::ok) << i << ": " << r.error;
    ASSERT_EQ(r.body, path_of(i));
  }
  EXPECT_GE(server.max_in_flight(), kMany / 2);
}

TEST(HttpClient, streamed_chunks_arrive_in_order_and_make_up_the_body) {
  std::vector<std::string> pieces;
  std::string whole;
  for (int i = 0; i < 20; ++i) {
    pieces.push_back("data: piece " + std::to_string(i) + "\n\n");
    whole += pieces.back();
  }
  LoopbackHttpServer server([&](const RecordedRequest&, std::size_t) {
    return ScriptedReply::chunked(200, pieces, 2ms);
  });
  HttpClient uut;
  std::string streamed;  // written on the I/O thread, read after on_done
  std::size_t calls = 0;
  auto future = send(uut, get(server.url("/stream")), [&](std::string_view chunk) {
    streamed.append(chunk);
    ++calls;
  });
  const Response r = await(future);
  EXPECT_EQ(r.kind, ResponseKind::ok);
  EXPECT_EQ(streamed, whole);
  EXPECT_GE(calls, 1u);
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpClient, an_error_response_is_kept_in_the_body_not_streamed) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::plain(400, R"({"error":"bad request"})");
  });
  HttpClient uut;
  bool chunked = false;
  auto future = send(uut, get(server.url()), [&](std::string_view) { chunked = true; });
  const Response r = await(future);
  EXPECT_EQ(r.kind, ResponseKind::http_error);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"bad request"})");
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.attempts, 1);
  EXPECT_FALSE(chunked);
}

TEST(HttpClient, a_429_with_retry_after_is_retried_after_the_servers_delay) {
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    if (i == 0) return ScriptedReply::plain(429, "slow down", {{"Retry-After", "1"}});
    return echo(r, i);
  });
  HttpClient uut;
  Request request = get(server.url("/limited"));
  request.retry.base_delay = 1ms;  // the server's Retry-After, not backoff, sets the wait
  const auto start = Clock::now();
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::ok);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_GE(Clock::now() - start, 1s);  // a lower bound the client itself guarantees
}

TEST(HttpClient, a_500_is_retried_and_the_second_attempt_succeeds) {
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    return i == 0 ? ScriptedReply::plain(500, "oops") : echo(r, i);
  });
  HttpClient uut;
  Request request = get(server.url("/flaky"));
  request.retry = quick_retries();
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::ok);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.body, "GET /flaky|");
}

TEST(HttpClient, a_persistent_503_gives_up_after_max_attempts_with_the_last_response) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t i) {
    return ScriptedReply::plain(503, "busy " + std::to_string(i));
  });
  HttpClient uut;
  Request request = get(server.url());
  request.retry = quick_retries(3);
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::http_error);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.body, "busy 2");
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(HttpClient, a_client_error_status_is_not_retried) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::plain(404, "no such thing");
  });
  HttpClient uut;
  Request request = get(server.url());
  request.retry = quick_retries();
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::http_error);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, a_server_that_never_answers_hits_the_idle_timeout_without_retry) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::silent();
  });
  HttpClient uut;
  Request request = get(server.url());
  request.idle_timeout = 200ms;
  request.retry = quick_retries();
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::timeout);
  EXPECT_NE(r.error.find("idle"), std::string::npos) << r.error;
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, a_stream_that_stalls_hits_the_idle_timeout_after_its_chunks) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    ScriptedReply reply = ScriptedReply::chunked(200, {"first"}, 0ms, false);
    reply.end = ScriptedReply::End::stall;
    return reply;
  });
  HttpClient uut;
  Request request = get(server.url());
  request.idle_timeout = 200ms;
  std::string streamed;
  auto future = send(uut, request, [&](std::string_view chunk) { streamed.append(chunk); });
  const Response r = await(future);
  EXPECT_EQ(r.kind, ResponseKind::timeout);
  EXPECT_NE(r.error.find("idle"), std::string::npos) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(streamed, "first");
}

TEST(HttpClient, a_response_that_keeps_trickling_hits_the_total_timeout) {
  // A byte every 20 ms for minutes: never idle, never done.
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::chunked(200, std::vector<std::string>(10'000, "x"), 20ms);
  });
  HttpClient uut;
  Request request = get(server.url());
  request.total_timeout = 300ms;
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::timeout);
  EXPECT_NE(r.error.find("total"), std::string::npos) << r.error;
  EXPECT_EQ(r.attempts, 1);
}

TEST(HttpClient, a_refused_connection_is_retried_then_reported_as_a_transport_error) {
  // A bound socket that does not listen: connecting to its port is refused, and the port
  // cannot be taken by anyone else meanwhile.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  HttpClient uut;
  Request request = get("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/");
  request.retry = quick_retries(3);
  const Response r = fetch(uut, request);
  ::close(fd);
  EXPECT_EQ(r.kind, ResponseKind::transport);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST(HttpClient, an_empty_reply_is_retried_as_a_transport_error) {
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    if (i > 0) return echo(r, i);
    ScriptedReply reply;
    reply.end = ScriptedReply::End::reset;
    return reply;
  });
  HttpClient uut;
  Request request = get(server.url("/again"));
  request.retry = quick_retries();
  const Response r = fetch(uut, request);
  EXPECT_EQ(r.kind, ResponseKind::ok);
  EXPECT_EQ(r.attempts, 2);
}

TEST(HttpClient, a_stream_cut_after_a_chunk_is_not_retried) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    ScriptedReply reply = ScriptedReply::chunked(200, {"partial"}, 0ms, false);
    reply.end = ScriptedReply::End::close;
    return reply;
  });
  HttpClient uut;
  Request request = get(server.url());
  request.retry = quick_retries();
  std::string streamed;
  auto future = send(uut, request, [&](std::string_view chunk) { streamed.append(chunk); });
  const Response r = await(future);
  EXPECT_EQ(r.kind, ResponseKind::transport);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(streamed, "partial");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, a_body_over_the_limit_fails_as_too_large) {
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t) {
    if (r.target == "/plain") return ScriptedReply::plain(200, std::string(5000, 'a'));
    return ScriptedReply::chunked(200, std::vector<std::string>(10, std::string(500, 'b')), 0ms);
  });
  HttpClient uut;
  for (const char* path : {"/plain", "/chunked"}) {
    Request request = get(server.url(path));
    request.max_response_bytes = 1000;
    const Response r = fetch(uut, request);
    EXPECT_EQ(r.kind, ResponseKind::too_large) << path << ": " << r.error;
    EXPECT_NE(r.error.find("max_response_bytes"), std::string::npos) << r.error;
    EXPECT_EQ(r.attempts, 1);
  }
}

TEST(HttpClient, a_streamed_body_over_the_limit_stops_before_the_limit) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::chunked(200, std::vector<std::string>(10, std::string(500, 'b')), 0ms);
  });
  HttpClient uut;
  Request request = get(server.url());
  request.max_response_bytes = 1000;
  std::size_t streamed = 0;
  auto future = send(uut, request, [&](std::string_view chunk) { streamed += chunk.size(); });
  EXPECT_EQ(await(future).kind, ResponseKind::too_large);
  EXPECT_LE(streamed, 1000u);
}

TEST(HttpClient, cancelling_a_running_request_ends_it_as_cancelled) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::silent();
  });
  HttpClient uut;
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  const RequestId id = uut.submit(get(server.url()), nullptr,
                                  [promise](Response&& r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(server.wait_for_requests(1));
  uut.cancel(id);
  const Response r = await(future);
  EXPECT_EQ(r.kind, ResponseKind::cancelled);
  EXPECT_EQ(r.attempts, 1);
  uut.cancel(id);  // already ended: ignored
}

TEST(HttpClient, cancelling_a_request_queued_by_its_limit_ends_it_before_it_starts) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::silent();
  });
  HttpClient uut;
  uut.set_limits("one", Limits{1, 0, 0});
  Request request = get(server.url());
  request.limit_keys = {"one"};
  auto running = send(uut, request);
  auto promise = std::make_shared<std::promise<Response>>();
  auto queued = promise->get_future();
  const RequestId id = uut.submit(request, nullptr,
                                  [promise](Response&& r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(server.wait_for_requests(1));
  uut.cancel(id);
  const Response r = await(queued);
  EXPECT_EQ(r.kind, ResponseKind::cancelled);
  EXPECT_EQ(r.attempts, 0);
  EXPECT_EQ(running.wait_for(0s), std::future_status::timeout);
}

TEST(HttpClient, cancelling_a_request_that_waits_to_retry_ends_it_without_the_retry) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::plain(503, "later", {{"Retry-After", "3600"}});
  });
  HttpClient uut;
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  const RequestId id = uut.submit(get(server.url()), nullptr,
                                  [promise](Response&& r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(server.wait_for_requests(1));
  uut.cancel(id);
  const Response r = await(future);
  EXPECT_EQ(r.kind, ResponseKind::cancelled);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClient, close_ends_running_and_queued_requests_exactly_once_as_closed) {
  LoopbackHttpServer server([](const RecordedRequest&, std::size_t) {
    return ScriptedReply::silent();
  });
  constexpr std::size_t kRunning = 10;
  constexpr std::size_t kTotal = 15;
  DoneCounter done(kTotal);
  HttpClient uut;
  uut.set_limits("capped", Limits{kRunning, 0, 0});
  for (std::size_t i = 0; i < kTotal; ++i) {
    Request request = get(server.url());
    request.limit_keys = {"capped"};
    uut.submit(std::move(request), nullptr, done.callback(i));
  }
  ASSERT_TRUE(server.wait_for_in_flight(kRunning));
  uut.close();
  EXPECT_TRUE(uut.closed());
  ASSERT_TRUE(done.wait_all());
  EXPECT_EQ(done.counts(), std::vector<int>(kTotal, 1));
  EXPECT_EQ(done.kinds(), std::vector<ResponseKind>(kTotal, ResponseKind::closed));
  uut.close();  // idempotent
}

TEST(HttpClient, a_submit_after_close_ends_at_once_on_the_callers_thread) {
  HttpClient uut;
  uut.close();
  std::thread::id ran_on;
  ResponseKind kind = ResponseKind::ok;
  uut.submit(get("http://127.0.0.1:1/"), nullptr, [&](Response&& r) {
    ran_on = std::this_thread::get_id();
    kind = r.kind;
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(kind, ResponseKind::closed);
}

TEST(HttpClient, a_concurrency_limit_caps_what_the_server_sees_at_once) {
  constexpr std::size_t kCap = 3;
  // Each reply waits until the cap is reached, so the test also shows the cap is used fully.
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    ScriptedReply reply = echo(r, i);
    reply.hold_until_in_flight = kCap;
    return reply;
  });
  HttpClient uut;
  uut.set_limits("llm", Limits{kCap, 0, 0});
  std::vector<std::future<Response>> futures;
  for (int i = 0; i < 30; ++i) {
    Request request = get(server.url(path_of(i)));
    request.limit_keys = {"llm"};
    futures.push_back(send(uut, std::move(request)));
  }
  for (auto& f : futures) ASSERT_EQ(await(f).kind, ResponseKind::ok);
  EXPECT_EQ(server.max_in_flight(), kCap);
}

TEST(HttpClient, the_tighter_of_two_chained_keys_caps_what_the_server_sees_at_once) {
  constexpr std::size_t kProviderCap = 2;
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    ScriptedReply reply = echo(r, i);
    reply.hold_until_in_flight = kProviderCap;
    return reply;
  });
  HttpClient uut;
  uut.set_limits("agent", Limits{4, 0, 0});
  uut.set_limits("provider", Limits{kProviderCap, 0, 0});
  std::vector<std::future<Response>> futures;
  for (int i = 0; i < 20; ++i) {
    Request request = get(server.url(path_of(i)));
    request.limit_keys = {"agent", "provider"};
    futures.push_back(send(uut, std::move(request)));
  }
  for (int i = 0; i < 20; ++i) {
    const Response r = await(futures[i]);
    ASSERT_EQ(r.kind, ResponseKind::ok) << i << ": " << r.error;
    EXPECT_EQ(r.body, "GET /" + std::to_string(i) + "|");
  }
  EXPECT_EQ(server.max_in_flight(), kProviderCap);
}

TEST(HttpClient, agents_with_their_own_keys_share_one_provider_key) {
  constexpr std::size_t kProviderCap = 3;
  constexpr int kPerAgent = 15;
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    ScriptedReply reply = echo(r, i);
    reply.hold_until_in_flight = kProviderCap;
    return reply;
  });
  HttpClient uut;
  uut.set_limits("agent:1", Limits{10, 0, 0});
  uut.set_limits("agent:2", Limits{10, 0, 0});
  uut.set_limits("provider:p", Limits{kProviderCap, 0, 0});
  std::vector<std::future<Response>> futures;
  std::vector<std::string> targets;
  for (int i = 0; i < kPerAgent; ++i) {
    for (const char* agent : {"agent:1", "agent:2"}) {
      targets.push_back(std::string("/").append(agent).append("/").append(std::to_string(i)));
      Request request = get(server.url(targets.back()));
      request.limit_keys = {agent, "provider:p"};
      futures.push_back(send(uut, std::move(request)));
    }
  }
  for (std::size_t i = 0; i < futures.size(); ++i) {
    const Response r = await(futures[i]);
    ASSERT_EQ(r.kind, ResponseKind::ok) << targets[i] << ": " << r.error;
    EXPECT_EQ(r.body, "GET " + targets[i] + "|");
  }
  EXPECT_EQ(server.requests().size(), futures.size());
  EXPECT_EQ(server.max_in_flight(), kProviderCap);
}

TEST(HttpClient, cancelling_a_request_queued_at_its_second_key_frees_its_first_keys_slot) {
  // "/hold" holds the only "p" slot for good; every other target is answered.
  LoopbackHttpServer server([](const RecordedRequest& r, std::size_t i) {
    return r.target == "/hold" ? ScriptedReply::silent() : echo(r, i);
  });
  HttpClient uut;
  uut.set_limits("a", Limits{2, 0, 0});
  uut.set_limits("p", Limits{1, 0, 0});
  Request holder = get(server.url("/hold"));
  holder.limit_keys = {"a", "p"};
  Request second = get(server.url("/second"));
  second.limit_keys = {"a", "p"};
  Request behind = get(server.url("/behind"));
  behind.limit_keys = {"a"};

  auto holding = send(uut, holder);
  std::atomic<int> second_done{0};
  auto second_promise = std::make_shared<std::promise<Response>>();
  auto second_future = second_promise->get_future();
  const RequestId second_id =
      uut.submit(second, nullptr, [&second_done, second_promise](Response&& r) {
        if (second_done.fetch_add(1) == 0) second_promise->set_value(std::move(r));
      });
  auto queued_behind = send(uut, behind);
  // An unlimited request ends only after the I/O thread applied the submissions before it and
  // let every ticket through as far as it could: "second" now holds the other "a" slot and
  // waits at "p", so "behind" waits at "a".
  ASSERT_EQ(fetch(uut, get(server.url("/probe"))).kind, ResponseKind::ok);
  EXPECT_EQ(queued_behind.wait_for(0s), std::future_status::timeout);

  uut.cancel(second_id);
  const Response cancelled = await(second_future);
  EXPECT_EQ(cancelled.kind, ResponseKind::cancelled);
  EXPECT_EQ(cancelled.attempts, 0);
  const Response r = await(queued_behind);
  EXPECT_EQ(r.kind, ResponseKind::ok) << r.error;
  EXPECT_EQ(r.body, "GET /behind|");
  EXPECT_EQ(holding.wait_for(0s), std::future_status::timeout);

  uut.close();  // joins the I/O thread: every on_done has run
  EXPECT_EQ(second_done.load(), 1);
  for (const RecordedRequest& seen : server.requests()) EXPECT_NE(seen.target, "/second");
}

TEST(HttpClient, a_request_without_limit_keys_starts_at_once_and_retries_while_keyed_ones_wait) {
  std::size_t flaky_seen = 0;  // server thread only
  LoopbackHttpServer server([&flaky_seen](const RecordedRequest& r, std::size_t) {
    if (r.target == "/hold") return ScriptedReply::silent();
    if (r.target == "/flaky" && flaky_seen++ == 0) return ScriptedReply::plain(500, "oops");
    return ScriptedReply::plain(200, r.target);
  });
  HttpClient uut;
  uut.set_limits("one", Limits{1, 0, 0});
  Request held = get(server.url("/hold"));
  held.limit_keys = {"one"};
  Request waiting = get(server.url("/waiting"));
  waiting.limit_keys = {"one"};
  auto holding = send(uut, held);
  auto queued = send(uut, waiting);
  ASSERT_TRUE(server.wait_for_requests(1));

  Request unlimited = get(server.url("/flaky"));
  ASSERT_TRUE(unlimited.limit_keys.empty());
  unlimited.retry = quick_retries();
  const Response r = fetch(uut, unlimited);
  EXPECT_EQ(r.kind, ResponseKind::ok) << r.error;
  EXPECT_EQ(r.body, "/flaky");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(queued.wait_for(0s), std::future_status::timeout);
}

TEST(HttpClient, a_callback_may_submit_the_next_request) {
  LoopbackHttpServer server(echo);
  HttpClient uut;
  auto second = std::make_shared<std::promise<Response>>();
  auto future = second->get_future();
  const std::string url = server.url("/second");
  uut.submit(get(server.url("/first")), nullptr, [&uut, second, url](Response&&) {
    uut.submit(get(url), nullptr, [second](Response&& r) { second->set_value(std::move(r)); });
  });
  EXPECT_EQ(await(future).body, "GET /second|");
}

}  // namespace
}  // namespace serendip::http
