#pragma once
// Helpers for the test suites: temporary folders, running programs, small plans.
#include <filesystem>
#include <string>
#include <vector>

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

/// True when `program` is found on PATH.
bool on_path(const std::string& program);

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

/// A small valid two-beam plan: a 4-control-point clockwise arc and a static field.
Plan make_test_plan();

}  // namespace linac::test
