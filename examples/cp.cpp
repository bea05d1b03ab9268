// Copies a file with positional reads and writes, 64 KiB at a time, in a coroutine.
//   cp SOURCE DEST
//   cp --self-test DEST        copies this program to DEST and compares the two
#include <fcntl.h>

#include <cstdio>
#include <string_view>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;

xcoro::result<std::uint64_t> copy(const char* from, const char* to) {
  auto in = aio::file::open(nullptr, from, O_RDONLY);
  if (!in) {
    return in.error();
  }
  auto out = aio::file::open(nullptr, to, O_WRONLY | O_CREAT | O_TRUNC);
  if (!out) {
    return out.error();
  }
  std::vector<std::byte> buf(64 * 1024);
  std::uint64_t offset = 0;
  for (;;) {
    auto n = in->pread(buf, offset);
    if (!n) {
      return n.error();
    }
    if (*n == 0) {
      return offset;
    }
    std::size_t written = 0;
    while (written < *n) {
      auto w = out->pwrite(std::span(buf).subspan(written, *n - written), offset + written);
      if (!w) {
        return w.error();
      }
      written += *w;
    }
    offset += *n;
  }
}

/// Whether two files have the same contents.
bool same_contents(const char* a, const char* b) {
  std::FILE* fa = std::fopen(a, "rb");
  std::FILE* fb = std::fopen(b, "rb");
  bool same = fa != nullptr && fb != nullptr;
  while (same) {
    int ca = std::fgetc(fa);
    int cb = std::fgetc(fb);
    same = ca == cb;
    if (ca == EOF) {
      break;
    }
  }
  if (fa != nullptr) {
    std::fclose(fa);
  }
  if (fb != nullptr) {
    std::fclose(fb);
  }
  return same;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cp SOURCE DEST | cp --self-test DEST\n");
    return 2;
  }
  bool self_test = std::string_view(argv[1]) == "--self-test";
  const char* source = self_test ? "/proc/self/exe" : argv[1];
  auto loop = aio::loop::create();
  if (!loop) {
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto copied = aio::run(nullptr, copy, source, argv[2]);
  if (!copied) {
    std::fprintf(stderr, "cp: %s\n", copied.error().message().c_str());
    return 1;
  }
  std::printf("copied %llu bytes\n", static_cast<unsigned long long>(*copied));
  return !self_test || same_contents(source, argv[2]) ? 0 : 3;
}
