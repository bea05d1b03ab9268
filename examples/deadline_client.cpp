// A client whose whole exchange (connect, two requests, a reply read line by line) runs under
// one deadline, xcoro::with_timeout, rather than a timeout on each call. The protocol is a toy
// in the spirit of POP3: "LIST" answers item lines ended by ".", "STAT" one line, "QUIT" ends.
//   deadline_client IP:PORT [BUDGET_MS]  one exchange (budget 1000 ms); `nc -l PORT` can
//                                        play the server, typed by hand within the budget
//   deadline_client --self-test          against a prompt and a stalling server, in-process
//
// Per-call timeouts compose badly: five calls of 200 ms each may take a second, and each
// needs its own error path. with_timeout runs the exchange as a child coroutine and cancels
// it when the budget is spent: the call it is blocked in returns errc::canceled, the code
// unwinds as on any error, and with_timeout reports std::errc::timed_out.
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/scope.hpp>

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace {

long long ms(steady::duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

xcoro::result<void> send(aio::tcp& conn, std::string_view text) {
  return conn.write_all(std::as_bytes(std::span(text)));
}

/// Reads one '\n'-terminated line; what follows it stays in `pending` for the next call.
/// No timeout: whoever needs one puts a deadline around the whole conversation.
xcoro::result<std::string> read_line(aio::tcp& conn, std::string& pending) {
  for (;;) {
    if (auto end = pending.find('\n'); end != std::string::npos) {
      std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      return line;
    }
    std::array<char, 512> buf;
    auto n = conn.read(std::as_writable_bytes(std::span(buf)));
    if (!n) {
      return n.error();
    }
    pending.append(buf.data(), *n);
  }
}

/// Sends a request and reads the first line of its reply.
xcoro::result<std::string> request(aio::tcp& conn, std::string& pending, std::string_view req) {
  if (auto w = send(conn, req); !w) {
    return w.error();
  }
  return read_line(conn, pending);
}

struct listing {
  std::vector<std::string> items;  // LIST's lines
  std::string stat;                // STAT's line
};

/// Connects, asks LIST and STAT, and says goodbye however the asking went. Not one call here
/// has a timeout, yet none can outlast the caller's deadline.
xcoro::result<listing> exchange(const aio::endpoint& server) {
  auto conn = aio::tcp::open(nullptr, server);
  if (!conn) {
    return conn.error();
  }
  if (auto c = conn->connect(server); !c) {
    return c.error();
  }
  listing l;
  std::string pending;
  auto line = request(*conn, pending, "LIST\n");
  for (; line && *line != "."; line = read_line(*conn, pending)) {
    l.items.push_back(std::move(*line));
  }
  if (line) {
    line = request(*conn, pending, "STAT\n");
    l.stat = line ? *line : "";
  }
  {
    // Past the deadline this coroutine is cancelled and every blocking call returns
    // errc::canceled at once. The shield lets the goodbye out anyway, so the server ends the
    // session now rather than when it gives up on us; having set the deadline aside, the
    // write carries its own short bound.
    xcoro::cancel_shield shield;
    (void)conn->write_all(std::as_bytes(std::span(std::string_view("QUIT\n"))), 100ms);
  }
  if (!line) {
    return line.error();
  }
  return l;
}

/// exchange() under one deadline, printing what came of it.
xcoro::result<listing> timed_exchange(const aio::endpoint& server, milliseconds budget) {
  auto t0 = steady::now();
  auto answer = xcoro::with_timeout(budget, exchange, server);
  auto took = steady::now() - t0;
  if (answer) {
    std::printf("%zu items and \"%s\"", answer->items.size(), answer->stat.c_str());
  } else {
    std::printf("%s", answer.error().message().c_str());
  }
  std::printf(" after %lld ms (budget %lld ms)\n", ms(took),
              static_cast<long long>(budget.count()));
  return answer;
}

std::string how(std::error_code ec) {
  return ec == xcoro::errc::eof ? "end of stream" : ec.message();
}

/// The self-test's server: one session, until QUIT or the client goes away; returns which.
/// A non-zero `stall` stands in for a stuck backend: LIST's reply stops after two items.
std::string serve(aio::tcp conn, milliseconds stall) {
  std::string pending;
  for (;;) {
    auto req = read_line(conn, pending);
    if (!req || *req == "QUIT") {
      return req ? "QUIT" : how(req.error());
    }
    std::vector<std::string> reply = {"4 items"};  // STAT's, and anything else's
    if (*req == "LIST") {
      reply = {"item 1", "item 2", "item 3", "item 4", "."};
    }
    for (std::size_t i = 0; i < reply.size(); ++i) {
      if (i == 2 && stall > 0ms) {
        // Waiting on the socket rather than sleeping lets a client that gives up end the
        // stall at once: its QUIT, or its close, ends the session.
        std::array<char, 64> buf;
        auto n = conn.read(std::as_writable_bytes(std::span(buf)), stall);
        if (n) {
          return std::string_view(buf.data(), *n).starts_with("QUIT") ? "QUIT" : "a cut-in";
        }
        if (n.error() != std::errc::timed_out) {
          return how(n.error());
        }
      }
      // A write per line, so that the client reads the reply in pieces.
      if (auto w = send(conn, reply[i] + "\n"); !w) {
        return how(w.error());
      }
    }
  }
}

/// One exchange with a prompt server and one with a server that stalls far longer than the
/// budget, each server a coroutine of this thread. Returns the exit status.
int self_test() {
  constexpr milliseconds budget = 500ms;
  constexpr milliseconds stall = 20s;  // the upper bounds below are stall / 2: generous
  auto at = *aio::endpoint::parse("127.0.0.1:0");
  auto listener = aio::tcp::open(nullptr, at);
  if (!listener || !listener->bind(at) || !listener->listen(4)) {
    return 3;
  }
  at = *listener->local_endpoint();
  bool ok = true;
  for (milliseconds s : {0ms, stall}) {
    auto t0 = steady::now();
    auto server = xcoro::xasync([&listener, s] {
      auto conn = listener->accept();
      return conn ? serve(std::move(*conn), s) : how(conn.error());
    });
    if (!server) {
      return 1;
    }
    std::printf(s == 0ms ? "prompt server:   " : "stalling server: ");
    auto answer = timed_exchange(at, budget);
    auto took = steady::now() - t0;
    // The server's coroutine must end by itself, on the client's QUIT, not when it stops
    // stalling.
    std::string ended = xcoro::xawait(*server);
    auto server_took = steady::now() - t0;
    std::printf("  and the server's session ended on %s after %lld ms\n", ended.c_str(),
                ms(server_took));
    bool in_time = answer && answer->items.size() == 4 && answer->stat == "4 items";
    bool timed_out =
        !answer && answer.error() == std::errc::timed_out && took >= budget && took < stall / 2;
    ok = ok && (s == 0ms ? in_time : timed_out) && ended == "QUIT" && server_took < stall / 2;
  }
  std::printf("%s\n", ok ? "self-test passed" : "self-test FAILED");
  return ok ? 0 : 4;
}

}  // namespace

int main(int argc, char** argv) {
  bool test = argc == 2 && std::string_view(argv[1]) == "--self-test";
  char* end = nullptr;
  long long budget = argc == 3 ? std::strtoll(argv[2], &end, 10) : 1000;
  if (!test && (argc < 2 || argc > 3 || argv[1][0] == '-' || (end && *end) || budget < 0)) {
    std::fprintf(stderr,
                 "usage: deadline_client IP:PORT [BUDGET_MS]\n"
                 "       deadline_client --self-test\n");
    return 2;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, [&]() -> int {
    if (test) {
      return self_test();
    }
    auto at = aio::endpoint::parse(argv[1]);
    if (!at) {
      std::fprintf(stderr, "bad address: %s (want IP:PORT)\n", argv[1]);
      return 2;
    }
    return timed_exchange(*at, milliseconds(budget)) ? 0 : 1;
  });
  if (!r) {
    // errc::deadlock would mean a coroutine left waiting on something nothing will end.
    std::fprintf(stderr, "run: %s\n", r.error().message().c_str());
    return 1;
  }
  // Nothing may outlive the exchanges: no deadline left armed, no IO in flight.
  if (test && ex.tick()) {
    std::printf("the loop still had work after the run\n");
    return 5;
  }
  return *r;
}
