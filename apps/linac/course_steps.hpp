#pragma once
// `linac course`'s bookkeeping, shared by its planning, fractions and summary: each stage's time
// (times.json in the course folder, kept across resumed runs) and the `linac` commands it runs
// as child processes.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"

namespace linac::cli::course {
namespace fs = std::filesystem;
using nlohmann::json;

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
inline double r2(double v) {
  return std::round(v * 100.0) / 100.0;
}

inline json read_json(const fs::path& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw InputError(path.string(), std::string("not valid JSON: ") + e.what());
  }
}

/// A course folder's steps: each stage's time (times.json, kept across resumed runs) and the
/// `linac` commands it runs as child processes.
class CourseSteps {
 public:
  explicit CourseSteps(fs::path dir) : dir_(std::move(dir)), self_(self_executable()) {
    times_ = fs::exists(dir_ / "times.json") ? read_json(dir_ / "times.json") : json::object();
  }
  static void say(const std::string& s) { std::cerr << "course: " << s << std::endl; }
  void record_time(const std::string& key, Clock::time_point t0) {
    times_[key] = r2(seconds_since(t0));
    write_file_atomically(dir_ / "times.json", {times_.dump(1)});
  }
  /// `linac argv...` with its stdout in `stdout_file` and its stderr beside it (.log); a bad
  /// input, an internal error or a signal fails the course (std::runtime_error naming the log).
  int run(const std::string& name, std::vector<std::string> argv,
          const fs::path& stdout_file) const {
    argv.insert(argv.begin(), self_.string());
    fs::create_directories(stdout_file.parent_path());
    const fs::path err = stdout_file.parent_path() / (stdout_file.stem().string() + ".log");
    const int rc = run_child(argv, stdout_file, err);
    if (rc == kBadInput || rc == kInternalError || rc >= 128) {
      throw std::runtime_error(name + " failed (exit " + std::to_string(rc) + "); see " +
                               err.string());
    }
    return rc;
  }
  [[nodiscard]] const json& times() const { return times_; }
  [[nodiscard]] const fs::path& self() const { return self_; }

 private:
  fs::path dir_;
  fs::path self_;
  json times_;
};

}  // namespace linac::cli::course
