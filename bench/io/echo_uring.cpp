// The hand-written io_uring peer of the echo benchmark: no coroutines, one thread, a
// per-connection recv -> send state machine driven by CQEs, the way liburing's examples
// do it. It is the floor xcoro's io_uring path is measured against: the same ring setup
// (SINGLE_ISSUER | DEFER_TASKRUN, else COOP_TASKRUN, else none), the same 256 entries and
// blocking sockets, so io_uring arms its own poll exactly as it does for xcoro.
// Usage: echo_uring PORT   (serves 127.0.0.1:PORT until killed)
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// What a CQE's user_data points at, told apart by the low bit (connections are aligned).
enum tag : std::uintptr_t { tag_recv = 0, tag_send = 1 };
constexpr std::uintptr_t accept_data = 2;  // no connection behind it

struct alignas(8) connection {
  int fd;
  unsigned len = 0;   // bytes received, to echo
  unsigned sent = 0;  // bytes of them sent so far
  char buf[4096];
};

io_uring ring;

io_uring_sqe* next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (sqe == nullptr) {  // the SQ is full: hand it to the kernel and retry
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

void queue_accept(int listen_fd) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, accept_data);
}

void queue_recv(connection* c) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c) | tag_recv);
}

void queue_send(connection* c) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c) | tag_send);
}

void drop(connection* c) {
  ::close(c->fd);
  delete c;
}

void on_cqe(int listen_fd, std::uint64_t data, int res) {
  if (data == accept_data) {
    if (res >= 0) {
      auto* c = new connection;
      c->fd = res;
      queue_recv(c);
    }
    queue_accept(listen_fd);
    return;
  }
  auto* c = reinterpret_cast<connection*>(data & ~std::uintptr_t{1});
  if (res <= 0) {
    drop(c);  // end of stream, reset or error
    return;
  }
  if ((data & 1) == tag_recv) {
    c->len = static_cast<unsigned>(res);
    c->sent = 0;
    queue_send(c);
    return;
  }
  c->sent += static_cast<unsigned>(res);
  if (c->sent < c->len) {
    queue_send(c);  // a partial send: the rest goes out before the next recv
  } else {
    queue_recv(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_uring PORT\n");
    return 2;
  }
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(256, &ring, &p);
  if (rc == -EINVAL) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_COOP_TASKRUN;
    rc = io_uring_queue_init_params(256, &ring, &p);
  }
  if (rc == -EINVAL) {
    rc = io_uring_queue_init(256, &ring, 0);
  }
  if (rc < 0) {
    std::fprintf(stderr, "echo_uring: io_uring_queue_init: %s\n", std::strerror(-rc));
    return 1;
  }

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) < 0 ||
      ::listen(fd, 4096) < 0) {
    std::fprintf(stderr, "echo_uring: cannot listen on 127.0.0.1:%s: %s\n", argv[1],
                 std::strerror(errno));
    return 3;
  }

  queue_accept(fd);
  for (;;) {
    // One enter per round: submit everything queued, wait for at least one completion,
    // then take every CQE available and queue their follow-ups for the next round.
    rc = io_uring_submit_and_wait(&ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      std::fprintf(stderr, "echo_uring: io_uring_submit_and_wait: %s\n", std::strerror(-rc));
      return 1;
    }
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring, head, cqe) {
      on_cqe(fd, cqe->user_data, cqe->res);
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
  }
}
