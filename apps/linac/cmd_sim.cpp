// `linac sim`: the simulator daemon; `linac sim keygen`: CurveZMQ key pairs for the link.
#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/hal/curve_keys.hpp"
#include "linac/simulators/daemon.hpp"
#include "linac/simulators/kv_projector.hpp"

namespace linac::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int /*signal*/) {
  g_stop.store(true);
}

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: let the poll return
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int cmd_sim(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string bind;
  std::string server_key;
  std::vector<std::string> authorized;
  std::string faults;
  std::string profile_path;
  std::uint64_t seed = 1;
  std::string subject;
  std::string setup_error;
  opts.add_options()("bind", po::value(&bind)->required(),
                     "endpoint to serve, e.g. tcp://127.0.0.1:5555 (port * picks a free one)")(
      "server-key", po::value(&server_key)->required(), "the daemon's key pair (.key)")(
      "authorized-key", po::value(&authorized)->composing()->required(),
      "public key (.pub) of a client allowed to connect; repeatable")(
      "faults", po::value(&faults), "fault-injection file (JSON)")(
      "profile", po::value(&profile_path), "machine profile (default: machines/clinac-ix.json)")(
      "seed", po::value(&seed)->default_value(1), "noise seed")(
      "subject", po::value(&subject),
      "case folder whose CT the kV imager sees, its treatment isocentre (PTV or liver centroid) "
      "at the machine's isocentre")(
      "setup-error", po::value(&setup_error),
      "the day's set-up error of the subject: tx,ty,tz,rx,ry,rz (mm, degrees; patient axes)");
  po::variables_map vm;
  if (!parse("sim", "--bind ENDPOINT --server-key FILE --authorized-key FILE... [--faults FILE]",
             opts, {}, args, vm)) {
    return kOk;
  }
  sim::DaemonOptions o;
  o.bind_endpoint = bind;
  o.server_keys = hal::read_curve_keypair(server_key);
  for (const auto& k : authorized)
    o.authorized_client_keys.push_back(hal::read_curve_public_key(k));
  o.profile = profile_path.empty() ? default_machine_profile() : load_machine_profile(profile_path);
  if (!faults.empty()) o.faults = sim::load_fault_file(faults);
  o.seed = seed;
  if (!subject.empty()) {
    const Case c = load_case_or_dicom(subject);
    const RigidTransform error =
        setup_error.empty() ? RigidTransform() : parse_setup_error("--setup-error", setup_error);
    o.imaging_subject = std::make_shared<Volume<float>>(sim::imaging_subject(c, error));
    o.patient_position = c.patient_position;
  }
  const bool json = vm.count("json") != 0;
  install_stop_handlers();
  try {
    return sim::run_daemon(
        o, g_stop,
        [&](const std::string& endpoint) {
          if (json) {
            std::cout << nlohmann::json{{"event", "ready"}, {"endpoint", endpoint}}.dump()
                      << std::endl;
          } else {
            std::cout << "serving " << endpoint << std::endl;
          }
        },
        std::cerr);
  } catch (const std::runtime_error& e) {
    throw InputError("--bind " + bind, e.what());
  }
}

int cmd_sim_keygen(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string out;
  opts.add_options()("out", po::value(&out)->required(),
                     "path prefix: writes PREFIX.key (secret, mode 0600) and PREFIX.pub");
  po::variables_map vm;
  if (!parse("sim keygen", "--out PREFIX [--json]", opts, {}, args, vm)) return kOk;
  const auto keys = hal::generate_curve_keypair();
  const auto files = hal::write_curve_keypair(out, keys);
  if (vm.count("json") != 0) {
    std::cout << nlohmann::json{{"public_key", keys.public_z85},
                                {"key_file", files[0].string()},
                                {"public_key_file", files[1].string()}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "wrote " << files[0].string() << " (keep secret) and " << files[1].string()
              << "\npublic key " << keys.public_z85 << "\n";
  }
  return kOk;
}

}  // namespace linac::cli
