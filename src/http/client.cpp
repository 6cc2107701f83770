// src/http/client.cpp: the HttpClient's I/O thread: commands in, the libcurl multi handle driven, callbacks out.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/http/client.hpp>

#include "transfer.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

namespace serendip::http {

namespace {

using internal::Transfer;
using internal::Verdict;
using std::chrono::milliseconds;

// A poll with nothing due still returns now and then; submissions and libcurl's own timers
// wake it earlier, so this only bounds how stale a pathological wait can get.
constexpr milliseconds kLongestPoll{60'000};

// curl_global_init is not thread-safe on every build; a function-local static runs it once.
// curl_global_cleanup is never called: other libraries in the process may still use libcurl.
void init_curl_once() {
  static const CURLcode result = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (result != CURLE_OK) {
    throw std::runtime_error(std::string("curl_global_init failed: ") + curl_easy_strerror(result));
  }
}

struct Submission {
  RequestId id;
  Request request;
  HttpClient::OnChunk on_chunk;
  HttpClient::OnDone on_done;
};
struct CancelCommand {
  RequestId id;
};
struct LimitsCommand {
  std::string key;
  Limits limits;
};
using Command = std::variant<Submission, CancelCommand, LimitsCommand>;

struct Timer {
  enum class Kind : std::uint8_t { retry, idle };
  Kind kind;
  RequestId id;
  int attempt;  // the attempt it was set for; a timer of an earlier attempt is stale
};

Response failure(ResponseKind kind, std::string error, int attempts) {
  Response r;
  r.kind = kind;
  r.error = std::move(error);
  r.attempts = attempts;
  return r;
}

}  // namespace

/// The client's state.
///
/// Shared, guarded by `mutex_`: `commands_` (submissions, cancels and limit changes in call
/// order) and `closed_`. Written once before the thread starts, then only read: `multi_`
/// (whose `curl_multi_wakeup` is thread-safe) and `io_thread_`. `join_mutex_` serialises
/// joins of `thread_`. `next_id_` is atomic.
///
/// I/O thread only, unguarded: `transfers_`, `timers_`, `limiter_`, `random_`, `ready_` and
/// the easy handles inside `multi_` (libcurl handles are single-threaded).
struct HttpClient::Impl {
  explicit Impl(const Options& options);
  ~Impl();

  // -- any thread --
  RequestId submit(Request&& request, OnChunk&& on_chunk, OnDone&& on_done);
  void post(Command&& command);
  void close();
  bool closed() const;

  // -- I/O thread --
  void run();
  void apply(Command& command);
  void admit(Submission& s);
  void cancel(RequestId id);
  void enqueue(Transfer& t, bool retry);
  void release_passed(Transfer& t);
  void start_ready();
  void start(Transfer& t);
  void fire_timers();
  void check_idle(Transfer& t, Deadline now);
  void collect_done();
  void stop_running(Transfer& t);
  void end_attempt(Transfer& t, Verdict&& verdict);
  void finish(Transfer& t, Response&& response);
  void shutdown();
  int poll_timeout_ms();

  CURLM* multi_ = nullptr;

  mutable std::mutex mutex_;
  std::vector<Command> commands_;  // guarded by mutex_
  bool closed_ = false;            // guarded by mutex_
  std::atomic<RequestId> next_id_{1};

  std::unordered_map<RequestId, std::unique_ptr<Transfer>> transfers_;
  std::multimap<Deadline, Timer> timers_;
  RateLimiter limiter_;
  std::mt19937_64 random_{std::random_device{}()};
  std::vector<RateLimiter::Ticket> ready_;  // scratch for start_ready

  std::mutex join_mutex_;
  std::thread thread_;
  std::thread::id io_thread_;
};

HttpClient::Impl::Impl(const Options& options) {
  init_curl_once();
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  const long connections = static_cast<long>(std::min<std::size_t>(options.max_connections, LONG_MAX));
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, connections);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, connections);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    curl_multi_cleanup(multi_);
    throw;
  }
  io_thread_ = thread_.get_id();
}

HttpClient::Impl::~Impl() { curl_multi_cleanup(multi_); }

RequestId HttpClient::Impl::submit(Request&& request, OnChunk&& on_chunk, OnDone&& on_done) {
  const RequestId id = next_id_.fetch_add(1, std::memory_order_relaxed);
  Command command = Submission{id, std::move(request), std::move(on_chunk), std::move(on_done)};
  bool accepted = false;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      accepted = true;
      // Only the first command of a batch wakes the thread: it takes the whole batch.
      wake = commands_.empty();
      commands_.push_back(std::move(command));
    }
  }
  if (!accepted) {
    std::get<Submission>(command).on_done(
        failure(ResponseKind::closed, "the HTTP client is closed", 0));
  } else if (wake) {
    curl_multi_wakeup(multi_);
  }
  return id;
}

void HttpClient::Impl::post(Command&& command) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    wake = commands_.empty();
    commands_.push_back(std::move(command));
  }
  if (wake) curl_multi_wakeup(multi_);
}

void HttpClient::Impl::close() {
  if (std::this_thread::get_id() == io_thread_) {
    throw std::logic_error("HttpClient::close called from its own I/O thread (a callback)");
  }
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  curl_multi_wakeup(multi_);
  std::lock_guard join(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

bool HttpClient::Impl::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void HttpClient::Impl::run() {
  std::vector<Command> batch;
  for (;;) {
    bool closing = false;
    {
      std::lock_guard lock(mutex_);
      batch.swap(commands_);
      closing = closed_;
    }
    for (Command& command : batch) apply(command);
    batch.clear();
    if (closing) {
      shutdown();
      return;
    }
    fire_timers();
    start_ready();
    int running = 0;
    curl_multi_perform(multi_, &running);
    collect_done();
    // Ended attempts freed limiter slots; handles added now are driven at once, as libcurl
    // gives a new handle a zero timeout and so the poll below returns immediately.
    start_ready();
    curl_multi_poll(multi_, nullptr, 0, poll_timeout_ms(), nullptr);
  }
}

void HttpClient::Impl::apply(Command& command) {
  if (auto* s = std::get_if<Submission>(&command)) {
    admit(*s);
  } else if (auto* c = std::get_if<CancelCommand>(&command)) {
    cancel(c->id);
  } else if (auto* l = std::get_if<LimitsCommand>(&command)) {
    limiter_.set_limits(l->key, l->limits);
  }
}

void HttpClient::Impl::admit(Submission& s) {
  auto owned = std::make_unique<Transfer>(s.id, std::move(s.request), std::move(s.on_chunk),
                                          std::move(s.on_done));
  Transfer& t = *owned;
  // In the map first: a start that fails at once finishes the transfer, which takes it out.
  transfers_.emplace(t.id, std::move(owned));
  enqueue(t, false);
}

// Into the first key's queue, at the front for a retry (it has waited its turn already), or
// straight to its attempt when it has no key. Holds no slot yet.
void HttpClient::Impl::enqueue(Transfer& t, bool retry) {
  t.state = Transfer::State::queued;
  t.stage = 0;
  if (t.request.limit_keys.empty()) {
    start(t);
  } else if (retry) {
    limiter_.push_front(t.request.limit_keys.front(), t.id, t.request.estimated_tokens);
  } else {
    limiter_.push(t.request.limit_keys.front(), t.id, t.request.estimated_tokens);
  }
}

// Frees the slots of the keys `t` has passed: all of them after an attempt, the ones before
// the key it waits at when it leaves a queue.
void HttpClient::Impl::release_passed(Transfer& t) {
  for (std::size_t i = 0; i < t.stage; ++i) limiter_.release(t.request.limit_keys[i]);
  t.stage = 0;
}

void HttpClient::Impl::cancel(RequestId id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  Transfer& t = *it->second;
  if (t.state == Transfer::State::running) {
    stop_running(t);
  } else if (t.state == Transfer::State::queued) {
    limiter_.remove(t.request.limit_keys[t.stage], t.id);
    release_passed(t);
  }  // retry_wait: holds no slot, and its timer finds the transfer gone
  finish(t, failure(ResponseKind::cancelled, "the request was cancelled", t.attempts));
}

// A ticket that passes a key moves to the back of its next key's queue, where one pass of
// take_ready may already have looked; so passes repeat until none moves a ticket, or a request
// whose passage freed nothing would stall until some unrelated wake-up.
void HttpClient::Impl::start_ready() {
  do {
    ready_.clear();
    limiter_.take_ready(ready_);
    for (RateLimiter::Ticket id : ready_) {
      auto it = transfers_.find(id);
      if (it == transfers_.end()) continue;
      Transfer& t = *it->second;
      if (++t.stage < t.request.limit_keys.size()) {
        limiter_.push(t.request.limit_keys[t.stage], t.id, t.request.estimated_tokens);
      } else {
        start(t);
      }
    }
  } while (!ready_.empty());
}

void HttpClient::Impl::start(Transfer& t) {
  if (!t.open_attempt() || curl_multi_add_handle(multi_, t.easy) != CURLM_OK) {
    t.close_attempt();
    release_passed(t);
    finish(t, failure(ResponseKind::transport, "libcurl could not start the transfer", t.attempts));
    return;
  }
  t.state = Transfer::State::running;
  if (t.request.idle_timeout > milliseconds::zero()) {
    timers_.emplace(t.last_activity + t.request.idle_timeout,
                    Timer{Timer::Kind::idle, t.id, t.attempts});
  }
}

void HttpClient::Impl::fire_timers() {
  const Deadline now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const Timer timer = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = transfers_.find(timer.id);
    if (it == transfers_.end() || it->second->attempts != timer.attempt) continue;
    Transfer& t = *it->second;
    if (timer.kind == Timer::Kind::retry && t.state == Transfer::State::retry_wait) {
      enqueue(t, true);
    } else if (timer.kind == Timer::Kind::idle && t.state == Transfer::State::running) {
      check_idle(t, now);
    }
  }
}

// Idle timers are lazy: bytes only move `last_activity`, and a timer that fires early is set
// again for the new due time. So a busy transfer costs one timer per idle period, not per byte.
void HttpClient::Impl::check_idle(Transfer& t, Deadline now) {
  const Deadline due = t.last_activity + t.request.idle_timeout;
  if (due > now) {
    timers_.emplace(due, Timer{Timer::Kind::idle, t.id, t.attempts});
    return;
  }
  stop_running(t);
  end_attempt(t, Verdict{ResponseKind::timeout, false,
                         "idle timeout: no byte arrived for " +
                             std::to_string(t.request.idle_timeout.count()) + " ms"});
}

void HttpClient::Impl::collect_done() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    // Copied out: removing the handle invalidates `msg`.
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;
    char* user = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &user);
    Transfer& t = *reinterpret_cast<Transfer*>(user);
    stop_running(t);
    end_attempt(t, internal::judge(t, result));
  }
}

void HttpClient::Impl::stop_running(Transfer& t) {
  curl_multi_remove_handle(multi_, t.easy);
  t.close_attempt();
  release_passed(t);
}

void HttpClient::Impl::end_attempt(Transfer& t, Verdict&& verdict) {
  if (verdict.retry) {
    std::optional<milliseconds> retry_after;
    if (auto value = t.response.header("Retry-After")) {
      retry_after = parse_retry_after(*value, std::chrono::system_clock::now());
    }
    const milliseconds delay = retry_delay(t.request.retry, t.attempts, retry_after, random_);
    t.state = Transfer::State::retry_wait;
    timers_.emplace(Clock::now() + delay, Timer{Timer::Kind::retry, t.id, t.attempts});
    return;
  }
  Response response = std::move(t.response);
  response.kind = verdict.kind;
  response.error = std::move(verdict.error);
  response.attempts = t.attempts;
  finish(t, std::move(response));
}

void HttpClient::Impl::finish(Transfer& t, Response&& response) {
  // Out of the map before the callback, which may submit or cancel (those only queue).
  auto node = transfers_.extract(t.id);
  node.mapped()->on_done(std::move(response));
}

void HttpClient::Impl::shutdown() {
  std::vector<std::unique_ptr<Transfer>> open;
  open.reserve(transfers_.size());
  for (auto& [id, t] : transfers_) open.push_back(std::move(t));
  transfers_.clear();
  timers_.clear();
  for (auto& t : open) {
    if (t->state == Transfer::State::running) curl_multi_remove_handle(multi_, t->easy);
    t->close_attempt();
    t->on_done(failure(ResponseKind::closed, "the HTTP client closed", t->attempts));
  }
}

int HttpClient::Impl::poll_timeout_ms() {
  Deadline next = Deadline::max();
  if (!timers_.empty()) next = timers_.begin()->first;
  if (auto at = limiter_.next_ready_at()) next = std::min(next, *at);
  const Deadline now = Clock::now();
  if (next <= now) return 0;
  if (next - now >= kLongestPoll) return static_cast<int>(kLongestPoll.count());
  // Rounded up: waking a little early would only spin until the deadline.
  return static_cast<int>(std::chrono::ceil<milliseconds>(next - now).count());
}

HttpClient::HttpClient(Options options) : impl_(std::make_unique<Impl>(options)) {}

HttpClient::~HttpClient() { close(); }

RequestId HttpClient::submit(Request request, OnChunk on_chunk, OnDone on_done) {
  return impl_->submit(std::move(request), std::move(on_chunk), std::move(on_done));
}

void HttpClient::cancel(RequestId id) { impl_->post(CancelCommand{id}); }

void HttpClient::set_limits(std::string key, Limits limits) {
  impl_->post(LimitsCommand{std::move(key), limits});
}

void HttpClient::close() { impl_->close(); }

bool HttpClient::closed() const { return impl_->closed(); }

}  // namespace serendip::http
