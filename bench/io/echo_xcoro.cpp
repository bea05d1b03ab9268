// The xcoro server of the echo benchmark: one coroutine per connection, as in
// examples/echo_server.cpp, on one thread, silent. XCORO_BACKEND=io_uring|epoll picks the
// backend. Usage: echo_xcoro PORT [--runtime | --threads N]   (serves 127.0.0.1:PORT until
// killed)
// --runtime: the same server inside a one-worker xcoro::runtime (block_on) instead of the
// calling thread's own loop, to show what the runtime costs a single core.
// --threads N: a runtime of N workers, each running the server with a listener of its own
// on the port (SO_REUSEPORT; the kernel spreads the connections over them), as
// examples/echo_server --threads does. It exits with a message unless the N servers run on
// N different workers.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/runtime.hpp>

namespace aio = xcoro::aio;

namespace {

void serve_connection(aio::tcp conn) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = conn.read(buf);
    if (!n || !conn.write_all(std::span(buf).first(*n))) {
      return;  // end of stream or reset: the client closes with RST
    }
  }
}

void accept_loop(aio::tcp* listener) {
  std::vector<xcoro::frame_t<void>> connections;
  std::size_t prune_at = 1024;
  for (;;) {
    auto conn = listener->accept();
    if (!conn) {
      continue;  // EMFILE and friends: keep accepting
    }
    // 16 KiB: the 4 KiB buffer plus the read/write call chain, with room to spare.
    if (auto f = xcoro::xasync(std::size_t{16 * 1024}, serve_connection, std::move(*conn))) {
      connections.push_back(std::move(*f));
    }
    // Finished connections keep their stacks until their frame_t goes; drop them now and
    // then so that a long-running server does not grow without bound.
    if (connections.size() >= prune_at) {
      std::erase_if(connections,
                    [](const auto& f) { return f.status() == xcoro::status::done; });
      prune_at = std::max<std::size_t>(1024, 2 * connections.size());
    }
  }
}

/// Listens on 127.0.0.1:port and serves until killed. Returns an exit status on failure.
/// With `bound`, the listener shares the port (SO_REUSEPORT) with `servers` others, and
/// listens only once all of them are bound, so that no early connection is steered to a
/// port with one listener.
int serve(const std::string& port, std::atomic<unsigned>* bound = nullptr,
          unsigned servers = 1) {
  auto at = aio::endpoint::parse("127.0.0.1:" + port);
  if (!at) {
    return 2;
  }
  auto listener = aio::tcp::open(nullptr, *at);
  int one = 1;
  bool ok = listener.has_value();
  if (ok && bound != nullptr) {
    ok = ::setsockopt(listener->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                      sizeof one) == 0;
  }
  ok = ok && listener->bind(*at);
  if (bound != nullptr) {
    ++*bound;  // counted even on failure, so that the others do not wait forever
    while (bound->load() < servers) {
      (void)aio::sleep(nullptr, std::chrono::milliseconds(1));
    }
  }
  if (!ok || !listener->listen(4096)) {
    std::fprintf(stderr, "echo_xcoro: cannot listen on 127.0.0.1:%s\n", port.c_str());
    return 3;
  }
  accept_loop(&*listener);
  return 0;
}

/// echo_xcoro PORT --threads N: one server per worker of an N-worker runtime. block_on
/// gives its calls to the workers in turn, so N calls made at once, from N threads, land on
/// the N workers; each records where it runs, and the server stops if two share one.
int serve_threads(const std::string& port, unsigned n) {
  auto rt = xcoro::runtime::create({.threads = n});
  if (!rt) {
    std::fprintf(stderr, "echo_xcoro: runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  std::atomic<unsigned> bound{0};
  std::vector<std::atomic<int>> worker(n);
  std::vector<std::thread> callers;
  for (unsigned i = 0; i < n; ++i) {
    worker[i].store(-1);
    callers.emplace_back([&, i] {
      auto r = rt->block_on([&] {
        worker[i].store(xcoro::this_worker());
        return serve(port, &bound, n);
      });
      std::fprintf(stderr, "echo_xcoro: server %u stopped\n", i);
      std::exit(r ? *r : 1);
    });
  }
  while (bound.load() < n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::set<int> distinct;
  for (auto& w : worker) {
    distinct.insert(w.load());
  }
  if (distinct.size() != n || distinct.count(-1) != 0) {
    std::fprintf(stderr, "echo_xcoro: the %u servers did not land on %u different workers\n",
                 n, n);
    std::exit(1);
  }
  for (auto& t : callers) {
    t.join();  // never: the servers run until the process is killed
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 0;  // 0: no runtime, the calling thread's own loop
  if (argc == 3 && std::string(argv[2]) == "--runtime") {
    threads = 1;
  } else if (argc == 4 && std::string(argv[2]) == "--threads") {
    threads = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
  }
  if (argc < 2 || argc > 4 || (argc > 2 && (threads == 0 || threads > 1024))) {
    std::fprintf(stderr, "usage: echo_xcoro PORT [--runtime | --threads N]\n");
    return 2;
  }
  std::string port = argv[1];
  if (threads > 1) {
    return serve_threads(port, threads);
  }
  if (threads == 1) {
    auto rt = xcoro::runtime::create({.threads = 1});
    if (!rt) {
      std::fprintf(stderr, "echo_xcoro: runtime: %s\n", rt.error().message().c_str());
      return 1;
    }
    auto r = rt->block_on([&] { return serve(port); });
    return r ? *r : 1;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "echo_xcoro: loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, [&] { return serve(port); });
  return r ? *r : 1;
}
