// src/http/transfer.cpp: building an attempt's libcurl easy handle, its callbacks, and judging how it ended.
// SPDX-License-Identifier: Apache-2.0
#include "transfer.hpp"

#include <charconv>
#include <string_view>

namespace serendip::http::internal {

namespace {

bool is_2xx(long status) { return status >= 200 && status < 300; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// "HTTP/1.1 200 OK" or "HTTP/2 200": the number after the first space; 0 if there is none.
long parse_status(std::string_view line) {
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return 0;
  long status = 0;
  std::from_chars(line.data() + space + 1, line.data() + line.size(), status);
  return status;
}

// Body bytes: streamed to on_chunk (2xx with a chunk callback) or kept. Returning anything but
// `size` makes libcurl fail the attempt with CURLE_WRITE_ERROR.
std::size_t on_body(char* data, std::size_t /*always 1*/, std::size_t size, void* user) noexcept {
  auto& t = *static_cast<Transfer*>(user);
  t.last_activity = Clock::now();
  if (t.received + size > t.request.max_response_bytes) {
    t.too_large = true;
    return 0;
  }
  t.received += size;
  if (t.on_chunk && is_2xx(t.response.status)) {
    t.streamed = true;
    t.on_chunk(std::string_view(data, size));
  } else {
    t.response.body.append(data, size);
  }
  return size;
}

// One header line at a time, status lines included. A new status line starts a new response
// (after a 1xx interim one), so the fields collected so far are dropped.
std::size_t on_header(char* data, std::size_t /*always 1*/, std::size_t size, void* user) noexcept {
  auto& t = *static_cast<Transfer*>(user);
  t.last_activity = Clock::now();
  const std::string_view line(data, size);
  if (line.starts_with("HTTP/")) {
    t.response.status = parse_status(line);
    t.response.headers.clear();
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    t.response.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                    std::string(trim(line.substr(colon + 1))));
  }
  return size;
}

// Called once the connection is ready (new or reused, TLS done) and the request is about to
// go out: from here on a timeout is not a connect failure.
int on_connected(void* user, char*, char*, int, int) noexcept {
  static_cast<Transfer*>(user)->connected = true;
  return CURL_PREREQFUNC_OK;
}

void set_method_and_body(CURL* easy, const Request& r) {
  if (r.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (r.method == "GET" && r.body.empty()) {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (r.method == "POST" || !r.body.empty()) {
    // The body is borrowed: it lives in the Transfer, which outlives the handle.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  }
  if (r.method != "GET" && r.method != "POST" && r.method != "HEAD") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
}

curl_slist* make_header_list(const Request& r) {
  curl_slist* list = nullptr;
  // libcurl would hold large bodies back for up to a second waiting for "100 Continue".
  if (!r.body.empty()) list = curl_slist_append(list, "Expect:");
  for (const auto& [name, value] : r.headers) {
    // "Name:" would make libcurl drop the field; "Name;" sends it with an empty value.
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    list = curl_slist_append(list, line.c_str());
  }
  return list;
}

// Failures that a later attempt may not meet: the network or the server, not the request.
bool transient(CURLcode result) {
  switch (result) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

long as_millis(std::chrono::milliseconds d) { return static_cast<long>(d.count()); }

}  // namespace

Transfer::Transfer(RequestId id, Request&& request, HttpClient::OnChunk&& on_chunk,
                   HttpClient::OnDone&& on_done)
    : id(id),
      request(std::move(request)),
      on_chunk(std::move(on_chunk)),
      on_done(std::move(on_done)) {}

Transfer::~Transfer() { close_attempt(); }

bool Transfer::open_attempt() {
  close_attempt();
  response = Response{};
  received = 0;
  connected = false;
  too_large = false;
  error_text[0] = '\0';
  last_activity = Clock::now();
  easy = curl_easy_init();
  if (easy == nullptr) return false;
  ++attempts;
  header_list = make_header_list(request);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  // No signals: this runs on a thread of a multi-threaded process (libcurl's advice).
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, as_millis(request.connect_timeout));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, as_millis(request.total_timeout));
  curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(request.max_response_bytes));
  // Over TLS, ALPN tells during the handshake whether a connection multiplexes (HTTP/2), so
  // waiting for that answer instead of opening another connection costs little. Not for plain
  // http: an HTTP/1.1 connection only says so with its response, and a burst would queue
  // behind the first request instead of running in parallel.
  if (request.url.starts_with("https://")) curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list);
  set_method_and_body(easy, request);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_connected);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, this);
  return true;
}

void Transfer::close_attempt() {
  if (easy != nullptr) curl_easy_cleanup(easy);
  if (header_list != nullptr) curl_slist_free_all(header_list);
  easy = nullptr;
  header_list = nullptr;
}

Verdict judge(const Transfer& t, CURLcode result) {
  const bool attempts_left = t.attempts < t.request.retry.max_attempts;
  if (t.too_large || result == CURLE_FILESIZE_EXCEEDED) {
    return {ResponseKind::too_large, false,
            "the response body passed max_response_bytes (" +
                std::to_string(t.request.max_response_bytes) + ")"};
  }
  if (result == CURLE_OK) {
    if (is_2xx(t.response.status)) return {ResponseKind::ok, false, {}};
    return {ResponseKind::http_error, retryable_status(t.response.status) && attempts_left, {}};
  }
  const std::string detail = t.error_text[0] != '\0' ? t.error_text : curl_easy_strerror(result);
  if (result == CURLE_OPERATION_TIMEDOUT) {
    // Before the connection was ready it is a connect failure, which is retried; after, the
    // server has the request and may still be working on it, so the caller decides.
    if (!t.connected) return {ResponseKind::timeout, attempts_left, "connect timeout: " + detail};
    return {ResponseKind::timeout, false, "total timeout: " + detail};
  }
  return {ResponseKind::transport, attempts_left && !t.streamed && transient(result), detail};
}

}  // namespace serendip::http::internal
