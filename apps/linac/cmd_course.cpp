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
#include "course_fraction.hpp"
#include "course_options.hpp"
#include "course_report.hpp"
#include "course_steps.hpp"
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
using namespace course;  // NOLINT(google-build-using-namespace): the course's own pieces

namespace {

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

/// The course's options: checked and written into a new course folder (`out`), or read back
/// from one being finished (`resume`). Returns the folder.
fs::path start_or_resume(CourseOptions& o, const std::string& out, const std::string& resume,
                         const po::variables_map& vm) {
  if (out.empty() == resume.empty()) throw InputError("course", "give one of --out, --resume");
  fs::path dir = resume.empty() ? fs::path(out) : fs::path(resume);
  if (!resume.empty()) {
    if (!fs::exists(dir / "course_options.json")) {
      throw InputError(resume, "not a course folder (no course_options.json)");
    }
    o = CourseOptions::from_json(read_json(dir / "course_options.json"));
    return dir;
  }
  if (!o.plan_template.empty()) {
    const auto t = planning::read_plan_template(o.plan_template);
    // The course treats the template's fractions unless told how many to treat.
    if (vm["fractions"].defaulted()) o.fractions = t.fractions;
    o.plan_template = fs::absolute(o.plan_template).string();
  }
  if (o.apertures != "conformal" && o.apertures != "generated" && o.apertures != "routed") {
    throw InputError("--apertures", "'" + o.apertures + "' is not conformal, generated or routed");
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
  return dir;
}

/// Planning: the structures into `planning`, the optimised plan and its baseline into
/// `plan_dir` (each skipped when a resumed course has it).
void plan_course(CourseSteps& steps, const CourseOptions& o, const fs::path& dir,
                 const fs::path& planning, const fs::path& plan_dir) {
  if (!fs::exists(planning / "structures.json")) {
    CourseSteps::say("planning: structures (4DCT, AIP, SPECT/CT fusion, FLS, ITV, PTV)");
    const auto t0 = Clock::now();
    std::vector<std::string> a{"plan", "structures", "--out", planning.string(), "--json"};
    if (!o.case_dir.empty()) a.insert(a.end(), {"--case", o.case_dir});
    a.insert(a.end(), {"--spacing-mm", format_number(o.spacing_mm)});
    steps.run("plan structures", a, dir / "logs" / "structures.json");
    steps.record_time("structures_s", t0);
  }
  if (fs::exists(plan_dir / "plan.json")) return;
  CourseSteps::say("planning: the VMAT plan and its baseline (the longest step)");
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
  const int rc = steps.run("plan optimize", a, dir / "logs" / "optimize.json");
  if (rc != kOk) {
    throw std::runtime_error("the optimised plan is not deliverable; see " +
                             (plan_dir / "validation.json").string());
  }
  steps.record_time("plan_s", t0);
}

/// The plan's whole-course dose on the delivered-dose estimate's grid
/// (plan/planned_dose_coarse.mha, computed once): what the delivered dose is compared with.
Volume<float> planned_dose_on_grid(CourseSteps& steps, const CourseOptions& o, const Plan& plan,
                                   const fs::path& plan_dir, const CoarseDose& coarse) {
  const fs::path path = plan_dir / "planned_dose_coarse.mha";
  if (fs::exists(path)) return read_metaimage<float>(path);
  CourseSteps::say("planned dose on the " + format_number(o.delivered_dose_grid_mm) +
                   " mm grid of the delivered-dose estimate");
  const auto t0 = Clock::now();
  Volume<float> planned = coarse.dose(plan, static_cast<double>(plan.prescription.fractions));
  write_metaimage(path, planned, {true});
  steps.record_time("planned_dose_s", t0);
  return planned;
}

/// Pictures of the plan: its dose on the planning CT through the isocentre, with structures.
void write_plan_pictures(const fs::path& dir, const fs::path& plan_dir, const Case& pc,
                         const Eigen::Vector3d& iso, double rx) {
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
  for (const auto& v : kOrthogonalViews) {
    write_dose_slice_png(dir / ("dose_" + std::string(v.name) + ".png"), pc.ct, on_ct, v.axis,
                         slice_through(v, c, pc.ct.grid()), 0.3 * rx, 1.1 * rx, ov);
  }
}

/// The course as treated so far: course.json's content, each fraction's record, and the totals.
struct CourseSummary {
  json course;
  json fractions = json::array();
  unsigned treated = 0;
  double delivered_mu = 0.0;
  double planned_mu_total = 0.0;
};

/// The course's summary from its fractions' files: the accumulated delivered dose
/// (delivered_dose.mha), the planned and delivered figures, the plan's pictures and course.json.
CourseSummary summarise_course(CourseSteps& steps, const CourseOptions& o, const fs::path& dir,
                               const Plan& plan, const json& plan_json, const Case& pc,
                               const CoarseDose& coarse, const Volume<float>& planned_coarse,
                               const fs::path& plan_dir, const fs::path& record) {
  CourseSummary s;
  const auto t_report = Clock::now();
  Volume<float> accumulated(coarse.grid(), 0.0F);
  for (unsigned n = 1; n <= o.fractions; ++n) {
    const fs::path fdir = dir / "fractions" / std::to_string(n);
    json fj = read_json(fdir / "fraction.json");
    for (const auto& b : fj["beams"]) s.delivered_mu += b["delivered_mu"][0].get<double>();
    if (fs::exists(fdir / "delivered_dose.mha")) {
      const auto d = read_metaimage<float>(fdir / "delivered_dose.mha");
      for (std::size_t k = 0; k < d.size(); ++k) accumulated[k] += d[k];
      ++s.treated;
    }
    s.fractions.push_back(fj);
  }
  write_metaimage(dir / "delivered_dose.mha", accumulated, {true});
  s.planned_mu_total = plan.total_mu() * o.fractions;
  const unsigned rx_fractions = plan.prescription.fractions;
  s.course["plan"] = plan_json;
  s.course["fractions"] = s.fractions;
  s.course["delivered_mu_total"] = r2(s.delivered_mu);
  s.course["planned_mu_total"] = r2(s.planned_mu_total);
  s.course["fractions_treated"] = s.treated;
  s.course["planned_dose"] = coarse.figures(planned_coarse, rx_fractions);
  s.course["delivered_dose"] = coarse.figures(accumulated, rx_fractions);
  if (s.treated > 0) {  // the mean treated fraction, as the whole prescribed course
    Volume<float> mean = accumulated;
    const double f = static_cast<double>(rx_fractions) / s.treated;
    for (auto& v : mean.data()) v = static_cast<float>(static_cast<double>(v) * f);
    s.course["delivered_dose_as_prescribed"] = coarse.figures(mean, rx_fractions);
  }
  s.course["delivered_dose_grid_mm"] = o.delivered_dose_grid_mm;
  s.course["record"] = record.string();
  s.course["times_s"] = steps.times();
  s.course["options"] = o.to_json();
  write_plan_pictures(dir, plan_dir, pc, coarse.isocentre_mm(), plan.prescription.dose_gy);
  steps.record_time("report_s", t_report);
  double total_s = 0.0;
  for (const auto& [k, v] : steps.times().items()) total_s += v.get<double>();
  s.course["times_s"] = steps.times();
  s.course["seconds"] = r2(total_s);
  write_file_atomically(dir / "course.json", {s.course.dump(1)});
  return s;
}

po::options_description course_options(CourseOptions& o, std::string& out, std::string& resume) {
  po::options_description opts("options");
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
  return opts;
}

}  // namespace

int cmd_course(const std::vector<std::string>& args) {
  CourseOptions o;
  std::string out, resume;
  po::options_description opts = course_options(o, out, resume);
  po::variables_map vm;
  if (!parse("course", "(--out DIR | --resume DIR) [--fractions 5] [--seed N] [--json]", opts, {},
             args, vm)) {
    return kOk;
  }
  const bool json_out = vm.count("json") != 0;
  const fs::path dir = start_or_resume(o, out, resume, vm);
  CourseSteps steps(dir);

  // 1. Planning.
  const fs::path planning = dir / "planning";
  const fs::path plan_dir = dir / "plan";
  plan_course(steps, o, dir, planning, plan_dir);
  const json plan_json = read_json(plan_dir / "plan.json");
  const fs::path rtplan = plan_dir / "rtplan.json";
  const Plan plan = read_plan(rtplan);
  const fs::path record = dir / "record.db";
  const Case pc = load_case(planning);
  const MachineProfile profile = default_machine_profile();
  const CoarseDose coarse(pc, profile, o.delivered_dose_grid_mm);
  const Volume<float> planned_coarse = planned_dose_on_grid(steps, o, plan, plan_dir, coarse);

  // 2. Fractions.
  const auto errors = draw_setup_errors(o);
  const MachineLink link = machine_link(steps, o, dir);
  const FractionContext context{steps, o, link, coarse, plan, planning, plan_dir, rtplan, record};
  for (unsigned n = 1; n <= o.fractions; ++n) {
    const fs::path fdir = dir / "fractions" / std::to_string(n);
    if (fs::exists(fdir / "fraction.json")) continue;
    const auto t0 = Clock::now();
    treat_fraction(context, n, errors[n - 1], fdir);
    steps.record_time("fraction_" + std::to_string(n) + "_s", t0);
  }

  // 3. Course summary, accumulated dose and report.
  const CourseSummary sum = summarise_course(steps, o, dir, plan, plan_json, pc, coarse,
                                             planned_coarse, plan_dir, record);
  const json& course = sum.course;
  const json& fractions = sum.fractions;
  const unsigned treated = sum.treated;
  const double delivered_mu = sum.delivered_mu;
  const double planned_mu_total = sum.planned_mu_total;

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
