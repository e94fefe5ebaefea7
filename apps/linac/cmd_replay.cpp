// `linac replay LOG`: the digital twin. The control points a recorded delivery was driven by are
// rebuilt from its log (delivery/log_replay.hpp), delivered again on the simulated Clinac (or a
// machine daemon), and the simulated delivery is reported beside the recorded one: beam-on time,
// gantry speed, leaf errors, beam holds. Engineers use it to say before treatment how a sequence
// runs on the machine, and to check the simulator against a real one.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/log_replay.hpp"
#include "linac/delivery/session.hpp"
#include "linac/delivery/treatment_record.hpp"
#include "linac/delivery/validator.hpp"
#include "linac/formats/plan_io.hpp"
#include "machine_link.hpp"

namespace linac::cli {
namespace {

namespace fs = std::filesystem;

nlohmann::json figures_json(const delivery::DeliveryFigures& f) {
  auto r3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  return {{"beam_on_s", r3(f.beam_on_s)},
          {"rms_mm", {{"mean", r3(f.rms_mean_mm)}, {"max", r3(f.rms_max_mm)}}},
          {"p95_mm", r3(f.p95_mm)},
          {"beam_holds", f.beam_holds},
          {"gantry_travel_deg", r3(f.gantry_travel_deg)},
          {"gantry_speed_deg_per_s",
           {{"mean", r3(f.gantry_speed_mean_deg_per_s)},
            {"max_over_1s", r3(f.gantry_speed_max_deg_per_s)}}}};
}

/// A folder of this run's own: OUT when given, else a fresh one under the system's temp folder
/// (removed at the end).
struct WorkDir {
  fs::path path;
  bool keep = false;
  explicit WorkDir(const std::string& out) {
    if (!out.empty()) {
      path = out;
      keep = true;
    } else {
      std::random_device rd;
      path = fs::temp_directory_path() / ("linac-replay-" + std::to_string(rd()));
    }
    fs::create_directories(path);
  }
  ~WorkDir() {
    std::error_code ec;
    if (!keep) fs::remove_all(path, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
};

}  // namespace

int cmd_replay(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string log_path, out, daemon, server_key, client_key, profile_path;
  double mu = 0.0;
  std::uint64_t seed = 1;
  opts.add_options()("log", po::value(&log_path)->required(),
                     "a Dynalog (either file of the pair) or a trajectory log")(
      "sim", "replay on the in-process simulated Clinac iX")(
      "daemon", po::value(&daemon), "replay through the machine link at this endpoint")(
      "server-key", po::value(&server_key), "the daemon's public key (.pub), with --daemon")(
      "client-key", po::value(&client_key), "this controller's key pair (.key), with --daemon")(
      "mu", po::value(&mu)->default_value(0.0),
      "the beam's MU (required for a Dynalog, which does not carry them)")(
      "out", po::value(&out), "keep the rebuilt plan, the record and the simulated logs here")(
      "seed", po::value(&seed)->default_value(1), "simulator noise seed (--sim)")(
      "profile", po::value(&profile_path), "machine profile (default: machines/clinac-ix.json)");
  po::positional_options_description pos;
  pos.add("log", 1);
  po::variables_map vm;
  if (!parse("replay",
             "LOG (--sim | --daemon ENDPOINT --server-key PUB --client-key KEY) [--mu MU] "
             "[--out DIR] [--json]",
             opts, pos, args, vm)) {
    return kOk;
  }
  const bool json = vm.count("json") != 0;
  const bool use_sim = vm.count("sim") != 0;
  if (use_sim == !daemon.empty()) {
    throw InputError("replay", "give exactly one of --sim, --daemon");
  }
  if (mu < 0.0 || mu > 10000.0) throw InputError("--mu", "must lie in [0, 10000]");
  MachineProfile profile =
      profile_path.empty() ? default_machine_profile() : load_machine_profile(profile_path);
  const delivery::MachineLog recorded = delivery::read_machine_log(log_path);
  std::vector<std::string> notes;
  // The beam holds at the MLC tolerance the recorded plan ran with (a Dynalog's header, in
  // hundredths of a millimetre), as on the machine that recorded it.
  if (recorded.mlc_tolerance > 0) {
    const double tol_mm = recorded.mlc_tolerance / 100.0;
    if (std::abs(tol_mm - profile.mlc.position_tolerance_mm) > 1e-9) {
      notes.push_back("leaf position tolerance " + format_number(tol_mm) +
                      " mm, the recorded plan's (the profile's is " +
                      format_number(profile.mlc.position_tolerance_mm) + " mm)");
      profile.mlc.position_tolerance_mm = tol_mm;
    }
  }
  const WorkDir work(out);
  // The plan as the session reads it back (its checksum is the written file's).
  write_plan(work.path / "replay_rtplan.json",
             delivery::plan_from_log(recorded, mu, profile, &notes));
  const Plan plan = read_plan(work.path / "replay_rtplan.json");
  const auto report = delivery::validate_plan(plan, profile);
  if (!report.deliverable) {
    std::cerr << "linac replay: " << log_path << ": the rebuilt sequence is not deliverable on "
              << profile.machine_name << ":\n";
    for (std::size_t k = 0; k < report.violations.size() && k < 10; ++k) {
      std::cerr << "  " << report.violations[k].message << "\n";
    }
    if (report.violations.size() > 10) {
      std::cerr << "  (" << report.violations.size() - 10 << " more)\n";
    }
    return kNotDeliverable;
  }
  MachineConnection link = connect_machine(use_sim, seed, daemon, server_key, client_key);
  if (auto f = link.machine->bring_up(profile)) {
    throw InputError("machine", "bring-up failed: " + f->describe());
  }
  // The replay's own record (an earlier replay's into the same folder is replaced).
  const fs::path record_path = work.path / "replay_record.db";
  fs::remove(record_path);
  delivery::TreatmentRecord record(record_path.string(), report.plan_checksum, plan.label);
  delivery::SessionOptions o;
  o.plan_file = (work.path / "replay_rtplan.json").string();
  delivery::DeliverySession session(plan, report, profile, *link.machine, record, o);
  const auto result = session.run();
  const auto& beam = plan.beams.front();
  const auto& outcome = result.beams.front();
  const delivery::MachineLog simulated = delivery::log_from_delivery(
      outcome, beam, plan.patient_id, plan.label, profile.mlc.position_tolerance_mm,
      profile.interlocks.control_cycle_s);
  if (work.keep) {
    (void)delivery::write_dynalog(simulated, work.path, "replay");
    delivery::write_trajectory_log(simulated, work.path / "replay.bin");
  }
  const auto rec = delivery::delivery_figures(recorded, profile.mlc.leaf_boundaries_mm);
  const auto sim = delivery::delivery_figures(simulated, profile.mlc.leaf_boundaries_mm);
  nlohmann::json j;
  j["log"] = log_path;
  j["status"] = result.status;
  j["mu"] = beam.meterset_mu;
  j["control_points"] = beam.control_points.size();
  j["notes"] = notes;
  j["interrupts"] = nlohmann::json::array();
  for (const auto& e : outcome.interrupts) {
    j["interrupts"].push_back({{"code", e.code}, {"at_mu", e.at_mu}, {"message", e.message}});
  }
  j["recorded"] = figures_json(rec);
  j["simulated"] = figures_json(sim);
  j["simulated"]["delivered_mu"] = outcome.delivered_primary_mu;
  j["beam_on_ratio"] = rec.beam_on_s > 0.0 ? sim.beam_on_s / rec.beam_on_s : 0.0;
  j["rms_mean_ratio"] = rec.rms_mean_mm > 0.0 ? sim.rms_mean_mm / rec.rms_mean_mm : 0.0;
  if (work.keep) j["out"] = work.path.string();
  if (json) {
    std::cout << j.dump() << "\n";
  } else {
    for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
    std::printf("%s: %zu control points, %.2f MU, %s\n", log_path.c_str(),
                beam.control_points.size(), beam.meterset_mu, result.status.c_str());
    std::printf("%-10s %10s %10s %10s %10s %6s %12s\n", "", "beam-on s", "RMS mean", "RMS max",
                "p95 mm", "holds", "gantry deg/s");
    for (const auto& [name, f] : {std::pair{"recorded", rec}, std::pair{"simulated", sim}}) {
      std::printf("%-10s %10.2f %10.3f %10.3f %10.3f %6d %12.2f\n", name, f.beam_on_s,
                  f.rms_mean_mm, f.rms_max_mm, f.p95_mm, f.beam_holds,
                  f.gantry_speed_mean_deg_per_s);
    }
    for (const auto& e : outcome.interrupts) {
      std::printf("  %s: %s\n", e.code.c_str(), e.message.c_str());
    }
  }
  return result.status == "completed" ? kOk : kNotCompleted;
}

}  // namespace linac::cli
