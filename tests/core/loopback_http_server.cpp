// tests/core/loopback_http_server.cpp: the scripted server's poll loop, request parsing and reply playback.
// SPDX-License-Identifier: Apache-2.0
#include "loopback_http_server.hpp"

#include "test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

namespace serendip::testing {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::string head(int status, const http::Headers& headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + (status < 300 ? " OK" : " Scripted") + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  return out;
}

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equal_ignoring_case(key, name)) return value;
  }
  return std::nullopt;
}

ScriptedReply ScriptedReply::plain(int status, std::string body, http::Headers headers) {
  std::string bytes = head(status, headers);
  bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ScriptedReply reply;
  reply.steps.push_back(Step{std::chrono::milliseconds(0), std::move(bytes)});
  return reply;
}

ScriptedReply ScriptedReply::chunked(int status, std::vector<std::string> pieces,
                                     std::chrono::milliseconds pause, bool finish) {
  ScriptedReply reply;
  reply.steps.push_back(Step{std::chrono::milliseconds(0),
                             head(status, {{"Transfer-Encoding", "chunked"}}) + "\r\n"});
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    char size[32];
    const auto end = std::to_chars(size, size + sizeof size, pieces[i].size(), 16).ptr;
    reply.steps.push_back(Step{i == 0 ? std::chrono::milliseconds(0) : pause,
                               std::string(size, end) + "\r\n" + pieces[i] + "\r\n"});
  }
  if (finish) reply.steps.push_back(Step{pause, "0\r\n\r\n"});
  return reply;
}

ScriptedReply ScriptedReply::silent() {
  ScriptedReply reply;
  reply.end = End::stall;
  return reply;
}

struct LoopbackHttpServer::Connection {
  enum class Phase : std::uint8_t { reading, holding, sending, stalled };

  int fd = -1;
  std::size_t number = 0;
  std::string in;
  std::string out;
  Phase phase = Phase::reading;
  bool in_flight = false;
  ScriptedReply reply;
  std::size_t next_step = 0;
  Deadline next_at{};
};

LoopbackHttpServer::LoopbackHttpServer(Script script) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail("socket");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
  if (::listen(listen_fd_, SOMAXCONN) != 0) fail("listen");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) fail("eventfd");
  thread_ = std::thread([this] { run(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
  ::close(listen_fd_);
}

std::string LoopbackHttpServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::vector<RecordedRequest> LoopbackHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t LoopbackHttpServer::max_in_flight() const {
  std::lock_guard lock(mutex_);
  return max_in_flight_;
}

std::size_t LoopbackHttpServer::connections_accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

bool LoopbackHttpServer::wait_for_requests(std::size_t n) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, patience_deadline(), [&] { return requests_.size() >= n; });
}

bool LoopbackHttpServer::wait_for_in_flight(std::size_t n) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, patience_deadline(), [&] { return in_flight_ >= n; });
}

void LoopbackHttpServer::run() {
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    fds.push_back(pollfd{listen_fd_, POLLIN, 0});
    Deadline next = Deadline::max();
    for (const Connection& c : conns) {
      fds.push_back(pollfd{c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLIN | POLLOUT), 0});
      if (c.phase == Connection::Phase::sending) next = std::min(next, c.next_at);
    }
    int timeout = -1;
    if (next != Deadline::max()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
      timeout = static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, wait.count()));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) break;
    const std::size_t polled = conns.size();
    if (fds[1].revents & POLLIN) accept_all(conns);
    for (std::size_t i = 0; i < polled; ++i) {
      Connection& c = conns[i];
      const short revents = fds[i + 2].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!read_from(c)) {
          drop(c);
          continue;
        }
        parse_requests(c);
      }
      if ((revents & POLLOUT) && !flush(c)) drop(c);
    }
    // After every read: a request on one connection may open the gate for those holding.
    for (Connection& c : conns) {
      if (c.fd >= 0) advance(c);
    }
    std::erase_if(conns, [](const Connection& c) { return c.fd < 0; });
  }
  for (Connection& c : conns) ::close(c.fd);
}

void LoopbackHttpServer::accept_all(std::vector<Connection>& conns) {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    Connection c;
    c.fd = fd;
    {
      std::lock_guard lock(mutex_);
      c.number = ++accepted_;
    }
    conns.push_back(std::move(c));
  }
}

bool LoopbackHttpServer::read_from(Connection& c) {
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      c.in.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;  // EOF or reset: the client is gone
  }
}

void LoopbackHttpServer::parse_requests(Connection& c) {
  if (c.phase != Connection::Phase::reading) return;
  const auto head_end = c.in.find("\r\n\r\n");
  if (head_end == std::string::npos) return;
  RecordedRequest r;
  r.connection = c.number;
  std::string_view head(c.in.data(), head_end);
  const auto line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const auto sp1 = request_line.find(' ');
  const auto sp2 = request_line.find(' ', sp1 + 1);
  r.method = std::string(request_line.substr(0, sp1));
  r.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::size_t content_length = 0;
  std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    const std::string_view line = head.substr(pos, eol - pos);
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      r.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                             std::string(trim(line.substr(colon + 1))));
      if (equal_ignoring_case(r.headers.back().first, "Content-Length")) {
        const std::string& v = r.headers.back().second;
        std::from_chars(v.data(), v.data() + v.size(), content_length);
      }
    }
    pos = eol + 2;
  }
  const std::size_t body_start = head_end + 4;
  if (c.in.size() < body_start + content_length) return;
  r.body = c.in.substr(body_start, content_length);
  c.in.erase(0, body_start + content_length);

  std::size_t index = 0;
  {
    std::lock_guard lock(mutex_);
    index = requests_.size();
    requests_.push_back(r);
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
  }
  cv_.notify_all();
  c.in_flight = true;
  c.reply = script_(r, index);
  c.next_step = 0;
  c.phase = c.reply.hold_until_in_flight > 0 ? Connection::Phase::holding
                                             : Connection::Phase::sending;
  c.next_at = Clock::now() + (c.reply.steps.empty() ? std::chrono::milliseconds(0)
                                                    : c.reply.steps.front().pause);
}

void LoopbackHttpServer::advance(Connection& c) {
  if (c.phase == Connection::Phase::holding) {
    std::lock_guard lock(mutex_);
    if (max_in_flight_ < c.reply.hold_until_in_flight) return;
    c.phase = Connection::Phase::sending;
    c.next_at = Clock::now();
  }
  if (c.phase != Connection::Phase::sending) return;
  const auto& steps = c.reply.steps;
  const Deadline now = Clock::now();
  while (c.next_step < steps.size() && c.next_at <= now) {
    c.out += steps[c.next_step].bytes;
    if (++c.next_step < steps.size()) c.next_at = now + steps[c.next_step].pause;
  }
  if (!flush(c)) {
    drop(c);
    return;
  }
  if (c.next_step == steps.size() && c.out.empty()) finish_reply(c);
}

bool LoopbackHttpServer::flush(Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else if (!(n < 0 && errno == EINTR)) {
      return false;
    }
  }
  return true;
}

void LoopbackHttpServer::finish_reply(Connection& c) {
  switch (c.reply.end) {
    case ScriptedReply::End::stall:
      c.phase = Connection::Phase::stalled;
      return;
    case ScriptedReply::End::reset: {
      // A zero linger turns close into an RST.
      const linger abort{1, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
      drop(c);
      return;
    }
    case ScriptedReply::End::close:
      drop(c);
      return;
    case ScriptedReply::End::keep_alive:
      {
        std::lock_guard lock(mutex_);
        --in_flight_;
      }
      c.in_flight = false;
      c.phase = Connection::Phase::reading;
      parse_requests(c);
      return;
  }
}

void LoopbackHttpServer::drop(Connection& c) {
  if (c.in_flight) {
    std::lock_guard lock(mutex_);
    --in_flight_;
  }
  c.in_flight = false;
  ::close(c.fd);
  c.fd = -1;
}

}  // namespace serendip::testing
