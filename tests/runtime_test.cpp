// The multi-core runtime (<xcoro/runtime.hpp>): block_on from one and from many threads,
// spawn and xawait across workers, deadlock detection, and the destructor that cancels and
// joins. Every case runs with 1, 2 and 8 workers; 8 on this project's 2-vCPU machines is
// oversubscribed on purpose.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/counted.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/xcoro.hpp"

namespace {

using namespace std::chrono_literals;
using xcoro_test::counted;
using xcoro_test::ledger;
namespace aio = xcoro::aio;

class Runtime : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    ledger().reset();
    if (auto l = aio::loop::create(); !l) {
      GTEST_SKIP() << "backend unavailable here: " << l.error().message();
    }
  }
  void TearDown() override {
    EXPECT_EQ(ledger().live(), 0);
    EXPECT_EQ(ledger().twice.load(), 0);
    EXPECT_EQ(ledger().dead_use.load(), 0);
  }
  xcoro::runtime make(bool work_stealing = true) {
    xcoro::runtime_options o;
    o.threads = GetParam();
    o.work_stealing = work_stealing;
    auto rt = xcoro::runtime::create(o);
    EXPECT_TRUE(rt) << rt.error().message();
    return std::move(*rt);
  }
};

TEST_P(Runtime, HasTheWorkersAskedFor) {
  auto rt = make();
  EXPECT_EQ(rt.threads(), GetParam());
  EXPECT_EQ(xcoro::this_worker(), -1);
}

TEST_P(Runtime, BlockOnReturnsWhatTheCoroutineReturned) {
  auto rt = make();
  int seen_worker = -2;
  auto r = rt.block_on([&](counted c, std::string s) {
    seen_worker = xcoro::this_worker();
    EXPECT_TRUE(xcoro::in_coro());
    return std::make_unique<std::string>(s + std::to_string(c.value()));
  }, counted(7), std::string(40, 'x'));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(**r, std::string(40, 'x') + "7");
  EXPECT_GE(seen_worker, 0);
  EXPECT_LT(seen_worker, static_cast<int>(GetParam()));
}

TEST_P(Runtime, BlockOnPassesAResultThrough) {
  auto rt = make();
  auto r = rt.block_on([]() -> xcoro::result<int> { return std::make_error_code(std::errc::message_size); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::message_size);
  auto v = rt.block_on([] {});
  EXPECT_TRUE(v);
}

#if defined(__cpp_exceptions)
TEST_P(Runtime, BlockOnRethrowsOnTheCallingThread) {
  auto rt = make();
  try {
    (void)rt.block_on([](counted c) -> int { throw std::runtime_error("boom " + std::to_string(c.value())); }, counted(3));
    FAIL() << "block_on did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom 3");
  }
}
#endif

TEST_P(Runtime, BlockOnRunsIoAndTimers) {
  auto rt = make();
  auto r = rt.block_on([]() -> xcoro::result<std::string> {
    auto before = std::chrono::steady_clock::now();
    if (auto s = aio::sleep(nullptr, 5ms); !s) {
      return s.error();
    }
    EXPECT_GE(std::chrono::steady_clock::now() - before, 5ms);
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    aio::tcp a(nullptr, fds[0]);
    aio::tcp b(nullptr, fds[1]);
    auto reader = xcoro::xasync([&]() -> xcoro::result<std::string> {
      std::string got(64, '\0');
      auto n = b.read({reinterpret_cast<std::byte*>(got.data()), got.size()}, 5000ms);
      if (!n) {
        return n.error();
      }
      got.resize(*n);
      return got;
    });
    const std::string msg = "hello from worker " + std::to_string(xcoro::this_worker());
    EXPECT_TRUE(a.write_all({reinterpret_cast<const std::byte*>(msg.data()), msg.size()}));
    return xcoro::xawait(*reader);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->rfind("hello from worker ", 0), 0u);
}

TEST_P(Runtime, BlockOnFromManyThreadsAtOnce) {
  auto rt = make();
  constexpr int callers = 8;
  constexpr int calls = 50;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  std::mutex m;
  std::set<int> workers_seen;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        auto r = rt.block_on([&](counted c) {
          EXPECT_TRUE(aio::sleep(nullptr, 0ms));
          {
            std::lock_guard<std::mutex> hold(m);
            workers_seen.insert(xcoro::this_worker());
          }
          return counted(c.value() + 1);
        }, counted(t * 1000 + i));
        if (r && r->value() == t * 1000 + i + 1 && r->intact()) {
          ++done;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(done.load(), callers * calls);
  EXPECT_EQ(workers_seen.size(), GetParam());  // block_on spreads its calls over the workers
}

TEST_P(Runtime, SpawnedCoroutinesRunAndAreAwaited) {
  auto rt = make();
  auto r = rt.block_on([] {
    std::vector<xcoro::frame_t<counted>> frames;
    for (int i = 0; i < 200; ++i) {
      auto f = xcoro::spawn([](counted c) {
        EXPECT_GE(xcoro::this_worker(), 0);
        EXPECT_TRUE(aio::sleep(nullptr, 1ms));
        return counted(c.value() * 2);
      }, counted(i));
      EXPECT_TRUE(f);
      frames.push_back(std::move(*f));
    }
    long sum = 0;
    for (auto& f : frames) {
      counted c = xcoro::xawait(std::move(f));
      EXPECT_TRUE(c.intact());
      sum += c.value();
    }
    return sum;
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 199L * 200);  // 2 * (0 + ... + 199)
}

// spawn returns before the coroutine starts on the spawner's worker. A worker that steals
// it may start it at once, in parallel.
TEST_P(Runtime, SpawnIsNotEager) {
  for (bool stealing : {false, true}) {
    auto rt = make(stealing);
    auto r = rt.block_on([] {
      std::atomic<bool> returned{false};
      int spawner = xcoro::this_worker();
      auto f = xcoro::spawn([&] {
        return xcoro::this_worker() != spawner || returned.load();
      });
      returned = true;
      EXPECT_TRUE(f);
      return xcoro::xawait(*f);
    });
    ASSERT_TRUE(r);
    EXPECT_TRUE(*r) << "stealing " << stealing;
  }
}

// Eight coroutines spawned by one: the first to start keeps its worker busy (it does not
// suspend) until some other coroutine has started on another worker, which only a worker
// that steals from the spawner's queue can do. Without stealing, all start on the spawner's
// worker.
TEST_P(Runtime, IdleWorkersStealSpawnedCoroutines) {
  if (GetParam() == 1) {
    GTEST_SKIP() << "nothing to steal from with one worker";
  }
  for (bool stealing : {true, false}) {
    auto rt = make(stealing);
    std::atomic<unsigned> workers_seen{0};  // a bit per worker that started one
    auto r = rt.block_on([&] {
      int spawner = xcoro::this_worker();
      std::vector<xcoro::frame_t<std::unique_ptr<counted>>> kids;
      for (int i = 0; i < 8; ++i) {
        auto f = xcoro::spawn([&, i] {
          unsigned mine = 1u << xcoro::this_worker();
          unsigned seen = workers_seen.fetch_or(mine) | mine;
          auto give_up = std::chrono::steady_clock::now() + 10s;
          while (stealing && std::popcount(seen) < 2 && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::yield();
            seen = workers_seen.load();
          }
          return std::make_unique<counted>(i);
        });
        EXPECT_TRUE(f);
        kids.push_back(std::move(*f));
      }
      int sum = 0;
      for (auto& k : kids) {
        sum += xcoro::xawait(std::move(k))->value();
      }
      EXPECT_EQ(sum, 28);
      return spawner;
    });
    ASSERT_TRUE(r);
    if (stealing) {
      EXPECT_GE(std::popcount(workers_seen.load()), 2);
    } else {
      EXPECT_EQ(workers_seen.load(), 1u << *r);
    }
  }
}

// Many spawners, each spawning short coroutines that carry owned values while idle workers
// steal from their queues: every value arrives once, and nothing leaks.
TEST_P(Runtime, AStormOfSpawnsWhileWorkersStealLosesNothing) {
  auto rt = make();
  constexpr int spawners = 4, each = 2000;
  auto r = rt.block_on([&] {
    std::vector<xcoro::frame_t<long>> tops;
    for (int s = 0; s < spawners; ++s) {
      auto top = xcoro::spawn([s] {
        std::vector<xcoro::frame_t<std::unique_ptr<counted>>> kids;
        kids.reserve(each);
        for (int i = 0; i < each; ++i) {
          auto f = xcoro::spawn([](counted c) {
            if (c.value() % 7 == 0) {
              EXPECT_TRUE(aio::sleep(nullptr, 0ms));  // a suspension in the middle
            }
            return std::make_unique<counted>(std::move(c));
          }, counted(s * each + i));
          EXPECT_TRUE(f);
          kids.push_back(std::move(*f));
        }
        long sum = 0;
        for (auto& k : kids) {
          sum += xcoro::xawait(std::move(k))->value();
        }
        return sum;
      });
      EXPECT_TRUE(top);
      tops.push_back(std::move(*top));
    }
    long total = 0;
    for (auto& t : tops) {
      total += xcoro::xawait(std::move(t));
    }
    return total;
  });
  ASSERT_TRUE(r);
  const long n = spawners * each;
  EXPECT_EQ(*r, n * (n - 1) / 2);
}

// The destructor, with spawned coroutines still queued and not started: they start
// cancelled, so the destructor does not wait for their sleeps, and their frames are
// finished afterwards.
TEST_P(Runtime, ShutdownCancelsSpawnedCoroutinesThatHaveNotStarted) {
  std::vector<xcoro::frame_t<std::string>> frames;
  auto begun = std::chrono::steady_clock::now();
  {
    auto rt = make();
    auto r = rt.block_on([&] {
      for (int i = 0; i < 64; ++i) {
        auto f = xcoro::spawn([](std::string tag) {
          auto slept = aio::sleep(nullptr, 60000ms);
          return tag + (slept ? " slept" : " canceled");
        }, "kid " + std::to_string(i));
        EXPECT_TRUE(f);
        frames.push_back(std::move(*f));
      }
    });
    ASSERT_TRUE(r);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 30s);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(xcoro::xawait(std::move(frames[i])), "kid " + std::to_string(i) + " canceled");
  }
}

// A frame_t spawned under one block_on and awaited under another, which block_on puts on
// another worker when there is one: the awaiter is woken across threads.
TEST_P(Runtime, AwaitASpawnedCoroutineFromAnotherBlockOn) {
  auto rt = make(/*work_stealing=*/false);  // the spawned one stays on the first's worker
  xcoro::frame_t<std::unique_ptr<counted>> shared;
  int spawned_on = -1;
  auto first = rt.block_on([&] {
    auto f = xcoro::spawn([&] {
      spawned_on = xcoro::this_worker();
      EXPECT_TRUE(aio::sleep(nullptr, 30ms));
      return std::make_unique<counted>(42);
    });
    EXPECT_TRUE(f);
    shared = std::move(*f);
  });
  ASSERT_TRUE(first);
  int awaited_on = -1;
  auto second = rt.block_on([&] {
    awaited_on = xcoro::this_worker();
    auto p = xcoro::xawait(std::move(shared));
    return p->value();
  });
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(*second, 42);
  if (GetParam() > 1) {
    EXPECT_NE(spawned_on, awaited_on);
  }
  shared = {};
}

// cancel() from a coroutine on another worker reaches a spawned coroutine where it runs.
TEST_P(Runtime, CancelASpawnedCoroutineFromAnotherWorker) {
  auto rt = make();
  xcoro::frame_t<std::string> target;
  auto first = rt.block_on([&] {
    auto f = xcoro::spawn([](counted c) {
      auto slept = aio::sleep(nullptr, 60000ms);
      return std::string(slept ? "slept " : "canceled ") + std::to_string(c.value());
    }, counted(4));
    EXPECT_TRUE(f);
    target = std::move(*f);
  });
  ASSERT_TRUE(first);
  auto second = rt.block_on([&] {
    EXPECT_TRUE(xcoro::cancel(target.frame()));
    std::string got = xcoro::xawait(target);
    EXPECT_FALSE(xcoro::cancel(target.frame()));  // finished
    return got;
  });
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(*second, "canceled 4");
  target = {};
}

// A spawned coroutine cancelled before any worker started it is born cancelled.
TEST_P(Runtime, CancelASpawnedCoroutineBeforeItStarts) {
  auto rt = make(/*work_stealing=*/false);  // no idle worker starts it before the cancel
  auto r = rt.block_on([] {
    auto f = xcoro::spawn([] {
      EXPECT_TRUE(xcoro::cancel_requested());
      return aio::sleep(nullptr, 60000ms).error() == xcoro::errc::canceled;
    });
    EXPECT_TRUE(f);
    EXPECT_TRUE(xcoro::cancel(f->frame()));
    return xcoro::xawait(*f);
  });
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
}

// A coroutine pinned to one worker (xasync), cancelled from a coroutine of another while its
// starter awaits it: the cancel flows down to its own child too.
TEST_P(Runtime, CancelAPinnedCoroutineFromAThirdOnAnotherWorker) {
  auto rt = make();
  std::atomic<xcoro::frame> handle{nullptr};
  std::string result;
  std::thread starter([&] {
    auto r = rt.block_on([&] {
      auto child = xcoro::xasync([] {
        auto grandchild = xcoro::xasync([] { return aio::sleep(nullptr, 60000ms).error(); });
        auto mine = aio::sleep(nullptr, 60000ms);
        auto theirs = xcoro::xawait(*grandchild);
        return std::string(mine ? "slept" : "canceled") + "/" +
               (theirs == xcoro::errc::canceled ? "canceled" : "other");
      });
      handle.store(child->frame());
      return xcoro::xawait(*child);
    });
    if (r) {
      result = *r;
    }
  });
  while (handle.load() == nullptr) {
    std::this_thread::sleep_for(1ms);
  }
  auto c = rt.block_on([&] { return xcoro::cancel(handle.load()); });
  starter.join();
  ASSERT_TRUE(c);
  EXPECT_TRUE(*c);
  EXPECT_EQ(result, "canceled/canceled");
}

TEST_P(Runtime, BlockOnReportsADeadlockAndDestroysTheCoroutine) {
  auto rt = make();
  auto r = rt.block_on([](counted held) {
    xcoro::channel<counted> ch;
    auto got = ch.recv();  // nothing will ever send
    return held.value() + (got ? 1 : 0);
  }, counted(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), xcoro::errc::deadlock);
  // The runtime is still usable.
  auto again = rt.block_on([] { return 3; });
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 3);
}

TEST_P(Runtime, DestructorCancelsWhatStillRunsAndFramesOutliveIt) {
  xcoro::frame_t<std::string> left;
  {
    auto rt = make();
    auto r = rt.block_on([&] {
      auto f = xcoro::spawn([](counted c) {
        auto slept = aio::sleep(nullptr, 60000ms);  // ended by the runtime's destructor
        return std::string(slept ? "slept" : "canceled") + std::to_string(c.value());
      }, counted(9));
      EXPECT_TRUE(f);
      left = std::move(*f);
    });
    ASSERT_TRUE(r);
  }
  ASSERT_EQ(left.status(), xcoro::status::done);
  EXPECT_EQ(xcoro::xawait(left), "canceled9");
  left = {};
}

TEST_P(Runtime, ManyThreadsSpawnAndSleepTogether) {
  auto rt = make();
  std::vector<std::thread> threads;
  std::atomic<long> total{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto r = rt.block_on([t] {
        std::vector<xcoro::frame_t<int>> kids;
        for (int i = 0; i < 50; ++i) {
          auto k = xcoro::spawn([](int v) {
            EXPECT_TRUE(aio::sleep(nullptr, std::chrono::milliseconds(v % 3)));
            return v;
          }, t * 100 + i);
          kids.push_back(std::move(*k));
        }
        long s = 0;
        for (auto& k : kids) {
          s += xcoro::xawait(k);
        }
        return s;
      });
      if (r) {
        total += *r;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  long want = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 50; ++i) {
      want += t * 100 + i;
    }
  }
  EXPECT_EQ(total.load(), want);
}

// ---------------------------------------------------------------------------------------
// Channels and sync objects across workers. Each party runs in a block_on of its own, from
// a thread of its own, so with 2 and 8 workers the parties are on different workers. They
// meet first (polling with short sleeps, which keeps a timer in flight so that no worker
// looks idle to the deadlock check while a party's block_on is still on its way).

/// Runs each function in its own block_on, all at once, and checks each returned.
void together(xcoro::runtime& rt, std::vector<std::function<void()>> parties) {
  std::vector<std::thread> threads;
  for (auto& p : parties) {
    threads.emplace_back([&rt, &p] {
      auto r = rt.block_on([&p] { p(); });
      EXPECT_TRUE(r) << r.error().message();
    });
  }
  for (auto& t : threads) {
    t.join();
  }
}

/// Waits, without blocking the worker, until `n` parties have arrived.
void meet(std::atomic<int>& arrived, int n) {
  ++arrived;
  while (arrived.load() < n) {
    EXPECT_TRUE(aio::sleep(nullptr, 1ms));
  }
}

/// Makes a T on a worker of `rt`, so that it is shared between the workers.
template <class T, class... Args>
std::unique_ptr<T> make_shared_object(xcoro::runtime& rt, Args... args) {
  std::unique_ptr<T> out;
  auto r = rt.block_on([&] { out = std::make_unique<T>(args...); });
  EXPECT_TRUE(r);
  return out;
}

TEST_P(Runtime, ChannelValuesCrossWorkersWithoutLossOrDuplication) {
  auto rt = make();
  for (std::size_t cap : {0u, 1u, 4u}) {
    auto ch = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = cap});
    constexpr int per_producer = 3000;
    std::atomic<int> arrived{0};
    std::mutex m;
    std::map<int, int> seen;
    std::atomic<int> producers_left{2};
    auto producer = [&](int base) {
      meet(arrived, 4);
      for (int i = 0; i < per_producer; ++i) {
        EXPECT_TRUE(ch->send(counted(base + i)));
      }
      if (--producers_left == 0) {
        ch->close();
      }
    };
    auto consumer = [&] {
      meet(arrived, 4);
      std::vector<int> mine;
      while (auto v = ch->recv()) {
        EXPECT_TRUE(v->intact());
        mine.push_back(v->value());
      }
      std::lock_guard<std::mutex> hold(m);
      for (int v : mine) {
        ++seen[v];
      }
    };
    together(rt, {[&] { producer(0); }, [&] { producer(100000); }, consumer, consumer});
    ASSERT_EQ(seen.size(), 2u * per_producer) << "capacity " << cap;
    for (auto [v, times] : seen) {
      ASSERT_EQ(times, 1) << "value " << v << " received " << times << " times";
    }
  }
}

// The storm: 10^6 sends from four workers into one receiver (10^5 under TSan).
TEST_P(Runtime, AStormOfCrossWorkerSendsLosesNoWakeUp) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<int>>(rt, xcoro::channel_options{.capacity = 64});
  const long per_sender = xcoro_test::thread_sanitized ? 25000 : 250000;
  std::atomic<int> arrived{0};
  std::atomic<int> senders_left{4};
  long received = 0;
  long sum = 0;
  auto sender = [&] {
    meet(arrived, 5);
    for (long i = 0; i < per_sender; ++i) {
      if (!ch->send(1)) {
        ADD_FAILURE() << "send failed";
        return;
      }
    }
    if (--senders_left == 0) {
      ch->close();
    }
  };
  together(rt, {sender, sender, sender, sender, [&] {
                  meet(arrived, 5);
                  while (auto v = ch->recv()) {
                    ++received;
                    sum += *v;
                  }
                }});
  EXPECT_EQ(received, 4 * per_sender);
  EXPECT_EQ(sum, 4 * per_sender);
}

TEST_P(Runtime, CloseWakesEveryReceiverOnEveryWorker) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<std::string>>(rt);
  std::atomic<int> arrived{0};
  std::atomic<int> ended{0};
  auto receiver = [&] {
    meet(arrived, 4);
    auto v = ch->recv(30000ms);
    EXPECT_FALSE(v);
    if (!v && v.error() == xcoro::errc::channel_closed) {
      ++ended;
    }
  };
  together(rt, {receiver, receiver, receiver, [&] {
                  meet(arrived, 4);
                  EXPECT_TRUE(aio::sleep(nullptr, 20ms));  // the receivers are waiting by now
                  ch->close();
                }});
  EXPECT_EQ(ended.load(), 3);
}

// Receivers queued in order on one worker are served in that order by a sender on another.
TEST_P(Runtime, ReceiversAreServedInArrivalOrderAcrossWorkers) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<std::string>>(rt, xcoro::channel_options{.capacity = 0});
  std::atomic<int> arrived{0};
  std::vector<std::string> got(3);
  together(rt, {[&] {
                  std::vector<xcoro::frame_t<void>> rs;
                  for (int i = 0; i < 3; ++i) {
                    rs.push_back(std::move(*xcoro::xasync([&, i] { got[i] = ch->recv().value_or("none"); })));
                  }
                  meet(arrived, 2);
                  for (auto& r : rs) {
                    xcoro::xawait(r);
                  }
                },
                [&] {
                  meet(arrived, 2);
                  for (const char* v : {"first", "second", "third"}) {
                    EXPECT_TRUE(ch->send(v));
                  }
                }});
  EXPECT_EQ(got, (std::vector<std::string>{"first", "second", "third"}));
}

TEST_P(Runtime, MutexSemaphoreAndWaitGroupAcrossWorkers) {
  auto rt = make();
  auto mu = make_shared_object<xcoro::mutex>(rt);
  auto sem = make_shared_object<xcoro::semaphore>(rt, std::size_t{2});
  auto wg = make_shared_object<xcoro::wait_group>(rt);
  wg->add(4);
  long counter = 0;
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<int> arrived{0};
  bool waiter_saw_all = false;
  auto worker_fn = [&] {
    meet(arrived, 5);
    for (int i = 0; i < 500; ++i) {
      EXPECT_TRUE(mu->lock());
      long seen = counter;
      if (i % 50 == 0) {
        EXPECT_TRUE(aio::sleep(nullptr, 0ms));  // suspend while holding it
      }
      counter = seen + 1;
      mu->unlock();
      EXPECT_TRUE(sem->acquire());
      int now = ++inside;
      int prev = most_inside.load();
      while (now > prev && !most_inside.compare_exchange_weak(prev, now)) {
      }
      if (i % 100 == 0) {
        EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      }
      --inside;
      sem->release();
    }
    wg->done();
  };
  together(rt, {worker_fn, worker_fn, worker_fn, worker_fn, [&] {
                  meet(arrived, 5);
                  EXPECT_TRUE(wg->wait());
                  waiter_saw_all = counter == 2000;
                }});
  EXPECT_EQ(counter, 2000);
  EXPECT_LE(most_inside.load(), 2);
  EXPECT_TRUE(waiter_saw_all);
}

TEST_P(Runtime, SelectOverChannelsFedFromOtherWorkers) {
  auto rt = make();
  auto a = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = 0});
  auto b = make_shared_object<xcoro::channel<std::string>>(rt, xcoro::channel_options{.capacity = 2});
  std::atomic<int> arrived{0};
  int from_a = 0;
  int from_b = 0;
  together(rt, {[&] {
                  meet(arrived, 3);
                  for (int i = 0; i < 1000; ++i) {
                    EXPECT_TRUE(a->send(counted(i)));
                  }
                },
                [&] {
                  meet(arrived, 3);
                  for (int i = 0; i < 1000; ++i) {
                    EXPECT_TRUE(b->send(std::string(30, 'b')));
                  }
                },
                [&] {
                  meet(arrived, 3);
                  while (from_a + from_b < 2000) {
                    std::optional<counted> va;
                    std::optional<std::string> vb;
                    auto i = xcoro::select(xcoro::recv_case(*a, va), xcoro::recv_case(*b, vb));
                    ASSERT_TRUE(i);
                    if (*i == 0) {
                      ASSERT_TRUE(va && va->intact());
                      ++from_a;
                    } else {
                      ASSERT_TRUE(vb && vb->size() == 30);
                      ++from_b;
                    }
                  }
                }});
  EXPECT_EQ(from_a, 1000);
  EXPECT_EQ(from_b, 1000);
}

// A receiver blocked on a shared channel, cancelled from another worker; and a deadline.
TEST_P(Runtime, CancelAndDeadlineOfAWaitOnASharedChannel) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<counted>>(rt);
  std::atomic<xcoro::frame> receiver{nullptr};
  std::atomic<int> arrived{0};
  bool canceled = false;
  bool timed_out = false;
  together(rt, {[&] {
                  auto r = xcoro::xasync([&] {
                    auto v = ch->recv();
                    canceled = !v && xcoro::cancel_requested();
                  });
                  receiver.store(r->frame());
                  meet(arrived, 2);
                  xcoro::xawait(*r);
                  auto t = ch->recv(10ms);
                  timed_out = !t && t.error() == std::errc::timed_out;
                },
                [&] {
                  meet(arrived, 2);
                  EXPECT_TRUE(aio::sleep(nullptr, 10ms));
                  EXPECT_TRUE(xcoro::cancel(receiver.load()));
                }});
  EXPECT_TRUE(canceled);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(ch->size(), 0u);
}

// Per-object locks (docs/runtime.md): selects over the same two channels, on different
// workers, with the cases in opposite orders. Locking each select's channels in argument
// order would deadlock two of them sooner or later (each holding one lock and spinning on
// the other); in address order it cannot. The selects send to and receive from each other
// too (the senders' and receivers' selects claim each other's waiters), at capacities 0
// and 1, with values that own memory: none lost, none twice.
TEST_P(Runtime, SelectsOverChannelsInOppositeOrdersOnDifferentWorkersFinish) {
  auto rt = make();
  auto a = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = 0});
  auto b = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = 1});
  const int per_sender = xcoro_test::thread_sanitized ? 3000 : 30000;
  std::atomic<int> arrived{0};
  std::atomic<int> senders_left{2};
  std::mutex m;
  std::vector<int> seen(2 * static_cast<std::size_t>(per_sender), 0);
  auto sender = [&](int base, bool a_first) {
    meet(arrived, 4);
    for (int i = 0; i < per_sender; ++i) {
      counted v(base + i);
      auto r = a_first ? xcoro::select(xcoro::send_case(*a, v), xcoro::send_case(*b, v))
                       : xcoro::select(xcoro::send_case(*b, v), xcoro::send_case(*a, v));
      ASSERT_TRUE(r) << r.error().message();
    }
    if (--senders_left == 0) {
      a->close();
      b->close();
    }
  };
  auto receiver = [&](bool a_first) {
    meet(arrived, 4);
    std::vector<int> mine;
    for (;;) {
      std::optional<counted> va;
      std::optional<counted> vb;
      auto r = a_first ? xcoro::select(xcoro::recv_case(*a, va), xcoro::recv_case(*b, vb))
                       : xcoro::select(xcoro::recv_case(*b, vb), xcoro::recv_case(*a, va));
      ASSERT_TRUE(r) << r.error().message();
      std::optional<counted>& got = va ? va : vb;
      if (!got) {
        // One channel is closed and drained: what is left is in the other.
        bool a_closed = (*r == 0) == a_first;
        while (auto v = (a_closed ? *b : *a).recv()) {
          mine.push_back(v->value());
        }
        break;
      }
      EXPECT_TRUE(got->intact());
      mine.push_back(got->value());
    }
    std::lock_guard<std::mutex> hold(m);
    for (int v : mine) {
      ++seen.at(static_cast<std::size_t>(v));
    }
  };
  together(rt, {[&] { sender(0, true); }, [&] { sender(per_sender, false); },
                [&] { receiver(false); }, [&] { receiver(true); }});
  for (std::size_t v = 0; v < seen.size(); ++v) {
    ASSERT_EQ(seen[v], 1) << "value " << v;
  }
  EXPECT_EQ(a->size() + b->size(), 0u);
}

// 10^6 values that own memory (10^5 under TSan) from two workers to receivers on two
// others, through one channel: each arrives once, intact.
TEST_P(Runtime, AMillionCountedValuesCrossWorkersOnce) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = 16});
  const int per_sender = xcoro_test::thread_sanitized ? 50000 : 500000;
  std::atomic<int> arrived{0};
  std::atomic<int> senders_left{2};
  std::mutex m;
  std::vector<std::uint8_t> seen(2 * static_cast<std::size_t>(per_sender), 0);
  std::atomic<long> broken{0};
  auto sender = [&](int base) {
    meet(arrived, 4);
    for (int i = 0; i < per_sender; ++i) {
      if (!ch->send(counted(base + i))) {
        ADD_FAILURE() << "send failed";
        return;
      }
    }
    if (--senders_left == 0) {
      ch->close();
    }
  };
  auto receiver = [&] {
    meet(arrived, 4);
    std::vector<int> mine;
    while (auto v = ch->recv()) {
      if (!v->intact()) {
        ++broken;
      }
      mine.push_back(v->value());
    }
    std::lock_guard<std::mutex> hold(m);
    for (int v : mine) {
      ++seen.at(static_cast<std::size_t>(v));
    }
  };
  together(rt, {[&] { sender(0); }, [&] { sender(per_sender); }, receiver, receiver});
  EXPECT_EQ(broken.load(), 0);
  for (std::size_t v = 0; v < seen.size(); ++v) {
    ASSERT_EQ(seen[v], 1) << "value " << v;
  }
}

// A select waiting on two shared channels, woken by a send from one worker while a cancel
// comes from another: the signal and the withdrawal race for the waiter (docs/runtime.md,
// "Claiming a waiter"), and whichever wins, the value is received once, by the select or
// (cancelled) left in the channel.
TEST_P(Runtime, ASelectCancelledWhileAnotherWorkerSendsLosesNothing) {
  auto rt = make();
  auto a = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = 1});
  auto b = make_shared_object<xcoro::channel<counted>>(rt, xcoro::channel_options{.capacity = 1});
  auto to_sender = make_shared_object<xcoro::channel<int>>(rt);
  auto to_canceller = make_shared_object<xcoro::channel<xcoro::frame>>(rt);
  auto acks = make_shared_object<xcoro::channel<int>>(rt, xcoro::channel_options{.capacity = 2});
  const int rounds = xcoro_test::thread_sanitized ? 300 : 3000;
  int received = 0;
  int canceled = 0;
  std::atomic<int> arrived{0};
  together(rt, {[&] {
                  meet(arrived, 3);
                  for (int i = 0; i < rounds; ++i) {
                    std::optional<counted> va;
                    std::optional<counted> vb;
                    auto child = xcoro::xasync([&] {
                      return xcoro::select(xcoro::recv_case(*b, vb), xcoro::recv_case(*a, va));
                    });
                    ASSERT_TRUE(child);
                    ASSERT_TRUE(to_sender->send(i));
                    ASSERT_TRUE(to_canceller->send(child->frame()));
                    auto r = xcoro::xawait(*child);
                    ASSERT_TRUE(acks->recv() && acks->recv());
                    if (r) {
                      ASSERT_EQ(*r, 1u);
                      ASSERT_TRUE(va && va->intact());
                      EXPECT_EQ(va->value(), i);
                      ++received;
                    } else {
                      ASSERT_EQ(r.error(), xcoro::errc::canceled);
                      auto left = a->try_recv();
                      ASSERT_TRUE(left && left->intact());
                      EXPECT_EQ(left->value(), i);
                      ++canceled;
                    }
                  }
                  to_sender->close();
                  to_canceller->close();
                },
                [&] {
                  meet(arrived, 3);
                  while (auto i = to_sender->recv()) {
                    EXPECT_TRUE(a->send(counted(*i)));
                    EXPECT_TRUE(acks->send(0));
                  }
                },
                [&] {
                  meet(arrived, 3);
                  while (auto f = to_canceller->recv()) {
                    xcoro::cancel(*f);
                    EXPECT_TRUE(acks->send(0));
                  }
                }});
  EXPECT_EQ(received + canceled, rounds);
  EXPECT_EQ(a->size() + b->size(), 0u);
}

/// Waits, without blocking the worker, until `flag` is set.
void await_flag(const std::atomic<bool>& flag) {
  while (!flag.load()) {
    EXPECT_TRUE(aio::sleep(nullptr, 1ms));
  }
}

// A group made on one worker takes children spawned from coroutines on every worker: each
// runs where it was spawned, carries a value that owns memory, and the owner's wait()
// returns once all of them, wherever they ran, have finished.
TEST_P(Runtime, ATaskGroupTakesChildrenSpawnedFromEveryWorker) {
  auto rt = make();
  constexpr int spawners = 4;
  constexpr int per_spawner = 50;
  std::atomic<xcoro::task_group*> group{nullptr};
  std::atomic<int> arrived{0};
  std::atomic<int> spawned{0};
  std::mutex m;
  std::multiset<int> ran;
  std::set<int> workers;
  bool all_done_at_wait = false;
  auto spawner = [&](int base) {
    meet(arrived, spawners + 1);
    for (int i = 0; i < per_spawner; ++i) {
      auto r = group.load()->spawn(
          [&](counted v) {
            EXPECT_TRUE(aio::sleep(nullptr, 1ms));  // suspend, so that children overlap
            EXPECT_TRUE(v.intact());
            std::lock_guard<std::mutex> hold(m);
            ran.insert(v.value());
            workers.insert(xcoro::this_worker());
          },
          counted(base + i));
      EXPECT_TRUE(r) << r.error().message();
    }
    ++spawned;
  };
  auto owner = [&] {
    xcoro::task_group g;
    group.store(&g);
    meet(arrived, spawners + 1);
    while (spawned.load() < spawners) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    EXPECT_TRUE(g.wait());
    EXPECT_EQ(g.size(), 0u);
    std::lock_guard<std::mutex> hold(m);
    all_done_at_wait = ran.size() == spawners * per_spawner;
  };
  together(rt, {owner, [&] { spawner(0); }, [&] { spawner(1000); }, [&] { spawner(2000); },
                [&] { spawner(3000); }});
  EXPECT_TRUE(all_done_at_wait);
  ASSERT_EQ(ran.size(), std::size_t{spawners * per_spawner});
  for (int s = 0; s < spawners; ++s) {
    for (int i = 0; i < per_spawner; ++i) {
      EXPECT_EQ(ran.count(s * 1000 + i), 1u) << s * 1000 + i;
    }
  }
  if (GetParam() > 1) {
    EXPECT_GT(workers.size(), 1u) << "every child ran on one worker";
  }
}

// A child that fails on one worker cancels its siblings blocked on other workers (in a
// sleep and in a shared channel's recv), and the owner's wait() reports that failure.
TEST_P(Runtime, AChildFailingOnOneWorkerCancelsItsSiblingsOnOthers) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<std::string>>(rt, xcoro::channel_options{});
  std::atomic<xcoro::task_group*> group{nullptr};
  std::atomic<int> arrived{0};
  std::atomic<int> blocked{0};
  std::atomic<int> canceled{0};
  std::atomic<bool> failer_spawned{false};
  std::string outcome;
  auto sleeper = [&] {
    meet(arrived, 4);
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(group.load()->spawn([&](std::string tag) {
        ++blocked;
        auto r = aio::sleep(nullptr, 60000ms);
        if (r.error() == xcoro::errc::canceled && tag == "sleeper") {
          ++canceled;
        }
      }, std::string("sleeper")));
      EXPECT_TRUE(group.load()->spawn([&] {
        ++blocked;
        auto v = ch->recv();
        if (!v && xcoro::cancel_requested()) {
          ++canceled;
        }
      }));
    }
  };
  auto failer = [&] {
    meet(arrived, 4);
    while (blocked.load() < 12) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    EXPECT_TRUE(group.load()->spawn([]() -> xcoro::result<int> {
      return std::make_error_code(std::errc::io_error);
    }));
    failer_spawned.store(true);
  };
  auto owner = [&] {
    xcoro::task_group g;
    group.store(&g);
    meet(arrived, 4);
    await_flag(failer_spawned);
    auto r = g.wait();
    outcome = r ? "success" : r.error().message();
  };
  together(rt, {owner, sleeper, sleeper, failer});
  EXPECT_EQ(outcome, std::make_error_code(std::errc::io_error).message());
  EXPECT_EQ(canceled.load(), 12);
  (void)rt.block_on([&] { ch.reset(); });
}

// cancel() from a coroutine on a third worker stops children that block on every worker;
// the owner's wait() returns errc::canceled, and a child spawned afterwards is born
// cancelled.
TEST_P(Runtime, CancelASharedGroupFromAThirdWorker) {
  auto rt = make();
  std::atomic<xcoro::task_group*> group{nullptr};
  std::atomic<int> arrived{0};
  std::atomic<int> blocked{0};
  std::atomic<int> canceled{0};
  std::atomic<bool> cancel_sent{false};
  std::atomic<int> late_spawned{0};
  std::atomic<int> late_born_cancelled{0};
  std::string outcome;
  auto block_here = [&] {
    EXPECT_TRUE(group.load()->spawn([&](std::unique_ptr<int> p) {
      ++blocked;
      if (aio::sleep(nullptr, 60000ms).error() == xcoro::errc::canceled && *p == 7) {
        ++canceled;
      }
    }, std::make_unique<int>(7)));
  };
  auto spawner = [&] {
    meet(arrived, 4);
    block_here();
    block_here();
    await_flag(cancel_sent);
    EXPECT_TRUE(group.load()->spawn([&] {
      if (xcoro::cancel_requested()) {
        ++late_born_cancelled;
      }
    }));
    ++late_spawned;
  };
  auto owner = [&] {
    xcoro::task_group g;
    group.store(&g);
    meet(arrived, 4);
    block_here();
    while (blocked.load() < 5) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    while (late_spawned.load() < 2) {  // both spawners are done with the group
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    auto r = g.wait();
    outcome = r ? "success" : r.error().message();
  };
  auto canceller = [&] {
    meet(arrived, 4);
    while (blocked.load() < 5) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    group.load()->cancel();
    cancel_sent.store(true);
  };
  together(rt, {owner, spawner, spawner, canceller});
  EXPECT_EQ(outcome, make_error_code(xcoro::errc::canceled).message());
  EXPECT_EQ(canceled.load(), 5);
  EXPECT_EQ(late_born_cancelled.load(), 2);
}

// A group made on one worker and destroyed by a coroutine on another, while its children
// block in sleeps on several workers: the destructor cancels them, waits for every one and
// frees them on their own workers; nothing leaks.
TEST_P(Runtime, DestroyingASharedGroupFromAnotherWorkerCancelsAndJoinsEveryChild) {
  auto rt = make();
  auto g = make_shared_object<xcoro::task_group>(rt);
  std::atomic<int> arrived{0};
  std::atomic<int> blocked{0};
  std::atomic<int> finished{0};
  int finished_after_destructor = -1;
  auto spawner = [&](int n) {
    meet(arrived, 4);
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(g->spawn([&](counted v) {
        ++blocked;
        (void)aio::sleep(nullptr, 60000ms);
        EXPECT_TRUE(v.intact());
        ++finished;
      }, counted(i)));
    }
  };
  auto destroyer = [&] {
    meet(arrived, 4);
    while (blocked.load() < 30) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    g.reset();
    finished_after_destructor = finished.load();
  };
  together(rt, {[&] { spawner(10); }, [&] { spawner(10); }, [&] { spawner(10); }, destroyer});
  EXPECT_EQ(finished_after_destructor, 30);
  EXPECT_EQ(ledger().live(), 0);
}

/// What a blocking call ended with, as the shutdown test below records it.
std::string ended(const std::error_code& ec) {
  if (!ec) {
    return "ok";
  }
  return ec == xcoro::errc::canceled ? "canceled" : ec.message();
}

// The destructor of a runtime whose spawned coroutines block, spread over the workers, in
// every kind of wait: a tcp accept, a pipe read, a sleep, a channel receive, a mutex, a
// semaphore, a wait_group and a task_group whose children sleep. Each wait ends with
// errc::canceled, every coroutine finishes, the frames outlive the runtime, and every
// counted value is destroyed exactly once.
TEST_P(Runtime, ShutdownEndsEveryKindOfWaitOnEveryWorker) {
  constexpr int kinds = 8;
  constexpr int rounds = 4;
  std::vector<xcoro::frame_t<std::string>> frames;
  std::atomic<int> blocked{0};
  std::mutex m;
  std::set<int> workers;
  {
    auto rt = make();
    auto body = [&](int kind, counted held) -> std::string {
      {
        std::lock_guard<std::mutex> hold(m);
        workers.insert(xcoro::this_worker());
      }
      std::string what;
      switch (kind) {
        case 0: {
          auto any = aio::endpoint::parse("127.0.0.1:0");
          auto l = aio::tcp::open(nullptr, *any);
          if (!l || !l->bind(*any) || !l->listen(4)) {
            return "setup failed";
          }
          ++blocked;
          auto c = l->accept();
          what = "accept " + ended(c ? std::error_code() : c.error());
          break;
        }
        case 1: {
          auto p = aio::pipe(nullptr);
          if (!p) {
            return "setup failed";
          }
          std::array<std::byte, 16> buf{};
          ++blocked;
          auto n = p->reader.read(buf);
          what = "pipe read " + ended(n ? std::error_code() : n.error());
          break;
        }
        case 2:
          ++blocked;
          what = "sleep " + ended(aio::sleep(nullptr, 60000ms).error());
          break;
        case 3: {
          xcoro::channel<std::string> ch;
          ++blocked;
          auto v = ch.recv();
          what = std::string("recv ") + (!v && xcoro::cancel_requested() ? "canceled" : "other");
          break;
        }
        case 4: {
          xcoro::mutex mu;
          EXPECT_TRUE(mu.lock());
          // The second lock waits in a child started here, pinned to this worker.
          auto child = xcoro::xasync([&] {
            ++blocked;
            return ended(mu.lock().error());
          });
          what = "mutex " + xcoro::xawait(*child);
          mu.unlock();
          break;
        }
        case 5: {
          xcoro::semaphore sem(0);
          ++blocked;
          what = "semaphore " + ended(sem.acquire().error());
          break;
        }
        case 6: {
          xcoro::wait_group wg;
          wg.add(1);
          ++blocked;
          what = "wait_group " + ended(wg.wait().error());
          wg.done();
          break;
        }
        default: {
          xcoro::task_group g;
          std::string child_saw;
          EXPECT_TRUE(g.spawn([&] {
            ++blocked;
            child_saw = ended(aio::sleep(nullptr, 60000ms).error());
          }));
          auto r = g.wait();
          what = "group " + child_saw + "/" + ended(r ? std::error_code() : r.error());
          break;
        }
      }
      return held.intact() ? what : what + " (payload damaged)";
    };
    // Four spawners, each in a block_on of its own (so on different workers when there
    // are several), spawn every fourth coroutine; a spawned coroutine starts on its
    // spawner's worker unless another worker steals it.
    frames.resize(kinds * rounds);
    auto spawner = [&](int first) {
      for (int i = first; i < kinds * rounds; i += 4) {
        auto f = xcoro::spawn(body, i % kinds, counted(i));
        ASSERT_TRUE(f) << f.error().message();
        std::lock_guard<std::mutex> hold(m);
        frames[i] = std::move(*f);
      }
      // Every one of them is in its wait before the runtime goes.
      while (blocked.load() < kinds * rounds) {
        EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      }
    };
    together(rt, {[&] { spawner(0); }, [&] { spawner(1); }, [&] { spawner(2); },
                  [&] { spawner(3); }});
  }
  const char* want[kinds] = {"accept canceled",    "pipe read canceled", "sleep canceled",
                             "recv canceled",      "mutex canceled",     "semaphore canceled",
                             "wait_group canceled", "group canceled/canceled"};
  ASSERT_EQ(frames.size(), std::size_t{kinds * rounds});
  for (int i = 0; i < kinds * rounds; ++i) {
    ASSERT_EQ(frames[i].status(), xcoro::status::done) << i;
    EXPECT_EQ(xcoro::xawait(frames[i]), want[i % kinds]) << i;
  }
  frames.clear();
  if (GetParam() > 1) {
    EXPECT_GT(workers.size(), 1u) << "the coroutines were not spread over the workers";
  }
}

// A block_on whose coroutine waits on a channel (every worker idle, nothing in flight) for a
// value that another thread's block_on sends a moment later is not a deadlock: the runtime
// gives such a late caller a grace period before it declares one. Before, the first call
// returned errc::deadlock whenever the second thread was a little late.
TEST_P(Runtime, ABlockOnThatArrivesLateIsNotADeadlock) {
  auto rt = make();
  auto ch = make_shared_object<xcoro::channel<std::string>>(rt, xcoro::channel_options{});
  for (int round = 0; round < 5; ++round) {
    std::atomic<bool> receiving{false};
    std::string got;
    std::thread receiver([&] {
      auto r = rt.block_on([&] {
        receiving.store(true);
        auto v = ch->recv();
        return v ? *v : std::string("nothing");
      });
      got = r ? *r : r.error().message();
    });
    while (!receiving.load()) {
      std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(2ms);  // every worker is idle by now
    auto s = rt.block_on([&] { return ch->send(std::string(40, 'v')); });
    receiver.join();
    EXPECT_TRUE(s) << s.error().message();
    EXPECT_EQ(got, std::string(40, 'v')) << "round " << round;
  }
  (void)rt.block_on([&] { ch.reset(); });
}

// xawait_any over four spawned coroutines released at the same moment, so that they end
// at about the same time on different workers, and one xasync coroutine of the waiter's
// own worker that ends then too: each end signals the one waiting coroutine, from its own
// thread, and exactly one wake-up may count. Many rounds, so that the ends race; every
// frame is awaited afterwards and the counted payloads balance.
TEST_P(Runtime, XawaitAnyOfCoroutinesEndingAtOnceOnSeveralWorkers) {
  auto rt = make();
  constexpr int rounds = 300;
  auto r = rt.block_on([] {
    long sum = 0;
    for (int round = 0; round < rounds; ++round) {
      std::atomic<bool> go{false};
      auto body = [&go](int v) {
        while (!go.load(std::memory_order_acquire)) {
          EXPECT_TRUE(aio::sleep(nullptr, 0ms));
        }
        return counted(v);
      };
      std::vector<xcoro::frame_t<counted>> fs;
      for (int i = 0; i < 4; ++i) {
        auto f = xcoro::spawn(body, round * 5 + i);
        EXPECT_TRUE(f);
        fs.push_back(std::move(*f));
      }
      auto local = xcoro::xasync(body, round * 5 + 4);
      EXPECT_TRUE(local);
      go.store(true, std::memory_order_release);
      std::size_t k = xcoro::xawait_any(fs[0], fs[1], fs[2], fs[3], *local);
      EXPECT_LT(k, 5u);
      for (auto& f : fs) {
        sum += xcoro::xawait(std::move(f)).value();
      }
      sum += xcoro::xawait(std::move(*local)).value();
    }
    return sum;
  });
  ASSERT_TRUE(r) << r.error().message();
  const long n = rounds * 5;
  EXPECT_EQ(*r, n * (n - 1) / 2);
}

// A finished xasync coroutine's frame_t destroyed on another worker than the one that made
// it: the record is freed on its own worker, whose list of records stays whole, so a cancel
// sent afterwards still finds a sleeper made there before it (it used to be lost, and the
// sleeper slept its full time), and the counted result is destroyed once.
TEST_P(Runtime, AFrameDestroyedOnAnotherWorkerLeavesItsWorkersRecordsWhole) {
  auto rt = make();
  xcoro::frame_t<counted> made_there;
  std::atomic<xcoro::frame> sleeper_frame{nullptr};
  std::atomic<int> maker{-1};
  std::thread first([&] {
    auto r = rt.block_on([&]() -> xcoro::result<void> {
      auto sleeper = xcoro::xasync([] { return aio::sleep(nullptr, 20000ms); });
      EXPECT_TRUE(sleeper);
      auto done = xcoro::xasync([] { return counted(7); });  // the newest record, finished
      EXPECT_TRUE(done);
      made_there = std::move(*done);
      maker.store(xcoro::this_worker());
      sleeper_frame.store(sleeper->frame());
      auto t0 = std::chrono::steady_clock::now();
      auto slept = xcoro::xawait(*sleeper);
      EXPECT_FALSE(slept) << "the cancel was lost";
      if (!slept) {
        EXPECT_EQ(slept.error(), xcoro::errc::canceled);
      }
      EXPECT_LT(std::chrono::steady_clock::now() - t0, 10000ms);
      return {};
    });
    EXPECT_TRUE(r) << r.error().message();
  });
  while (sleeper_frame.load() == nullptr) {
    std::this_thread::sleep_for(1ms);
  }
  // block_on takes the workers in turn, so with more than one this runs on another.
  auto r = rt.block_on([&] {
    if (GetParam() > 1) {
      EXPECT_NE(xcoro::this_worker(), maker.load());
    }
    EXPECT_EQ(made_there.status(), xcoro::status::done);
    made_there = {};
    return xcoro::cancel(sleeper_frame.load());
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(*r);
  first.join();
}

// A cancel flows into what a coroutine spawned (the contract's "flows down" covers spawn):
// 16 children, each with a grandchild, spread over the workers and asleep for 20 s, are all
// ended with errc::canceled soon after a third coroutine cancels their spawner; counted
// values come back from each. (Before, spawned children ran from their worker's root, out
// of the spawner's reach, and slept their 20 s.)
TEST_P(Runtime, ACancelFlowsIntoSpawnedCoroutinesOnEveryWorker) {
  auto rt = make();
  std::atomic<int> asleep{0};
  std::atomic<int> cancelled{0};
  auto nap = [&asleep, &cancelled] {
    asleep.fetch_add(1);
    auto slept = aio::sleep(nullptr, 20000ms);
    if (!slept && slept.error() == xcoro::errc::canceled) {
      cancelled.fetch_add(1);
    }
  };
  auto r = rt.block_on([&]() -> xcoro::result<long> {
    auto parent = xcoro::spawn([&] {
      std::vector<xcoro::frame_t<counted>> kids;
      for (int i = 0; i < 16; ++i) {
        auto k = xcoro::spawn([&nap](int v) {
          auto grandchild = xcoro::spawn([&nap] {
            nap();
            return counted(1);
          });
          EXPECT_TRUE(grandchild);
          nap();
          counted g = xcoro::xawait(std::move(*grandchild));
          return counted(v + g.value());
        }, i);
        EXPECT_TRUE(k);
        kids.push_back(std::move(*k));
      }
      long sum = 0;
      for (auto& k : kids) {
        sum += xcoro::xawait(std::move(k)).value();
      }
      return sum;
    });
    EXPECT_TRUE(parent);
    while (asleep.load() < 32) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    auto t0 = std::chrono::steady_clock::now();
    auto third = xcoro::spawn([f = parent->frame()] { return xcoro::cancel(f); });
    EXPECT_TRUE(third);
    EXPECT_TRUE(xcoro::xawait(std::move(*third)));
    long sum = xcoro::xawait(std::move(*parent));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10000ms);
    return sum;
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 16 * 15 / 2 + 16);
  EXPECT_EQ(cancelled.load(), 32);
}

// Children spawned and still queued, not started, when their spawner is cancelled start
// cancelled: the cancel finds them in the queues of spawned coroutines.
TEST_P(Runtime, ACancelReachesSpawnedCoroutinesThatHaveNotStarted) {
  auto rt = make();
  auto r = rt.block_on([]() -> xcoro::result<int> {
    int cancelled = 0;
    std::vector<xcoro::frame_t<xcoro::result<void>>> kids;
    for (int i = 0; i < 8; ++i) {
      auto k = xcoro::spawn([] { return aio::sleep(nullptr, 20000ms); });
      EXPECT_TRUE(k);
      kids.push_back(std::move(*k));
    }
    auto t0 = std::chrono::steady_clock::now();
    // Cancels this coroutine, and what it spawned; xawait is not interrupted by it.
    EXPECT_TRUE(xcoro::cancel(xcoro::xframe()));
    for (auto& k : kids) {
      auto slept = xcoro::xawait(std::move(k));
      cancelled += !slept && slept.error() == xcoro::errc::canceled;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10000ms);
    return cancelled;
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 8);
}

INSTANTIATE_TEST_SUITE_P(Workers, Runtime, ::testing::Values(1u, 2u, 8u),
                         [](const auto& info) { return std::to_string(info.param) + "workers"; });

/// A node of a tree of spawns: spawns `fan_out` children down to `depth`, awaits them and
/// returns the sum of the leaves' indexes, counting how many nodes are alive at once.
long spawn_tree(int depth, int fan_out, long index, std::atomic<int>& alive, std::atomic<int>& most) {
  int now = ++alive;
  int prev = most.load();
  while (now > prev && !most.compare_exchange_weak(prev, now)) {
  }
  long sum = 0;
  if (depth == 0) {
    sum = index;
  } else {
    std::vector<xcoro::frame_t<long>> kids;
    for (int i = 0; i < fan_out; ++i) {
      auto k = xcoro::spawn(spawn_tree, depth - 1, fan_out,
                            index * fan_out + i, std::ref(alive), std::ref(most));
      EXPECT_TRUE(k);
      kids.push_back(std::move(*k));
    }
    for (auto& k : kids) {
      sum += xcoro::xawait(k);
    }
  }
  --alive;
  return sum;
}

// A worker starts the coroutines spawned on it newest first, so a tree of spawns that
// await their children runs depth first and keeps few coroutines alive: a tree of 11,111
// nodes never has more than a few dozen at once. (Oldest first, every node was alive
// before the first leaf returned: at 10^6 leaves, 4 GiB of stacks.)
TEST(RuntimeSpawnOrder, ATreeOfSpawnsRunsDepthFirst) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  auto rt = xcoro::runtime::create({.threads = 1});
  ASSERT_TRUE(rt);
  std::atomic<int> alive{0};
  std::atomic<int> most{0};
  auto sum = rt->block_on([&] { return spawn_tree(4, 10, 0, alive, most); });
  ASSERT_TRUE(sum);
  EXPECT_EQ(*sum, 9999L * 10000 / 2);
  EXPECT_EQ(alive.load(), 0);
  EXPECT_LE(most.load(), 4 * 10 + 1) << "the tree ran breadth first";
}

TEST(RuntimeCreate, ALoopSetupErrorComesBackAndNoThreadIsLeft) {
  xcoro::runtime_options o;
  o.threads = 3;
  o.loop.busy_poll = std::chrono::nanoseconds(-1);
  auto rt = xcoro::runtime::create(o);
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error(), std::errc::invalid_argument);
}

TEST(RuntimeCreate, ZeroThreadsMeansOnePerCore) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  auto rt = xcoro::runtime::create({});
  ASSERT_TRUE(rt) << rt.error().message();
  unsigned want = std::thread::hardware_concurrency();
  EXPECT_EQ(rt->threads(), want != 0 ? want : 1u);
  auto moved = std::move(*rt);
  EXPECT_EQ(rt->threads(), 0u);  // moved from: owns no workers
  auto r = moved.block_on([] { return xcoro::this_worker(); });
  ASSERT_TRUE(r);
  EXPECT_GE(*r, 0);
}

TEST(RuntimeMisuse, SpawnOutsideARuntimeAborts) {
  EXPECT_DEATH((void)xcoro::spawn([] {}), "spawn: called outside a runtime's worker");
}

TEST(RuntimeMisuse, BlockOnOnAWorkerAborts) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  EXPECT_DEATH(
      {
        auto rt = xcoro::runtime::create({.threads = 1});
        (void)rt->block_on([&] { (void)rt->block_on([] {}); });
      },
      "block_on: called on one of the runtime's worker threads");
}

// A channel made outside the runtime but told to wake through worker 0's executor has no
// lock: waiting on it from worker 1 would race, and is refused.
TEST(RuntimeMisuse, WaitingOnAnUnsharedObjectThroughAnotherWorkersExecutorAborts) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  EXPECT_DEATH(
      {
        auto rt = xcoro::runtime::create({.threads = 2});
        xcoro::executor* first = nullptr;
        (void)rt->block_on([&] { first = xcoro::get_env().executor; });
        xcoro::channel<std::string> ch(xcoro::channel_options{.capacity = 1, .executor = first});
        (void)rt->block_on([&] { (void)ch.recv(); });
      },
      "channel::recv: coroutine .* waits on an object bound to another worker's executor");
}

TEST(RuntimeMisuse, DroppingAnUnfinishedSpawnedFrameAborts) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  EXPECT_DEATH(
      {
        auto rt = xcoro::runtime::create({.threads = 1});
        (void)rt->block_on([] {
          auto f = xcoro::spawn([] { (void)aio::sleep(nullptr, 1000ms); });
        });
      },
      "was spawned and has not finished");
}

// A task_group made outside a runtime belongs to its thread, and one made on a worker to
// that runtime's workers: a group made in root and used from a worker's coroutine, or made
// on one runtime's worker and used from another runtime's, is refused by name rather than
// raced on.
TEST(RuntimeMisuse, UsingATaskGroupFromAnotherThreadAborts) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  EXPECT_DEATH(
      {
        xcoro::task_group g;
        auto rt = xcoro::runtime::create({.threads = 1});
        (void)rt->block_on([&] { (void)g.spawn([] {}); });
      },
      "xcoro: task_group::spawn: .*used a task_group made on another thread");
  EXPECT_DEATH(
      {
        auto first = xcoro::runtime::create({.threads = 1});
        auto second = xcoro::runtime::create({.threads = 1});
        std::atomic<xcoro::task_group*> shared{nullptr};
        std::thread owner([&] {
          (void)first->block_on([&] {
            xcoro::task_group g;
            shared.store(&g);
            (void)aio::sleep(nullptr, 60000ms);
          });
        });
        (void)second->block_on([&] {
          while (shared.load() == nullptr) {
            (void)aio::sleep(nullptr, 1ms);
          }
          shared.load()->cancel();
        });
        owner.join();
      },
      "xcoro: task_group::cancel: .*used a task_group made on another thread");
}

}  // namespace
