// What the benchmark programs share: summary statistics, the machine they ran on, the
// ratio column, and failing loudly (a figure from a run that went wrong would be worse
// than none).
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xcoro/result.hpp"

namespace xcoro_bench {

/// The program's name, which fail() puts before its message; each main sets it.
inline const char* program_name = "xcoro benchmark";

/// Prints "<program>: <what>" on stderr and exits with status 1.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "%s: %s\n", program_name, what);
  std::exit(1);
}

/// The value of `r`, or fail(what).
template <class R>
R take(xcoro::result<R>&& r, const char* what) {
  if (!r) {
    fail(what);
  }
  return std::move(*r);
}

/// Parses the command line as "--name value" pairs. -h or --help prints `usage` on stdout
/// and returns 0; a name without a value, or a pair that `take(name, value)` refuses
/// (returns false: an unknown name or a bad value), prints it on stderr and returns 2.
/// Returns -1 when every pair was taken.
template <class Take>
int parse_pairs(int argc, char** argv, void (*usage)(std::FILE*), Take take) {
  for (int i = 1; i < argc; i += 2) {
    std::string_view name = argv[i];
    if (name == "-h" || name == "--help") {
      usage(stdout);
      return 0;
    }
    if (i + 1 >= argc || !take(name, argv[i + 1])) {
      usage(stderr);
      return 2;
    }
  }
  return -1;
}

/// `v` as a positive decimal count; 0 if it is not one.
inline unsigned long long count_arg(const char* v) {
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  return *v == '\0' || *end != '\0' ? 0 : n;
}

/// The median; -1 (shown as missing) for no values.
inline double median(std::vector<double> v) {
  if (v.empty()) {
    return -1;
  }
  std::sort(v.begin(), v.end());
  std::size_t m = v.size() / 2;
  return v.size() % 2 != 0 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/// The mean; -1 for no values.
inline double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) {
    sum += x;
  }
  return v.empty() ? -1 : sum / static_cast<double>(v.size());
}

/// The CPU's model name from /proc/cpuinfo, or "unknown".
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::size_t start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
      }
    }
  }
  return "unknown";
}

/// The three load averages from /proc/loadavg.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

/// `s` in single quotes for /bin/sh (popen), with its own single quotes escaped.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) {
    q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  }
  return q + "'";
}

/// Linux >= 4.0: resets this process's resident peak (VmHWM) to its current RSS.
inline void reset_resident_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

/// A field of /proc/self/status given in kB (`field` with its colon, e.g. "VmRSS:"), in
/// MiB; -1 when /proc does not say.
inline double proc_status_mib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::strtod(line.c_str() + field.size(), nullptr) / 1024.0;
    }
  }
  return -1;
}

/// This process's resident set now (VmRSS), in MiB.
inline double resident_mib() {
  return proc_status_mib("VmRSS:");
}

/// This process's resident peak (VmHWM) in MiB, since start or reset_resident_peak().
inline double resident_peak_mib() {
  return proc_status_mib("VmHWM:");
}

/// Prints " %9.2f" of a/b, or n/a when either is missing (not positive).
inline void print_ratio(double a, double b) {
  if (a > 0 && b > 0) {
    std::printf(" %9.2f", a / b);
  } else {
    std::printf(" %9s", "n/a");
  }
}

}  // namespace xcoro_bench
