// xcoro-line-bench: line-reading throughput of aio::buffered_reader beside a hand-written
// loop over read(2). A stream of newline-terminated lines (20 to 200 bytes each, from a
// fixed seed, made once) is written through a pipe by a thread doing plain blocking
// write(2)s of 64 KiB, and the reading side is timed: (a) the peer, a blocking read(2) loop
// into a 64 KiB buffer with memchr for '\n'; (b) an xcoro coroutine calling
// buffered_reader<pipe_reader>::read_line over aio::pipe, with a 64 KiB buffer, on the
// default backend (io_uring where the kernel allows it) and (c) on epoll. Each counts lines
// and line bytes; the counts must equal the generator's (else exit 1). The runs are
// interleaved (one of each per round) so that load from elsewhere falls on all alike;
// prints the median MB/s (10^6 bytes of stream per second), the ratio to the peer, and the
// machine.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/buffered.hpp"

namespace {

using namespace xcoro_bench;
namespace aio = xcoro::aio;

using clock_type = std::chrono::steady_clock;

constexpr std::size_t buffer_size = 64 * 1024;  // the reader's buffer, both sides
constexpr std::size_t write_chunk = 64 * 1024;  // the writer thread's write(2) size

struct options {
  std::size_t mb = 100;  // stream size, in 10^6 bytes
  std::size_t repeat = 5;
  std::uint64_t seed = 1;
  bool epoll = true;  // also run xcoro on the epoll backend
};

void print_usage(std::FILE* out) {
  std::fputs(
      "Usage: xcoro-line-bench [--mb 100] [--repeat 5] [--seed 1] [--epoll 1|0]\n"
      "  --mb N     the stream: N * 10^6 bytes of lines of 20 to 200 bytes\n"
      "  --seed N   the lines' generator (N > 0)\n"
      "  --epoll 0  skips the xcoro run on the epoll backend\n",
      out);
}

// Returns the exit code when the program should stop (help: 0, bad usage: 2), else -1.
int parse_args(int argc, char** argv, options& o) {
  return parse_pairs(argc, argv, print_usage, [&](std::string_view name, const char* v) {
    std::string_view value = v;
    if (name == "--epoll" && (value == "0" || value == "1")) {
      o.epoll = value == "1";
      return true;
    }
    unsigned long long n = count_arg(v);
    if (n == 0) {
      return false;
    }
    if (name == "--mb") {
      o.mb = n;
    } else if (name == "--repeat") {
      o.repeat = n;
    } else if (name == "--seed") {
      o.seed = n;
    } else {
      return false;
    }
    return true;
  });
}

/// Lines counted and their bytes, without the '\n'.
struct tally {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  bool operator==(const tally&) const = default;
};

// splitmix64: the same stream on every platform and standard library (the distributions
// of <random> are not specified bit for bit).
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Whole lines of 20 to 200 bytes, '\n' included, of printable ASCII, until at least
// `bytes`; `expect` gets their count.
std::string make_stream(std::size_t bytes, std::uint64_t seed, tally& expect) {
  std::string s;
  s.reserve(bytes + 200);
  std::uint64_t state = seed;
  while (s.size() < bytes) {
    std::size_t len = 20 + next_random(state) % 181;  // with its '\n'
    for (std::size_t i = 0; i + 1 < len; ++i) {
      s.push_back(static_cast<char>(' ' + next_random(state) % 95));
    }
    s.push_back('\n');
    ++expect.lines;
    expect.bytes += len - 1;
  }
  return s;
}

// The writer thread: all of `data` to `fd` in blocking writes of write_chunk bytes, then
// closes `fd` (the reader's end of file).
void feed(int fd, const std::string& data) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
    fail("fcntl on the write end failed");
  }
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left < write_chunk ? left : write_chunk);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("write to the pipe failed");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd);
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// (a) The hand-written peer: blocking read(2) into a 64 KiB buffer, memchr for each '\n';
// a line cut by the end of the buffer is moved to its front before the next read.
double run_peer(const std::string& data, tally& got) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) {
    fail("pipe2 failed");
  }
  std::unique_ptr<char[]> buf(new char[buffer_size]);
  std::size_t begin = 0;
  std::size_t end = 0;
  tally t;
  auto t0 = clock_type::now();
  std::thread writer(feed, fds[1], std::cref(data));
  for (;;) {
    const void* nl = std::memchr(buf.get() + begin, '\n', end - begin);
    if (nl != nullptr) {
      std::size_t len =
          static_cast<std::size_t>(static_cast<const char*>(nl) - (buf.get() + begin));
      ++t.lines;
      t.bytes += len;
      begin += len + 1;
      continue;
    }
    if (begin == end) {
      begin = end = 0;
    } else if (begin != 0) {
      std::memmove(buf.get(), buf.get() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (end == buffer_size) {
      fail("peer: a line longer than the buffer");
    }
    ssize_t n = ::read(fds[0], buf.get() + end, buffer_size - end);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("peer: read failed");
    }
    if (n == 0) {
      break;
    }
    end += static_cast<std::size_t>(n);
  }
  auto t1 = clock_type::now();
  writer.join();
  ::close(fds[0]);
  if (begin != end) {
    fail("peer: the stream ended inside a line");
  }
  got = t;
  return seconds_between(t0, t1);
}

// (b), (c) xcoro: aio::pipe on a loop of backend `b`, read in a coroutine (aio::run) with
// buffered_reader<pipe_reader>::read_line. The writer thread gets its own descriptor of the
// write end, made blocking; the pipe_writer is closed before the run. `used` gets the
// backend the loop actually runs on (XCORO_BACKEND overrides `b`).
double run_xcoro(const std::string& data, aio::backend b, tally& got, aio::backend& used) {
  auto loop = take(aio::loop::create({.backend = b}), "aio::loop::create failed");
  used = loop.backend();
  aio::executor ex(loop);
  aio::init_env({.executor = &ex});
  auto ends = take(aio::pipe(nullptr), "aio::pipe failed");
  int wfd = ::fcntl(ends.writer.native_handle(), F_DUPFD_CLOEXEC, 0);
  if (wfd < 0 || !ends.writer.close()) {
    fail("cannot hand the write end to the writer thread");
  }
  tally t;
  bool clean_end = false;
  auto t0 = clock_type::now();
  std::thread writer(feed, wfd, std::cref(data));
  auto r = aio::run(nullptr, [&]() -> xcoro::result<void> {
    aio::buffered_reader<aio::pipe_reader> in(ends.reader, {.buffer = buffer_size});
    for (;;) {
      xcoro::result<std::string_view> line = in.read_line(buffer_size);
      if (!line) {
        if (line.error() != xcoro::errc::eof) {
          return line.error();
        }
        clean_end = in.buffered().empty();
        return {};
      }
      ++t.lines;
      t.bytes += line->size();
    }
  });
  auto t1 = clock_type::now();
  writer.join();
  (void)ends.reader.close();  // while the env still names this loop
  aio::init_env({});
  if (!r) {
    std::fprintf(stderr, "%s: xcoro: %s\n", program_name, r.error().message().c_str());
    std::exit(1);
  }
  if (!clean_end) {
    fail("xcoro: the stream ended inside a line");
  }
  got = t;
  return seconds_between(t0, t1);
}

const char* backend_name(aio::backend b) {
  switch (b) {
    case aio::backend::io_uring:
      return "io_uring";
    case aio::backend::epoll:
      return "epoll";
    case aio::backend::automatic:
      break;
  }
  return "automatic";
}

void check(const char* who, const tally& got, const tally& expect) {
  if (!(got == expect)) {
    std::fprintf(stderr,
                 "%s: %s counted %llu lines of %llu bytes; the stream has %llu lines of %llu "
                 "bytes\n",
                 program_name, who, static_cast<unsigned long long>(got.lines),
                 static_cast<unsigned long long>(got.bytes),
                 static_cast<unsigned long long>(expect.lines),
                 static_cast<unsigned long long>(expect.bytes));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  program_name = "xcoro-line-bench";
  options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) {
    return rc;
  }
  tally expect;
  const std::string data = make_stream(o.mb * 1000000, o.seed, expect);
  const double mb = static_cast<double>(data.size()) / 1e6;

  utsname u{};
  ::uname(&u);
  std::printf(
      "xcoro-line-bench: %.1f MB in %llu lines of 20-200 bytes (seed %llu) through a pipe, "
      "%zu runs each, interleaved (median shown)\n",
      mb, static_cast<unsigned long long>(expect.lines), static_cast<unsigned long long>(o.seed),
      o.repeat);
  std::printf("writer: a thread doing blocking write(2)s of %zu KiB; readers' buffers: %zu KiB\n",
              write_chunk / 1024, buffer_size / 1024);
  std::printf("cpu: %s, cores: %ld, kernel: %s, load average: %s\n", cpu_model().c_str(),
              ::sysconf(_SC_NPROCESSORS_ONLN), u.release, load_average().c_str());

  std::vector<double> peer_s, uring_s, epoll_s;
  aio::backend first = aio::backend::automatic;
  aio::backend second = aio::backend::epoll;
  for (std::size_t round = 0; round < o.repeat; ++round) {
    tally got;
    peer_s.push_back(run_peer(data, got));
    check("the read(2) peer", got, expect);
    uring_s.push_back(run_xcoro(data, aio::backend::automatic, got, first));
    check("xcoro", got, expect);
    if (o.epoll) {
      epoll_s.push_back(run_xcoro(data, aio::backend::epoll, got, second));
      check("xcoro (epoll)", got, expect);
    }
  }

  auto rate = [&](const std::vector<double>& s) {
    double m = median(s);
    return m > 0 ? mb / m : -1;
  };
  double peer = rate(peer_s);
  std::printf("%-52s %9s %9s\n", "reader", "MB/s", "xcoro/peer");
  std::printf("%-52s %9.0f %9s\n", "peer: read(2) + memchr", peer, "");
  std::string label = std::string("xcoro: buffered_reader::read_line, ") + backend_name(first);
  std::printf("%-52s %9.0f", label.c_str(), rate(uring_s));
  print_ratio(rate(uring_s), peer);
  std::printf("\n");
  if (o.epoll) {
    label = std::string("xcoro: buffered_reader::read_line, ") + backend_name(second);
    std::printf("%-52s %9.0f", label.c_str(), rate(epoll_s));
    print_ratio(rate(epoll_s), peer);
    std::printf("\n");
  }
  std::printf("target: xcoro/peer >= 0.90; load average after: %s\n", load_average().c_str());
  return 0;
}
