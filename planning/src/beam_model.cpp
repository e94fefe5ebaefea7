#include "linac/planning/beam_model.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <nlopt.hpp>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

namespace {

/// Fraction of a unit-Gaussian-blurred strip [-half, half] seen at x.
double strip(double half_mm, double x_mm, double sigma_mm) {
  const double s = std::sqrt(2.0) * sigma_mm;
  return 0.5 * (std::erf((half_mm - x_mm) / s) + std::erf((half_mm + x_mm) / s));
}

}  // namespace

double BeamModel::relative_electron_density(double hu) const {
  if (hu_to_red.empty()) return std::max(0.0, 1.0 + hu / 1000.0);
  if (hu <= hu_to_red.front().first) return hu_to_red.front().second;
  if (hu >= hu_to_red.back().first) return hu_to_red.back().second;
  const auto it = std::upper_bound(hu_to_red.begin(), hu_to_red.end(), hu,
                                   [](double h, const auto& e) { return h < e.first; });
  const auto& hi = *it;
  const auto& lo = *(it - 1);
  const double f = (hu - lo.first) / (hi.first - lo.first);
  return lo.second + f * (hi.second - lo.second);
}

double BeamModel::primary_depth(double z_mm) const {
  const double z = std::max(z_mm, 0.0);
  return (1.0 - std::exp(-p.buildup_per_mm * z)) * std::exp(-p.attenuation_per_mm * z);
}

double BeamModel::scatter_ratio(double z_mm) const {
  const double z = std::max(z_mm, 0.0);
  return p.scatter_amplitude * (1.0 - std::exp(-z / p.scatter_buildup_mm));
}

double BeamModel::head_sigma_mm() const {
  return std::hypot(p.head_scatter_sigma_mm, p.primary_sigma_mm);
}

double BeamModel::dose_per_mu(double z_mm, double r_mm, double c_p, double c_h, double c_s) const {
  const double isq = (sad_mm / r_mm) * (sad_mm / r_mm);
  const double w = p.head_scatter_fraction;
  return k_ * isq * primary_depth(z_mm) * ((1.0 - w) * c_p + w * c_h + scatter_ratio(z_mm) * c_s);
}

double BeamModel::water_dose_per_mu(double ssd_mm, double field_x_mm, double field_y_mm,
                                    double z_mm, double x_mm, double y_mm) const {
  const double r = ssd_mm + z_mm;
  const double u = x_mm * sad_mm / r;
  const double v = y_mm * sad_mm / r;
  auto conv = [&](double sigma) {
    const double e = strip(0.5 * field_x_mm, u, sigma) * strip(0.5 * field_y_mm, v, sigma);
    return jaw_transmission + (1.0 - jaw_transmission) * e;
  };
  return dose_per_mu(z_mm, r, conv(p.primary_sigma_mm), conv(head_sigma_mm()),
                     conv(p.scatter_sigma_mm));
}

void BeamModel::calibrate() {
  k_ = 1.0;
  double best = 0.0;
  for (double z = 0.5; z <= 60.0; z += 0.05) {
    best = std::max(best, water_dose_per_mu(sad_mm, 100.0, 100.0, z));
  }
  k_ = calibration_gy_per_mu / best;
}

WaterFigures BeamModel::water_figures() const {
  WaterFigures f;
  double best = 0.0;
  for (double z = 0.5; z <= 60.0; z += 0.05) {
    const double d = water_dose_per_mu(sad_mm, 100.0, 100.0, z);
    if (d > best) {
      best = d;
      f.dmax_mm = z;
    }
  }
  for (const auto& [depth, pct] : targets.pdd_pct) {
    (void)pct;
    f.pdd_pct.emplace_back(depth, 100.0 * water_dose_per_mu(sad_mm, 100.0, 100.0, depth) / best);
  }
  for (const auto& [side, of] : targets.output_factors) {
    (void)of;
    f.output_factors.emplace_back(side, water_dose_per_mu(sad_mm, side, side, f.dmax_mm) / best);
  }
  const double d = targets.penumbra_depth_mm;
  const double centre = water_dose_per_mu(sad_mm, 100.0, 100.0, d);
  auto crossing = [&](double level) {
    double lo = 0.0;
    double hi = 50.0 * (sad_mm + d) / sad_mm + 60.0;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      if (water_dose_per_mu(sad_mm, 100.0, 100.0, d, mid) / centre > level) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return 0.5 * (lo + hi);
  };
  f.penumbra_80_20_mm = crossing(0.2) - crossing(0.8);
  return f;
}

namespace {

double number(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number()) {
    throw InputError(where, std::string("'") + key + "' is missing or not a number");
  }
  const double v = j[key].get<double>();
  if (!std::isfinite(v)) throw InputError(where, std::string("'") + key + "' is not finite");
  return v;
}

std::vector<std::pair<double, double>> pairs(const nlohmann::json& j, const char* key,
                                             const std::string& where) {
  std::vector<std::pair<double, double>> out;
  if (!j.contains(key) || !j[key].is_array()) {
    throw InputError(where, std::string("'") + key + "' is missing or not an array");
  }
  std::size_t n = 0;
  for (const auto& e : j[key]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number() || !e[1].is_number()) {
      throw InputError(where,
                       std::string(key) + "[" + std::to_string(n) + "] is not a pair of numbers");
    }
    out.emplace_back(e[0].get<double>(), e[1].get<double>());
    ++n;
  }
  return out;
}

}  // namespace

BeamModel load_beam_model(const std::filesystem::path& path, double sad_mm,
                          double calibration_cgy_per_mu, double mlc_transmission,
                          double dosimetric_leaf_gap_mm) {
  const std::string where = path.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("not valid JSON: ") + e.what());
  }
  if (j.value("format", "") != "linac-beam-model") {
    throw InputError(where, "'format' is not \"linac-beam-model\"");
  }
  BeamModel m;
  m.machine_name = j.value("machine_name", "");
  m.energy_mv = number(j, "energy_mv", where);
  m.sad_mm = sad_mm;
  m.calibration_gy_per_mu = calibration_cgy_per_mu / 100.0;
  m.mlc_transmission = mlc_transmission;
  m.dosimetric_leaf_gap_mm = dosimetric_leaf_gap_mm;
  if (!j.contains("model") || !j["model"].is_object()) {
    throw InputError(where, "'model' is missing");
  }
  const auto& jm = j["model"];
  const std::string wm = where + ": model";
  m.jaw_transmission = number(jm, "jaw_transmission", wm);
  m.p.attenuation_per_mm = number(jm, "attenuation_per_mm", wm);
  m.p.buildup_per_mm = number(jm, "buildup_per_mm", wm);
  m.p.scatter_amplitude = number(jm, "scatter_amplitude", wm);
  m.p.scatter_buildup_mm = number(jm, "scatter_buildup_mm", wm);
  m.p.scatter_sigma_mm = number(jm, "scatter_sigma_mm", wm);
  m.p.primary_sigma_mm = number(jm, "primary_sigma_mm", wm);
  m.p.head_scatter_fraction = number(jm, "head_scatter_fraction", wm);
  m.p.head_scatter_sigma_mm = number(jm, "head_scatter_sigma_mm", wm);
  auto positive = [&](double v, const char* name) {
    if (!(v > 0.0)) throw InputError(wm, std::string(name) + " must be > 0");
  };
  positive(m.p.attenuation_per_mm, "attenuation_per_mm");
  positive(m.p.buildup_per_mm, "buildup_per_mm");
  positive(m.p.scatter_buildup_mm, "scatter_buildup_mm");
  positive(m.p.scatter_sigma_mm, "scatter_sigma_mm");
  positive(m.p.primary_sigma_mm, "primary_sigma_mm");
  positive(m.p.head_scatter_sigma_mm, "head_scatter_sigma_mm");
  if (!(m.p.head_scatter_fraction >= 0.0 && m.p.head_scatter_fraction < 1.0) ||
      !(m.p.scatter_amplitude >= 0.0) || !(m.jaw_transmission >= 0.0 && m.jaw_transmission < 1.0)) {
    throw InputError(wm,
                     "head_scatter_fraction and jaw_transmission must lie in [0, 1), "
                     "scatter_amplitude >= 0");
  }
  m.hu_to_red = pairs(j, "hu_to_relative_electron_density", where);
  if (m.hu_to_red.size() < 2) {
    throw InputError(where, "hu_to_relative_electron_density needs at least two points");
  }
  for (std::size_t n = 0; n < m.hu_to_red.size(); ++n) {
    if (m.hu_to_red[n].second < 0.0 ||
        (n > 0 && !(m.hu_to_red[n].first > m.hu_to_red[n - 1].first))) {
      throw InputError(where, "hu_to_relative_electron_density[" + std::to_string(n) +
                                  "]: HU must increase and densities be >= 0");
    }
  }
  if (j.contains("commissioning_targets")) {
    const auto& t = j["commissioning_targets"];
    const std::string wt = where + ": commissioning_targets";
    m.targets.dmax_mm = number(t, "dmax_mm", wt);
    m.targets.pdd_pct = pairs(t, "pdd_pct", wt);
    m.targets.output_factors = pairs(t, "output_factors", wt);
    m.targets.penumbra_80_20_mm = number(t, "penumbra_80_20_mm", wt);
    m.targets.penumbra_depth_mm = number(t, "penumbra_depth_mm", wt);
  }
  m.calibrate();
  return m;
}

BeamModel default_beam_model() {
  const MachineProfile profile = default_machine_profile();
  return load_beam_model(machines_dir() / "clinac-ix-6mv.json", profile.source_axis_distance_mm,
                         profile.dose.calibration_cgy_per_mu, profile.mlc.transmission,
                         profile.mlc.dosimetric_leaf_gap_mm);
}

std::string beam_model_to_json(const BeamModel& m) {
  nlohmann::ordered_json j;
  j["format"] = "linac-beam-model";
  j["format_version"] = 1;
  j["machine_name"] = m.machine_name;
  j["energy_mv"] = m.energy_mv;
  auto r = [](double v) { return std::round(v * 1e6) / 1e6; };
  j["model"] = {{"attenuation_per_mm", r(m.p.attenuation_per_mm)},
                {"buildup_per_mm", r(m.p.buildup_per_mm)},
                {"scatter_amplitude", r(m.p.scatter_amplitude)},
                {"scatter_buildup_mm", r(m.p.scatter_buildup_mm)},
                {"scatter_sigma_mm", r(m.p.scatter_sigma_mm)},
                {"primary_sigma_mm", r(m.p.primary_sigma_mm)},
                {"head_scatter_fraction", r(m.p.head_scatter_fraction)},
                {"head_scatter_sigma_mm", r(m.p.head_scatter_sigma_mm)},
                {"jaw_transmission", r(m.jaw_transmission)}};
  j["hu_to_relative_electron_density"] = m.hu_to_red;
  j["commissioning_targets"] = {{"ssd_mm", m.sad_mm},
                                {"dmax_mm", m.targets.dmax_mm},
                                {"pdd_pct", m.targets.pdd_pct},
                                {"output_factors", m.targets.output_factors},
                                {"penumbra_80_20_mm", m.targets.penumbra_80_20_mm},
                                {"penumbra_depth_mm", m.targets.penumbra_depth_mm}};
  return j.dump(2) + "\n";
}

CommissioningResult commission_beam_model(const BeamModel& start) {
  if (start.targets.pdd_pct.empty() || start.targets.output_factors.empty()) {
    throw InputError("commissioning", "the beam data have no PDD or output factor targets");
  }
  BeamModel m = start;
  auto to_vec = [](const BeamModelParameters& q) {
    return std::vector<double>{q.attenuation_per_mm,    q.buildup_per_mm,       q.scatter_amplitude,
                               q.scatter_buildup_mm,    q.scatter_sigma_mm,     q.primary_sigma_mm,
                               q.head_scatter_fraction, q.head_scatter_sigma_mm};
  };
  auto from_vec = [](const std::vector<double>& x) {
    BeamModelParameters q;
    q.attenuation_per_mm = x[0];
    q.buildup_per_mm = x[1];
    q.scatter_amplitude = x[2];
    q.scatter_buildup_mm = x[3];
    q.scatter_sigma_mm = x[4];
    q.primary_sigma_mm = x[5];
    q.head_scatter_fraction = x[6];
    q.head_scatter_sigma_mm = x[7];
    return q;
  };
  const std::vector<double> lo{0.001, 0.05, 0.0, 5.0, 5.0, 0.5, 0.0, 5.0};
  const std::vector<double> hi{0.01, 2.0, 2.0, 500.0, 150.0, 6.0, 0.4, 100.0};
  std::vector<double> x = to_vec(m.p);
  for (std::size_t n = 0; n < x.size(); ++n) x[n] = std::clamp(x[n], lo[n], hi[n]);
  int evaluations = 0;
  auto cost = [&](const std::vector<double>& q) {
    ++evaluations;
    m.p = from_vec(q);
    m.calibrate();
    const WaterFigures f = m.water_figures();
    const auto& t = m.targets;
    double c = std::pow((f.dmax_mm - t.dmax_mm) / 0.5, 2);
    for (std::size_t n = 0; n < f.pdd_pct.size(); ++n) {
      c += std::pow((f.pdd_pct[n].second - t.pdd_pct[n].second) / 0.3, 2);
    }
    for (std::size_t n = 0; n < f.output_factors.size(); ++n) {
      c += std::pow((f.output_factors[n].second - t.output_factors[n].second) / 0.005, 2);
    }
    c += std::pow((f.penumbra_80_20_mm - t.penumbra_80_20_mm) / 0.2, 2);
    return c;
  };
  nlopt::opt opt(nlopt::LN_BOBYQA, static_cast<unsigned>(x.size()));
  opt.set_lower_bounds(lo);
  opt.set_upper_bounds(hi);
  opt.set_maxeval(6000);
  opt.set_ftol_abs(1e-9);
  opt.set_min_objective([](const std::vector<double>& q, std::vector<double>& /*grad*/,
                           void* data) { return (*static_cast<decltype(cost)*>(data))(q); },
                        &cost);
  double best = 0.0;
  try {
    opt.optimize(x, best);
  } catch (const nlopt::roundoff_limited&) {
    // keep the best point found
  }
  CommissioningResult r;
  m.p = from_vec(x);
  m.calibrate();
  r.cost = cost(x);
  r.model = m;
  r.model.calibrate();
  r.figures = r.model.water_figures();
  r.evaluations = evaluations;
  return r;
}

}  // namespace linac::planning
