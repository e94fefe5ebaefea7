#pragma once
// The simulator daemon (`linac sim`) as a separate process on loopback, with CurveZMQ keys for a
// server, an authorized client and a stranger.
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "linac/hal/remote_machine.hpp"
#include "test_support.hpp"

namespace linac::test {

inline const std::string kLinac = LINAC_EXE;

class Daemon {
 public:
  explicit Daemon(const std::vector<std::string>& extra = {}) : Daemon(std::nullopt, extra) {}
  /// A daemon with the keys in `keys` (server, client, stranger; made there when missing), so
  /// a daemon started again later accepts the same controller.
  Daemon(const std::optional<std::filesystem::path>& keys, const std::vector<std::string>& extra)
      : keys_(keys.value_or(own_.path())) {
    for (const char* who : {"server", "client", "stranger"}) {
      if (!std::filesystem::exists(keys_ / (std::string(who) + ".key"))) make_keys(who);
    }
    std::vector<std::string> argv = {kLinac,
                                     "sim",
                                     "--bind",
                                     "tcp://127.0.0.1:*",
                                     "--server-key",
                                     (keys_ / "server.key").string(),
                                     "--authorized-key",
                                     (keys_ / "client.pub").string(),
                                     "--seed",
                                     "42"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<test::Process>(argv);
    const auto line = process_->read_line(20.0);
    if (!line || line->rfind("serving ", 0) != 0) {
      throw std::runtime_error("daemon did not start: " + process_->stderr_text());
    }
    endpoint_ = line->substr(8);
  }
  hal::RemoteMachineOptions client_options(const std::string& who = "client") const {
    hal::RemoteMachineOptions o;
    o.endpoint = endpoint_;
    o.server_public_key = hal::read_curve_public_key(keys_ / "server.pub");
    o.client_keys = hal::read_curve_keypair(keys_ / (who + ".key"));
    o.reply_timeout_s = 0.5;  // generous on a loaded CI machine; heartbeat tests set their own
    return o;
  }
  test::Process& process() { return *process_; }
  const std::filesystem::path& dir() const { return keys_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void make_keys(const std::string& name) {
    const auto r = test::run({kLinac, "sim", "keygen", "--out", (keys_ / name).string()});
    if (r.exit_code != 0) throw std::runtime_error("keygen: " + r.err);
  }
  TempDir own_;
  std::filesystem::path keys_;
  std::unique_ptr<test::Process> process_;
  std::string endpoint_;
};

}  // namespace linac::test
