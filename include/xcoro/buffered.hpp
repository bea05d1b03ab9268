// Buffered reading and writing over any xcoro stream (Go's bufio, asyncio's StreamReader):
// lines and delimited records with a length limit, exact reads, and writes gathered into
// one buffer with an explicit flush. See docs/io.md, "Buffered streams".
#pragma once

#include "xcoro/config.hpp"

#if XCORO_WITH_AIO

#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "xcoro/aio.hpp"
#include "xcoro/result.hpp"

namespace xcoro::aio {

/// The buffer a buffered_reader or buffered_writer allocates, once, when it is made.
struct buffered_options {
  std::size_t buffer = 16 * 1024;
};

namespace detail {

/// One deadline for a call that reads or writes more than once: what is left of it for the
/// next step, rounded up to whole milliseconds (rounded down, the call could end early).
class call_deadline {
 public:
  explicit call_deadline(const milliseconds* timeout) noexcept {
    if (timeout != nullptr) {
      at_ = std::chrono::steady_clock::now() + *timeout;
    }
  }
  /// nullptr without a deadline; else `left`, set to what remains (zero once passed).
  const milliseconds* left(milliseconds& left) const noexcept {
    if (!at_) {
      return nullptr;
    }
    auto rest = *at_ - std::chrono::steady_clock::now();
    left = rest.count() > 0 ? std::chrono::ceil<milliseconds>(rest) : milliseconds(0);
    return &left;
  }

 private:
  std::optional<std::chrono::steady_clock::time_point> at_;
};

}  // namespace detail

/// Reads from `Stream` (tcp, pipe_reader, file, or any type whose read(span) and
/// read(span, milliseconds) return result<std::size_t>, with errc::eof at the end) through
/// a buffer allocated once, at construction: no allocation per call. Each call is a
/// cancellation point as the stream's read is, and a timeout bounds the whole call. Holds a
/// reference to the stream, which must outlive it. Not copyable; movable.
template <class Stream>
class buffered_reader {
 public:
  explicit buffered_reader(Stream& s, buffered_options o = {})
      : s_(&s), buf_(new std::byte[o.buffer == 0 ? 1 : o.buffer]),
        cap_(o.buffer == 0 ? 1 : o.buffer) {}

  /// Up to buf.size() bytes: what is buffered, else one read of the stream (straight into
  /// `buf` when it is at least as large as the buffer). errc::eof at the end.
  result<std::size_t> read(std::span<std::byte> buf) { return read_some(buf, nullptr); }
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout) {
    return read_some(buf, &timeout);
  }

  /// Exactly buf.size() bytes. At the end of the stream first: errc::eof, the bytes read so
  /// far are in `buf` and none is lost (*got, when given, says how many).
  result<void> read_exact(std::span<std::byte> buf, std::size_t* got = nullptr) {
    return exact(buf, got, nullptr);
  }
  result<void> read_exact(std::span<std::byte> buf, milliseconds timeout,
                          std::size_t* got = nullptr) {
    return exact(buf, got, &timeout);
  }

  /// The bytes up to and including `delim`, as a view into the reader's buffer, valid until
  /// the next call. At most `max` bytes (delimiter included; max may not exceed the
  /// buffer: std::errc::invalid_argument): a longer record is std::errc::message_size, and
  /// the next call starts after its delimiter (the record is skipped, never buffered
  /// whole). errc::eof at the end of the stream: a last record without delimiter stays in
  /// buffered().
  result<std::string_view> read_until(char delim, std::size_t max) {
    return until(delim, max, nullptr);
  }
  result<std::string_view> read_until(char delim, std::size_t max, milliseconds timeout) {
    return until(delim, max, &timeout);
  }

  /// One line, without its "\n" or "\r\n"; as read_until('\n', max).
  result<std::string_view> read_line(std::size_t max) { return line(max, nullptr); }
  result<std::string_view> read_line(std::size_t max, milliseconds timeout) {
    return line(max, &timeout);
  }

  /// What has been read from the stream and not returned yet.
  std::span<const std::byte> buffered() const noexcept {
    return {buf_.get() + begin_, end_ - begin_};
  }

 private:
  result<std::size_t> fill(const detail::call_deadline& d) {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (end_ == cap_ && begin_ != 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    std::span<std::byte> into(buf_.get() + end_, cap_ - end_);
    milliseconds left{0};
    const milliseconds* t = d.left(left);
    result<std::size_t> n = t != nullptr ? s_->read(into, *t) : s_->read(into);
    if (n) {
      end_ += *n;
    }
    return n;
  }

  result<std::size_t> read_some(std::span<std::byte> buf, const milliseconds* timeout) {
    if (buf.empty()) {
      return std::size_t{0};
    }
    if (begin_ == end_) {
      if (buf.size() >= cap_) {
        return timeout != nullptr ? s_->read(buf, *timeout) : s_->read(buf);
      }
      detail::call_deadline d(timeout);
      if (result<std::size_t> n = fill(d); !n) {
        return n;
      }
    }
    std::size_t n = std::min(buf.size(), end_ - begin_);
    std::memcpy(buf.data(), buf_.get() + begin_, n);
    begin_ += n;
    return n;
  }

  result<void> exact(std::span<std::byte> buf, std::size_t* got,
                     const milliseconds* timeout) {
    detail::call_deadline d(timeout);
    std::size_t done = 0;
    while (done < buf.size()) {
      if (begin_ == end_) {
        if (result<std::size_t> n = fill(d); !n) {
          if (got != nullptr) {
            *got = done;
          }
          return n.error();
        }
        continue;
      }
      std::size_t n = std::min(buf.size() - done, end_ - begin_);
      std::memcpy(buf.data() + done, buf_.get() + begin_, n);
      begin_ += n;
      done += n;
    }
    if (got != nullptr) {
      *got = done;
    }
    return {};
  }

  result<std::string_view> until(char delim, std::size_t max, const milliseconds* timeout) {
    if (max == 0 || max > cap_) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    detail::call_deadline d(timeout);
    std::size_t scanned = 0;  // bytes after begin_ known not to hold the delimiter
    for (;;) {
      std::size_t avail = end_ - begin_;
      const void* at = std::memchr(buf_.get() + begin_ + scanned,
                                   static_cast<unsigned char>(delim), avail - scanned);
      if (at != nullptr) {
        std::size_t len =
            static_cast<std::size_t>(static_cast<const std::byte*>(at) - (buf_.get() + begin_)) +
            1;
        if (skipping_) {
          // The rest of an over-long record: dropped through its delimiter.
          skipping_ = false;
          begin_ += len;
          scanned = 0;
          continue;
        }
        begin_ += len;
        if (len > max) {
          return std::make_error_code(std::errc::message_size);
        }
        return std::string_view(reinterpret_cast<const char*>(buf_.get() + begin_ - len), len);
      }
      scanned = avail;
      if (skipping_) {
        begin_ = end_;  // dropped: the over-long record goes on
        scanned = 0;
      } else if (scanned >= max) {
        // Too long already: drop what is buffered now, and the rest of the record through
        // its delimiter at the next call. (A full buffer always ends here: max <= cap_.)
        begin_ = end_;
        skipping_ = true;
        return std::make_error_code(std::errc::message_size);
      }
      if (result<std::size_t> n = fill(d); !n) {
        return n.error();
      }
    }
  }

  result<std::string_view> line(std::size_t max, const milliseconds* timeout) {
    result<std::string_view> r = until('\n', max, timeout);
    if (!r) {
      return r;
    }
    std::string_view v = r->substr(0, r->size() - 1);
    if (!v.empty() && v.back() == '\r') {
      v.remove_suffix(1);
    }
    return v;
  }

  Stream* s_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_;
  std::size_t begin_ = 0;  // next byte to return
  std::size_t end_ = 0;    // end of what the stream gave
  bool skipping_ = false;  // inside an over-long record, dropping it
};

/// Gathers writes to `Stream` (tcp, pipe_writer, file, or any type with write_all(span)
/// and write_all(span, milliseconds)) in a buffer allocated once, at construction, and
/// writes them with flush(), or when the buffer is full. A write larger than the buffer
/// goes straight to the stream after what is buffered. The destructor does not write: a
/// destructor can neither report an error nor be cancelled; flush() first. Holds a
/// reference to the stream, which must outlive it. Not copyable; movable.
template <class Stream>
class buffered_writer {
 public:
  explicit buffered_writer(Stream& s, buffered_options o = {})
      : s_(&s), buf_(new std::byte[o.buffer == 0 ? 1 : o.buffer]),
        cap_(o.buffer == 0 ? 1 : o.buffer) {}

  /// Copies `data` into the buffer, writing the buffer out first when it would overflow.
  /// On an error, what the stream did not take stays buffered (pending()).
  result<void> write(std::span<const std::byte> data) { return put(data, nullptr); }
  result<void> write(std::span<const std::byte> data, milliseconds timeout) {
    return put(data, &timeout);
  }
  result<void> write(std::string_view text) { return write(std::as_bytes(std::span(text))); }
  result<void> write(std::string_view text, milliseconds timeout) {
    return write(std::as_bytes(std::span(text)), timeout);
  }

  /// Writes everything buffered.
  result<void> flush() { return drain(nullptr); }
  result<void> flush(milliseconds timeout) { return drain(&timeout); }

  /// Bytes buffered and not written yet.
  std::size_t pending() const noexcept { return used_; }

 private:
  result<void> write_out(std::span<const std::byte> data, const detail::call_deadline& d) {
    milliseconds left{0};
    const milliseconds* t = d.left(left);
    return t != nullptr ? s_->write_all(data, *t) : s_->write_all(data);
  }

  result<void> drain(const milliseconds* timeout) {
    if (used_ == 0) {
      return {};
    }
    detail::call_deadline d(timeout);
    if (result<void> r = write_out({buf_.get(), used_}, d); !r) {
      return r;  // write_all reports no partial count: the bytes stay buffered
    }
    used_ = 0;
    return {};
  }

  result<void> put(std::span<const std::byte> data, const milliseconds* timeout) {
    if (data.size() <= cap_ - used_) {
      std::memcpy(buf_.get() + used_, data.data(), data.size());
      used_ += data.size();
      return {};
    }
    detail::call_deadline d(timeout);
    if (used_ != 0) {
      if (result<void> r = write_out({buf_.get(), used_}, d); !r) {
        return r;
      }
      used_ = 0;
    }
    if (data.size() >= cap_) {
      return write_out(data, d);
    }
    std::memcpy(buf_.get(), data.data(), data.size());
    used_ = data.size();
    return {};
  }

  Stream* s_;
  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_;
  std::size_t used_ = 0;
};

}  // namespace xcoro::aio

#endif  // XCORO_WITH_AIO
