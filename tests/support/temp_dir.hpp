// A directory of a test's own under /tmp, removed with everything in it when the test ends:
// files, fifos and Unix socket paths for the aio tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace xcoro_test {

/// A fresh directory made with mkdtemp, named /tmp/xcoro-<tag>-XXXXXX so that one left
/// behind by a crashed run says which test made it. Removed, contents and all, when
/// destroyed; a failure to remove it is ignored.
class temp_dir {
 public:
  explicit temp_dir(std::string_view tag) {
    std::string tmpl = "/tmp/xcoro-" + std::string(tag) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }

  /// Whether the directory was made; if not, errno says why and path() is empty.
  bool ok() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }
  /// `name` inside the directory; an empty `name` gives the directory with a trailing '/'.
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace xcoro_test
