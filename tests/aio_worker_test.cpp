// aio objects used from coroutines on different workers of a runtime, one operation at a
// time: each object is made on one worker with a nullptr executor and handed to a
// coroutine on another through a channel, and every test checks that the two really run
// on different workers. Sockets (read, write, write_all, accept, connect, with and without
// timeouts), UDP, pipes and regular files, child processes, notifications and sleeps; a
// descriptor closed on one worker while another's loop waits on it, or after another's
// loop registered it and its number is reused there (epoll's per-loop state); aio::cancel
// from another worker; payloads that move with the socket. ctest runs the suite once per
// backend; every case runs with 2 and 8 workers (8 on 2 vCPUs is oversubscribed on
// purpose). Nothing sleeps to synchronise; timings are lower bounds.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/stream_pair.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/xcoro.hpp"

namespace {

using namespace std::chrono_literals;
namespace aio = xcoro::aio;

std::span<std::byte> bytes_of(std::string& s) {
  return {reinterpret_cast<std::byte*>(s.data()), s.size()};
}

/// This worker's backend.
aio::backend backend_here() {
  return aio::get_env().executor->get_loop().backend();
}

class AioWorker : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    if (auto l = aio::loop::create(); !l) {
      GTEST_SKIP() << "backend unavailable here: " << l.error().message();
    }
    xcoro::runtime_options o;
    o.threads = GetParam();
    auto rt = xcoro::runtime::create(o);
    ASSERT_TRUE(rt) << rt.error().message();
    rt_.emplace(std::move(*rt));
  }
  void TearDown() override { rt_.reset(); }

  /// Runs each party in a block_on of its own, from a thread of its own, all at once: with
  /// at least as many workers as parties, each lands on a worker of its own (block_on
  /// takes them in turn). Each party first waits for all to have started, polling with
  /// short sleeps, so that no party waits on a channel while another's block_on is still
  /// on its way (the deadlock check would count that worker idle). Checks that the
  /// parties ran on distinct workers.
  void parties(std::vector<std::function<void()>> fns) {
    std::atomic<int> arrived{0};
    std::vector<std::atomic<int>> worker(fns.size());
    std::vector<std::thread> threads;
    int n = static_cast<int>(fns.size());
    for (std::size_t i = 0; i < fns.size(); ++i) {
      threads.emplace_back([&, i] {
        auto r = rt_->block_on([&] {
          worker[i] = xcoro::this_worker();
          ++arrived;
          while (arrived.load() < n) {
            EXPECT_TRUE(aio::sleep(nullptr, 1ms));
          }
          fns[i]();
        });
        EXPECT_TRUE(r) << r.error().message();
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    for (std::size_t i = 0; i < fns.size(); ++i) {
      for (std::size_t j = i + 1; j < fns.size(); ++j) {
        EXPECT_NE(worker[i].load(), worker[j].load()) << "parties " << i << " and " << j;
      }
    }
  }

  /// A channel made on a worker, so that its workers share it.
  template <class T>
  std::unique_ptr<xcoro::channel<T>> shared_channel(std::size_t capacity = 1) {
    std::unique_ptr<xcoro::channel<T>> out;
    auto r = rt_->block_on([&] {
      out = std::make_unique<xcoro::channel<T>>(xcoro::channel_options{.capacity = capacity});
    });
    EXPECT_TRUE(r);
    return out;
  }

  std::optional<xcoro::runtime> rt_;
};

using socket_pair = xcoro_test::stream_pair;

/// On the worker that receives it from `in`: closes the socket, then says so on `closed`.
template <class Handle>
void close_what_arrives(xcoro::channel<Handle>& in, xcoro::channel<int>& closed) {
  auto t = in.recv();
  ASSERT_TRUE(t);
  EXPECT_TRUE((*t)->close());
  ASSERT_TRUE(closed.send(1));
}

/// A new socket pair with one end on descriptor number `number` (free now), returned; the
/// other end goes to `other`.
int pair_on(int number, int& other) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  if (fds[1] == number) {
    std::swap(fds[0], fds[1]);
  }
  if (fds[0] != number) {
    EXPECT_EQ(::dup3(fds[0], number, O_CLOEXEC), number);
    ::close(fds[0]);
  }
  other = fds[1];
  return number;
}

/// Reads from `s` in a coroutine of this worker that must wait (nothing is there yet: the
/// read registers with this worker's loop), then writes `msg` to `peer`; returns what the
/// read got.
std::string read_after_waiting(aio::tcp& s, int peer, const std::string& msg,
                               bool with_timeout) {
  auto reader = xcoro::xasync([&]() -> xcoro::result<std::string> {
    std::string got(msg.size() + 16, '\0');
    auto n = with_timeout ? s.read(bytes_of(got), 10000ms) : s.read(bytes_of(got));
    if (!n) {
      return n.error();
    }
    got.resize(*n);
    return got;
  });
  EXPECT_EQ(reader->status(), xcoro::status::suspended);
  EXPECT_EQ(::write(peer, msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  auto got = xcoro::xawait(*reader);
  EXPECT_TRUE(got) << got.error().message();
  return got ? *got : std::string();
}

// A socket read that waits on worker A, then on worker B, then back, with and without a
// timeout; writes through the same object on each side.
TEST_P(AioWorker, ASocketWaitsOnOneWorkerThenOnAnother) {
  auto to_b = shared_channel<std::unique_ptr<socket_pair>>();
  auto to_a = shared_channel<std::unique_ptr<socket_pair>>();
  constexpr int rounds = 12;
  auto holder = [&](int first, xcoro::channel<std::unique_ptr<socket_pair>>& in,
                    xcoro::channel<std::unique_ptr<socket_pair>>& out) {
    for (int round = first; round < rounds; round += 2) {
      auto sp = in.recv();
      ASSERT_TRUE(sp);
      std::string msg = "round " + std::to_string(round) + " on worker " +
                        std::to_string(xcoro::this_worker());
      EXPECT_EQ(read_after_waiting(*(*sp)->end, (*sp)->peer, msg, round % 4 < 2), msg);
      std::string back = "back " + std::to_string(round);
      EXPECT_TRUE((*sp)->end->write_all(bytes_of(back), 5000ms));
      std::string echo(back.size(), '\0');
      EXPECT_EQ(::read((*sp)->peer, echo.data(), echo.size()), static_cast<ssize_t>(back.size()));
      EXPECT_EQ(echo, back);
      if (round + 1 < rounds) {
        ASSERT_TRUE(out.send(std::move(*sp)));
      }
    }
  };
  // A starts with the pair and gives it to B, which reads first (round 0), and so on.
  parties({[&] {
             auto sp = std::make_unique<socket_pair>();
             ASSERT_TRUE(to_b->send(std::move(sp)));
             holder(1, *to_a, *to_b);
           },
           [&] { holder(0, *to_b, *to_a); }});
}

// Worker A's loop registers a descriptor (a read that times out); the object moves to B,
// which closes it; A then reuses the number for a new socket and waits on it. On epoll, A's
// loop used to believe the number registered (the kernel dropped it at the close) and never
// added the new socket: the read waited for its timeout although data had come.
TEST_P(AioWorker, ANumberClosedOnAnotherWorkerAndReusedHereIsWaitedOn) {
  auto to_b = shared_channel<std::unique_ptr<aio::tcp>>();
  auto closed = shared_channel<int>();
  parties({[&] {
             int fds[2];
             ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
             auto t = std::make_unique<aio::tcp>(nullptr, fds[0]);
             int number = fds[0];
             std::array<std::byte, 8> buf{};
             auto timed_out = t->read(buf, 1ms);  // waits here: registered with A's loop
             ASSERT_FALSE(timed_out);
             EXPECT_EQ(timed_out.error(), std::errc::timed_out);
             ASSERT_TRUE(to_b->send(std::move(t)));
             ASSERT_TRUE(closed->recv());
             ::close(fds[1]);
             // A new pair, with one end on the number B closed.
             int other = -1;
             aio::tcp reused(nullptr, pair_on(number, other));
             EXPECT_EQ(read_after_waiting(reused, other, "after reuse", true), "after reuse");
             ::close(other);
           },
           [&] { close_what_arrives(*to_b, *closed); }});
}

// Both loops registered the number (a read waited on A, then on B); B closes it and A
// reuses it, three times over.
TEST_P(AioWorker, ANumberBothLoopsRegisteredIsWaitedOnAfterReuse) {
  auto to_b = shared_channel<std::unique_ptr<socket_pair>>();
  auto closed = shared_channel<int>();
  parties({[&] {
             auto sp = std::make_unique<socket_pair>();
             EXPECT_EQ(read_after_waiting(*sp->end, sp->peer, "on A", false), "on A");
             ASSERT_TRUE(to_b->send(std::move(sp)));
             auto number = closed->recv();
             ASSERT_TRUE(number);
             for (int round = 0; round < 3; ++round) {
               int other = -1;
               aio::tcp reused(nullptr, pair_on(*number, other));
               EXPECT_EQ(read_after_waiting(reused, other, "reused", true), "reused");
               ::close(other);
             }
           },
           [&] {
             auto sp = to_b->recv();
             ASSERT_TRUE(sp);
             socket_pair& p = **sp;
             EXPECT_EQ(read_after_waiting(*p.end, p.peer, "on B", true), "on B");
             int number = p.end->native_handle();
             EXPECT_TRUE(p.end->close());
             ASSERT_TRUE(closed->send(number));
           }});
}

// B closes the number while A's coroutine runs without giving its loop a turn, and A reuses
// it at once: A's loop has not yet heard of the close (the message B left it waits for its
// next poll), so only the number's generation tells it that its state is stale. The
// message, when it comes, must leave the new registration and its waiting read alone.
TEST_P(AioWorker, ANumberReusedBeforeTheLoopHearsOfTheClose) {
  auto to_b = shared_channel<std::unique_ptr<aio::tcp>>();
  std::atomic<int> closed_number{-1};
  parties({[&] {
             int fds[2];
             ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
             auto t = std::make_unique<aio::tcp>(nullptr, fds[0]);
             std::array<std::byte, 8> buf{};
             auto timed_out = t->read(buf, 1ms);  // registered with A's loop
             ASSERT_FALSE(timed_out);
             ASSERT_TRUE(to_b->send(std::move(t)));
             while (closed_number.load() < 0) {
               std::this_thread::yield();  // this worker's loop does not poll meanwhile
             }
             ::close(fds[1]);
             int other = -1;
             aio::tcp reused(nullptr, pair_on(closed_number.load(), other));
             EXPECT_EQ(read_after_waiting(reused, other, "before the news", true),
                       "before the news");
             EXPECT_EQ(read_after_waiting(reused, other, "and after", true), "and after");
             ::close(other);
           },
           [&] {
             auto t = to_b->recv();
             ASSERT_TRUE(t);
             int number = (*t)->native_handle();
             EXPECT_TRUE((*t)->close());
             closed_number = number;
           }});
}

// close() on worker B ends a read waiting on worker A's loop as close does on one thread:
// EBADF on epoll; on io_uring the kernel's read holds the socket and ends by itself (here
// at its timeout).
TEST_P(AioWorker, CloseOnAnotherWorkerEndsAWaitingRead) {
  auto to_b = shared_channel<aio::tcp*>();
  auto closed = shared_channel<int>();
  parties({[&] {
             socket_pair sp;
             bool epoll = backend_here() == aio::backend::epoll;
             auto reader = xcoro::xasync([&] {
               std::array<std::byte, 16> buf{};
               return sp.end->read(buf, epoll ? 20000ms : 300ms);
             });
             ASSERT_EQ(reader->status(), xcoro::status::suspended);
             ASSERT_TRUE(to_b->send(&*sp.end));
             ASSERT_TRUE(closed->recv());
             auto got = xcoro::xawait(*reader);
             ASSERT_FALSE(got);
             if (epoll) {
               EXPECT_EQ(got.error(), std::errc::bad_file_descriptor);
             }
           },
           [&] { close_what_arrives(*to_b, *closed); }});
}

// aio::cancel from a coroutine on worker B of a read waiting on worker A (and of a sleep):
// the op ends canceled, the coroutine goes on, and the socket still works.
TEST_P(AioWorker, AioCancelFromAnotherWorker) {
  auto to_b = shared_channel<xcoro::frame>();
  auto sent = shared_channel<bool>();
  parties({[&] {
             socket_pair sp;
             int stage = 0;
             auto reader = xcoro::xasync([&] {
               std::array<std::byte, 16> buf{};
               auto first = sp.end->read(buf);
               stage = 1;
               auto slept = aio::sleep(nullptr, 60000ms);
               return std::make_pair(first.error(), slept.error());
             });
             ASSERT_EQ(reader->status(), xcoro::status::suspended);
             ASSERT_TRUE(to_b->send(reader->frame()));  // its read
             ASSERT_TRUE(sent->recv());
             while (stage == 0) {
               // The cancel runs on this worker; the reader then goes on into its sleep.
               EXPECT_TRUE(aio::sleep(nullptr, 1ms));
             }
             ASSERT_TRUE(to_b->send(reader->frame()));  // its sleep
             ASSERT_TRUE(sent->recv());
             auto [read_error, sleep_error] = xcoro::xawait(*reader);
             EXPECT_EQ(read_error, xcoro::errc::canceled);
             EXPECT_EQ(sleep_error, xcoro::errc::canceled);
             EXPECT_FALSE(xcoro::cancel_requested());
             EXPECT_EQ(read_after_waiting(*sp.end, sp.peer, "still works", false),
                       "still works");
           },
           [&] {
             for (int i = 0; i < 2; ++i) {
               auto f = to_b->recv();
               ASSERT_TRUE(f);
               EXPECT_TRUE(aio::cancel(*f));
               ASSERT_TRUE(sent->send(true));
             }
           }});
}

// A stream of counted bytes whose reading end moves between two workers every few reads,
// while a coroutine on the first worker writes all of it with write_all: nothing lost,
// duplicated or reordered.
TEST_P(AioWorker, APayloadArrivesWholeWhileItsReaderMoves) {
  const std::size_t total = xcoro_test::thread_sanitized ? (256u << 10) : (4u << 20);
  auto pattern = [](std::size_t i) { return static_cast<char>((i * 31 + i / 251) % 253); };
  struct reading {
    std::unique_ptr<aio::tcp> end;
    std::size_t have = 0;
    int moves = 0;
    bool intact = true;
  };
  auto to_b = shared_channel<std::unique_ptr<reading>>();
  auto to_a = shared_channel<std::unique_ptr<reading>>();
  reading finished;  // copied by the relay that read the last byte (not its socket)
  // Reads a few chunks on this worker, then passes the reader on; the one that reads the
  // last byte closes the socket, keeps the counts and closes both channels, which ends the
  // other relay.
  auto relay = [&](xcoro::channel<std::unique_ptr<reading>>& in,
                   xcoro::channel<std::unique_ptr<reading>>& out) {
    while (auto r = in.recv()) {
      reading& rd = **r;
      ++rd.moves;
      std::string buf(7000, '\0');
      for (int i = 0; i < 3 && rd.have < total; ++i) {
        auto n = rd.end->read(bytes_of(buf), 20000ms);
        if (!n) {
          ADD_FAILURE() << n.error().message();
          rd.have = total;
          break;
        }
        for (std::size_t k = 0; k < *n; ++k) {
          rd.intact = rd.intact && buf[k] == pattern(rd.have + k);
        }
        rd.have += *n;
      }
      if (rd.have >= total) {
        rd.end.reset();
        finished = std::move(rd);
        in.close();
        out.close();
        return;
      }
      if (!out.send(std::move(*r))) {
        return;
      }
    }
  };
  parties({[&] {
             int fds[2];
             ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
             aio::tcp writing(nullptr, fds[1]);
             auto rd = std::make_unique<reading>();
             rd->end = std::make_unique<aio::tcp>(nullptr, fds[0]);
             std::string payload(total, '\0');
             for (std::size_t i = 0; i < total; ++i) {
               payload[i] = pattern(i);
             }
             auto writer = xcoro::xasync([&] { return writing.write_all(bytes_of(payload), 20000ms); });
             ASSERT_TRUE(to_b->send(std::move(rd)));
             relay(*to_a, *to_b);
             auto wrote = xcoro::xawait(*writer);
             EXPECT_TRUE(wrote) << wrote.error().message();
           },
           [&] { relay(*to_b, *to_a); }});
  EXPECT_EQ(finished.have, total);
  EXPECT_TRUE(finished.intact);
  EXPECT_GT(finished.moves, 2);
}

// A listener accepts on A, then on B; connect with and without a timeout from each side;
// an accept that times out on B leaves the listener working.
TEST_P(AioWorker, AcceptAndConnectOnEitherWorker) {
  auto to_b = shared_channel<std::unique_ptr<aio::tcp>>();
  auto port_ch = shared_channel<int>();
  auto back = shared_channel<std::unique_ptr<aio::tcp>>();
  parties({[&] {
             auto any = aio::endpoint::parse("127.0.0.1:0");
             ASSERT_TRUE(any);
             auto l = aio::tcp::open(nullptr, *any);
             ASSERT_TRUE(l);
             ASSERT_TRUE(l->bind(*any));
             ASSERT_TRUE(l->listen(16));
             auto ep = l->local_endpoint();
             ASSERT_TRUE(ep);
             auto listener = std::make_unique<aio::tcp>(std::move(*l));
             // An accept that waits here, served by a connect from B.
             ASSERT_TRUE(port_ch->send(ep->port()));
             auto c1 = listener->accept(10000ms);
             ASSERT_TRUE(c1) << c1.error().message();
             std::array<std::byte, 8> buf{};
             auto eof = c1->read(buf, 10000ms);  // B shut its side down
             ASSERT_FALSE(eof);
             EXPECT_EQ(eof.error(), xcoro::errc::eof);
             ASSERT_TRUE(to_b->send(std::move(listener)));
             // Connect to it from here while B accepts.
             auto c2 = aio::tcp::open(nullptr, *ep);
             ASSERT_TRUE(c2);
             ASSERT_TRUE(c2->connect(*ep, 10000ms));
             std::string hello = "from A";
             EXPECT_TRUE(c2->write_all(bytes_of(hello)));
             auto l2 = back->recv();
             ASSERT_TRUE(l2);
           },
           [&] {
             auto port = port_ch->recv();
             ASSERT_TRUE(port);
             auto ep = aio::endpoint::parse("127.0.0.1:" + std::to_string(*port));
             ASSERT_TRUE(ep);
             auto c = aio::tcp::open(nullptr, *ep);
             ASSERT_TRUE(c);
             ASSERT_TRUE(c->connect(*ep));
             ASSERT_TRUE(c->shutdown());
             auto listener = to_b->recv();
             ASSERT_TRUE(listener);
             auto a = (*listener)->accept();
             ASSERT_TRUE(a) << a.error().message();
             std::string got(6, '\0');
             std::size_t have = 0;
             while (have < got.size()) {
               auto n = a->read(bytes_of(got).subspan(have), 10000ms);
               ASSERT_TRUE(n) << n.error().message();
               have += *n;
             }
             EXPECT_EQ(got, "from A");
             auto none = (*listener)->accept(5ms);
             ASSERT_FALSE(none);
             EXPECT_EQ(none.error(), std::errc::timed_out);
             ASSERT_TRUE(back->send(std::move(*listener)));
           }});
}

// UDP: a socket receives on A, moves to B, receives there (with a timeout) and answers.
TEST_P(AioWorker, UdpOnEitherWorker) {
  struct handed {
    std::unique_ptr<aio::udp> sock;
    aio::endpoint peer;
  };
  auto to_b = shared_channel<handed>();
  auto ready = shared_channel<int>();
  parties({[&] {
             auto any = aio::endpoint::parse("127.0.0.1:0");
             ASSERT_TRUE(any);
             auto u = aio::udp::open(nullptr, *any);
             ASSERT_TRUE(u);
             ASSERT_TRUE(u->bind(*any));
             auto ep = u->local_endpoint();
             ASSERT_TRUE(ep);
             auto sock = std::make_unique<aio::udp>(std::move(*u));
             auto peer = aio::udp::open(nullptr, *any);
             ASSERT_TRUE(peer);
             ASSERT_TRUE(peer->bind(*any));
             auto peer_ep = peer->local_endpoint();
             ASSERT_TRUE(peer_ep);
             auto reader = xcoro::xasync([&] {
               std::string got(32, '\0');
               auto n = sock->read(bytes_of(got));
               EXPECT_TRUE(n);
               return n ? got.substr(0, *n) : std::string();
             });
             ASSERT_EQ(reader->status(), xcoro::status::suspended);
             std::string first = "to A";
             EXPECT_TRUE(peer->write(*ep, bytes_of(first)));
             EXPECT_EQ(xcoro::xawait(*reader), first);
             ASSERT_TRUE(to_b->send(handed{std::move(sock), *peer_ep}));
             ASSERT_TRUE(ready->recv());
             std::string second = "to B";
             EXPECT_TRUE(peer->write(*ep, bytes_of(second)));
             std::string got(32, '\0');
             auto r = peer->read_from(bytes_of(got), 10000ms);
             ASSERT_TRUE(r) << r.error().message();
             EXPECT_EQ(got.substr(0, r->first), "from B");
             EXPECT_EQ(r->second.port(), ep->port());
           },
           [&] {
             auto h = to_b->recv();
             ASSERT_TRUE(h);
             auto reader = xcoro::xasync([&] {
               std::string got(32, '\0');
               auto r = h->sock->read_from(bytes_of(got), 10000ms);
               EXPECT_TRUE(r);
               return r ? std::make_pair(got.substr(0, r->first), r->second.port())
                        : std::make_pair(std::string(), std::uint16_t{0});
             });
             ASSERT_EQ(reader->status(), xcoro::status::suspended);
             ASSERT_TRUE(ready->send(1));
             auto [got, from] = xcoro::xawait(*reader);
             EXPECT_EQ(got, "to B");
             EXPECT_EQ(from, h->peer.port());
             std::string answer = "from B";
             EXPECT_TRUE(h->sock->write(h->peer, bytes_of(answer), 10000ms));
           }});
}

// A pipe's read end waits on A, then on B; its write end writes on B. A regular file
// written on A is read on B (epoll: each worker's own thread pool), at the current offset
// and at a given one.
TEST_P(AioWorker, PipesAndFilesOnEitherWorker) {
  struct files {
    std::unique_ptr<aio::file> in;
    std::unique_ptr<aio::file> out;
    std::unique_ptr<aio::file> regular;
  };
  auto to_b = shared_channel<files>();
  auto ready = shared_channel<int>();
  auto dir = std::filesystem::temp_directory_path() /
             ("xcoro_aio_worker_" + std::to_string(::getpid()) + "_" + std::to_string(GetParam()));
  std::filesystem::create_directories(dir);
  parties({[&] {
             int fds[2];
             ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
             files f;
             f.in = std::make_unique<aio::file>(nullptr, fds[0]);
             f.out = std::make_unique<aio::file>(nullptr, fds[1]);
             auto reader = xcoro::xasync([&] {
               std::string got(16, '\0');
               auto n = f.in->read(bytes_of(got), 10000ms);
               EXPECT_TRUE(n);
               return n ? got.substr(0, *n) : std::string();
             });
             ASSERT_EQ(reader->status(), xcoro::status::suspended);
             std::string first = "pipe on A";
             EXPECT_TRUE(f.out->write(bytes_of(first)));
             EXPECT_EQ(xcoro::xawait(*reader), first);
             auto reg = aio::file::open(nullptr, dir / "data", O_RDWR | O_CREAT | O_TRUNC);
             ASSERT_TRUE(reg) << reg.error().message();
             std::string text = "written on worker A";
             auto wrote = reg->write(bytes_of(text));
             ASSERT_TRUE(wrote);
             EXPECT_EQ(*wrote, text.size());
             f.regular = std::make_unique<aio::file>(std::move(*reg));
             ASSERT_TRUE(to_b->send(std::move(f)));
             ASSERT_TRUE(ready->recv());
           },
           [&] {
             auto f = to_b->recv();
             ASSERT_TRUE(f);
             auto reader = xcoro::xasync([&] {
               std::string got(16, '\0');
               auto n = f->in->read(bytes_of(got));
               EXPECT_TRUE(n);
               return n ? got.substr(0, *n) : std::string();
             });
             ASSERT_EQ(reader->status(), xcoro::status::suspended);
             std::string second = "pipe on B";
             EXPECT_TRUE(f->out->write(bytes_of(second), 10000ms));
             EXPECT_EQ(xcoro::xawait(*reader), second);
             std::string got(64, '\0');
             auto n = f->regular->pread(bytes_of(got), 0, 10000ms);
             ASSERT_TRUE(n) << n.error().message();
             EXPECT_EQ(got.substr(0, *n), "written on worker A");
             std::string more = " and B";
             EXPECT_TRUE(f->regular->write(bytes_of(more)));  // at the offset A left
             n = f->regular->pread(bytes_of(got), 0);
             ASSERT_TRUE(n);
             EXPECT_EQ(got.substr(0, *n), "written on worker A and B");
             EXPECT_TRUE(f->in->close());
             ASSERT_TRUE(ready->send(1));
           }});
  std::filesystem::remove_all(dir);
}

// A child started on A is waited for on B; one started on B with a timeout that passes
// first, then waited for on A.
TEST_P(AioWorker, AProcessStartedOnOneWorkerIsWaitedForOnAnother) {
  auto to_b = shared_channel<std::unique_ptr<aio::process>>();
  auto to_a = shared_channel<std::unique_ptr<aio::process>>();
  parties({[&] {
             auto p = aio::process::spawn(nullptr, {"sh", "-c", "exit 3"});
             ASSERT_TRUE(p) << p.error().message();
             ASSERT_TRUE(to_b->send(std::make_unique<aio::process>(std::move(*p))));
             auto q = to_a->recv();
             ASSERT_TRUE(q);
             auto status = (*q)->wait(10000ms);
             ASSERT_TRUE(status) << status.error().message();
             EXPECT_EQ(*status, 4u);
           },
           [&] {
             auto p = to_b->recv();
             ASSERT_TRUE(p);
             auto status = (*p)->wait();
             ASSERT_TRUE(status) << status.error().message();
             EXPECT_EQ(*status, 3u);
             auto q = aio::process::spawn(nullptr, {"sh", "-c", "sleep 0.2; exit 4"});
             ASSERT_TRUE(q) << q.error().message();
             auto early = q->wait(5ms);
             ASSERT_FALSE(early);
             EXPECT_EQ(early.error(), std::errc::timed_out);
             ASSERT_TRUE(to_a->send(std::make_unique<aio::process>(std::move(*q))));
           }});
}

// A notification made on A is waited for on B and notified from A; sleeps on either side,
// each at least as long as asked, and one cancelled from the other worker.
TEST_P(AioWorker, NotificationsAndSleepsAcrossWorkers) {
  auto to_b = shared_channel<std::unique_ptr<aio::async_notification>>();
  auto waiting = shared_channel<xcoro::frame>();
  auto sleeper_ch = shared_channel<xcoro::frame>();
  auto done = shared_channel<int>();
  parties({[&] {
             auto n = aio::async_notification::create(nullptr);
             ASSERT_TRUE(n);
             auto t0 = std::chrono::steady_clock::now();
             EXPECT_TRUE(aio::sleep(nullptr, 5ms));
             EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
             auto owned = std::make_unique<aio::async_notification>(std::move(*n));
             aio::async_notification* raw = owned.get();
             ASSERT_TRUE(to_b->send(std::move(owned)));
             ASSERT_TRUE(waiting->recv());  // B waits on it now
             EXPECT_TRUE(raw->notify());
             // A sleep here that B cancels.
             auto sleeper = xcoro::xasync([] { return aio::sleep(nullptr, 60000ms).error(); });
             ASSERT_TRUE(sleeper_ch->send(sleeper->frame()));
             EXPECT_EQ(xcoro::xawait(*sleeper), xcoro::errc::canceled);
             ASSERT_TRUE(done->recv());
           },
           [&] {
             auto n = to_b->recv();
             ASSERT_TRUE(n);
             auto waiter = xcoro::xasync([&] { return (*n)->wait(10000ms); });
             ASSERT_EQ(waiter->status(), xcoro::status::suspended);
             ASSERT_TRUE(waiting->send(waiter->frame()));
             EXPECT_TRUE(xcoro::xawait(*waiter));
             auto t0 = std::chrono::steady_clock::now();
             EXPECT_TRUE(aio::sleep(nullptr, 5ms));
             EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
             auto f = sleeper_ch->recv();
             ASSERT_TRUE(f);
             EXPECT_TRUE(aio::cancel(*f));
             ASSERT_TRUE(done->send(1));
           }});
}

INSTANTIATE_TEST_SUITE_P(Workers, AioWorker, ::testing::Values(2u, 8u),
                         [](const auto& info) { return std::to_string(info.param) + "workers"; });

// An object made with an explicit executor belongs to that executor's worker: used from
// another worker, its op aborts with a line naming the call and the coroutine.
TEST(AioWorkerMisuse, AnOpThroughAnotherWorkersExecutorAborts) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  EXPECT_DEATH(
      {
        auto rt = xcoro::runtime::create({.threads = 2});
        int fds[2];
        (void)::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
        std::unique_ptr<aio::tcp> t;
        (void)rt->block_on([&] {
          t = std::make_unique<aio::tcp>(aio::get_env().executor, fds[0]);
        });
        (void)rt->block_on([&] {
          auto f = xcoro::xasync([&] {
            xcoro::xframe()->set_name("mover");
            std::array<std::byte, 4> buf{};
            (void)t->read(buf, 10ms);
          });
        });
      },
      "tcp::read: coroutine 'mover' .* used an aio object whose executor belongs to another "
      "thread");
}

}  // namespace
