// The hand-written io_uring peer of the echo benchmark: no coroutines, one thread, a
// per-connection recv -> send state machine driven by CQEs, the way liburing's examples
// do it. It is the floor xcoro's io_uring path is measured against: the same ring setup
// (SINGLE_ISSUER | DEFER_TASKRUN, else COOP_TASKRUN, else none), the same 256 entries and
// blocking sockets, so io_uring arms its own poll exactly as it does for xcoro.
//
// Options turn on the io_uring features that could lower the floor itself, so that
// bench/io/run.sh --floor can measure each against the plain loop:
//   --register-ring  io_uring_register_ring_fd: io_uring_enter skips the fd lookup
//   --fixed-files    connections accepted straight into a registered (sparse) file table;
//                    recv and send use IOSQE_FIXED_FILE, closes are IORING_OP_CLOSE
//   --multishot      one multishot recv per connection, reading into a provided buffer
//                    ring; each CQE's buffer is sent back and then returned to the ring
// A feature the kernel refuses is reported and the run fails: a floor silently measured
// without it would be mislabelled.
// Usage: echo_uring PORT [--register-ring] [--fixed-files] [--multishot]
//   (serves 127.0.0.1:PORT until killed)
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
#include <new>

namespace {

// What a CQE's user_data points at, told apart by the low bit (connections are aligned).
enum tag : std::uintptr_t { tag_recv = 0, tag_send = 1 };
constexpr std::uintptr_t accept_data = 2;  // no connection behind it
constexpr std::uintptr_t ignore_data = 4;  // a close: nothing to do when it completes

bool fixed_files = false;
bool multishot = false;

// The provided buffer ring of --multishot: group 0, `buffer_count` buffers of
// `buffer_size` bytes (a 512 B message fits in one; at most one message per connection is
// in flight, and 1000 connections is the most run.sh opens).
constexpr unsigned buffer_count = 4096;
constexpr unsigned buffer_size = 2048;
io_uring_buf_ring* buffers = nullptr;
char* buffer_memory = nullptr;

struct alignas(8) connection {
  int fd;             // the socket, or its index in the fixed file table
  unsigned len = 0;   // bytes received, to echo
  unsigned sent = 0;  // bytes of them sent so far
  // --multishot: the provided buffers received and not yet echoed, oldest first (a
  // message split across two CQEs gives two); only the first is being sent.
  struct received {
    unsigned short id;
    unsigned len;
  };
  received pending[8];
  unsigned pending_count = 0;
  bool recv_armed = false;  // --multishot: the multishot recv is still live
  bool closing = false;     // --multishot: ended; dropped once nothing is in flight
  char buf[4096];           // without --multishot
};

io_uring ring;

[[noreturn]] void refuse(const char* what, int rc) {
  std::fprintf(stderr, "echo_uring: %s: %s\n", what, std::strerror(-rc));
  std::exit(1);
}

io_uring_sqe* next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (sqe == nullptr) {  // the SQ is full: hand it to the kernel and retry
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

/// Marks an SQE whose fd is a fixed file index.
void set_fixed(io_uring_sqe* sqe) {
  if (fixed_files) {
    sqe->flags |= IOSQE_FIXED_FILE;
  }
}

void queue_accept(int listen_fd) {
  io_uring_sqe* sqe = next_sqe();
  if (fixed_files) {
    // Any free slot; its index is the CQE's result. liburing 2.3 adds one to the index it
    // is given, so IORING_FILE_INDEX_ALLOC ("any") is passed as one less. A direct
    // descriptor is never in the process's table, so SOCK_CLOEXEC does not apply (and
    // is refused).
    io_uring_prep_accept_direct(sqe, listen_fd, nullptr, nullptr, 0, IORING_FILE_INDEX_ALLOC - 1);
  } else {
    io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data64(sqe, accept_data);
}

void queue_recv(connection* c) {
  io_uring_sqe* sqe = next_sqe();
  if (multishot) {
    io_uring_prep_recv_multishot(sqe, c->fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    c->recv_armed = true;
  } else {
    io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
  }
  set_fixed(sqe);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c) | tag_recv);
}

char* send_source(connection* c) {
  return multishot ? buffer_memory + std::size_t{c->pending[0].id} * buffer_size : c->buf;
}

void queue_send(connection* c) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_send(sqe, c->fd, send_source(c) + c->sent, c->len - c->sent, MSG_NOSIGNAL);
  set_fixed(sqe);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c) | tag_send);
}

/// Hands a provided buffer back to the ring.
void recycle(unsigned short id) {
  io_uring_buf_ring_add(buffers, buffer_memory + std::size_t{id} * buffer_size, buffer_size,
                        id, io_uring_buf_ring_mask(buffer_count), 0);
  io_uring_buf_ring_advance(buffers, 1);
}

void drop(connection* c) {
  if (fixed_files) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_close_direct(sqe, static_cast<unsigned>(c->fd));
    io_uring_sqe_set_data64(sqe, ignore_data);
  } else {
    ::close(c->fd);
  }
  for (unsigned i = 0; i < c->pending_count; ++i) {
    recycle(c->pending[i].id);
  }
  delete c;
}

/// --multishot: ends a connection whose send failed or whose last echo went out after its
/// stream ended. Its buffers go back to the ring; a live recv is cancelled, and its final
/// CQE drops the connection.
void close_multishot(connection* c) {
  for (unsigned i = 0; i < c->pending_count; ++i) {
    recycle(c->pending[i].id);
  }
  c->pending_count = 0;
  c->closing = true;
  if (!c->recv_armed) {
    drop(c);
    return;
  }
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(c) | tag_recv, 0);
  io_uring_sqe_set_data64(sqe, ignore_data);
}

/// --multishot: a recv CQE. Queues its buffer for sending; re-arms a recv that ended.
void on_multishot_recv(connection* c, int res, unsigned flags) {
  if ((flags & IORING_CQE_F_MORE) == 0) {
    c->recv_armed = false;
  }
  if (c->closing) {
    if (res > 0) {
      recycle(static_cast<unsigned short>(flags >> IORING_CQE_BUFFER_SHIFT));
    }
    if (!c->recv_armed && c->pending_count == 0) {
      drop(c);  // the cancelled recv's last CQE, and no send in flight
    }
    return;
  }
  if (res == -EINVAL) {
    refuse("multishot recv", res);  // a kernel with buffer rings but not multishot recv
  }
  if (res == -ENOBUFS) {
    // The ring ran dry (4096 buffers, at most one message per connection in flight: not
    // seen in practice); re-armed at once, so it may come back until a send recycles one.
    queue_recv(c);
    return;
  }
  if (res <= 0) {
    // End of stream, reset or error. A send still in flight finishes the teardown.
    c->closing = true;
    if (c->pending_count == 0) {
      drop(c);
    }
    return;
  }
  if (c->pending_count == sizeof c->pending / sizeof c->pending[0]) {
    std::fprintf(stderr, "echo_uring: more than %u messages queued on one connection\n",
                 c->pending_count);
    std::exit(1);
  }
  c->pending[c->pending_count++] = {static_cast<unsigned short>(flags >> IORING_CQE_BUFFER_SHIFT),
                                    static_cast<unsigned>(res)};
  if (c->pending_count == 1) {
    c->len = static_cast<unsigned>(res);
    c->sent = 0;
    queue_send(c);
  }
  if (!c->recv_armed) {
    queue_recv(c);
  }
}

void on_cqe(int listen_fd, std::uint64_t data, int res, unsigned flags) {
  if (data == ignore_data) {
    return;
  }
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
  if ((data & 1) == tag_recv) {
    if (multishot) {
      on_multishot_recv(c, res, flags);
      return;
    }
    if (res <= 0) {
      drop(c);  // end of stream, reset or error
      return;
    }
    c->len = static_cast<unsigned>(res);
    c->sent = 0;
    queue_send(c);
    return;
  }
  if (multishot && (res <= 0 || c->closing)) {
    close_multishot(c);  // a failed send, or the last echo before the end of stream
    return;
  }
  if (res <= 0) {
    drop(c);
    return;
  }
  c->sent += static_cast<unsigned>(res);
  if (c->sent < c->len) {
    queue_send(c);  // a partial send: the rest goes out before the next recv
  } else if (!multishot) {
    queue_recv(c);
  } else {
    // Echoed: the buffer goes back to the ring, and the next queued one is sent.
    recycle(c->pending[0].id);
    for (unsigned i = 1; i < c->pending_count; ++i) {
      c->pending[i - 1] = c->pending[i];
    }
    --c->pending_count;
    c->len = c->sent = 0;
    if (c->pending_count > 0) {
      c->len = c->pending[0].len;
      queue_send(c);
    } else if (!c->recv_armed) {
      queue_recv(c);
    }
  }
}

void setup_buffer_ring() {
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, buffer_count * sizeof(io_uring_buf)) != 0) {
    refuse("posix_memalign", -ENOMEM);
  }
  buffers = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buffers);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(buffers);
  reg.ring_entries = buffer_count;
  reg.bgid = 0;
  int rc = io_uring_register_buf_ring(&ring, &reg, 0);
  if (rc < 0) {
    refuse("io_uring_register_buf_ring", rc);
  }
  buffer_memory = new char[std::size_t{buffer_count} * buffer_size];
  for (unsigned i = 0; i < buffer_count; ++i) {
    io_uring_buf_ring_add(buffers, buffer_memory + std::size_t{i} * buffer_size, buffer_size,
                          static_cast<unsigned short>(i), io_uring_buf_ring_mask(buffer_count),
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buffers, static_cast<int>(buffer_count));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: echo_uring PORT [--register-ring] [--fixed-files] [--multishot]\n");
    return 2;
  }
  bool register_ring = false;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--register-ring") == 0) {
      register_ring = true;
    } else if (std::strcmp(argv[i], "--fixed-files") == 0) {
      fixed_files = true;
    } else if (std::strcmp(argv[i], "--multishot") == 0) {
      multishot = true;
    } else {
      std::fprintf(stderr, "echo_uring: unknown option %s\n", argv[i]);
      return 2;
    }
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
    refuse("io_uring_queue_init", rc);
  }
  if (register_ring && (rc = io_uring_register_ring_fd(&ring)) < 0) {
    refuse("io_uring_register_ring_fd", rc);
  }
  if (fixed_files && (rc = io_uring_register_files_sparse(&ring, 4096)) < 0) {
    refuse("io_uring_register_files_sparse", rc);
  }
  if (multishot) {
    setup_buffer_ring();
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
      refuse("io_uring_submit_and_wait", rc);
    }
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring, head, cqe) {
      on_cqe(fd, cqe->user_data, cqe->res, cqe->flags);
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
  }
}
