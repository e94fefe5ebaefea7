// `linac course`: the treatment course end to end on the built-in patient (or a case): planning
// (structures, optimised double-arc VMAT with its baseline, validation), then per fraction a
// drawn set-up error, CBCT image guidance with couch correction, delivery of both arcs through
// the simulator daemon (a separate process, over ZeroMQ), delivery QA of the logs and the dose
// estimated from the logs, all into one treatment record; then course.json and report.html.
// Every step is a `linac` command run as a child process, so each stage's files are the same as
// when a user runs it by hand, and a killed course resumes (`--resume DIR`) from its files and
// its record without repeating delivered MU.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "child_process.hpp"
#include "cli.hpp"
#include "course_options.hpp"
#include "course_report.hpp"
#include "html.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/log_dose.hpp"
#include "linac/delivery/machine_log.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/planning/dose_engine.hpp"
#include "linac/planning/evaluation.hpp"
#include "linac/planning/plan_template.hpp"

namespace linac::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double r2(double v) {
  return std::round(v * 100.0) / 100.0;
}

json read_json(const fs::path& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw InputError(path.string(), std::string("not valid JSON: ") + e.what());
  }
}

/// Set-up errors of every fraction: a systematic error for the course plus a random error per
/// fraction in each axis, rotations random; the same seed gives the same course.
std::vector<std::array<double, 6>> draw_setup_errors(const CourseOptions& o) {
  Rng rng(o.seed);
  std::array<double, 3> systematic{};
  for (auto& s : systematic) s = rng.normal(0.0, o.systematic_mm);
  std::vector<std::array<double, 6>> out;
  for (unsigned n = 0; n < o.fractions; ++n) {
    std::array<double, 6> e{};
    for (int a = 0; a < 3; ++a) {
      e[static_cast<std::size_t>(a)] =
          std::round((systematic[static_cast<std::size_t>(a)] + rng.normal(0.0, o.random_mm)) *
                     100.0) /
          100.0;
    }
    for (int a = 3; a < 6; ++a) {
      e[static_cast<std::size_t>(a)] =
          std::round(std::clamp(rng.normal(0.0, o.rotation_deg), -2.5, 2.5) * 100.0) / 100.0;
    }
    out.push_back(e);
  }
  return out;
}

std::string error_text(const std::array<double, 6>& e) {
  std::string s;
  for (std::size_t i = 0; i < e.size(); ++i) s += (i ? "," : "") + format_number(e[i]);
  return s;
}

/// The files of a fraction's delivery: trajectory logs and Dynalog A files.
std::vector<fs::path> logs_in(const fs::path& dir, bool trajectory) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (trajectory ? e.path().extension() == ".bin"
                   : (e.path().extension() == ".dlg" && name.rfind('A', 0) == 0)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Leaf position errors (actual - expected) of the moving leaves over beam-on snapshots.
std::vector<double> leaf_errors(const std::vector<fs::path>& trajectory_logs) {
  std::vector<double> e;
  for (const auto& f : trajectory_logs) {
    const auto log = delivery::read_trajectory_log(f);
    if (log.snapshots.empty()) continue;
    const auto& first = log.snapshots.front();
    const auto& last = log.snapshots.back();
    for (std::size_t l = 0; l < first.leaf_a_expected_mm.size(); ++l) {
      const bool moves_a = std::abs(first.leaf_a_expected_mm[l] - last.leaf_a_expected_mm[l]) > 0.1;
      const bool moves_b = std::abs(first.leaf_b_expected_mm[l] - last.leaf_b_expected_mm[l]) > 0.1;
      for (const auto& s : log.snapshots) {
        if (!s.beam_on) continue;
        if (moves_a) e.push_back(s.leaf_a_actual_mm[l] - s.leaf_a_expected_mm[l]);
        if (moves_b) e.push_back(s.leaf_b_actual_mm[l] - s.leaf_b_expected_mm[l]);
      }
    }
  }
  return e;
}

void write_histogram_png(const fs::path& path, const std::vector<double>& errors,
                         const std::string& title) {
  const double width = 0.025;
  const int bins = 40;  // -0.5 .. 0.5 mm
  std::vector<double> count(bins, 0.0);
  for (const double v : errors) {
    const int b = std::clamp(static_cast<int>(std::floor((v + 0.5) / width)), 0, bins - 1);
    count[static_cast<std::size_t>(b)] += 1.0;
  }
  PlotSeries s{"leaf error", {}, {}, {30, 100, 230}, false};
  double peak = 0.0;
  for (int b = 0; b < bins; ++b) {
    const double pct = errors.empty() ? 0.0
                                      : 100.0 * count[static_cast<std::size_t>(b)] /
                                            static_cast<double>(errors.size());
    peak = std::max(peak, pct);
    const double x0 = static_cast<double>(b) * width;
    s.x.insert(s.x.end(), {x0, x0, x0 + width, x0 + width});
    s.y.insert(s.y.end(), {0.0, pct, pct, 0.0});
  }
  write_plot_png(path, {s}, "leaf error + 0.5 mm (actual - expected)", "samples (%)", 1.0,
                 std::max(5.0, std::ceil(peak / 5.0) * 5.0), title);
}

}  // namespace

int cmd_course(const std::vector<std::string>& args) {
  po::options_description opts("options");
  CourseOptions o;
  std::string out, resume;
  opts.add_options()("case", po::value(&o.case_dir),
                     "case folder with a CT, body and liver (default: the built-in patient)")(
      "daemon", po::value(&o.daemon),
      "a running machine link (default: start the simulator daemon for each fraction)")(
      "server-key", po::value(&o.server_key), "with --daemon: its public key (.pub)")(
      "client-key", po::value(&o.client_key), "with --daemon: this controller's key pair")(
      "out", po::value(&out), "folder to write the course into")(
      "resume", po::value(&resume), "finish the course in this folder")(
      "fractions", po::value(&o.fractions)->default_value(5), "fractions to treat")(
      "seed", po::value(&o.seed)->default_value(1), "set-up error and simulation seed")(
      "spacing-mm", po::value(&o.spacing_mm)->default_value(2.5),
      "built-in patient voxel size (coarser for quick runs)")(
      "dose-grid-mm", po::value(&o.dose_grid_mm)->default_value(3.0), "planning dose grid")(
      "cp-spacing-deg", po::value(&o.cp_spacing_deg)->default_value(2.0), "control point spacing")(
      "iterations", po::value(&o.iterations)->default_value(150),
      "DAO evaluations per plan (0: the generated or routed apertures kept, their MU fitted)")(
      "points", po::value(&o.points)->default_value(4000), "optimisation points per structure")(
      "projections", po::value(&o.projections)->default_value(180), "CBCT projections")(
      "delivered-dose-grid-mm", po::value(&o.delivered_dose_grid_mm)->default_value(6.0),
      "grid of the dose estimated from the logs")(
      "template", po::value(&o.plan_template),
      "plan template (README): prescription, fractions, arcs and objectives of the plan")(
      "apertures", po::value(&o.apertures)->default_value("conformal"),
      "the optimiser's start: conformal, generated or routed (linac plan optimize)")(
      "overlap", po::value(&o.overlap)->default_value("target"),
      "target/spared overlap policy: target or spared (linac plan optimize)")(
      "border-points", po::bool_switch(&o.border_points),
      "every voxel of the target's border an optimisation point too (linac plan optimize)");
  po::variables_map vm;
  if (!parse("course", "(--out DIR | --resume DIR) [--fractions 5] [--seed N] [--json]", opts, {},
             args, vm)) {
    return kOk;
  }
  const bool json_out = vm.count("json") != 0;
  if (out.empty() == resume.empty()) throw InputError("course", "give one of --out, --resume");
  fs::path dir = resume.empty() ? fs::path(out) : fs::path(resume);
  if (!resume.empty()) {
    if (!fs::exists(dir / "course_options.json")) {
      throw InputError(resume, "not a course folder (no course_options.json)");
    }
    o = CourseOptions::from_json(read_json(dir / "course_options.json"));
  } else {
    if (!o.plan_template.empty()) {
      const auto t = planning::read_plan_template(o.plan_template);
      // The course treats the template's fractions unless told how many to treat.
      if (vm["fractions"].defaulted()) o.fractions = t.fractions;
      o.plan_template = fs::absolute(o.plan_template).string();
    }
    if (o.apertures != "conformal" && o.apertures != "generated" && o.apertures != "routed") {
      throw InputError("--apertures",
                       "'" + o.apertures + "' is not conformal, generated or routed");
    }
    if (o.overlap != "target" && o.overlap != "spared") {
      throw InputError("--overlap", "'" + o.overlap + "' is neither target nor spared");
    }
    if (o.fractions < 1 || o.fractions > 40) throw InputError("--fractions", "must lie in [1, 40]");
    if (!o.daemon.empty() && (o.server_key.empty() || o.client_key.empty())) {
      throw InputError("--daemon", "needs --server-key and --client-key");
    }
    if (fs::exists(dir / "course_options.json")) {
      throw InputError(out, "already holds a course; use --resume " + out + " to finish it");
    }
    fs::create_directories(dir);
    write_file_atomically(dir / "course_options.json", {o.to_json().dump(1)});
  }
  auto say = [&](const std::string& s) { std::cerr << "course: " << s << std::endl; };
  const fs::path self = self_executable();
  // Each stage's time, kept across resumed runs.
  json times = fs::exists(dir / "times.json") ? read_json(dir / "times.json") : json::object();
  auto record_time = [&](const std::string& key, Clock::time_point t0) {
    times[key] = r2(seconds_since(t0));
    write_file_atomically(dir / "times.json", {times.dump(1)});
  };
  auto run_step = [&](const std::string& name, std::vector<std::string> argv,
                      const fs::path& stdout_file) {
    argv.insert(argv.begin(), self.string());
    fs::create_directories(stdout_file.parent_path());
    const fs::path err = stdout_file.parent_path() / (stdout_file.stem().string() + ".log");
    const int rc = run_child(argv, stdout_file, err);
    if (rc == kBadInput || rc == kInternalError || rc >= 128) {
      throw std::runtime_error(name + " failed (exit " + std::to_string(rc) + "); see " +
                               err.string());
    }
    return rc;
  };

  // 1. Planning.
  const fs::path planning = dir / "planning";
  const fs::path plan_dir = dir / "plan";
  if (!fs::exists(planning / "structures.json")) {
    say("planning: structures (4DCT, AIP, SPECT/CT fusion, FLS, ITV, PTV)");
    const auto t0 = Clock::now();
    std::vector<std::string> a{"plan", "structures", "--out", planning.string(), "--json"};
    if (!o.case_dir.empty()) a.insert(a.end(), {"--case", o.case_dir});
    a.insert(a.end(), {"--spacing-mm", format_number(o.spacing_mm)});
    run_step("plan structures", a, dir / "logs" / "structures.json");
    record_time("structures_s", t0);
  }
  if (!fs::exists(plan_dir / "plan.json")) {
    say("planning: the VMAT plan and its baseline (the longest step)");
    const auto t0 = Clock::now();
    std::vector<std::string> a{"plan",
                               "optimize",
                               "--structures",
                               planning.string(),
                               "--out",
                               plan_dir.string(),
                               "--dose-grid-mm",
                               format_number(o.dose_grid_mm),
                               "--cp-spacing-deg",
                               format_number(o.cp_spacing_deg),
                               "--iterations",
                               std::to_string(o.iterations),
                               "--points",
                               std::to_string(o.points),
                               "--apertures",
                               o.apertures,
                               "--overlap",
                               o.overlap,
                               "--json"};
    if (!o.plan_template.empty()) a.insert(a.end(), {"--template", o.plan_template});
    if (o.border_points) a.emplace_back("--border-points");
    const int rc = run_step("plan optimize", a, dir / "logs" / "optimize.json");
    if (rc != kOk) {
      throw std::runtime_error("the optimised plan is not deliverable; see " +
                               (plan_dir / "validation.json").string());
    }
    record_time("plan_s", t0);
  }
  const json plan_json = read_json(plan_dir / "plan.json");
  const fs::path rtplan = plan_dir / "rtplan.json";
  const Plan plan = read_plan(rtplan);
  const fs::path record = dir / "record.db";

  // Dose estimated from the logs: the engine on a coarse grid of the planning CT.
  const Case pc = load_case(planning);
  const MachineProfile profile = default_machine_profile();
  const planning::DoseEngine engine(planning::default_beam_model(), profile.mlc.leaf_boundaries_mm,
                                    pc.ct, pc.patient_position);
  const Eigen::Vector3d iso = treatment_isocentre_mm(pc);
  const Grid coarse = planning::dose_grid(pc.get("body").mask, o.delivered_dose_grid_mm);
  std::vector<Structure> coarse_structures;
  for (const auto& s : pc.structures) {
    coarse_structures.push_back(
        {s.name, s.role, resample(s.mask, coarse, Interpolation::kNearest, std::uint8_t{0})});
  }
  const Mask* coarse_body = nullptr;
  for (const auto& s : coarse_structures) {
    if (s.name == "body") coarse_body = &s.mask;
  }
  if (coarse_body == nullptr) throw InputError(planning.string(), "the case has no body");
  std::vector<std::size_t> body_index;
  const planning::Points body_points = planning::mask_points(*coarse_body, &body_index);
  auto to_volume = [&](const std::vector<float>& d, double scale) {
    Volume<float> v(coarse, 0.0F);
    for (std::size_t n = 0; n < body_index.size(); ++n) {
      v[body_index[n]] = static_cast<float>(static_cast<double>(d[n]) * scale);
    }
    return v;
  };
  auto figures = [&](const Volume<float>& dose) {
    json j = json::object();
    for (const auto& s : coarse_structures) {
      if (s.name != "PTV" && s.name != "FLS" && s.name != "liver") continue;
      const auto f = planning::dose_figures(dose, s.mask, s.name, plan.prescription.fractions,
                                            planning::default_alpha_beta(s.name));
      j[s.name] = {{"d95_gy", r2(f.d95_gy)}, {"mean_gy", r2(f.mean_gy)}, {"d2_gy", r2(f.d2_gy)}};
    }
    return j;
  };
  const fs::path planned_coarse_path = plan_dir / "planned_dose_coarse.mha";
  Volume<float> planned_coarse;
  if (fs::exists(planned_coarse_path)) {
    planned_coarse = read_metaimage<float>(planned_coarse_path);
  } else {
    say("planned dose on the " + format_number(o.delivered_dose_grid_mm) +
        " mm grid of the delivered-dose estimate");
    const auto t0 = Clock::now();
    planned_coarse = to_volume(engine.plan_dose(plan, iso, body_points),
                               static_cast<double>(plan.prescription.fractions));
    write_metaimage(planned_coarse_path, planned_coarse, {true});
    record_time("planned_dose_s", t0);
  }

  // 2. Fractions.
  const auto errors = draw_setup_errors(o);
  fs::path keys = dir / "keys";
  std::string server_pub = o.server_key;
  std::string client_key = o.client_key;
  if (o.daemon.empty()) {
    fs::create_directories(keys);
    for (const char* who : {"server", "client"}) {
      if (!fs::exists(keys / (std::string(who) + ".key"))) {
        run_step("sim keygen", {"sim", "keygen", "--out", (keys / who).string()},
                 dir / "logs" / (std::string("keygen_") + who + ".txt"));
      }
    }
    server_pub = (keys / "server.pub").string();
    client_key = (keys / "client.key").string();
  }
  for (unsigned n = 1; n <= o.fractions; ++n) {
    const fs::path fdir = dir / "fractions" / std::to_string(n);
    if (fs::exists(fdir / "fraction.json")) continue;
    const auto t0 = Clock::now();
    fs::create_directories(fdir);
    const auto& e = errors[n - 1];
    say("fraction " + std::to_string(n) + "/" + std::to_string(o.fractions) + ": set-up error " +
        error_text(e) + " (mm, deg)");
    std::unique_ptr<ChildProcess> daemon;
    std::string endpoint = o.daemon;
    if (o.daemon.empty()) {
      daemon = std::make_unique<ChildProcess>(
          std::vector<std::string>{self.string(), "sim", "--bind", "tcp://127.0.0.1:*",
                                   "--server-key", (keys / "server.key").string(),
                                   "--authorized-key", (keys / "client.pub").string(), "--subject",
                                   planning.string(), "--setup-error", error_text(e), "--seed",
                                   std::to_string(o.seed * 1000 + n)},
          fdir / "daemon.log");
      const auto line = daemon->read_line(120.0);
      if (!line || line->rfind("serving ", 0) != 0) {
        throw std::runtime_error("the simulator daemon did not start; see " +
                                 (fdir / "daemon.log").string());
      }
      endpoint = line->substr(8);
    }
    const std::vector<std::string> link{"--daemon", endpoint,       "--server-key",
                                        server_pub, "--client-key", client_key};
    // Image guidance: re-image once when the set-up asks for it.
    say("fraction " + std::to_string(n) + ": CBCT, registration, couch correction");
    json setup;
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::vector<std::string> a{"igrt",          "setup",
                                 "--case",        planning.string(),
                                 "--fraction",    std::to_string(n),
                                 "--out",         (fdir / "setup").string(),
                                 "--record",      record.string(),
                                 "--plan",        rtplan.string(),
                                 "--projections", std::to_string(o.projections),
                                 "--json"};
      if (o.daemon.empty()) a.insert(a.end(), {"--setup-error", error_text(e)});
      a.insert(a.end(), link.begin(), link.end());
      run_step("igrt setup", a, fdir / "setup_stdout.json");
      setup = read_json(fdir / "setup" / "setup.json");
      if (setup.value("decision", "") != "re-image") break;
    }
    const bool applied = setup.value("decision", "") == "apply";
    json deliver = json::object();
    json qa = json::object();
    json delivered_dose = json::object();
    std::vector<double> errs;
    if (applied) {
      say("fraction " + std::to_string(n) + ": delivery of " + std::to_string(plan.beams.size()) +
          " arcs");
      std::vector<std::string> a{"deliver",  rtplan.string(), "--out",      fdir.string(),
                                 "--record", record.string(), "--fraction", std::to_string(n),
                                 "--resume", "--json"};
      a.insert(a.end(), link.begin(), link.end());
      // The RT Beams Treatment Record refers to the DICOM RT Plan of the same plan.
      if (fs::exists(plan_dir / "RP.LiverVMAT.dcm")) {
        a.insert(a.end(), {"--rt-plan", (plan_dir / "RP.LiverVMAT.dcm").string()});
      }
      run_step("deliver", a, fdir / "deliver.json");
      deliver = read_json(fdir / "deliver.json");
      say("fraction " + std::to_string(n) + ": QA of the logs and the delivered dose");
      std::vector<std::string> q{"qa"};
      for (const auto& f : logs_in(fdir, true)) q.push_back(f.string());
      for (const auto& f : logs_in(fdir, false)) q.push_back(f.string());
      q.insert(q.end(), {"--png", (fdir / "qa").string(), "--json"});
      run_step("qa", q, fdir / "qa.json");
      qa = read_json(fdir / "qa.json");
      errs = leaf_errors(logs_in(fdir, true));
      write_histogram_png(fdir / "leaf_errors.png", errs,
                          "fraction " + std::to_string(n) + ": leaf position errors");
      // Dose from the trajectory logs (actual gantry, leaves, MU).
      Plan delivered;
      delivered.prescription = plan.prescription;
      for (const auto& f : logs_in(fdir, true)) {
        delivered.beams.push_back(delivery::beam_from_log(delivery::read_trajectory_log(f)));
      }
      const Volume<float> dose = to_volume(engine.plan_dose(delivered, iso, body_points), 1.0);
      write_metaimage(fdir / "delivered_dose.mha", dose, {true});
      Volume<float> as_course = dose;
      for (auto& v : as_course.data()) v *= static_cast<float>(plan.prescription.fractions);
      delivered_dose = figures(as_course);
    }
    json fj;
    fj["n"] = n;
    fj["setup_error_drawn"] = {{"translation_mm", {e[0], e[1], e[2]}},
                               {"rotation_deg", {e[3], e[4], e[5]}}};
    fj["setup"] = setup;
    fj["treated"] = applied;
    fj["beams"] = deliver.value("beams", json::array());
    fj["rt_record"] = deliver.value("rt_record", "");
    fj["status"] = applied ? deliver.value("status", "unknown") : "not treated";
    double rms_sum = 0.0, gamma_sum = 0.0;
    int logs = 0;
    for (const auto& l : qa.value("logs", json::array())) {
      if (l.value("file", "").find(".bin") == std::string::npos) continue;
      rms_sum += l["rms_mm"]["mean"].get<double>();
      gamma_sum += l["gamma"]["pass_pct"].get<double>();
      ++logs;
    }
    fj["qa"] = {{"rms_mm_mean", logs ? json(rms_sum / logs) : json(nullptr)},
                {"gamma_pass_pct", logs ? json(gamma_sum / logs) : json(nullptr)},
                {"leaf_error_samples", errs.size()},
                {"logs", qa.value("logs", json::array())}};
    fj["delivered_dose_as_course"] = delivered_dose;
    fj["seconds"] = r2(seconds_since(t0));
    write_file_atomically(fdir / "fraction.json", {fj.dump(1)});
    if (daemon) daemon->stop();
    record_time("fraction_" + std::to_string(n) + "_s", t0);
  }

  // 3. Course summary, accumulated dose and report.
  const auto t_report = Clock::now();
  json fractions = json::array();
  double delivered_mu = 0.0;
  Volume<float> accumulated(coarse, 0.0F);
  unsigned treated = 0;
  for (unsigned n = 1; n <= o.fractions; ++n) {
    const fs::path fdir = dir / "fractions" / std::to_string(n);
    json fj = read_json(fdir / "fraction.json");
    for (const auto& b : fj["beams"]) delivered_mu += b["delivered_mu"][0].get<double>();
    if (fs::exists(fdir / "delivered_dose.mha")) {
      const auto d = read_metaimage<float>(fdir / "delivered_dose.mha");
      for (std::size_t k = 0; k < d.size(); ++k) accumulated[k] += d[k];
      ++treated;
    }
    fractions.push_back(fj);
  }
  write_metaimage(dir / "delivered_dose.mha", accumulated, {true});
  const double planned_mu_total = plan.total_mu() * o.fractions;
  json course;
  course["plan"] = plan_json;
  course["fractions"] = fractions;
  course["delivered_mu_total"] = r2(delivered_mu);
  course["planned_mu_total"] = r2(planned_mu_total);
  course["fractions_treated"] = treated;
  course["planned_dose"] = figures(planned_coarse);
  course["delivered_dose"] = figures(accumulated);
  if (treated > 0) {  // the mean treated fraction, as the whole prescribed course
    Volume<float> mean = accumulated;
    const double f = static_cast<double>(plan.prescription.fractions) / treated;
    for (auto& v : mean.data()) v = static_cast<float>(static_cast<double>(v) * f);
    course["delivered_dose_as_prescribed"] = figures(mean);
  }
  course["delivered_dose_grid_mm"] = o.delivered_dose_grid_mm;
  course["record"] = record.string();
  course["times_s"] = times;
  course["options"] = o.to_json();

  // Pictures of the plan: dose on the planning CT through the isocentre, with structures.
  {
    const Volume<float> plan_dose = read_metaimage<float>(plan_dir / "dose.mha");
    const Volume<float> on_ct = resample(plan_dose, pc.ct.grid(), Interpolation::kLinear, 0.0F);
    const Eigen::Vector3d c = pc.ct.grid().world_mm_to_index(iso);
    std::vector<Overlay> ov;
    const std::vector<std::pair<std::string, std::array<std::uint8_t, 3>>> colours{
        {"PTV", {255, 40, 40}},          {"FLS", {0, 230, 0}},
        {"liver", {0, 160, 255}},        {"kidney_left", {255, 255, 0}},
        {"kidney_right", {255, 255, 0}}, {"spinal_cord", {255, 0, 255}}};
    for (const auto& [name, rgb] : colours) {
      if (const Structure* s = pc.find(name)) ov.push_back({&s->mask, rgb});
    }
    const double rx = plan.prescription.dose_gy;
    for (const auto& v : kOrthogonalViews) {
      write_dose_slice_png(dir / ("dose_" + std::string(v.name) + ".png"), pc.ct, on_ct, v.axis,
                           slice_through(v, c, pc.ct.grid()), 0.3 * rx, 1.1 * rx, ov);
    }
  }
  record_time("report_s", t_report);
  double total_s = 0.0;
  for (const auto& [k, v] : times.items()) total_s += v.get<double>();
  course["times_s"] = times;
  course["seconds"] = r2(total_s);
  write_file_atomically(dir / "course.json", {course.dump(1)});

  write_course_report(dir, {&course, &plan_json, &fractions, plan_dir, pc.name, treated,
                            plan.prescription.fractions, &o});

  if (json_out) {
    std::cout << course.dump() << "\n";
  } else {
    std::printf("course: %u of %u fractions treated, %.1f of %.1f MU delivered\n", treated,
                o.fractions, delivered_mu, planned_mu_total);
    std::printf("PTV D95 planned %.2f Gy; FLS mean %.2f Gy (baseline %.2f Gy)\n",
                plan_json["ptv"]["d95_gy"].get<double>(), plan_json["fls"]["mean_gy"].get<double>(),
                plan_json["fls"].value("baseline_mean_gy", 0.0));
    std::printf("written: %s/report.html, course.json, record.db, plan/, fractions/\n",
                dir.string().c_str());
  }
  return treated == o.fractions ? kOk : kNotCompleted;
}

}  // namespace linac::cli
