// The hand-written epoll peer of the echo benchmark: no coroutines, one thread,
// non-blocking sockets, level-triggered epoll. A readable connection is read once and
// the bytes are sent back at once; only a partial send waits for EPOLLOUT.
// Usage: echo_epoll PORT   (serves 127.0.0.1:PORT until killed)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct connection {
  int fd;
  unsigned len = 0;   // bytes waiting to be sent back
  unsigned sent = 0;  // of which already sent
  char buf[4096];
};

int epfd = -1;

void drop(connection* c) {
  ::close(c->fd);  // closing also removes it from the epoll set
  delete c;
}

void watch(connection* c, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  epoll_ctl(epfd, op, c->fd, &ev);
}

/// Sends what is pending; false if the connection failed.
bool flush(connection* c) {
  while (c->sent < c->len) {
    ssize_t n = ::send(c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        return true;
      }
      return false;
    }
    c->sent += static_cast<unsigned>(n);
  }
  return true;
}

void on_event(connection* c, std::uint32_t events) {
  if (c->sent < c->len) {  // waiting for EPOLLOUT
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) {
      return;
    }
    if (!flush(c)) {
      drop(c);
    } else if (c->sent == c->len) {
      watch(c, EPOLLIN, EPOLL_CTL_MOD);
    }
    return;
  }
  ssize_t n = ::recv(c->fd, c->buf, sizeof c->buf, 0);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) {
      return;
    }
    drop(c);
    return;
  }
  c->len = static_cast<unsigned>(n);
  c->sent = 0;
  if (!flush(c)) {
    drop(c);
  } else if (c->sent < c->len) {
    watch(c, EPOLLOUT, EPOLL_CTL_MOD);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_epoll PORT\n");
    return 2;
  }
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<const sockaddr*>(&at), sizeof at) < 0 ||
      ::listen(lfd, 4096) < 0) {
    std::fprintf(stderr, "echo_epoll: cannot listen on 127.0.0.1:%s: %s\n", argv[1],
                 std::strerror(errno));
    return 3;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;  // the listener
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

  epoll_event events[1024];
  for (;;) {
    int n = epoll_wait(epfd, events, 1024, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::perror("echo_epoll: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<connection*>(events[i].data.ptr);
      if (c != nullptr) {
        on_event(c, events[i].events);
        continue;
      }
      for (;;) {  // drain the accept queue
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          break;  // EAGAIN, or EMFILE and friends: try again on the next event
        }
        auto* nc = new connection;
        nc->fd = fd;
        watch(nc, EPOLLIN, EPOLL_CTL_ADD);
      }
    }
  }
}
