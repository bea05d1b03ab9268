// Writes a Chrome trace-event file (chrome://tracing, Perfetto) of coroutines talking over
// channels.
//   chrome_trace [out.json]               one thread: a row per coroutine, a slice for each
//                                         stretch it ran (default file: xcoro-trace.json)
//   chrome_trace --threads N [out.json]   a runtime of N workers: a row per worker, a slice
//                                         for each stretch a coroutine ran there, and a
//                                         "migrate" mark where a worker adopts a coroutine
//                                         made on another one
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <xcoro/xcoro.hpp>

namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x",
                    static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += esc;
    } else {
      out += ch;
    }
  }
  return out + '"';
}

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
    std::fprintf(out, "%s{\"name\":%s,\"cat\":\"xcoro\",\"ph\":\"%s\",\"ts\":%.3f,"
                 "\"pid\":1,\"tid\":%llu,\"args\":{\"event\":\"%s\"}}",
                 first ? "" : ",\n", json_string(name).c_str(), phase, now_us(),
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

#if XCORO_WITH_AIO
// ---------------------------------------------------------------------------------------
// --threads N: every worker traced through the process-wide default hook.

/// The events of one thread, buffered there (no lock per event) and written at the end.
struct track {
  int tid = 0;                          // the worker's index; other threads from 1000 on
  std::string events;                   // comma-terminated JSON objects
  const xcoro::coro* open = nullptr;    // the coroutine whose slice is open on this track
  std::string open_name;                // the name its slice began with
};

struct runtime_trace {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::mutex m;
  std::vector<std::unique_ptr<track>> tracks;      // under m
  std::map<const xcoro::coro*, int> made_on;       // under m: live records -> their worker
  int others = 0;                                  // under m
  std::atomic<int> migrations{0};

  double now_us() const {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
        .count();
  }

  /// This thread's track, made on its first event.
  track& mine() {
    thread_local track* t = nullptr;
    if (t == nullptr) {
      auto made = std::make_unique<track>();
      int w = xcoro::this_worker();
      std::lock_guard<std::mutex> hold(m);
      made->tid = w >= 0 ? w : 1000 + others++;
      t = made.get();
      tracks.push_back(std::move(made));
    }
    return *t;
  }

  static std::string label(const xcoro::coro* c) {
    return c->name().empty() ? "coroutine " + std::to_string(c->id()) : std::string(c->name());
  }

  void add(track& t, const char* ph, const std::string& name, const std::string& args) {
    char head[128];
    std::snprintf(head, sizeof head, "{\"ph\":\"%s\",\"ts\":%.3f,\"pid\":1,\"tid\":%d,", ph,
                  now_us(), t.tid);
    t.events += head;
    t.events += "\"cat\":\"xcoro\",\"name\":" + json_string(name);
    if (ph[0] == 'i') {
      t.events += ",\"s\":\"t\"";
    }
    if (!args.empty()) {
      t.events += ",\"args\":{" + args + "}";
    }
    t.events += "},\n";
  }

  void begin(track& t, const xcoro::coro* c) {
    if (t.open != nullptr) {
      end(t, t.open);
    }
    if (c->id() != 0) {  // the worker's own loop (its root) gets no slice
      t.open_name = label(c);
      add(t, "B", t.open_name, "\"id\":" + std::to_string(c->id()));
      t.open = c;
    }
  }
  void end(track& t, const xcoro::coro* c) {
    if (t.open == c) {
      add(t, "E", t.open_name, "");  // the name set meanwhile shows from the next slice
      t.open = nullptr;
    }
  }
};

/// The hook: every switch ends the slice of the coroutine it leaves and begins one for the
/// coroutine it enters, on the track of the worker it happens on. Creation, destruction
/// and migration are instant events.
void on_runtime_event(xcoro::trace_event e, xcoro::coro* subject, xcoro::coro* other,
                      void* user) noexcept {
  auto* rt = static_cast<runtime_trace*>(user);
  track& t = rt->mine();
  switch (e) {
    case xcoro::trace_event::create: {
      std::lock_guard<std::mutex> hold(rt->m);
      rt->made_on[subject] = t.tid;
      break;
    }
    case xcoro::trace_event::adopt: {
      int from = -1;
      {
        std::lock_guard<std::mutex> hold(rt->m);
        auto it = rt->made_on.find(subject);
        if (it != rt->made_on.end()) {
          from = it->second;
          it->second = t.tid;
        }
      }
      if (from != t.tid) {
        rt->migrations.fetch_add(1, std::memory_order_relaxed);
        rt->add(t, "i", "migrate",
                "\"id\":" + std::to_string(subject->id()) + ",\"from\":" + std::to_string(from) +
                    ",\"to\":" + std::to_string(t.tid));
      }
      break;
    }
    case xcoro::trace_event::resume:
      rt->begin(t, subject);
      break;
    case xcoro::trace_event::suspend:
    case xcoro::trace_event::finish:
      rt->end(t, subject);
      rt->begin(t, other);
      break;
    case xcoro::trace_event::destroy: {
      std::lock_guard<std::mutex> hold(rt->m);
      rt->made_on.erase(subject);
      break;
    }
  }
}

constexpr int items = 200;  // per pipeline: 0 + 1 + ... + 199 = 19900

/// One pipeline: a producer and two consumers, spawned, talking through a channel; the sum
/// goes to `results`, a channel every pipeline shares, on whatever worker it was made.
long pipeline(int k, xcoro::channel<long>& results) {
  xcoro::xframe()->set_name("pipeline " + std::to_string(k));
  xcoro::channel<int> ch({.capacity = 4});
  auto producer = xcoro::spawn([&ch, k] {
    xcoro::xframe()->set_name("producer " + std::to_string(k));
    for (int i = 0; i < items; ++i) {
      (void)ch.send(i);
    }
    ch.close();
  });
  auto consume = [&ch, k](int j) {
    xcoro::xframe()->set_name("consumer " + std::to_string(k) + "." + std::to_string(j));
    long sum = 0;
    while (std::optional<int> v = ch.recv()) {
      sum += *v;
    }
    return sum;
  };
  auto c0 = xcoro::spawn(consume, 0);
  auto c1 = xcoro::spawn(consume, 1);
  if (!producer || !c0 || !c1) {
    std::fprintf(stderr, "chrome_trace: spawn failed\n");
    std::exit(1);
  }
  xcoro::xawait(*producer);
  long sum = xcoro::xawait(*c0) + xcoro::xawait(*c1);
  (void)results.send(sum);
  return sum;
}

int run_threads(unsigned threads, const char* path) {
  runtime_trace trace;
  // Before the workers exist: each takes the default when it adopts or makes its first
  // coroutine, so no code of ours has to run on them.
  xcoro::set_default_trace_hook(on_runtime_event, &trace);
  long total = 0, got = 0;
  int ran_away = 0;
  {
    auto rt = xcoro::runtime::create({.threads = threads});
    if (!rt) {
      std::fprintf(stderr, "chrome_trace: runtime: %s\n", rt.error().message().c_str());
      return 1;
    }
    // Made on a worker, so shared by all of them; used and destroyed on workers.
    std::optional<xcoro::channel<long>> results;
    (void)rt->block_on([&] { results.emplace(xcoro::channel_options{.capacity = threads}); });
    // One caller per worker at once: block_on hands its calls to the workers in turn.
    std::vector<std::thread> callers;
    std::atomic<long> sum{0};
    for (unsigned k = 0; k < threads; ++k) {
      callers.emplace_back([&, k] {
        auto r = rt->block_on(pipeline, static_cast<int>(k), std::ref(*results));
        sum += r ? *r : -1;
      });
    }
    for (std::thread& c : callers) {
      c.join();
    }
    // Fan-out: one coroutine spawns a batch while the other workers are idle, and they
    // steal from its queue: each coroutine they take is adopted by another worker than
    // the one that made it, a migration. The first of the batch to start on the
    // spawner's worker (the newest: a worker starts its spawns newest first) keeps that
    // worker busy until one has run elsewhere, so that there is at least one (within a
    // bound, for a runtime that does not steal).
    auto fan = rt->block_on([threads] {
      xcoro::xframe()->set_name("fan-out");
      const int home = xcoro::this_worker();
      std::atomic<bool> moved{false};
      std::atomic<bool> home_busy{false};
      std::vector<xcoro::frame_t<int>> batch;
      for (unsigned i = 0; i < 4 * threads; ++i) {
        auto f = xcoro::spawn([&moved, &home_busy, home, i, threads] {
          xcoro::xframe()->set_name("fan " + std::to_string(i));
          if (threads > 1 && xcoro::this_worker() == home && !home_busy.exchange(true)) {
            auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
            while (!moved.load() && std::chrono::steady_clock::now() < until) {
            }
          }
          bool away = xcoro::this_worker() != home;
          if (away) {
            moved = true;
          }
          return away ? 1 : 0;
        });
        if (!f) {
          std::fprintf(stderr, "chrome_trace: spawn failed\n");
          std::exit(1);
        }
        batch.push_back(std::move(*f));
      }
      int away = 0;
      for (auto& f : batch) {
        away += xcoro::xawait(f);
      }
      return away;
    });
    ran_away = fan ? *fan : -1;
    auto drained = rt->block_on([&] {
      long n = 0;
      for (unsigned k = 0; k < threads; ++k) {
        n += results->recv().value_or(-1);
      }
      results.reset();
      return n;
    });
    total = sum.load();
    got = drained ? *drained : -1;
  }  // ~runtime joins the workers: no hook runs after this
  xcoro::set_default_trace_hook(nullptr);

  std::FILE* out = std::fopen(path, "w");
  if (out == nullptr) {
    std::perror(path);
    return 1;
  }
  std::fprintf(out, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
  for (const auto& t : trace.tracks) {
    std::string name = t->tid < 1000 ? "worker " + std::to_string(t->tid) : "thread";
    std::fprintf(out,
                 "{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\",\"args\":{"
                 "\"name\":%s}},\n%s",
                 t->tid, json_string(name).c_str(), t->events.c_str());
  }
  std::fprintf(out, "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\","
               "\"args\":{\"name\":\"xcoro runtime, %u workers\"}}\n]}\n", threads);
  std::fclose(out);
  const long want = static_cast<long>(threads) * (items - 1) * items / 2;
  std::printf("sum %ld (results channel %ld); %zu tracks, %d migrations (%d of the fan-out's "
              "%u coroutines ran on another worker); trace written to %s\n",
              total, got, trace.tracks.size(), trace.migrations.load(), ran_away, 4 * threads,
              path);
  return total == want && got == want && ran_away >= 0 ? 0 : 1;
}
#endif  // XCORO_WITH_AIO

}  // namespace

int main(int argc, char** argv) {
  const char* path = "xcoro-trace.json";
  unsigned threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
      if (threads == 0) {
        std::fprintf(stderr, "chrome_trace: --threads needs a count of at least 1\n");
        return 2;
      }
    } else {
      path = argv[i];
    }
  }
  if (threads != 0) {
#if XCORO_WITH_AIO
    return run_threads(threads, path);
#else
    std::fprintf(stderr, "chrome_trace: --threads needs the runtime, which this build lacks\n");
    return 2;
#endif
  }
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
