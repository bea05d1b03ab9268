// The neutral load generator of the echo benchmark: one thread, plain epoll, no xcoro. It
// opens N connections to an echo server and runs a closed loop on each (send a message of
// S bytes, wait for all S bytes to come back, send again) for a fixed time, then prints
//   <messages/s> <p50 latency in us> <p99 latency in us> <client cpu %>
// on one line: the last is the share of one CPU the client itself used (its user + system time
// over the measured time, in %): near 100 means the client, not the server, was the limit.
// With -n MESSAGES it stops instead once MESSAGES echoes have come back (no warm-up; SECONDS
// is then only a limit), so that a server can be profiled over a fixed amount of work
// (bench/io/count.sh: instructions and system calls per message).
// Usage: echo_client [-n MESSAGES] HOST:PORT CONNECTIONS SIZE SECONDS [WARMUP_SECONDS]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

/// User + system CPU time of this process.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "echo_client: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct connection {
  int fd = -1;
  std::size_t sent = 0;      // bytes of the current message written so far
  std::size_t received = 0;  // bytes of its echo read so far
  std::int64_t started = 0;  // when the current message was first written
  bool want_out = false;     // registered for EPOLLOUT after a partial write
};

// Latencies in whole microseconds; one bucket per microsecond up to 100 ms is exact enough
// for a median and cheap enough (one increment) to keep on for every message.
constexpr std::size_t histogram_buckets = 100000;

class client {
 public:
  client(std::size_t size, int epfd) : size_(size), epfd_(epfd), out_(size), in_(size) {
    for (std::size_t i = 0; i < size; ++i) {
      out_[i] = static_cast<char>('a' + i % 26);
    }
    histogram_.assign(histogram_buckets, 0);
  }

  /// Writes what is left of c's message; on a partial write waits for EPOLLOUT.
  void send_rest(connection& c) {
    while (c.sent < size_) {
      ssize_t n = ::send(c.fd, out_.data() + c.sent, size_ - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) {
          watch(c, true);
          return;
        }
        die("send");
      }
      c.sent += static_cast<std::size_t>(n);
    }
    watch(c, false);
  }

  void start(connection& c) {
    c.sent = 0;
    c.received = 0;
    c.started = now_ns();
    send_rest(c);
  }

  /// Reads the echo; a complete one is counted and the next message goes out at once.
  void on_readable(connection& c, std::int64_t counting_from) {
    for (;;) {
      ssize_t n = ::recv(c.fd, in_.data(), size_ - c.received, 0);
      if (n < 0) {
        if (errno == EAGAIN) {
          return;
        }
        die("recv");
      }
      if (n == 0) {
        errno = ECONNRESET;
        die("server closed a connection");
      }
      c.received += static_cast<std::size_t>(n);
      if (c.received < size_) {
        continue;
      }
      std::int64_t t = now_ns();
      if (c.started >= counting_from) {
        ++messages_;
        std::int64_t us = (t - c.started) / 1000;
        ++histogram_[us < static_cast<std::int64_t>(histogram_buckets)
                         ? static_cast<std::size_t>(us)
                         : histogram_buckets - 1];
      }
      start(c);
      return;
    }
  }

  void reset_counts() {
    messages_ = 0;
    histogram_.assign(histogram_buckets, 0);
  }
  std::uint64_t messages() const { return messages_; }

  /// The latency (us) below which `q` of the counted messages fall.
  double quantile(double q) const {
    std::uint64_t want = static_cast<std::uint64_t>(static_cast<double>(messages_) * q);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < histogram_.size(); ++i) {
      seen += histogram_[i];
      if (seen > want) {
        return static_cast<double>(i);
      }
    }
    return static_cast<double>(histogram_.size());
  }

 private:
  void watch(connection& c, bool out) {
    if (out == c.want_out) {
      return;
    }
    epoll_event ev{};
    ev.events = out ? EPOLLOUT : EPOLLIN;
    ev.data.ptr = &c;
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev) < 0) {
      die("epoll_ctl");
    }
    c.want_out = out;
  }

  std::size_t size_;
  int epfd_;
  std::vector<char> out_;
  std::vector<char> in_;
  std::vector<std::uint64_t> histogram_;
  std::uint64_t messages_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t limit = 0;  // -n: stop after this many messages
  if (argc > 2 && std::strcmp(argv[1], "-n") == 0) {
    limit = std::strtoull(argv[2], nullptr, 10);
    argc -= 2;
    argv += 2;
  }
  if (argc < 5) {
    std::fprintf(stderr, "usage: echo_client [-n MESSAGES] HOST:PORT CONNECTIONS SIZE SECONDS "
                         "[WARMUP_SECONDS]\n");
    return 2;
  }
  std::string target = argv[1];
  std::size_t colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "echo_client: expected HOST:PORT, got %s\n", argv[1]);
    return 2;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(std::atoi(target.c_str() + colon + 1)));
  if (inet_pton(AF_INET, target.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    std::fprintf(stderr, "echo_client: bad IPv4 address in %s\n", argv[1]);
    return 2;
  }
  int count = std::atoi(argv[2]);
  long size = std::atol(argv[3]);
  double seconds = std::atof(argv[4]);
  double warmup = limit > 0 ? 0 : argc > 5 ? std::atof(argv[5]) : 0.5;
  if (count <= 0 || size <= 0 || seconds <= 0 || warmup < 0) {
    std::fprintf(stderr, "echo_client: connections, size and seconds must be positive\n");
    return 2;
  }

  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    die("epoll_create1");
  }
  client cl(static_cast<std::size_t>(size), epfd);
  std::vector<connection> conns(static_cast<std::size_t>(count));
  for (connection& c : conns) {
    // Blocking connect keeps the setup simple; the listen backlog absorbs the burst.
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      die("socket");
    }
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
      die("connect");
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Close with a reset, so thousands of runs leave no TIME_WAIT sockets behind.
    linger lg{1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK) < 0) {
      die("fcntl(O_NONBLOCK)");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev) < 0) {
      die("epoll_ctl");
    }
  }

  std::int64_t begin = now_ns();
  std::int64_t counting_from = begin + static_cast<std::int64_t>(warmup * 1e9);
  std::int64_t end = counting_from + static_cast<std::int64_t>(seconds * 1e9);
  for (connection& c : conns) {
    cl.start(c);
  }
  std::vector<epoll_event> events(conns.size());
  bool counting = warmup == 0;
  double cpu_from = counting ? cpu_seconds() : 0;
  for (;;) {
    std::int64_t t = now_ns();
    if (t >= end || (limit > 0 && cl.messages() >= limit)) {
      break;
    }
    if (!counting && t >= counting_from) {
      cl.reset_counts();
      counting = true;
      cpu_from = cpu_seconds();
    }
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      auto& c = *static_cast<connection*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (c.want_out) {
        cl.send_rest(c);
      } else {
        cl.on_readable(c, counting_from);
      }
    }
  }
  double elapsed = static_cast<double>(now_ns() - counting_from) / 1e9;
  std::printf("%.0f %.0f %.0f %.0f", static_cast<double>(cl.messages()) / elapsed,
              cl.quantile(0.5), cl.quantile(0.99), 100 * (cpu_seconds() - cpu_from) / elapsed);
  if (limit > 0) {
    std::printf(" %llu", static_cast<unsigned long long>(cl.messages()));  // the exact count
  }
  std::printf("\n");
  for (connection& c : conns) {
    ::close(c.fd);
  }
  ::close(epfd);
  return 0;
}
