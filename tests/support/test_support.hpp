#pragma once
// Helpers for the test suites: temporary folders, running programs, small plans.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "linac/core/plan.hpp"

namespace linac::test {

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] a path or a name on PATH) without a shell and waits for it.
RunResult run(const std::vector<std::string>& argv);

/// A child process with its stdout on a pipe (read line by line) and stderr in a file.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv);
  ~Process();  // stops the process if it still runs (SIGTERM, then SIGKILL)
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// The next line of stdout without its newline, or nothing after `timeout_s`.
  std::optional<std::string> read_line(double timeout_s);
  void signal(int sig);
  /// Waits up to `timeout_s` for the exit; returns the exit code (128 + signal), or -1.
  int wait(double timeout_s);
  [[nodiscard]] std::string stderr_text() const;
  [[nodiscard]] int pid() const { return child_->pid(); }

 private:
  TempDir dir_;
  std::unique_ptr<cli::ChildProcess> child_;
};

/// True when `program` is found on PATH.
bool on_path(const std::string& program);

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

/// A small valid two-beam plan: a 4-control-point clockwise arc and a static field.
Plan make_test_plan();

/// A step-and-shoot field as planning systems export one: `segments` static segments of equal
/// MU (100 MU in all), each a 20 mm window across every leaf pair, `step_mm` further along X at
/// each segment, the leaves moving between them with no MU (a pair of control points of equal
/// cumulative weight); gantry 0, 600 MU/min.
/// A full clockwise arc 181 -> 179 with `cps` control points, uniform MU, a 20 mm window that
/// shifts by `leaf_step_mm` every other control point.
Beam full_arc(int cps, double mu, double leaf_step_mm = 0.0);
/// The same arc (179 control points) with MU per degree jumping as a routed plan's do: every
/// sixth segment 8 MU, the others 0.23 MU.
Beam jumping_arc();
Plan make_step_and_shoot_plan(int segments = 5, double step_mm = 15.0);

}  // namespace linac::test
