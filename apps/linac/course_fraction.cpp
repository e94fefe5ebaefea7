// One fraction of `linac course` (course_fraction.hpp).
#include "course_fraction.hpp"

#include <algorithm>
#include <memory>

#include "linac/core/mask.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/log_dose.hpp"
#include "linac/delivery/machine_log.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/planning/evaluation.hpp"

namespace linac::cli::course {

CoarseDose::CoarseDose(const Case& pc, const MachineProfile& profile, double grid_mm)
    : engine_(planning::default_beam_model(), profile.mlc.leaf_boundaries_mm, pc.ct,
              pc.patient_position),
      iso_(treatment_isocentre_mm(pc)),
      grid_(planning::dose_grid(pc.get("body").mask, grid_mm)) {
  for (const auto& s : pc.structures) {
    structures_.push_back(
        {s.name, s.role, resample(s.mask, grid_, Interpolation::kNearest, std::uint8_t{0})});
  }
  const Mask* body = nullptr;
  for (const auto& s : structures_) {
    if (s.name == "body") body = &s.mask;
  }
  if (body == nullptr) throw InputError("planning", "the case has no body");
  points_ = planning::mask_points(*body, &index_);
}

Volume<float> CoarseDose::dose(const Plan& plan, double scale) const {
  const auto d = engine_.plan_dose(plan, iso_, points_);
  Volume<float> v(grid_, 0.0F);
  for (std::size_t n = 0; n < index_.size(); ++n) {
    v[index_[n]] = static_cast<float>(static_cast<double>(d[n]) * scale);
  }
  return v;
}

json CoarseDose::figures(const Volume<float>& dose, unsigned fractions) const {
  json j = json::object();
  for (const auto& s : structures_) {
    if (s.name != "PTV" && s.name != "FLS" && s.name != "liver") continue;
    const auto f = planning::dose_figures(dose, s.mask, s.name, fractions,
                                          planning::default_alpha_beta(s.name));
    j[s.name] = {{"d95_gy", r2(f.d95_gy)}, {"mean_gy", r2(f.mean_gy)}, {"d2_gy", r2(f.d2_gy)}};
  }
  return j;
}

std::string error_text(const std::array<double, 6>& e) {
  std::string s;
  for (std::size_t i = 0; i < e.size(); ++i) s += (i ? "," : "") + format_number(e[i]);
  return s;
}

namespace {

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

/// What a treated fraction's delivery left: the deliver and QA commands' JSON, the leaf errors
/// of its trajectory logs and the figures of the dose estimated from them (as a whole course).
struct FractionDelivery {
  json deliver = json::object();
  json qa = json::object();
  json delivered_dose = json::object();
  std::vector<double> leaf_errors;
};

/// Delivery of fraction n through `link`, the logs' QA and the dose estimated from them.
FractionDelivery deliver_and_check(const FractionContext& x, unsigned n, const fs::path& fdir,
                                   const std::vector<std::string>& link) {
  FractionDelivery d;
  CourseSteps::say("fraction " + std::to_string(n) + ": delivery of " +
                   std::to_string(x.plan.beams.size()) + " arcs");
  std::vector<std::string> a{"deliver",  x.rtplan.string(), "--out",      fdir.string(),
                             "--record", x.record.string(), "--fraction", std::to_string(n),
                             "--resume", "--json"};
  a.insert(a.end(), link.begin(), link.end());
  // The RT Beams Treatment Record refers to the DICOM RT Plan of the same plan.
  if (fs::exists(x.plan_dir / "RP.LiverVMAT.dcm")) {
    a.insert(a.end(), {"--rt-plan", (x.plan_dir / "RP.LiverVMAT.dcm").string()});
  }
  x.steps.run("deliver", a, fdir / "deliver.json");
  d.deliver = read_json(fdir / "deliver.json");
  CourseSteps::say("fraction " + std::to_string(n) + ": QA of the logs and the delivered dose");
  std::vector<std::string> q{"qa"};
  for (const auto& f : logs_in(fdir, true)) q.push_back(f.string());
  for (const auto& f : logs_in(fdir, false)) q.push_back(f.string());
  q.insert(q.end(), {"--png", (fdir / "qa").string(), "--json"});
  x.steps.run("qa", q, fdir / "qa.json");
  d.qa = read_json(fdir / "qa.json");
  d.leaf_errors = leaf_errors(logs_in(fdir, true));
  write_histogram_png(fdir / "leaf_errors.png", d.leaf_errors,
                      "fraction " + std::to_string(n) + ": leaf position errors");
  // Dose from the trajectory logs (actual gantry, leaves, MU).
  Plan delivered;
  delivered.prescription = x.plan.prescription;
  for (const auto& f : logs_in(fdir, true)) {
    delivered.beams.push_back(delivery::beam_from_log(delivery::read_trajectory_log(f)));
  }
  const Volume<float> dose = x.coarse.dose(delivered, 1.0);
  write_metaimage(fdir / "delivered_dose.mha", dose, {true});
  Volume<float> as_course = dose;
  for (auto& v : as_course.data()) v *= static_cast<float>(x.plan.prescription.fractions);
  d.delivered_dose = x.coarse.figures(as_course, x.plan.prescription.fractions);
  return d;
}

}  // namespace

MachineLink machine_link(const CourseSteps& steps, const CourseOptions& o, const fs::path& dir) {
  MachineLink link{dir / "keys", o.server_key, o.client_key};
  if (!o.daemon.empty()) return link;
  fs::create_directories(link.keys);
  for (const char* who : {"server", "client"}) {
    if (!fs::exists(link.keys / (std::string(who) + ".key"))) {
      steps.run("sim keygen", {"sim", "keygen", "--out", (link.keys / who).string()},
                dir / "logs" / (std::string("keygen_") + who + ".txt"));
    }
  }
  link.server_pub = (link.keys / "server.pub").string();
  link.client_key = (link.keys / "client.key").string();
  return link;
}

/// Fraction n, with its drawn set-up error `e`, into `fdir`: the simulator daemon (unless one is
/// given), CBCT image guidance and couch correction (re-imaged once when asked), delivery, the
/// logs' QA and the dose estimated from them; fraction.json written last.
void treat_fraction(const FractionContext& x, unsigned n, const std::array<double, 6>& e,
                    const fs::path& fdir) {
  const auto t0 = Clock::now();
  const CourseOptions& o = x.o;
  fs::create_directories(fdir);
  CourseSteps::say("fraction " + std::to_string(n) + "/" + std::to_string(o.fractions) +
                   ": set-up error " + error_text(e) + " (mm, deg)");
  std::unique_ptr<ChildProcess> daemon;
  std::string endpoint = o.daemon;
  if (o.daemon.empty()) {
    daemon = std::make_unique<ChildProcess>(
        std::vector<std::string>{x.steps.self().string(), "sim", "--bind", "tcp://127.0.0.1:*",
                                 "--server-key", (x.link.keys / "server.key").string(),
                                 "--authorized-key", (x.link.keys / "client.pub").string(),
                                 "--subject", x.planning.string(), "--setup-error", error_text(e),
                                 "--seed", std::to_string(o.seed * 1000 + n)},
        fdir / "daemon.log");
    const auto line = daemon->read_line(120.0);
    if (!line || line->rfind("serving ", 0) != 0) {
      throw std::runtime_error("the simulator daemon did not start; see " +
                               (fdir / "daemon.log").string());
    }
    endpoint = line->substr(8);
  }
  const std::vector<std::string> link{"--daemon",        endpoint,       "--server-key",
                                      x.link.server_pub, "--client-key", x.link.client_key};
  // Image guidance: re-image once when the set-up asks for it.
  CourseSteps::say("fraction " + std::to_string(n) + ": CBCT, registration, couch correction");
  json setup;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::string> a{"igrt",          "setup",
                               "--case",        x.planning.string(),
                               "--fraction",    std::to_string(n),
                               "--out",         (fdir / "setup").string(),
                               "--record",      x.record.string(),
                               "--plan",        x.rtplan.string(),
                               "--projections", std::to_string(o.projections),
                               "--json"};
    if (o.daemon.empty()) a.insert(a.end(), {"--setup-error", error_text(e)});
    a.insert(a.end(), link.begin(), link.end());
    x.steps.run("igrt setup", a, fdir / "setup_stdout.json");
    setup = read_json(fdir / "setup" / "setup.json");
    if (setup.value("decision", "") != "re-image") break;
  }
  const bool applied = setup.value("decision", "") == "apply";
  FractionDelivery d;
  if (applied) d = deliver_and_check(x, n, fdir, link);
  const json& deliver = d.deliver;
  const json& qa = d.qa;
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
              {"leaf_error_samples", d.leaf_errors.size()},
              {"logs", qa.value("logs", json::array())}};
  fj["delivered_dose_as_course"] = d.delivered_dose;
  fj["seconds"] = r2(seconds_since(t0));
  write_file_atomically(fdir / "fraction.json", {fj.dump(1)});
  if (daemon) daemon->stop();
}

}  // namespace linac::cli::course
