// `linac deliver PLAN`: validates the plan, then delivers it on the in-process simulated
// Clinac (--sim) or through the machine link (--daemon), recording every MU in the treatment
// record first, and writes a Dynalog pair and a trajectory log per beam.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

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

/// What `linac deliver` was asked.
struct DeliverRequest {
  std::string plan_path, profile_path, out_dir, record_path, daemon, server_key, client_key,
      rt_plan_path;
  std::vector<Injection> injections;
  int fraction = 1;
  std::uint64_t seed = 1;
  double pace = 0.0;
  bool use_sim = false;
  bool resume = false;
  bool json = false;
};

/// The options parsed and checked; nullopt after --help.
std::optional<DeliverRequest> parse_deliver(const std::vector<std::string>& args) {
  po::options_description opts("options");
  DeliverRequest q;
  std::vector<std::string> injects;
  opts.add_options()("plan", po::value(&q.plan_path)->required(), "plan (.json, .pb or .dcm)")(
      "sim", "deliver on the in-process simulated Clinac iX")(
      "daemon", po::value(&q.daemon), "deliver through the machine link at this endpoint")(
      "server-key", po::value(&q.server_key), "the daemon's public key (.pub), with --daemon")(
      "client-key", po::value(&q.client_key), "this controller's key pair (.key), with --daemon")(
      "out", po::value(&q.out_dir)->required(), "folder for the logs (and the record by default)")(
      "record", po::value(&q.record_path), "treatment record (SQLite; default OUT/record.db)")(
      "fraction", po::value(&q.fraction)->default_value(1), "fraction number")(
      "resume", "continue a fraction that already has delivered MU in the record")(
      "inject", po::value(&injects)->composing(),
      "KIND[:ELEMENT[:MAGNITUDE]]@SECONDS after the first beam on: a simulator fault "
      "(leaf_stuck, gantry_stall, ...; --sim only) or operator_beam_off")(
      "pace", po::value(&q.pace)->default_value(0.0),
      "machine seconds per wall-clock second (1: real time; 0: as fast as possible)")(
      "seed", po::value(&q.seed)->default_value(1), "simulator noise seed (--sim)")(
      "profile", po::value(&q.profile_path), "machine profile (default: machines/clinac-ix.json)")(
      "rt-plan", po::value(&q.rt_plan_path),
      "the DICOM RT Plan the treatment record refers to (default: PLAN when it is DICOM)");
  po::positional_options_description pos;
  pos.add("plan", 1);
  po::variables_map vm;
  if (!parse("deliver",
             "PLAN (--sim | --daemon ENDPOINT --server-key PUB --client-key KEY) --out DIR "
             "[--record DB] [--fraction N] [--inject FAULT@TIME] [--resume] [--json]",
             opts, pos, args, vm)) {
    return std::nullopt;
  }
  q.json = vm.count("json") != 0;
  q.use_sim = vm.count("sim") != 0;
  q.resume = vm.count("resume") != 0;
  if (q.use_sim == !q.daemon.empty())
    throw InputError("deliver", "give exactly one of --sim, --daemon");
  if (!q.daemon.empty() && (q.server_key.empty() || q.client_key.empty())) {
    throw InputError("--daemon", "needs --server-key (the daemon's .pub) and --client-key");
  }
  if (q.fraction < 1) throw InputError("--fraction", "must be 1 or more");
  q.injections.reserve(injects.size());
  for (const auto& s : injects) q.injections.push_back(parse_injection(s));
  return q;
}

/// A fraction whose beams the record already knows is continued only with --resume.
void check_not_started(const DeliverRequest& q, const Plan& plan,
                       delivery::TreatmentRecord& record) {
  if (q.resume) return;
  for (const auto& b : plan.beams) {
    if (record.beam_status(q.fraction, b.name) != delivery::BeamStatus::kNotStarted) {
      throw InputError(q.record_path,
                       "fraction " + std::to_string(q.fraction) + " beam " + b.name +
                           " already has a record (" +
                           delivery::to_string(record.beam_status(q.fraction, b.name)) + ", " +
                           format_measured(record.delivered_mu(q.fraction, b.name)) +
                           " MU); give --resume to continue it");
    }
  }
}

/// The session's options: each state change said on stderr (a JSON line with --json), and the
/// simulator's injected faults armed at the first beam on.
delivery::SessionOptions session_options(const DeliverRequest& q,
                                         sim::SimulatedMachine* simulated) {
  delivery::SessionOptions o;
  o.fraction = q.fraction;
  o.plan_file = q.plan_path;
  o.real_time_factor = q.pace;
  for (const auto& i : q.injections) {
    if (i.kind == "operator_beam_off") o.operator_beam_off_at_s = i.after_beam_on_s;
  }
  o.on_state = [json = q.json, injections = q.injections, simulated, first = true](
                   const std::string& beam, delivery::SessionState s) mutable {
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
  return o;
}

/// The RT Beams Treatment Record's header: patient, plan (and the RT Plan it refers to), machine,
/// fraction, and the treatment's date and time (UTC).
formats::RtRecordInfo rt_record_info(const DeliverRequest& q, const Plan& plan,
                                     const MachineProfile& profile) {
  formats::RtRecordInfo rt;
  rt.patient_id = plan.patient_id;
  rt.plan_label = plan.label;
  rt.machine_name = profile.machine_name;
  rt.fraction = q.fraction;
  rt.fractions_planned = static_cast<int>(plan.prescription.fractions);
  std::string rt_plan_path = q.rt_plan_path;
  if (rt_plan_path.empty() && is_dicom_file(q.plan_path)) rt_plan_path = q.plan_path;
  if (!rt_plan_path.empty()) formats::refer_to_rtplan(rt_plan_path, rt);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char date[16], time[16];
  std::strftime(date, sizeof(date), "%Y%m%d", &tm);
  std::strftime(time, sizeof(time), "%H%M%S", &tm);
  rt.date = date;
  rt.time = time;
  return rt;
}

/// The session as a record-and-verify system keeps it: a DICOM RT Beams Treatment Record of
/// what this session delivered (its path, or why it was not written, in `j`).
void write_rt_record(const DeliverRequest& q, const Plan& plan, const MachineProfile& profile,
                     const formats::RtRecordInfo& rt, const delivery::SessionResult& result,
                     nlohmann::json& j) {
  const auto beams = rt_record_beams(result, plan, profile);
  if (beams.empty()) return;
  bool resumed = false;
  for (const auto& b : result.beams) resumed = resumed || b.resumed_from_mu > 0.0;
  const auto path = std::filesystem::path(q.out_dir) /
                    ("RT." + safe_name(plan.patient_id) + "_f" + std::to_string(q.fraction) +
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

/// One beam's outcome as JSON, with the Dynalog pair and trajectory log written from its samples.
nlohmann::json beam_json(const DeliverRequest& q, const Plan& plan, const MachineProfile& profile,
                         const delivery::BeamOutcome& b) {
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
  if (b.samples.empty()) return jb;
  const Beam* beam = nullptr;
  for (const auto& pb : plan.beams) {
    if (pb.name == b.name) beam = &pb;
  }
  try {
    const auto log = delivery::log_from_delivery(b, *beam, plan.patient_id, plan.label,
                                                 profile.mlc.position_tolerance_mm,
                                                 profile.interlocks.control_cycle_s);
    const std::string stem = safe_name(plan.patient_id) + "_" + safe_name(b.name) + "_f" +
                             std::to_string(q.fraction) +
                             (b.resumed_from_mu > 0.0 ? "_resumed" : "");
    for (const auto& p : delivery::write_dynalog(log, q.out_dir, stem)) {
      jb["logs"].push_back(p.string());
    }
    const auto bin = std::filesystem::path(q.out_dir) / (stem + ".bin");
    delivery::write_trajectory_log(log, bin);
    jb["logs"].push_back(bin.string());
  } catch (const std::exception& e) {
    jb["log_error"] = e.what();
    std::cerr << "linac deliver: logs of beam " << b.name << " not written: " << e.what() << "\n";
  }
  return jb;
}

/// The outcome for a reader: notes, adjustments, a row per beam with its interruptions.
void print_delivery(const DeliverRequest& q, const std::vector<std::string>& notes,
                    const delivery::ValidationReport& report,
                    const delivery::SessionResult& result) {
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
    for (const auto& e : b.interrupts) std::printf("  %s: %s\n", e.code.c_str(), e.message.c_str());
  }
  std::printf("%s (record %s)\n", result.status.c_str(), q.record_path.c_str());
}

}  // namespace

int cmd_deliver(const std::vector<std::string>& args) {
  std::optional<DeliverRequest> parsed = parse_deliver(args);
  if (!parsed) return kOk;
  DeliverRequest& q = *parsed;
  const MachineProfile profile =
      q.profile_path.empty() ? default_machine_profile() : load_machine_profile(q.profile_path);
  std::vector<std::string> notes;
  const Plan plan = read_plan(q.plan_path, {profile.mlc.leaf_pairs, &notes});
  const auto report = delivery::validate_plan(plan, profile);
  if (!report.deliverable) {
    std::cerr << "linac deliver: " << q.plan_path << ": not deliverable on " << profile.machine_name
              << "; nothing delivered:\n";
    for (const auto& v : report.violations) std::cerr << "  " << v.message << "\n";
    return kNotDeliverable;
  }
  std::filesystem::create_directories(q.out_dir);
  if (q.record_path.empty()) {
    q.record_path = (std::filesystem::path(q.out_dir) / "record.db").string();
  }
  // A record that cannot be written refuses the delivery: no MU without a durable record.
  std::unique_ptr<delivery::TreatmentRecord> record;
  try {
    record = std::make_unique<delivery::TreatmentRecord>(q.record_path, report.plan_checksum,
                                                         plan.label);
  } catch (const delivery::RecordUnwritable& e) {
    std::cerr << "linac deliver: " << e.what() << "; nothing delivered" << std::endl;
    return kNotCompleted;
  }
  check_not_started(q, plan, *record);
  if (!q.use_sim) {
    for (const auto& i : q.injections) {
      if (i.kind != "operator_beam_off") {
        throw InputError("--inject", "device faults of a daemon are set with its --faults file");
      }
    }
  }
  MachineConnection link = connect_machine(q.use_sim, q.seed, q.daemon, q.server_key, q.client_key);
  hal::Machine* machine = link.machine;
  if (auto f = machine->bring_up(profile)) {
    throw InputError("machine", "bring-up failed: " + f->describe());
  }
  const delivery::SessionOptions o = session_options(q, link.simulated.get());
  const formats::RtRecordInfo rt = rt_record_info(q, plan, profile);
  delivery::DeliverySession session(plan, report, profile, *machine, *record, o);
  const auto wall0 = std::chrono::steady_clock::now();
  const auto result = session.run();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();

  nlohmann::json j;
  j["status"] = result.status;
  j["fraction"] = q.fraction;
  j["record"] = q.record_path;
  j["plan_checksum"] = report.plan_checksum;
  j["wall_s"] = wall_s;
  write_rt_record(q, plan, profile, rt, result, j);
  // What the MLC controller changed (closed leaf pairs opened under the jaws): said, never silent.
  j["adjustments"] = delivery::summarise(report.adjustments);
  j["notes"] = notes;  // what reading the plan assumed
  j["beams"] = nlohmann::json::array();
  for (const auto& b : result.beams) j["beams"].push_back(beam_json(q, plan, profile, b));
  if (q.json) {
    std::cout << j.dump() << "\n";
  } else {
    print_delivery(q, notes, report, result);
  }
  return result.status == "completed" ? kOk : kNotCompleted;
}

}  // namespace linac::cli
