// `linac deliver PLAN`: validates the plan, then delivers it on the in-process simulated
// Clinac (--sim) or through the machine link (--daemon), recording every MU in the treatment
// record first, and writes a Dynalog pair and a trajectory log per beam.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/beam_path.hpp"
#include "linac/delivery/machine_log.hpp"
#include "linac/delivery/session.hpp"
#include "linac/delivery/trajectory.hpp"
#include "linac/formats/dicom_rtrecord.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/hal/remote_machine.hpp"
#include "linac/simulators/sim_machine.hpp"
#include "machine_link.hpp"

namespace linac::cli {
namespace {

struct Injection {
  std::string kind;  // a simulator fault kind, or operator_beam_off
  int element = 0;
  double magnitude = 0.0;
  double after_beam_on_s = 0.0;
};

// KIND[:ELEMENT[:MAGNITUDE]]@SECONDS (seconds after the first beam on of the session).
Injection parse_injection(const std::string& text) {
  const auto at = text.find('@');
  if (at == std::string::npos) {
    throw InputError("--inject " + text, "expected KIND[:ELEMENT[:MAGNITUDE]]@SECONDS");
  }
  Injection inj;
  std::string head = text.substr(0, at);
  try {
    inj.after_beam_on_s = std::stod(text.substr(at + 1));
    const auto c1 = head.find(':');
    inj.kind = head.substr(0, c1);
    if (c1 != std::string::npos) {
      const auto c2 = head.find(':', c1 + 1);
      inj.element = std::stoi(head.substr(c1 + 1, c2 - c1 - 1));
      if (c2 != std::string::npos) inj.magnitude = std::stod(head.substr(c2 + 1));
    }
  } catch (const std::exception&) {
    throw InputError("--inject " + text, "expected KIND[:ELEMENT[:MAGNITUDE]]@SECONDS");
  }
  if (inj.kind != "operator_beam_off") (void)sim::parse_fault_kind(inj.kind);
  if (inj.after_beam_on_s < 0.0) throw InputError("--inject " + text, "negative time");
  return inj;
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return out.empty() ? "beam" : out;
}

/// A DICOM Part 10 file ("DICM" after the 128-byte preamble).
bool is_dicom_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[132];
  return f.read(head, sizeof(head)) && std::string(head + 128, 4) == "DICM";
}

/// What this session delivered of each beam, for the RT Beams Treatment Record: beams it did
/// not deliver (completed before, refused) are left out; a resumed beam counts from where it
/// resumed.
std::vector<formats::RtRecordBeam> rt_record_beams(const delivery::SessionResult& result,
                                                   const Plan& plan,
                                                   const MachineProfile& profile) {
  std::vector<formats::RtRecordBeam> out;
  // Control point times from the first beam-on of the session (the record's treatment time).
  double t0 = -1.0;
  for (const auto& b : result.beams) {
    if (!b.samples.empty() && t0 < 0.0) t0 = b.start_time_s;
  }
  for (const auto& b : result.beams) {
    const Beam* beam = nullptr;
    for (const auto& pb : plan.beams) {
      if (pb.name == b.name) beam = &pb;
    }
    if (beam == nullptr || b.samples.empty() || beam->control_points.empty()) continue;
    formats::RtRecordBeam r;
    r.number = static_cast<int>(beam->number);
    r.name = beam->name;
    r.dynamic = beam->type != BeamType::kStatic;
    r.radiation_type = beam->radiation_type;
    r.energy_mv = beam->nominal_energy_mv;
    r.specified_mu = b.planned_mu - b.resumed_from_mu;
    r.delivered_mu = b.delivered_primary_mu - b.resumed_from_mu;
    r.planned_control_points = static_cast<int>(beam->control_points.size());
    r.leaf_pairs = profile.mlc.leaf_pairs;
    if (b.status != "completed") {
      r.termination_code = b.interrupts.empty() ? "unknown" : b.interrupts.front().code;
      r.termination_status = r.termination_code == "operator_beam_off" ? "OPERATOR" : "MACHINE";
    }
    const delivery::BeamTrajectory traj = delivery::sequence_beam(*beam, profile);
    // The control points reached: each when the delivered MU first reach its cumulative MU.
    auto k = static_cast<std::size_t>(std::max(0, b.samples.front().expected.control_point));
    for (const auto& c : b.samples) {
      while (k < beam->control_points.size() &&
             c.primary_mu >=
                 beam->control_points[k].cumulative_meterset_weight * beam->meterset_mu - 1e-6) {
        r.control_points.push_back(
            {static_cast<int>(k), b.start_time_s - t0 + c.time_s,
             beam->control_points[k].cumulative_meterset_weight * beam->meterset_mu, c.primary_mu,
             delivery::iec_angle_deg(c.actual.gantry_deg),
             delivery::iec_angle_deg(c.actual.collimator_deg), c.dose_rate_mu_per_min,
             k < traj.segments.size() ? traj.segments[k].dose_rate_mu_per_min : 0.0});
        ++k;
      }
    }
    if (r.control_points.empty()) continue;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

int cmd_deliver(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string plan_path, profile_path, out_dir, record_path, daemon, server_key, client_key,
      rt_plan_path;
  std::vector<std::string> injects;
  int fraction = 1;
  std::uint64_t seed = 1;
  double pace = 0.0;
  opts.add_options()("plan", po::value(&plan_path)->required(), "plan (.json, .pb or .dcm)")(
      "sim", "deliver on the in-process simulated Clinac iX")(
      "daemon", po::value(&daemon), "deliver through the machine link at this endpoint")(
      "server-key", po::value(&server_key), "the daemon's public key (.pub), with --daemon")(
      "client-key", po::value(&client_key), "this controller's key pair (.key), with --daemon")(
      "out", po::value(&out_dir)->required(), "folder for the logs (and the record by default)")(
      "record", po::value(&record_path), "treatment record (SQLite; default OUT/record.db)")(
      "fraction", po::value(&fraction)->default_value(1), "fraction number")(
      "resume", "continue a fraction that already has delivered MU in the record")(
      "inject", po::value(&injects)->composing(),
      "KIND[:ELEMENT[:MAGNITUDE]]@SECONDS after the first beam on: a simulator fault "
      "(leaf_stuck, gantry_stall, ...; --sim only) or operator_beam_off")(
      "pace", po::value(&pace)->default_value(0.0),
      "machine seconds per wall-clock second (1: real time; 0: as fast as possible)")(
      "seed", po::value(&seed)->default_value(1), "simulator noise seed (--sim)")(
      "profile", po::value(&profile_path), "machine profile (default: machines/clinac-ix.json)")(
      "rt-plan", po::value(&rt_plan_path),
      "the DICOM RT Plan the treatment record refers to (default: PLAN when it is DICOM)");
  po::positional_options_description pos;
  pos.add("plan", 1);
  po::variables_map vm;
  if (!parse("deliver",
             "PLAN (--sim | --daemon ENDPOINT --server-key PUB --client-key KEY) --out DIR "
             "[--record DB] [--fraction N] [--inject FAULT@TIME] [--resume] [--json]",
             opts, pos, args, vm)) {
    return kOk;
  }
  const bool json = vm.count("json") != 0;
  const bool use_sim = vm.count("sim") != 0;
  if (use_sim == !daemon.empty())
    throw InputError("deliver", "give exactly one of --sim, --daemon");
  if (!daemon.empty() && (server_key.empty() || client_key.empty())) {
    throw InputError("--daemon", "needs --server-key (the daemon's .pub) and --client-key");
  }
  if (fraction < 1) throw InputError("--fraction", "must be 1 or more");
  std::vector<Injection> injections;
  injections.reserve(injects.size());
  for (const auto& s : injects) injections.push_back(parse_injection(s));
  const MachineProfile profile =
      profile_path.empty() ? default_machine_profile() : load_machine_profile(profile_path);
  std::vector<std::string> notes;
  const Plan plan = read_plan(plan_path, {profile.mlc.leaf_pairs, &notes});
  const auto report = delivery::validate_plan(plan, profile);
  if (!report.deliverable) {
    std::cerr << "linac deliver: " << plan_path << ": not deliverable on " << profile.machine_name
              << "; nothing delivered:\n";
    for (const auto& v : report.violations) std::cerr << "  " << v.message << "\n";
    return kNotDeliverable;
  }
  std::filesystem::create_directories(out_dir);
  if (record_path.empty()) record_path = (std::filesystem::path(out_dir) / "record.db").string();
  // A record that cannot be written refuses the delivery: no MU without a durable record.
  std::unique_ptr<delivery::TreatmentRecord> opened;
  try {
    opened =
        std::make_unique<delivery::TreatmentRecord>(record_path, report.plan_checksum, plan.label);
  } catch (const delivery::RecordUnwritable& e) {
    std::cerr << "linac deliver: " << e.what() << "; nothing delivered" << std::endl;
    return kNotCompleted;
  }
  delivery::TreatmentRecord& record = *opened;
  if (vm.count("resume") == 0) {
    for (const auto& b : plan.beams) {
      if (record.beam_status(fraction, b.name) != delivery::BeamStatus::kNotStarted) {
        throw InputError(record_path,
                         "fraction " + std::to_string(fraction) + " beam " + b.name +
                             " already has a record (" +
                             delivery::to_string(record.beam_status(fraction, b.name)) + ", " +
                             format_measured(record.delivered_mu(fraction, b.name)) +
                             " MU); give --resume to continue it");
      }
    }
  }

  if (!use_sim) {
    for (const auto& i : injections) {
      if (i.kind != "operator_beam_off") {
        throw InputError("--inject", "device faults of a daemon are set with its --faults file");
      }
    }
  }
  MachineConnection link = connect_machine(use_sim, seed, daemon, server_key, client_key);
  sim::SimulatedMachine* simulated = link.simulated.get();
  hal::Machine* machine = link.machine;
  if (auto f = machine->bring_up(profile)) {
    throw InputError("machine", "bring-up failed: " + f->describe());
  }

  delivery::SessionOptions o;
  o.fraction = fraction;
  o.plan_file = plan_path;
  o.real_time_factor = pace;
  for (const auto& i : injections) {
    if (i.kind == "operator_beam_off") o.operator_beam_off_at_s = i.after_beam_on_s;
  }
  o.on_state = [&, first = true](const std::string& beam, delivery::SessionState s) mutable {
    if (!json) {
      std::cerr << "beam " << beam << ": " << delivery::to_string(s) << std::endl;
    } else {
      std::cerr << nlohmann::json{{"event", "state"},
                                  {"beam", beam},
                                  {"state", delivery::to_string(s)}}
                       .dump()
                << std::endl;
    }
    if (first && s == delivery::SessionState::kBeamOn && simulated) {
      first = false;
      for (const auto& i : injections) {
        if (i.kind == "operator_beam_off") continue;
        simulated->inject({sim::parse_fault_kind(i.kind), i.element,
                           simulated->clock().now_s() + i.after_beam_on_s, i.magnitude});
      }
    }
  };
  formats::RtRecordInfo rt;
  rt.patient_id = plan.patient_id;
  rt.plan_label = plan.label;
  rt.machine_name = profile.machine_name;
  rt.fraction = fraction;
  rt.fractions_planned = static_cast<int>(plan.prescription.fractions);
  if (rt_plan_path.empty() && is_dicom_file(plan_path)) rt_plan_path = plan_path;
  if (!rt_plan_path.empty()) formats::refer_to_rtplan(rt_plan_path, rt);
  {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char date[16], time[16];
    std::strftime(date, sizeof(date), "%Y%m%d", &tm);
    std::strftime(time, sizeof(time), "%H%M%S", &tm);
    rt.date = date;
    rt.time = time;
  }
  delivery::DeliverySession session(plan, report, profile, *machine, record, o);
  const auto wall0 = std::chrono::steady_clock::now();
  const auto result = session.run();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();

  nlohmann::json j;
  j["status"] = result.status;
  j["fraction"] = fraction;
  j["record"] = record_path;
  j["plan_checksum"] = report.plan_checksum;
  j["wall_s"] = wall_s;
  // The session as a record-and-verify system keeps it: a DICOM RT Beams Treatment Record.
  if (const auto beams = rt_record_beams(result, plan, profile); !beams.empty()) {
    bool resumed = false;
    for (const auto& b : result.beams) resumed = resumed || b.resumed_from_mu > 0.0;
    const auto path = std::filesystem::path(out_dir) /
                      ("RT." + safe_name(plan.patient_id) + "_f" + std::to_string(fraction) +
                       (resumed ? "_resumed" : "") + ".dcm");
    try {
      formats::write_dicom_rt_beams_treatment_record(path, rt, beams);
      j["rt_record"] = path.string();
    } catch (const std::exception& e) {
      j["rt_record_error"] = e.what();
      std::cerr << "linac deliver: the RT Beams Treatment Record was not written: " << e.what()
                << "\n";
    }
  }
  // What the MLC controller changed (closed leaf pairs opened under the jaws): said, never silent.
  j["adjustments"] = delivery::summarise(report.adjustments);
  j["notes"] = notes;  // what reading the plan assumed
  j["beams"] = nlohmann::json::array();
  for (const auto& b : result.beams) {
    nlohmann::json jb{{"name", b.name},
                      {"status", b.status},
                      {"planned_mu", b.planned_mu},
                      {"resumed_from_mu", b.resumed_from_mu},
                      {"delivered_mu", {b.delivered_primary_mu, b.delivered_secondary_mu}},
                      {"beam_on_s", b.beam_on_s},
                      {"beam_holds", b.beam_holds},
                      {"transitions", b.transitions}};
    jb["interrupts"] = nlohmann::json::array();
    for (const auto& e : b.interrupts) {
      jb["interrupts"].push_back({{"code", e.code},
                                  {"device", e.device},
                                  {"element", e.element},
                                  {"value", e.value},
                                  {"limit", e.limit},
                                  {"at_mu", e.at_mu},
                                  {"time_s", e.time_s},
                                  {"message", e.message}});
    }
    jb["logs"] = nlohmann::json::array();
    if (!b.samples.empty()) {
      const Beam* beam = nullptr;
      for (const auto& pb : plan.beams) {
        if (pb.name == b.name) beam = &pb;
      }
      try {
        const auto log = delivery::log_from_delivery(b, *beam, plan.patient_id, plan.label,
                                                     profile.mlc.position_tolerance_mm,
                                                     profile.interlocks.control_cycle_s);
        const std::string stem = safe_name(plan.patient_id) + "_" + safe_name(b.name) + "_f" +
                                 std::to_string(fraction) +
                                 (b.resumed_from_mu > 0.0 ? "_resumed" : "");
        for (const auto& p : delivery::write_dynalog(log, out_dir, stem)) {
          jb["logs"].push_back(p.string());
        }
        const auto bin = std::filesystem::path(out_dir) / (stem + ".bin");
        delivery::write_trajectory_log(log, bin);
        jb["logs"].push_back(bin.string());
      } catch (const std::exception& e) {
        jb["log_error"] = e.what();
        std::cerr << "linac deliver: logs of beam " << b.name << " not written: " << e.what()
                  << "\n";
      }
    }
    j["beams"].push_back(jb);
  }
  if (json) {
    std::cout << j.dump() << "\n";
  } else {
    for (const auto& note : notes) std::printf("note: %s\n", note.c_str());
    for (const auto& line : delivery::summarise(report.adjustments)) {
      std::printf("adjusted: %s\n", line.c_str());
    }
    std::printf("%-10s %-12s %10s %10s %10s %10s %6s %5s\n", "beam", "status", "planned", "primary",
                "secondary", "beam-on s", "holds", "moves");
    for (const auto& b : result.beams) {
      std::printf("%-10s %-12s %10.2f %10.2f %10.2f %10.1f %6d %5d\n", b.name.c_str(),
                  b.status.c_str(), b.planned_mu, b.delivered_primary_mu, b.delivered_secondary_mu,
                  b.beam_on_s, b.beam_holds, b.transitions);
      for (const auto& e : b.interrupts)
        std::printf("  %s: %s\n", e.code.c_str(), e.message.c_str());
    }
    std::printf("%s (record %s)\n", result.status.c_str(), record_path.c_str());
  }
  return result.status == "completed" ? kOk : kNotCompleted;
}

}  // namespace linac::cli
