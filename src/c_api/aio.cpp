// The C API's aio part (Linux): the loop with its executor, run, sleep, with_timeout,
// endpoints, tcp, udp, file, process and notification, each blocking call with a timeout.
// Each handle holds the C++ object; XCORO_FOREVER picks the untimed C++ overload.
#include <chrono>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "c_api/c_api.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/scope.hpp"

using namespace xcoro;
using namespace xcoro::c_api;

struct xcoro_loop {
  XCORO_C_ALLOCATED
  explicit xcoro_loop(aio::loop&& l) noexcept : loop(std::move(l)), ex(loop) {}
  aio::loop loop;
  aio::executor ex;  // points at `loop`: the handle never moves
};

struct xcoro_tcp {
  XCORO_C_ALLOCATED
  aio::tcp s;
};
struct xcoro_udp {
  XCORO_C_ALLOCATED
  aio::udp s;
};
struct xcoro_file {
  XCORO_C_ALLOCATED
  aio::file f;
};
struct xcoro_process {
  XCORO_C_ALLOCATED
  aio::process p;
};
struct xcoro_notification {
  XCORO_C_ALLOCATED
  aio::async_notification n;
};

static_assert(sizeof(aio::endpoint) <= sizeof(xcoro_endpoint) &&
                  alignof(aio::endpoint) <= alignof(xcoro_endpoint) &&
                  std::is_trivially_copyable_v<aio::endpoint>,
              "xcoro_endpoint must hold an aio::endpoint");

namespace xcoro::c_api {
namespace {

/// The aio executor a call uses: the loop's, or the env's; nullptr when there is neither.
aio::executor* exec_of(xcoro_loop* l) noexcept {
  return l != nullptr ? &l->ex : aio::get_env().executor;
}

aio::endpoint endpoint_of(const xcoro_endpoint* e) noexcept {
  aio::endpoint out;
  std::memcpy(static_cast<void*>(&out), e, sizeof out);
  return out;
}

void put_endpoint(const aio::endpoint& in, xcoro_endpoint* out) noexcept {
  std::memset(out, 0, sizeof *out);
  std::memcpy(out, static_cast<const void*>(&in), sizeof in);
}

/// A result as a C code; its value, if any, goes to *out.
template <class T, class Out>
int deliver(result<T>&& r, Out* out) {
  if (!r) {
    return to_c(r.error());
  }
  if (out != nullptr) {
    *out = static_cast<Out>(*r);
  }
  return XCORO_OK;
}
int deliver(result<void>&& r) {
  return r ? XCORO_OK : to_c(r.error());
}

/// Calls `op()` for XCORO_FOREVER (any negative timeout), else `op(ms)`.
template <class Op>
auto timed(std::int64_t timeout_ms, Op&& op) {
  return timeout_ms < 0 ? op() : op(std::chrono::milliseconds(timeout_ms));
}

/// A socket's local endpoint into *out.
template <class Socket>
int local_endpoint_of(const Socket& s, xcoro_endpoint* out) {
  result<aio::endpoint> e = s.local_endpoint();
  if (!e) {
    return to_c(e.error());
  }
  put_endpoint(*e, out);
  return XCORO_OK;
}

/// read() into `buf` of a tcp or file (`obj` nullptr: its handle was NULL); count in *n.
template <class Obj>
int read_some(const char* call, Obj* obj, void* buf, std::size_t len, std::size_t* n,
              std::int64_t timeout_ms) noexcept {
  if (obj == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded(call, [&] {
    std::span<std::byte> b(static_cast<std::byte*>(buf), len);
    return deliver(timed(timeout_ms, [&](auto... t) { return obj->read(b, t...); }), n);
  });
}

/// write() from `buf` to a tcp or file, as read_some.
template <class Obj>
int write_some(const char* call, Obj* obj, const void* buf, std::size_t len, std::size_t* n,
               std::int64_t timeout_ms) noexcept {
  if (obj == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded(call, [&] {
    std::span<const std::byte> b(static_cast<const std::byte*>(buf), len);
    return deliver(timed(timeout_ms, [&](auto... t) { return obj->write(b, t...); }), n);
  });
}

/// A descriptor-backed handle made by `make()` (a result<T>), stored as H{T} in *out.
template <class H, class Make>
int make_handle(H** out, Make&& make) {
  auto r = make();
  if (!r) {
    return to_c(r.error());
  }
  H* h = new H{std::move(*r)};
  if (h == nullptr) {
    return XCORO_ENOMEM;  // r's descriptor is closed with it
  }
  *out = h;
  return XCORO_OK;
}

}  // namespace
}  // namespace xcoro::c_api

extern "C" {

int xcoro_loop_create(xcoro_loop** out, int backend) noexcept {
  if (out == nullptr || backend < XCORO_BACKEND_AUTO || backend > XCORO_BACKEND_EPOLL) {
    return XCORO_EINVAL;
  }
  static_assert(XCORO_BACKEND_AUTO == static_cast<int>(aio::backend::automatic) &&
                XCORO_BACKEND_IO_URING == static_cast<int>(aio::backend::io_uring) &&
                XCORO_BACKEND_EPOLL == static_cast<int>(aio::backend::epoll));
  return guarded("xcoro_loop_create", [&] {
    result<aio::loop> l = aio::loop::create({.backend = static_cast<aio::backend>(backend)});
    if (!l) {
      return to_c(l.error());
    }
    xcoro_loop* h = new xcoro_loop(std::move(*l));
    if (h == nullptr) {
      return XCORO_ENOMEM;
    }
    *out = h;
    return XCORO_OK;
  });
}

void xcoro_loop_destroy(xcoro_loop* l) noexcept {
  if (l != nullptr && aio::get_env().executor == &l->ex) {
    aio::init_env({});  // the env must not point at a freed loop
  }
  delete l;
}

int xcoro_loop_backend(const xcoro_loop* l) noexcept {
  return l != nullptr ? static_cast<int>(l->loop.backend()) : XCORO_EINVAL;
}

xcoro_executor* xcoro_loop_executor(xcoro_loop* l) noexcept {
  return l != nullptr ? reinterpret_cast<xcoro_executor*>(&l->ex.exec()) : nullptr;
}

void xcoro_loop_init_env(xcoro_loop* l) noexcept {
  aio::env e;
  e.executor = l != nullptr ? &l->ex : nullptr;
  e.default_stack_size = get_env().default_stack_size;
  e.stack_allocator = get_env().stack_allocator;
  aio::init_env(e);
}

int xcoro_run(xcoro_loop* l, int (*fn)(void*), void* arg, size_t stack_size) noexcept {
  aio::executor* ex = exec_of(l);
  if (ex == nullptr || fn == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_run", [&] {
    result<int> r = aio::run(ex, stack_arg(stack_size), [fn, arg] { return fn(arg); });
    return r ? *r : to_c(r.error());
  });
}

int xcoro_sleep(xcoro_loop* l, int64_t ms) noexcept {
  aio::executor* ex = exec_of(l);
  if (ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_sleep", [&] {
    return deliver(aio::sleep(ex, std::chrono::milliseconds(ms < 0 ? 0 : ms)));
  });
}

int xcoro_with_timeout(int64_t timeout_ms, int (*fn)(void*), void* arg) noexcept {
  if (fn == nullptr || aio::get_env().executor == nullptr) {
    return XCORO_EINVAL;  // the deadline runs on the env loop
  }
  return guarded("xcoro_with_timeout", [&] {
    result<int> r = with_timeout(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms),
                                 [fn, arg] { return fn(arg); });
    return r ? *r : to_c(r.error());
  });
}

int xcoro_endpoint_parse(xcoro_endpoint* out, const char* text) noexcept {
  if (out == nullptr || text == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_endpoint_parse", [&] {
    result<aio::endpoint> e = aio::endpoint::parse(text);
    if (!e) {
      return XCORO_EINVAL;
    }
    put_endpoint(*e, out);
    return XCORO_OK;
  });
}

int xcoro_endpoint_port(const xcoro_endpoint* e) noexcept {
  return e != nullptr ? endpoint_of(e).port() : XCORO_EINVAL;
}

int xcoro_endpoint_format(const xcoro_endpoint* e, char* buf, size_t len) noexcept {
  if (e == nullptr || buf == nullptr || len == 0) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_endpoint_format", [&] {
    std::string s = endpoint_of(e).to_string();
    if (s.size() + 1 > len) {
      return XCORO_EINVAL;
    }
    std::memcpy(buf, s.c_str(), s.size() + 1);
    return static_cast<int>(s.size());
  });
}

int xcoro_tcp_open(xcoro_tcp** out, xcoro_loop* l, const xcoro_endpoint* family_of) noexcept {
  aio::executor* ex = exec_of(l);
  if (out == nullptr || family_of == nullptr || ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_open", [&] {
    return make_handle(out, [&] { return aio::tcp::open(ex, endpoint_of(family_of)); });
  });
}

int xcoro_tcp_bind(xcoro_tcp* s, const xcoro_endpoint* e) noexcept {
  if (s == nullptr || e == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_bind", [&] { return deliver(s->s.bind(endpoint_of(e))); });
}

int xcoro_tcp_listen(xcoro_tcp* s, int backlog) noexcept {
  if (s == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_listen", [&] { return deliver(s->s.listen(backlog)); });
}

int xcoro_tcp_local_endpoint(const xcoro_tcp* s, xcoro_endpoint* out) noexcept {
  if (s == nullptr || out == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_local_endpoint", [&] { return local_endpoint_of(s->s, out); });
}

int xcoro_tcp_accept(xcoro_tcp* s, xcoro_tcp** out, int64_t timeout_ms) noexcept {
  if (s == nullptr || out == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_accept", [&] {
    return make_handle(out, [&] {
      return timed(timeout_ms, [&](auto... t) { return s->s.accept(t...); });
    });
  });
}

int xcoro_tcp_connect(xcoro_tcp* s, const xcoro_endpoint* e, int64_t timeout_ms) noexcept {
  if (s == nullptr || e == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_connect", [&] {
    aio::endpoint to = endpoint_of(e);
    return deliver(timed(timeout_ms, [&](auto... t) { return s->s.connect(to, t...); }));
  });
}

int xcoro_tcp_read(xcoro_tcp* s, void* buf, size_t len, size_t* n, int64_t timeout_ms) noexcept {
  return read_some("xcoro_tcp_read", s != nullptr ? &s->s : nullptr, buf, len, n, timeout_ms);
}

int xcoro_tcp_write(xcoro_tcp* s, const void* buf, size_t len, size_t* n,
                    int64_t timeout_ms) noexcept {
  return write_some("xcoro_tcp_write", s != nullptr ? &s->s : nullptr, buf, len, n, timeout_ms);
}

int xcoro_tcp_write_all(xcoro_tcp* s, const void* buf, size_t len, int64_t timeout_ms) noexcept {
  if (s == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_write_all", [&] {
    std::span<const std::byte> b(static_cast<const std::byte*>(buf), len);
    return deliver(timed(timeout_ms, [&](auto... t) { return s->s.write_all(b, t...); }));
  });
}

int xcoro_tcp_shutdown(xcoro_tcp* s) noexcept {
  if (s == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_tcp_shutdown", [&] { return deliver(s->s.shutdown()); });
}

int xcoro_tcp_fd(const xcoro_tcp* s) noexcept {
  return s != nullptr ? s->s.native_handle() : XCORO_EINVAL;
}

void xcoro_tcp_close(xcoro_tcp* s) noexcept {
  delete s;  // ~descriptor closes it and tells the loop
}

int xcoro_udp_open(xcoro_udp** out, xcoro_loop* l, const xcoro_endpoint* family_of) noexcept {
  aio::executor* ex = exec_of(l);
  if (out == nullptr || family_of == nullptr || ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_udp_open", [&] {
    return make_handle(out, [&] { return aio::udp::open(ex, endpoint_of(family_of)); });
  });
}

int xcoro_udp_bind(xcoro_udp* s, const xcoro_endpoint* e) noexcept {
  if (s == nullptr || e == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_udp_bind", [&] { return deliver(s->s.bind(endpoint_of(e))); });
}

int xcoro_udp_local_endpoint(const xcoro_udp* s, xcoro_endpoint* out) noexcept {
  if (s == nullptr || out == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_udp_local_endpoint", [&] { return local_endpoint_of(s->s, out); });
}

int xcoro_udp_read_from(xcoro_udp* s, void* buf, size_t len, size_t* n, xcoro_endpoint* from,
                        int64_t timeout_ms) noexcept {
  if (s == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_udp_read_from", [&] {
    std::span<std::byte> b(static_cast<std::byte*>(buf), len);
    auto r = timed(timeout_ms, [&](auto... t) { return s->s.read_from(b, t...); });
    if (!r) {
      return to_c(r.error());
    }
    if (n != nullptr) {
      *n = r->first;
    }
    if (from != nullptr) {
      put_endpoint(r->second, from);
    }
    return XCORO_OK;
  });
}

int xcoro_udp_write_to(xcoro_udp* s, const xcoro_endpoint* to, const void* buf, size_t len,
                       size_t* n, int64_t timeout_ms) noexcept {
  if (s == nullptr || to == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_udp_write_to", [&] {
    std::span<const std::byte> b(static_cast<const std::byte*>(buf), len);
    aio::endpoint e = endpoint_of(to);
    return deliver(timed(timeout_ms, [&](auto... t) { return s->s.write(e, b, t...); }), n);
  });
}

void xcoro_udp_close(xcoro_udp* s) noexcept {
  delete s;
}

int xcoro_file_open(xcoro_file** out, xcoro_loop* l, const char* path, int flags,
                    int mode) noexcept {
  aio::executor* ex = exec_of(l);
  if (out == nullptr || path == nullptr || ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_file_open", [&] {
    return make_handle(out, [&] { return aio::file::open(ex, path, flags, mode); });
  });
}

int xcoro_file_read(xcoro_file* f, void* buf, size_t len, size_t* n, int64_t timeout_ms) noexcept {
  return read_some("xcoro_file_read", f != nullptr ? &f->f : nullptr, buf, len, n, timeout_ms);
}

int xcoro_file_write(xcoro_file* f, const void* buf, size_t len, size_t* n,
                     int64_t timeout_ms) noexcept {
  return write_some("xcoro_file_write", f != nullptr ? &f->f : nullptr, buf, len, n, timeout_ms);
}

int xcoro_file_pread(xcoro_file* f, void* buf, size_t len, uint64_t offset, size_t* n,
                     int64_t timeout_ms) noexcept {
  if (f == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_file_pread", [&] {
    std::span<std::byte> b(static_cast<std::byte*>(buf), len);
    return deliver(timed(timeout_ms, [&](auto... t) { return f->f.pread(b, offset, t...); }), n);
  });
}

int xcoro_file_pwrite(xcoro_file* f, const void* buf, size_t len, uint64_t offset, size_t* n,
                      int64_t timeout_ms) noexcept {
  if (f == nullptr || (buf == nullptr && len > 0)) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_file_pwrite", [&] {
    std::span<const std::byte> b(static_cast<const std::byte*>(buf), len);
    return deliver(timed(timeout_ms, [&](auto... t) { return f->f.pwrite(b, offset, t...); }),
                   n);
  });
}

void xcoro_file_close(xcoro_file* f) noexcept {
  delete f;
}

int xcoro_process_spawn(xcoro_process** out, xcoro_loop* l, const char* const* argv) noexcept {
  aio::executor* ex = exec_of(l);
  if (out == nullptr || argv == nullptr || argv[0] == nullptr || ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_process_spawn", [&] {
    std::vector<std::string> args;
    for (const char* const* a = argv; *a != nullptr; ++a) {
      args.emplace_back(*a);
    }
    return make_handle(out, [&] { return aio::process::spawn(ex, std::move(args)); });
  });
}

int xcoro_process_wait(xcoro_process* p, uint32_t* status, int64_t timeout_ms) noexcept {
  if (p == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_process_wait", [&] {
    return deliver(timed(timeout_ms, [&](auto... t) { return p->p.wait(t...); }), status);
  });
}

int xcoro_process_pid(const xcoro_process* p) noexcept {
  return p != nullptr ? static_cast<int>(p->p.pid()) : XCORO_EINVAL;
}

void xcoro_process_destroy(xcoro_process* p) noexcept {
  delete p;
}

int xcoro_notification_create(xcoro_notification** out, xcoro_loop* l) noexcept {
  aio::executor* ex = exec_of(l);
  if (out == nullptr || ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_notification_create", [&] {
    return make_handle(out, [&] { return aio::async_notification::create(ex); });
  });
}

int xcoro_notification_wait(xcoro_notification* n, int64_t timeout_ms) noexcept {
  if (n == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_notification_wait", [&] {
    return deliver(timed(timeout_ms, [&](auto... t) { return n->n.wait(t...); }));
  });
}

int xcoro_notification_notify(xcoro_notification* n) noexcept {
  if (n == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_notification_notify", [&] { return deliver(n->n.notify()); });
}

void xcoro_notification_destroy(xcoro_notification* n) noexcept {
  delete n;
}

}  // extern "C"
