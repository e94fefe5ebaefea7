#pragma once
// The simulator daemon on a thread of the benchmark process (CurveZMQ on loopback, a fresh key
// pair for the server and one authorised client), for benchmarks through the machine link.
#include <atomic>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "linac/hal/remote_machine.hpp"
#include "linac/simulators/daemon.hpp"

namespace linac::bench {

class ThreadDaemon {
 public:
  explicit ThreadDaemon(const MachineProfile& profile) {
    options_.bind_endpoint = "tcp://127.0.0.1:*";
    options_.server_keys = hal::generate_curve_keypair();
    client_ = hal::generate_curve_keypair();
    options_.authorized_client_keys = {client_.public_z85};
    options_.profile = profile;
    auto endpoint = ready_.get_future();
    thread_ = std::thread([this] {
      sim::run_daemon(
          options_, stop_, [this](const std::string& e) { ready_.set_value(e); }, log_);
    });
    endpoint_ = endpoint.get();
  }
  ~ThreadDaemon() {
    stop_ = true;
    thread_.join();
  }
  ThreadDaemon(const ThreadDaemon&) = delete;
  ThreadDaemon& operator=(const ThreadDaemon&) = delete;

  /// Options for a client of this daemon; `reply_timeout_s` 0 means the profile's cycle.
  [[nodiscard]] hal::RemoteMachineOptions client_options(double reply_timeout_s = 0.0) const {
    hal::RemoteMachineOptions ro;
    ro.endpoint = endpoint_;
    ro.server_public_key = options_.server_keys.public_z85;
    ro.client_keys = client_;
    ro.reply_timeout_s = reply_timeout_s;
    return ro;
  }

 private:
  sim::DaemonOptions options_;
  hal::CurveKeyPair client_;
  std::atomic<bool> stop_{false};
  std::promise<std::string> ready_;
  std::ostringstream log_;
  std::thread thread_;
  std::string endpoint_;
};

}  // namespace linac::bench
