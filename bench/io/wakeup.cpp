// How one thread can wake another that is blocked, measured for the multi-core runtime
// (spec/API.md §8, issue 13): two threads ping-pong a message, each blocking until the
// other's arrives, so every message pays for one wake-up. The wake-up mechanisms:
//   futex            FUTEX_WAIT/FUTEX_WAKE on the target's state word: the baseline, a
//                    thread parked outside any ring.
//   eventfd+poll     the target blocks in io_uring_submit_and_wait on its own ring, which
//                    holds a multishot poll (re-armed if the kernel ends it) on its eventfd;
//                    the waker writes the eventfd (PhotonLibOS's way).
//   msg_ring         the waker submits an IORING_OP_MSG_RING on its own ring that posts a
//                    CQE to the target's ring, where the target blocks.
//   futex sqe        the target's ring waits on its state word with IORING_OP_FUTEX_WAIT
//                    (Linux 6.7+), the waker calls FUTEX_WAKE: a ring woken by a plain futex.
// Each ring mechanism runs on rings set up as xcoro's are (SINGLE_ISSUER | DEFER_TASKRUN,
// marked "/defer") and, for eventfd and msg_ring, also on plain rings.
//
// Every mechanism sits behind the same park protocol a runtime would use (Tokio's
// park/unpark): each thread has a state word {idle, notified, parked}; the waker swaps in
// `notified` and makes the system call only if it found `parked`; the waiter optionally
// spins for --spin-us checking the word, then CASes idle -> parked and blocks. With no
// spin the waiter parks at once, so nearly every message costs a real wake-up.
//
// Each case runs for four placements: both threads on vCPU 0; on vCPUs 0 and 1; on vCPUs 0
// and 1 with a SCHED_IDLE spinner on each, so that a vCPU whose thread parks does not halt
// (which tells the cost of waking a halted vCPU from that of the IPI); not pinned. Round
// trips are timed in --runs runs of about --run-ms each (2,000 to --max-trips round trips
// from a warm-up's estimate, cut short at twice --run-ms), the variants of one placement
// and spin taking turns run by run, and the median run is printed. One more run times
// each wake call on the waker's thread CPU clock (CLOCK_THREAD_CPUTIME_ID, the clock's own
// cost subtracted): the CPU a busy worker spends to wake another. cpu/rt is one thread's
// CPU time per round trip (a wake, a wait, and any spinning); parked is the share of waits
// that blocked; shared, the share of round trips that ended with both threads on one vCPU
// (what "not pinned" turned out to be).
//
// A last table times each mechanism's call when the target is running, not parked (on the
// other vCPU, reaping its ring), called unconditionally: the price of using the mechanism
// itself as the channel that hands work to a busy worker, against the state word alone.
// The whole run takes about a minute with the defaults.
//
// Usage: wakeup [--runs N] [--run-ms MS] [--max-trips N] [--spin-us US] [--no-spin]
#include <liburing.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <latch>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

namespace {

// liburing 2.3 predates the futex opcodes (Linux 6.7). The opcode follows
// IORING_OP_READ_MULTISHOT and IORING_OP_WAITID in the kernel's enum; the futex2 flags are
// those of include/uapi/linux/futex.h. The probe in main tells whether the kernel has it.
constexpr std::uint8_t op_futex_wait = IORING_OP_SENDMSG_ZC + 3;
constexpr std::uint32_t futex2_size_u32 = 0x02;
constexpr std::uint32_t futex2_private = FUTEX_PRIVATE_FLAG;

// user_data of the CQEs a ring can see.
constexpr std::uint64_t tag_wake = 1;       // the eventfd poll fired, or a msg_ring arrived
constexpr std::uint64_t tag_futex = 2;      // an IORING_OP_FUTEX_WAIT completed
constexpr std::uint64_t tag_msg_error = 3;  // a msg_ring this ring sent failed

// flag: no system call at all, only the state word (the handoff table's baseline).
enum class mechanism { flag, futex, eventfd, msg_ring, uring_futex };

struct variant {
  const char* name;
  mechanism mech;
  bool defer;  // rings with SINGLE_ISSUER | DEFER_TASKRUN, as xcoro's loop sets them up
};

constexpr variant variants[] = {
    {"futex", mechanism::futex, false},
    {"eventfd+poll", mechanism::eventfd, false},
    {"eventfd+poll/defer", mechanism::eventfd, true},
    {"msg_ring", mechanism::msg_ring, false},
    {"msg_ring/defer", mechanism::msg_ring, true},
    {"futex sqe/defer", mechanism::uring_futex, true},
};

// busy: as different, with a SCHED_IDLE spinner on each of the two vCPUs, so that a
// parked thread's vCPU keeps running instead of halting: the wake-up still needs an IPI, but
// not the hypervisor's wake-up of a halted vCPU.
enum class placement { same, different, busy, unpinned };

// The park protocol's states, in a 32-bit word so that a futex can wait on it.
constexpr std::uint32_t idle = 0;
constexpr std::uint32_t notified = 1;
constexpr std::uint32_t parked = 2;

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "wakeup: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

std::int64_t clock_ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
std::int64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }
// A system call, not the vDSO: initiate() measures its cost and subtracts it.
std::int64_t cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, nullptr,
                 nullptr, 0);
}

template <class T>
T median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? T{} : v[v.size() / 2];
}

/// One side of the ping-pong. `state` and `cpu` are the only fields the peer touches, so
/// they have a cache line to themselves; the rest belongs to the thread that owns the worker.
struct worker {
  alignas(64) std::atomic<std::uint32_t> state{idle};
  std::atomic<int> cpu{-1};  // the vCPU the owner last woke up on (the responder's only)
  alignas(64) io_uring ring{};
  bool has_ring = false;
  int ring_fd = -1;
  int efd = -1;
  bool multishot = true;     // eventfd: whether the kernel keeps the poll armed
  bool futex_armed = false;  // futex sqe: a wait is in flight on the ring
  long waits = 0;
  long parks = 0;
  std::string error;  // setup failure: the case is skipped
  worker* peer = nullptr;
};

struct config {
  variant v;
  placement where;
  std::int64_t spin_ns;
  std::int64_t run_ns;
  long max_trips;
  bool handoff = false;  // time wake calls to a running target instead of the ping-pong
};

struct outcome {
  std::string skipped;              // why the case did not run, or empty
  std::vector<double> run_rt_ns;    // each run's mean round trip
  std::vector<std::int64_t> wakes;  // CPU ns of each timed wake call
  double cpu_per_rt_ns = 0;         // the initiator's CPU per round trip
  double parked_share = 0;          // waits that blocked, both threads
  double shared_share = 0;          // timed round trips with both threads on one vCPU
};

/// One case: two threads ping-ponging with one mechanism, placement and spin budget.
class bench_pair {
 public:
  explicit bench_pair(const config& c) : c_(c) {
    a_.peer = &b_;
    b_.peer = &a_;
  }

  ~bench_pair() {
    if (ta_.joinable()) {
      finish();
    }
  }

  /// Starts both threads and sets them up. False, with the reason in finish()'s outcome,
  /// if setup failed.
  bool start() {
    tb_ = std::thread([this] {
      setup(b_, 1);
      ready_.arrive_and_wait();
      if (ok()) {
        c_.handoff ? absorb() : serve();
      }
      finished_.arrive_and_wait();
      teardown(b_);
    });
    ta_ = std::thread([this] {
      setup(a_, 0);
      ready_.arrive_and_wait();
      for (bool more = true; more;) {
        go_.acquire();
        more = execute(cmd_);
        done_.release();
      }
      finished_.arrive_and_wait();
      teardown(a_);
    });
    ready_.arrive_and_wait();
    if (!ok()) {
      out_.skipped = !a_.error.empty() ? a_.error : b_.error;
      return false;
    }
    return true;
  }

  /// Warms up and picks the run length.
  void calibrate() { order(command::calibrate); }
  /// One timed run (handoff: the whole timed flood).
  void timed_run() { order(command::run); }
  /// The run that times each wake call.
  void sample() { order(command::sample); }

  /// Stops and joins both threads; the case's figures.
  outcome finish() {
    order(command::stop);
    ta_.join();
    tb_.join();
    if (trips_done_ > 0) {
      out_.cpu_per_rt_ns = static_cast<double>(cpu_spent_) / static_cast<double>(trips_done_);
      out_.shared_share = static_cast<double>(shared_) / static_cast<double>(trips_done_);
    }
    out_.parked_share = static_cast<double>(a_.parks + b_.parks) /
                        static_cast<double>(std::max(1L, a_.waits + b_.waits));
    return out_;
  }

 private:
  // Pins the calling thread, then sets up its ring (in the thread that will use it:
  // SINGLE_ISSUER binds a ring to the task that creates it) and eventfd.
  void setup(worker& w, int cpu) {
    if (c_.where != placement::unpinned) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(c_.where == placement::same ? 0 : cpu, &set);
      if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0) {
        w.error = std::string("pthread_setaffinity_np: ") + std::strerror(rc);
        return;
      }
    }
    if (c_.v.mech == mechanism::flag || c_.v.mech == mechanism::futex) {
      return;
    }
    io_uring_params p{};
    if (c_.v.defer) {
      p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    }
    if (int rc = io_uring_queue_init_params(64, &w.ring, &p); rc < 0) {
      w.error = std::string("io_uring_queue_init_params: ") + std::strerror(-rc);
      return;
    }
    w.has_ring = true;
    w.ring_fd = w.ring.ring_fd;
    if (c_.v.mech == mechanism::eventfd) {
      w.efd = eventfd(0, EFD_CLOEXEC);
      if (w.efd < 0) {
        w.error = std::string("eventfd: ") + std::strerror(errno);
        return;
      }
      arm_poll(w);
      io_uring_submit(&w.ring);
    }
  }

  static void teardown(worker& w) {
    if (w.has_ring) {
      io_uring_queue_exit(&w.ring);
    }
    if (w.efd >= 0) {
      close(w.efd);
    }
  }

  static void arm_poll(worker& w) {
    io_uring_sqe* sqe = io_uring_get_sqe(&w.ring);
    if (w.multishot) {
      io_uring_prep_poll_multishot(sqe, w.efd, POLLIN);
    } else {
      io_uring_prep_poll_add(sqe, w.efd, POLLIN);
    }
    io_uring_sqe_set_data64(sqe, tag_wake);
  }

  // Reaps the ring's CQEs; returns how many were wake-ups.
  static int consume(worker& w) {
    int wakes = 0;
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&w.ring, head, cqe) {
      ++seen;
      switch (cqe->user_data) {
        case tag_wake:
          if (w.efd >= 0) {
            // The eventfd's counter is never read: each write wakes the poll whatever the
            // count, so reading would only cost the target a system call. (Writes made
            // before the target runs may share one CQE; the park protocol makes one write
            // per park.) A poll the kernel ended (no F_MORE) is re-armed, one-shot if
            // multishot was refused.
            if (!(cqe->flags & IORING_CQE_F_MORE)) {
              if (cqe->res == -EINVAL && w.multishot) {
                w.multishot = false;
              } else if (cqe->res < 0 && cqe->res != -ECANCELED) {
                die("eventfd poll", -cqe->res);
              }
              rearm = true;
            }
            if (cqe->res > 0) {
              ++wakes;
            }
          } else {
            ++wakes;  // a msg_ring's CQE
          }
          break;
        case tag_futex:
          // 0: woken; -EAGAIN: the word had already changed. Either way, look at it.
          if (cqe->res < 0 && cqe->res != -EAGAIN) {
            die("IORING_OP_FUTEX_WAIT", -cqe->res);
          }
          w.futex_armed = false;
          ++wakes;
          break;
        case tag_msg_error:
          die("IORING_OP_MSG_RING", -cqe->res);
        default:
          std::fprintf(stderr, "wakeup: unexpected CQE %llu\n",
                       static_cast<unsigned long long>(cqe->user_data));
          std::exit(1);
      }
    }
    io_uring_cq_advance(&w.ring, seen);
    if (rearm) {
      arm_poll(w);  // submitted by the next io_uring_submit_and_wait
    }
    return wakes;
  }

  // Blocks until the peer has set `w.state` from parked to notified.
  void block(worker& w) {
    switch (c_.v.mech) {
      case mechanism::flag:
        return;  // never parks: only the handoff table uses it
      case mechanism::futex:
        while (w.state.load(std::memory_order_acquire) == parked) {
          futex(&w.state, FUTEX_WAIT_PRIVATE, parked);
        }
        return;
      case mechanism::eventfd:
      case mechanism::msg_ring:
        // The peer posts exactly one CQE for each park it sees, so waiting for one never
        // hangs, and no stale CQE is left behind for the next park.
        for (;;) {
          int rc = io_uring_submit_and_wait(&w.ring, 1);
          if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            die("io_uring_submit_and_wait", -rc);
          }
          if (consume(w) > 0 && w.state.load(std::memory_order_acquire) != parked) {
            return;
          }
        }
      case mechanism::uring_futex:
        for (;;) {
          if (!w.futex_armed) {
            // The ring sleeps on the state word itself while it still reads `parked`:
            // a FUTEX_WAKE on it completes this SQE.
            io_uring_sqe* sqe = io_uring_get_sqe(&w.ring);
            io_uring_prep_rw(op_futex_wait, sqe, static_cast<int>(futex2_size_u32 | futex2_private),
                             reinterpret_cast<void*>(&w.state), 0, parked);
            sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
            io_uring_sqe_set_data64(sqe, tag_futex);
            w.futex_armed = true;
          }
          int rc = io_uring_submit_and_wait(&w.ring, 1);
          if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            die("io_uring_submit_and_wait", -rc);
          }
          consume(w);
          if (!w.futex_armed && w.state.load(std::memory_order_acquire) != parked) {
            return;
          }
        }
    }
  }

  // The system call that wakes a parked peer.
  void wake(worker& self, worker& peer) {
    switch (c_.v.mech) {
      case mechanism::flag:
        return;
      case mechanism::futex:
      case mechanism::uring_futex:
        futex(&peer.state, FUTEX_WAKE_PRIVATE, 1);
        return;
      case mechanism::eventfd: {
        std::uint64_t one = 1;
        if (write(peer.efd, &one, sizeof one) != sizeof one) {
          die("eventfd write", errno);
        }
        return;
      }
      case mechanism::msg_ring: {
        // Sent from the waker's own ring (a worker always has one); its CQE is skipped on
        // success, so only a failure shows up there.
        io_uring_sqe* sqe = io_uring_get_sqe(&self.ring);
        io_uring_prep_msg_ring(sqe, peer.ring_fd, 0, tag_wake, 0);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, tag_msg_error);
        if (int rc = io_uring_submit(&self.ring); rc != 1) {
          die("io_uring_submit (msg_ring)", rc < 0 ? -rc : EIO);
        }
        return;
      }
    }
  }

  // Hands the peer a message: a system call only if the peer is parked.
  void notify(worker& self) {
    worker& peer = *self.peer;
    if (peer.state.exchange(notified, std::memory_order_acq_rel) == parked) {
      wake(self, peer);
    }
  }

  // Waits for the peer's message: spins for the spin budget, then parks.
  void wait(worker& w) {
    ++w.waits;
    if (c_.spin_ns > 0) {
      std::int64_t end = now_ns() + c_.spin_ns;
      do {
        for (int i = 0; i < 32; ++i) {
          if (w.state.load(std::memory_order_acquire) == notified) {
            w.state.store(idle, std::memory_order_relaxed);
            return;
          }
          cpu_relax();
        }
      } while (now_ns() < end);
    }
    std::uint32_t expected = idle;
    if (w.state.compare_exchange_strong(expected, parked, std::memory_order_acq_rel)) {
      ++w.parks;
      block(w);
    }
    // Only this thread's next park or the peer's next message (after our reply) touch the
    // word again, so a plain store is enough.
    w.state.store(idle, std::memory_order_relaxed);
  }

  void serve() {
    for (;;) {
      wait(b_);
      if (stop_.load(std::memory_order_acquire)) {
        return;
      }
      b_.cpu.store(sched_getcpu(), std::memory_order_relaxed);  // published by notify
      notify(b_);
    }
  }

  // Makes up to `n` round trips, fewer if `deadline_ns` passes first (unpinned threads may
  // land on one vCPU after the warm-up saw them on two, or the other way round). Returns
  // how many it made; adds those that ended with both threads on one vCPU to `shared`.
  long round_trips(long n, std::int64_t deadline_ns, long& shared) {
    long i = 0;
    while (i < n) {
      notify(a_);
      wait(a_);
      shared += sched_getcpu() == b_.cpu.load(std::memory_order_relaxed) ? 1 : 0;
      if (++i % 64 == 0 && now_ns() > deadline_ns) {
        break;
      }
    }
    return i;
  }
  long round_trips(long n) {
    long ignored = 0;
    return round_trips(n, INT64_MAX, ignored);
  }

  enum class command { calibrate, run, sample, stop };

  bool ok() const { return a_.error.empty() && b_.error.empty(); }

  // Has the initiator thread carry out `c` and waits until it has.
  void order(command c) {
    cmd_ = c;
    go_.release();
    done_.acquire();
  }

  // The initiator's side of a command; false once told to stop.
  bool execute(command c) {
    if (c == command::stop) {
      stop_.store(true, std::memory_order_release);
      if (ok() && !c_.handoff) {
        notify(a_);  // the responder sees stop_ after this message
      }
      return false;
    }
    if (!ok()) {
      return true;
    }
    if (c_.handoff) {
      if (c == command::run) {
        flood();
      }
      return true;
    }
    switch (c) {
      case command::calibrate: {
        round_trips(100);
        std::int64_t t0 = now_ns();
        round_trips(300);
        double estimate = static_cast<double>(now_ns() - t0) / 300;
        trips_ = static_cast<long>(static_cast<double>(c_.run_ns) / std::max(estimate, 1.0));
        trips_ = std::clamp(trips_, 2000L, c_.max_trips);
        break;
      }
      case command::run: {
        std::int64_t cpu0 = cpu_ns();
        std::int64_t start = now_ns();
        long done = round_trips(trips_, start + 2 * c_.run_ns, shared_);
        std::int64_t end = now_ns();
        cpu_spent_ += cpu_ns() - cpu0;
        trips_done_ += done;
        out_.run_rt_ns.push_back(static_cast<double>(end - start) / static_cast<double>(done));
        break;
      }
      case command::sample: {
        std::int64_t overhead = clock_overhead();
        long sampled = std::min(trips_, 20000L);
        out_.wakes.reserve(static_cast<std::size_t>(sampled));
        std::int64_t deadline = now_ns() + 2 * c_.run_ns;
        for (long i = 0; i < sampled && (i % 64 != 0 || now_ns() < deadline); ++i) {
          std::int64_t x = cpu_ns();
          notify(a_);
          std::int64_t y = cpu_ns();
          out_.wakes.push_back(std::max<std::int64_t>(0, y - x - overhead));
          wait(a_);
        }
        break;
      }
      case command::stop:
        break;
    }
    return true;
  }

  // The cost of reading the thread CPU clock, subtracted from each timed wake.
  static std::int64_t clock_overhead() {
    std::vector<std::int64_t> empty(1000);
    for (auto& e : empty) {
      std::int64_t x = cpu_ns();
      e = cpu_ns() - x;
    }
    return median(empty);
  }

  // The handoff table's target: a running thread that never parks. It keeps reaping its
  // ring (entering it when DEFER_TASKRUN holds completions back, as a busy xcoro loop does
  // at each tick) and clears the state word, until told to stop.
  void absorb() {
    while (!stop_.load(std::memory_order_acquire)) {
      if (b_.has_ring) {
        if (c_.v.defer) {
          io_uring_get_events(&b_.ring);
        }
        if (int n = consume(b_); n > 0) {
          received_.fetch_add(n, std::memory_order_release);
        }
      }
      if (b_.state.load(std::memory_order_relaxed) == notified) {
        b_.state.store(idle, std::memory_order_relaxed);
      }
      cpu_relax();
    }
  }

  // Times `trips` wake calls to the running target on the thread CPU clock. A msg_ring
  // waits for the target to drain all but 32 of its CQEs first (untimed), so that its CQ
  // never overflows; eventfd wake-ups coalesce, so they need no such limit.
  void flood() {
    std::int64_t overhead = clock_overhead();
    long trips = std::min(c_.max_trips, 20000L);
    out_.wakes.reserve(static_cast<std::size_t>(trips));
    for (long i = -1000; i < trips; ++i) {  // the first 1,000 warm up
      if (c_.v.mech == mechanism::msg_ring) {
        while (sent_ - received_.load(std::memory_order_acquire) > 32) {
          cpu_relax();
        }
      }
      std::int64_t x = cpu_ns();
      if (c_.v.mech == mechanism::flag) {
        b_.state.exchange(notified, std::memory_order_acq_rel);
      } else {
        wake(a_, b_);
      }
      std::int64_t y = cpu_ns();
      ++sent_;
      if (i >= 0) {
        out_.wakes.push_back(std::max<std::int64_t>(0, y - x - overhead));
      }
    }
  }

  config c_;
  worker a_;  // the initiator: sends, times, then waits for the reply
  worker b_;  // replies to each message
  std::thread ta_;
  std::thread tb_;
  std::latch ready_{3};     // both threads set up, and the caller
  std::latch finished_{2};  // neither ring is closed while the peer may still use it
  std::binary_semaphore go_{0};
  std::binary_semaphore done_{0};
  command cmd_ = command::stop;
  long trips_ = 2000;       // round trips per timed run
  long trips_done_ = 0;     // over all timed runs
  long shared_ = 0;         // of those, with both threads on one vCPU
  std::int64_t cpu_spent_ = 0;
  std::atomic<bool> stop_{false};
  long sent_ = 0;                     // handoff: wake calls made by the initiator
  std::atomic<long> received_{0};     // handoff: wake-ups the target reaped
  outcome out_;
};

std::string read_first(const char* path, const char* key) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) {
    return {};
  }
  char line[512];
  std::string found;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (key == nullptr || std::strncmp(line, key, std::strlen(key)) == 0) {
      found = line;
      if (key != nullptr) {
        found = found.substr(found.find(':') + 1);
      }
      break;
    }
  }
  std::fclose(f);
  while (!found.empty() && (found.back() == '\n' || found.back() == ' ')) {
    found.pop_back();
  }
  while (!found.empty() && (found.front() == ' ' || found.front() == '\t')) {
    found.erase(0, 1);
  }
  return found;
}

/// Which ring features the kernel has, from a throwaway ring.
struct kernel_support {
  bool uring = false;
  bool msg_ring = false;
  bool futex_wait = false;
  std::string why;
};

kernel_support probe() {
  kernel_support k;
  io_uring ring;
  if (int rc = io_uring_queue_init(8, &ring, 0); rc < 0) {
    k.why = std::string("io_uring: ") + std::strerror(-rc);
    return k;
  }
  k.uring = true;
  if (io_uring_probe* p = io_uring_get_probe_ring(&ring)) {
    k.msg_ring = io_uring_opcode_supported(p, IORING_OP_MSG_RING) != 0;
    k.futex_wait = p->last_op >= op_futex_wait && io_uring_opcode_supported(p, op_futex_wait);
    io_uring_free_probe(p);
  }
  io_uring_queue_exit(&ring);
  return k;
}

/// The vCPU time the hypervisor gave to others ("steal") and all vCPU time so far, in
/// ticks, from /proc/stat: on a VM, the noise no benchmark design removes.
struct cpu_ticks {
  unsigned long long steal = 0;
  unsigned long long total = 0;
};

cpu_ticks ticks_now() {
  cpu_ticks t;
  if (FILE* f = std::fopen("/proc/stat", "r")) {
    unsigned long long v[8] = {};
    if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                    &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
      for (unsigned long long x : v) {
        t.total += x;
      }
      t.steal = v[7];
    }
    std::fclose(f);
  }
  return t;
}

/// Why the kernel cannot run `v`, or empty.
std::string unsupported(const variant& v, const kernel_support& k) {
  if (v.mech == mechanism::flag || v.mech == mechanism::futex) {
    return {};
  }
  if (!k.uring) {
    return k.why;
  }
  if (v.mech == mechanism::msg_ring && !k.msg_ring) {
    return "no IORING_OP_MSG_RING";
  }
  if (v.mech == mechanism::uring_futex && !k.futex_wait) {
    return "no IORING_OP_FUTEX_WAIT (Linux 6.7+)";
  }
  return {};
}

double mean(const std::vector<std::int64_t>& v) {
  double sum = 0;
  for (std::int64_t x : v) {
    sum += static_cast<double>(x);
  }
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

/// With `on`, a SCHED_IDLE thread spinning on each of vCPUs 0 and 1 until destroyed: they
/// run only when nothing else wants the vCPU, and keep it from halting.
class spinners {
 public:
  explicit spinners(bool on) {
    for (int cpu = 0; on && cpu < 2; ++cpu) {
      threads_.emplace_back([this, cpu] {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        sched_param none{};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
        while (!stop_.load(std::memory_order_relaxed)) {
          cpu_relax();
        }
      });
    }
  }
  ~spinners() {
    stop_.store(true, std::memory_order_relaxed);
    for (std::thread& t : threads_) {
      t.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

long parse(const char* s, const char* what) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0) {
    std::fprintf(stderr, "wakeup: bad %s: %s\n", what, s);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 7;
  long run_ms = 200;
  long max_trips = 100000;
  long spin_us = 20;
  bool with_spin = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--runs" && has_value) {
      runs = static_cast<int>(std::max(1L, parse(argv[++i], "--runs")));
    } else if (a == "--run-ms" && has_value) {
      run_ms = parse(argv[++i], "--run-ms");
    } else if (a == "--max-trips" && has_value) {
      max_trips = std::max(2000L, parse(argv[++i], "--max-trips"));
    } else if (a == "--spin-us" && has_value) {
      spin_us = parse(argv[++i], "--spin-us");
    } else if (a == "--no-spin") {
      with_spin = false;
    } else {
      std::fprintf(stderr,
                   "usage: wakeup [--runs N] [--run-ms MS] [--max-trips N] [--spin-us US] "
                   "[--no-spin]\n");
      return 2;
    }
  }
  if (spin_us == 0) {
    with_spin = false;
  }

  utsname u{};
  uname(&u);
  std::string model = read_first("/proc/cpuinfo", "model name");
  unsigned cpus = std::thread::hardware_concurrency();
  std::string clocksource =
      read_first("/sys/devices/system/clocksource/clocksource0/current_clocksource", nullptr);
  std::string load = read_first("/proc/loadavg", nullptr);
  std::printf("cpu: %s, %u vCPUs, kernel %s, clocksource %s, load average %s\n",
              model.empty() ? "?" : model.c_str(), cpus, u.release,
              clocksource.empty() ? "?" : clocksource.c_str(),
              load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1)).c_str());
  std::printf(
      "two-thread ping-pong, each thread blocking until the other's message; medians of %d "
      "runs of about %ld ms (2,000 to %ld round trips)\n",
      runs, run_ms, max_trips);
  std::printf(
      "rt: round trip; x futex: rt over futex's in the same placement and spin; wake ns: "
      "waker's CPU per wake call, median (mean);\ncpu/rt: one thread's CPU per round trip; "
      "parked: waits that blocked; shared: round trips with both threads on one vCPU;\n"
      "spread: (max - min) / median over the runs\n");

  kernel_support k = probe();
  std::vector<std::int64_t> spins = {0};
  if (with_spin) {
    spins.push_back(spin_us * 1000);
  }
  const placement places[] = {placement::same, placement::different, placement::busy,
                              placement::unpinned};
  for (placement where : places) {
    if ((where == placement::different || where == placement::busy) && cpus < 2) {
      std::printf("\n(one vCPU only: no different-vCPU cases)\n");
      continue;
    }
    std::printf("\n%s\n",
                where == placement::same        ? "both threads on vCPU 0"
                : where == placement::different ? "threads on vCPUs 0 and 1 (idle vCPUs halt)"
                : where == placement::busy
                    ? "threads on vCPUs 0 and 1, each vCPU kept busy by a SCHED_IDLE spinner"
                    : "not pinned");
    std::printf("  %-20s %5s %8s %8s %6s %7s %8s %7s %9s %6s %6s\n", "mechanism", "spin",
                "rt us", "1-way us", "spread", "x futex", "wake ns", "(mean)", "cpu/rt us",
                "parked", "shared");
    spinners hogs(where == placement::busy);
    cpu_ticks before = ticks_now();
    for (std::int64_t spin : spins) {
      // All the variants' pairs live at once and take turns, one run each in a rotating
      // order, so that a slow spell of the host hits them alike.
      constexpr std::size_t n = std::size(variants);
      std::unique_ptr<bench_pair> pairs[n];
      std::string missing[n];
      for (std::size_t i = 0; i < n; ++i) {
        missing[i] = unsupported(variants[i], k);
        if (missing[i].empty()) {
          pairs[i] = std::make_unique<bench_pair>(
              config{variants[i], where, spin, run_ms * 1000000, max_trips});
          if (!pairs[i]->start()) {
            missing[i] = pairs[i]->finish().skipped;
            pairs[i].reset();
          }
        }
      }
      for (auto& p : pairs) {
        if (p) {
          p->calibrate();
        }
      }
      for (int r = 0; r < runs; ++r) {
        for (std::size_t i = 0; i < n; ++i) {
          if (auto& p = pairs[(i + static_cast<std::size_t>(r)) % n]) {
            p->timed_run();
          }
        }
      }
      for (auto& p : pairs) {
        if (p) {
          p->sample();
        }
      }
      char spin_label[24];
      std::snprintf(spin_label, sizeof spin_label, "%lldus", static_cast<long long>(spin / 1000));
      double futex_rt = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!pairs[i]) {
          std::printf("  %-20s %5s   skipped: %s\n", variants[i].name, spin_label,
                      missing[i].c_str());
          continue;
        }
        outcome o = pairs[i]->finish();
        double rt = median(o.run_rt_ns);
        auto [lo, hi] = std::minmax_element(o.run_rt_ns.begin(), o.run_rt_ns.end());
        if (variants[i].mech == mechanism::futex) {
          futex_rt = rt;
        }
        char ratio[16] = "-";
        if (futex_rt > 0) {
          std::snprintf(ratio, sizeof ratio, "%.2f", rt / futex_rt);
        }
        std::printf("  %-20s %5s %8.2f %8.2f %5.0f%% %7s %8lld %7.0f %9.2f %5.0f%% %5.0f%%\n",
                    variants[i].name, spin_label, rt / 1000, rt / 2000, (*hi - *lo) / rt * 100,
                    ratio, static_cast<long long>(median(o.wakes)), mean(o.wakes),
                    o.cpu_per_rt_ns / 1000, o.parked_share * 100, o.shared_share * 100);
      }
      std::fflush(stdout);
    }
    cpu_ticks after = ticks_now();
    if (after.total > before.total) {
      std::printf("  vCPU time stolen by the host meanwhile: %.1f%%\n",
                  100.0 * static_cast<double>(after.steal - before.steal) /
                      static_cast<double>(after.total - before.total));
    }
  }

  // Handing work to a running thread: what each mechanism's call costs the waker when the
  // target is not parked, i.e. when it is sent unconditionally instead of behind the state
  // word (msg_ring could carry the work itself in its CQE).
  std::printf(
      "\nhandoff to a running thread (vCPUs 0 and 1): the target spins and reaps its ring, "
      "never parks;\nthe waker calls the mechanism unconditionally: CPU ns per call, median "
      "(mean) of %ld\n",
      std::min(max_trips, 20000L));
  if (cpus < 2) {
    std::printf("  (one vCPU only: skipped)\n");
    return 0;
  }
  const variant handoffs[] = {
      {"state word only", mechanism::flag, false}, variants[0], variants[1],
      variants[2],                                 variants[3], variants[4],
  };
  for (const variant& v : handoffs) {
    std::string missing = unsupported(v, k);
    outcome o;
    if (missing.empty()) {
      config c{v, placement::different, 0, 0, max_trips};
      c.handoff = true;
      bench_pair pair(c);
      if (pair.start()) {
        pair.timed_run();
      }
      o = pair.finish();
      missing = o.skipped;
    }
    if (!missing.empty()) {
      std::printf("  %-20s skipped: %s\n", v.name, missing.c_str());
      continue;
    }
    std::printf("  %-20s %8lld %7.0f\n", v.name, static_cast<long long>(median(o.wakes)),
                mean(o.wakes));
    std::fflush(stdout);
  }
  return 0;
}
