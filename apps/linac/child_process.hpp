#pragma once
// Child processes of the command line: another `linac` command run to completion with its
// output in files, or a long-running one (the simulator daemon) read line by line and stopped.
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace linac::cli {

/// This executable (for running its own commands as child processes).
std::filesystem::path self_executable();

/// Runs `argv` (a path, or a program found on PATH) with stdin from /dev/null and stdout/stderr to
/// the files; returns the exit code (128 + signal when killed). Throws std::runtime_error when it
/// cannot start.
int run_child(const std::vector<std::string>& argv, const std::filesystem::path& stdout_file,
              const std::filesystem::path& stderr_file);

class ChildProcess {
 public:
  /// Starts `argv` with stdout on a pipe and stderr to `stderr_file`.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file);
  ~ChildProcess();  // SIGTERM, then SIGKILL after 5 s
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// The next line of stdout, or nothing after `timeout_s` or at its end.
  std::optional<std::string> read_line(double timeout_s);
  /// Sends SIGTERM and waits up to `timeout_s`, then SIGKILL. Returns the exit code.
  int stop(double timeout_s = 5.0);
  void signal(int sig);
  /// Waits up to `timeout_s` for the exit: its code (128 + signal), or -1 while it still runs.
  int wait(double timeout_s);
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int exit_code_ = -1;
  std::string buffer_;
};

}  // namespace linac::cli
