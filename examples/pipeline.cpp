// Runs `sort | uniq -c` as two child processes joined by a pipe, feeding sort from this
// program and reading uniq's output back, in coroutines.
//   pipeline              reads its stdin, writes the counted lines to stdout
//   pipeline --self-test  feeds generated words, and compares the result with what
//                         `sh -c "sort | uniq -c"` prints for the same input
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;
using namespace std::chrono_literals;

constexpr std::size_t max_output = 64 << 20;
constexpr auto timeout = 30s;

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Writes `input` to `p`'s stdin from a coroutine of its own, then closes it, while this
/// coroutine reads `p`'s stdout: a child whose output fills its pipe before it has read all
/// its input cannot then stall us.
xcoro::result<std::string> feed_and_read(aio::process& writer_side, aio::process& reader_side,
                                         const std::string& input) {
  auto feeder = xcoro::xasync([&]() -> xcoro::result<void> {
    if (auto w = writer_side.stdin_pipe().write_all(bytes_of(input), timeout); !w) {
      return w.error();
    }
    return writer_side.close_stdin();
  });
  if (!feeder) {
    return feeder.error();
  }
  auto out = aio::read_all(reader_side.stdout_pipe(), max_output, timeout);
  auto fed = xcoro::xawait(std::move(*feeder));
  if (!fed) {
    return fed.error();
  }
  return out;
}

/// Exit statuses of the children, as process::wait returns them; an error as 255.
std::uint32_t status_of(aio::process& p) {
  auto s = p.wait(timeout);
  return s ? *s : 255;
}

/// `sort | uniq -c` over `input`, through two children (LC_ALL=C: bytewise order).
xcoro::result<std::string> sort_uniq(const std::string& input) {
  // The pipe from sort to uniq joins two children and is never read here: a plain
  // blocking pipe, not an aio one (whose ends this loop may make non-blocking).
  int between[2];
  if (::pipe2(between, O_CLOEXEC) < 0) {
    return std::error_code(errno, std::system_category());
  }
  auto sort = aio::process::spawn(nullptr, {.argv = {"sort"},
                                            .env = {{"LC_ALL", "C"}},
                                            .in = aio::stdio::pipe(),
                                            .out = aio::stdio::fd(between[1])});
  auto uniq = sort ? aio::process::spawn(nullptr, {.argv = {"uniq", "-c"},
                                                   .env = {{"LC_ALL", "C"}},
                                                   .in = aio::stdio::fd(between[0]),
                                                   .out = aio::stdio::pipe()})
                   : sort.error();
  ::close(between[0]);  // the children hold their own copies: uniq sees the end of its
  ::close(between[1]);  // input when sort exits
  if (!sort) {
    return sort.error();
  }
  if (!uniq) {
    (void)sort->kill(SIGKILL);  // ~process reaps it
    return uniq.error();
  }
  auto out = feed_and_read(*sort, *uniq, input);
  std::uint32_t sort_status = status_of(*sort);
  std::uint32_t uniq_status = status_of(*uniq);
  if (out && (sort_status != 0 || uniq_status != 0)) {
    std::fprintf(stderr, "pipeline: sort exited %u, uniq %u\n", sort_status, uniq_status);
    return std::make_error_code(std::errc::io_error);
  }
  return out;
}

/// The shell's answer for the same input.
xcoro::result<std::string> shell_sort_uniq(const std::string& input) {
  auto sh = aio::process::spawn(nullptr, {.argv = {"/bin/sh", "-c", "sort | uniq -c"},
                                          .env = {{"LC_ALL", "C"}},
                                          .in = aio::stdio::pipe(),
                                          .out = aio::stdio::pipe()});
  if (!sh) {
    return sh.error();
  }
  auto out = feed_and_read(*sh, *sh, input);
  if (out && status_of(*sh) != 0) {
    return std::make_error_code(std::errc::io_error);
  }
  return out;
}

/// Words with repeats, in no order, with a line of spaces, an empty line and a line
/// without a final newline: more than a pipe buffer, so both sides must take turns.
std::string generated_input() {
  static constexpr std::string_view words[] = {"pear", "apple", "fig", "Fig", "kiwi",
                                               "apple pie", "  indented", ""};
  std::string s;
  std::uint32_t x = 12345;
  for (int i = 0; i < 40000; ++i) {
    x = x * 1103515245u + 12345u;
    s += words[(x >> 16) % std::size(words)];
    s += '\n';
  }
  s += "last line without newline";
  return s;
}

int main(int argc, char** argv) {
  bool self_test = argc == 2 && std::string_view(argv[1]) == "--self-test";
  if (argc > 1 && !self_test) {
    std::fprintf(stderr, "usage: pipeline < input | pipeline --self-test\n");
    return 2;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "pipeline: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});

  auto result = aio::run(nullptr, [self_test]() -> xcoro::result<int> {
    std::string input;
    if (self_test) {
      input = generated_input();
    } else {
      auto in = aio::pipe_reader(nullptr, ::dup(0));
      auto all = aio::read_all(in, max_output);
      if (!all) {
        return all.error();
      }
      input = std::move(*all);
    }
    auto ours = sort_uniq(input);
    if (!ours) {
      return ours.error();
    }
    if (!self_test) {
      std::fwrite(ours->data(), 1, ours->size(), stdout);
      return 0;
    }
    auto theirs = shell_sort_uniq(input);
    if (!theirs) {
      return theirs.error();
    }
    if (*ours != *theirs || ours->empty()) {
      std::fprintf(stderr, "pipeline: differs from the shell's\n--- ours\n%s--- shell\n%s",
                   ours->c_str(), theirs->c_str());
      return 3;
    }
    std::printf("pipeline: %zu bytes in, %zu bytes out, same as sh -c \"sort | uniq -c\"\n",
                input.size(), ours->size());
    return 0;
  });
  if (!result) {
    std::fprintf(stderr, "pipeline: %s\n", result.error().message().c_str());
    return 1;
  }
  return *result;
}
