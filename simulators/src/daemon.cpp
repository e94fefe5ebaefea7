#include "linac/simulators/daemon.hpp"

#include <zmq.h>

#include <array>
#include <chrono>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "linac/simulators/machine_service.hpp"

namespace linac::sim {
namespace {

using Clock = std::chrono::steady_clock;

// Serialises log lines from the daemon's two threads.
class Logger {
 public:
  explicit Logger(std::ostream& os) : os_(os) {}
  void line(const std::string& s) {
    const std::lock_guard<std::mutex> lock(mutex_);
    os_ << "linac sim: " << s << std::endl;
  }

 private:
  std::ostream& os_;
  std::mutex mutex_;
};

// ZeroMQ Authentication Protocol (RFC 27) handler: admits CURVE clients whose public key is on
// the list, refuses everyone else.
void zap_handler(zmq::socket_t& zap, const std::set<std::string>& authorized,
                 const std::atomic<bool>& stop, Logger& log) {
  while (!stop.load()) {
    std::array<zmq::pollitem_t, 1> items{{{zap.handle(), 0, ZMQ_POLLIN, 0}}};
    if (zmq::poll(items.data(), 1, std::chrono::milliseconds(50)) <= 0) continue;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(zap, std::back_inserter(frames), zmq::recv_flags::dontwait) ||
        frames.size() < 6) {
      continue;
    }
    const std::string request_id = frames[1].to_string();
    const std::string address = frames[3].to_string();
    const std::string mechanism = frames[5].to_string();
    std::string key_z85 = "(none)";
    bool ok = false;
    if (mechanism == "CURVE" && frames.size() >= 7 && frames[6].size() == 32) {
      std::array<char, 41> z85{};
      zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(frames[6].data()), 32);
      key_z85 = z85.data();
      ok = authorized.count(key_z85) != 0;
    }
    if (!ok) {
      log.line("refused unauthenticated client at " + address + " (mechanism " + mechanism +
               ", key " + key_z85 + ")");
    }
    const std::array<zmq::const_buffer, 6> reply = {
        zmq::str_buffer("1.0"),
        zmq::buffer(request_id),
        ok ? zmq::str_buffer("200") : zmq::str_buffer("400"),
        ok ? zmq::str_buffer("OK") : zmq::str_buffer("unknown client key"),
        ok ? zmq::buffer(key_z85) : zmq::str_buffer(""),
        zmq::str_buffer("")};
    (void)zmq::send_multipart(zap, reply);
  }
}

}  // namespace

int run_daemon(const DaemonOptions& o, const std::atomic<bool>& stop,
               const std::function<void(const std::string&)>& on_ready, std::ostream& log_stream) {
  Logger log(log_stream);
  SimulatedMachine sim(o.seed);
  if (auto f = sim.machine().bring_up(o.profile)) {
    throw std::runtime_error("machine bring-up failed: " + f->describe());
  }
  if (o.imaging_subject) sim.set_imaging_subject(o.imaging_subject, o.patient_position);
  MachineService service(sim);
  for (const auto& f : o.faults) {
    if (f.kind == FaultKind::kLinkLoss) {
      service.inject_link_loss(f.onset_s, f.magnitude);
    } else {
      sim.inject(f);
    }
  }
  const auto started = Clock::now();
  auto real_s = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };

  zmq::context_t context(1);
  // The ZAP handler must be bound before any CURVE server socket binds.
  zmq::socket_t zap(context, zmq::socket_type::rep);
  zap.set(zmq::sockopt::linger, 0);
  zap.bind("inproc://zeromq.zap.01");
  const std::set<std::string> authorized(o.authorized_client_keys.begin(),
                                         o.authorized_client_keys.end());
  std::atomic<bool> zap_stop{false};
  std::thread zap_thread([&] { zap_handler(zap, authorized, zap_stop, log); });

  try {
    // ROUTER rather than REP: a request may go unanswered (injected link loss) without wedging
    // the socket. Clients are REQ sockets; the envelope frames are echoed back as they came.
    zmq::socket_t server(context, zmq::socket_type::router);
    server.set(zmq::sockopt::linger, 0);
    server.set(zmq::sockopt::curve_server, 1);
    server.set(zmq::sockopt::curve_secretkey, o.server_keys.secret_z85);
    server.set(zmq::sockopt::zap_domain, "linac");
    server.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(kMaxRequestBytes) * 4);
    server.bind(o.bind_endpoint);
    const std::string endpoint = server.get(zmq::sockopt::last_endpoint);
    log.line("serving a simulated " + o.profile.machine_name + " on " + endpoint + " for " +
             std::to_string(authorized.size()) + " authorized key(s)");
    on_ready(endpoint);

    const double cycle_s = o.profile.interlocks.control_cycle_s;
    const double silence_limit_s = cycle_s * o.profile.interlocks.heartbeat_loss_cycles;
    auto last_request = Clock::now();
    bool silence_reported = false;
    std::uint64_t refusals_logged = 0;
    while (!stop.load()) {
      std::array<zmq::pollitem_t, 1> items{{{server.handle(), 0, ZMQ_POLLIN, 0}}};
      int n = 0;
      try {
        n = zmq::poll(items.data(), 1,
                      std::chrono::milliseconds(std::max(1, static_cast<int>(cycle_s * 1000.0))));
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        throw;
      }
      if (n <= 0) {
        const double silent_s = std::chrono::duration<double>(Clock::now() - last_request).count();
        if (silent_s > silence_limit_s && !silence_reported &&
            sim.machine().beam->state().beam_on) {
          silence_reported = true;
          service.on_controller_silent(silent_s, silence_limit_s);
          log.line("controller silent for " + std::to_string(silent_s) + " s: beam ended");
        }
        continue;
      }
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(server, std::back_inserter(frames), zmq::recv_flags::dontwait) ||
          frames.size() < 2) {
        continue;  // not a REQ envelope: ignore
      }
      if (service.link_down(real_s())) continue;  // injected link loss: no answer
      const zmq::message_t& request = frames.back();
      last_request = Clock::now();
      silence_reported = false;
      const std::uint64_t refused_before = service.refused();
      const std::string reply = service.handle(
          std::string_view(static_cast<const char*>(request.data()), request.size()));
      if (service.refused() != refused_before) {
        ++refusals_logged;
        if (refusals_logged <= 20 || refusals_logged % 1000 == 0) {
          log.line("refused request #" + std::to_string(refusals_logged) + " of " +
                   std::to_string(request.size()) + " bytes");
        }
      }
      frames.back().rebuild(reply.data(), reply.size());  // same envelope, the reply as body
      (void)zmq::send_multipart(server, frames);
    }
    log.line("stopping: served " + std::to_string(service.served()) + " requests, refused " +
             std::to_string(service.refused()));
  } catch (...) {
    zap_stop = true;
    zap_thread.join();
    throw;
  }
  zap_stop = true;
  zap_thread.join();
  return 0;
}

}  // namespace linac::sim
