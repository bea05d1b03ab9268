// Writes a Chrome trace-event file (chrome://tracing, Perfetto) of a few coroutines
// talking over a channel: one timeline row per coroutine, a slice for each stretch it ran.
//   chrome_trace [out.json]    (default: xcoro-trace.json)
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <xcoro/xcoro.hpp>

namespace {

struct trace_file {
  std::FILE* out = nullptr;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool first = true;

  double now_us() const {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
        .count();
  }

  void event(const char* phase, xcoro::coro* c, const char* what) {
    std::string name(c->name().empty() ? "coroutine" : c->name());
    std::fprintf(out, "%s{\"name\":\"%s\",\"cat\":\"xcoro\",\"ph\":\"%s\",\"ts\":%.3f,"
                 "\"pid\":1,\"tid\":%llu,\"args\":{\"event\":\"%s\"}}",
                 first ? "" : ",\n", name.c_str(), phase, now_us(),
                 static_cast<unsigned long long>(c->id()), what);
    first = false;
  }
};

/// The hook: a coroutine's slice begins when it is resumed and ends when it suspends or
/// finishes; creation and destruction are instant events.
void on_event(xcoro::trace_event e, xcoro::coro* subject, xcoro::coro* other,
              void* user) noexcept {
  auto* t = static_cast<trace_file*>(user);
  switch (e) {
    case xcoro::trace_event::create:
      t->event("i", subject, "create");
      break;
    case xcoro::trace_event::resume:
      t->event("B", subject, "resume");
      break;
    case xcoro::trace_event::suspend:
      t->event("E", subject, "suspend");
      break;
    case xcoro::trace_event::finish:
      t->event("E", subject, "finish");
      break;
    case xcoro::trace_event::destroy:
      t->event("i", subject, "destroy");
      break;
    case xcoro::trace_event::adopt:
      break;  // only a runtime hands coroutines from one thread to another
  }
  (void)other;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "xcoro-trace.json";
  trace_file trace;
  trace.out = std::fopen(path, "w");
  if (trace.out == nullptr) {
    std::perror(path);
    return 1;
  }
  std::fprintf(trace.out, "{\"traceEvents\":[\n");
  xcoro::set_trace_hook(on_event, &trace);

  xcoro::executor ex;
  xcoro::get_env().executor = &ex;
  int total = 0;
  {
    xcoro::channel<int> ch({.capacity = 2});
    auto producer = xcoro::xasync([&] {
      xcoro::xframe()->set_name("producer");
      for (int i = 0; i < 20; ++i) {
        ch.send(i).value();
      }
      ch.close();
    });
    std::vector<xcoro::frame_t<void>> consumers;
    for (int k = 0; k < 3; ++k) {
      consumers.push_back(std::move(*xcoro::xasync([&, k] {
        xcoro::xframe()->set_name("consumer " + std::to_string(k));
        while (std::optional<int> v = ch.recv()) {
          total += *v;
        }
      })));
    }
    while (ex.tick()) {
    }
  }
  xcoro::set_trace_hook(nullptr);
  std::fprintf(trace.out, "\n]}\n");
  std::fclose(trace.out);
  std::printf("sum %d; trace written to %s (open it in chrome://tracing or Perfetto)\n", total,
              path);
  return total == 190 ? 0 : 1;
}
