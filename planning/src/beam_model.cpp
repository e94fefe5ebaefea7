#include "linac/planning/beam_model.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "json_file.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/machine_profile.hpp"

namespace linac::planning {

namespace {

/// Fraction of a unit-Gaussian-blurred strip [-half, half] seen at x.
double strip(double half_mm, double x_mm, double sigma_mm) {
  const double s = std::sqrt(2.0) * sigma_mm;
  return 0.5 * (std::erf((half_mm - x_mm) / s) + std::erf((half_mm + x_mm) / s));
}

/// One fitted parameter: its name in the file, where it lives, and its bounds.
struct Param {
  const char* name;
  std::function<double&(BeamModelParameters&)> ref;
  double lo;
  double hi;
};

const std::vector<Param>& params() {
  using P = BeamModelParameters;
  static const std::vector<Param> table{
      {"attenuation_per_mm", [](P& p) -> double& { return p.attenuation_per_mm; }, 0.002, 0.008},
      {"buildup_per_mm", [](P& p) -> double& { return p.buildup_per_mm; }, 0.05, 1.5},
      {"surface_fraction", [](P& p) -> double& { return p.surface_fraction; }, 0.0, 0.3},
      {"primary_sigma_mm", [](P& p) -> double& { return p.primary_sigma_mm; }, 0.3, 4.0},
      // The secondary electrons' kernel is held near electron-transport values (water data
      // cannot tell it from the source size; lung shows it): ADR 0008.
      {"electron_sigma_mm", [](P& p) -> double& { return p.electron_sigma_mm; }, 3.0, 6.0},
      {"electron_fraction", [](P& p) -> double& { return p.electron_fraction; }, 0.4, 0.85},
      {"head_scatter_fraction", [](P& p) -> double& { return p.head_scatter_fraction; }, 0.0, 0.3},
      {"head_scatter_sigma_mm", [](P& p) -> double& { return p.head_scatter_sigma_mm; }, 5.0, 80.0},
      {"scatter1_amplitude", [](P& p) -> double& { return p.scatter[0].amplitude; }, 0.0, 2.0},
      {"scatter1_buildup_mm", [](P& p) -> double& { return p.scatter[0].buildup_mm; }, 2.0, 300.0},
      {"scatter1_slope_per_mm", [](P& p) -> double& { return p.scatter[0].slope_per_mm; }, -0.01,
       0.02},
      {"scatter1_sigma_mm", [](P& p) -> double& { return p.scatter[0].sigma_mm; }, 4.0, 60.0},
      {"scatter2_amplitude", [](P& p) -> double& { return p.scatter[1].amplitude; }, 0.0, 2.0},
      {"scatter2_buildup_mm", [](P& p) -> double& { return p.scatter[1].buildup_mm; }, 2.0, 500.0},
      {"scatter2_slope_per_mm", [](P& p) -> double& { return p.scatter[1].slope_per_mm; }, -0.01,
       0.02},
      {"scatter2_sigma_mm", [](P& p) -> double& { return p.scatter[1].sigma_mm; }, 30.0, 250.0},
      {"contamination_amplitude", [](P& p) -> double& { return p.contamination_amplitude; }, 0.0,
       1.5},
      {"contamination_depth_mm", [](P& p) -> double& { return p.contamination_depth_mm; }, 0.5,
       25.0},
      {"contamination_sigma_mm", [](P& p) -> double& { return p.contamination_sigma_mm; }, 10.0,
       400.0},
      {"horn", [](P& p) -> double& { return p.horn; }, -0.05, 0.2},
      {"horn_depth_mm", [](P& p) -> double& { return p.horn_depth_mm; }, 20.0, 2000.0},
  };
  return table;
}

}  // namespace

std::vector<std::string> parameter_names() {
  std::vector<std::string> out;
  for (const auto& q : params()) out.emplace_back(q.name);
  return out;
}

std::vector<double> parameter_vector(const BeamModelParameters& p) {
  BeamModelParameters copy = p;
  std::vector<double> out;
  for (const auto& q : params()) out.push_back(q.ref(copy));
  return out;
}

BeamModelParameters parameters_from(const std::vector<double>& x) {
  BeamModelParameters p;
  const auto& table = params();
  for (std::size_t n = 0; n < table.size() && n < x.size(); ++n) table[n].ref(p) = x[n];
  return p;
}

std::pair<std::vector<double>, std::vector<double>> parameter_bounds() {
  std::vector<double> lo;
  std::vector<double> hi;
  for (const auto& q : params()) {
    lo.push_back(q.lo);
    hi.push_back(q.hi);
  }
  return {lo, hi};
}

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
  return (1.0 - (1.0 - p.surface_fraction) * std::exp(-p.buildup_per_mm * z)) *
         std::exp(-p.attenuation_per_mm * z);
}

double BeamModel::scatter_ratio(int kernel, double z_mm) const {
  const double z = std::max(z_mm, 0.0);
  const auto& s = p.scatter[static_cast<std::size_t>(kernel)];
  return s.amplitude * (1.0 - std::exp(-z / s.buildup_mm)) * std::exp(-s.slope_per_mm * z);
}

double BeamModel::contamination(double z_mm) const {
  return p.contamination_amplitude * std::exp(-std::max(z_mm, 0.0) / p.contamination_depth_mm);
}

double BeamModel::horn_factor(double offaxis_mm, double z_mm) const {
  const double q = offaxis_mm / 150.0;
  return 1.0 + p.horn * q * q * std::exp(-std::max(z_mm, 0.0) / p.horn_depth_mm);
}

double BeamModel::head_sigma_mm() const {
  return std::hypot(p.head_scatter_sigma_mm, p.primary_sigma_mm);
}

std::array<double, 3> BeamModel::source_sigmas_mm() const {
  return {p.primary_sigma_mm, head_sigma_mm(), p.contamination_sigma_mm};
}

double BeamModel::scatter_sigma_at(int kernel, double r_mm) const {
  return p.scatter[static_cast<std::size_t>(kernel)].sigma_mm * sad_mm / r_mm;
}

double BeamModel::electron_sigma_at(double density, double r_mm) const {
  // Denser than water changes little at these ranges; below 0.1 the kernel would leave the
  // patient: both clamped.
  const double e = p.electron_sigma_mm / std::clamp(density, 0.1, 1.0) * sad_mm / r_mm;
  return std::sqrt(p.primary_sigma_mm * p.primary_sigma_mm + e * e);  // not hypot: hot path
}

double BeamModel::dose_per_mu(double z_mm, double r_mm, double offaxis_mm,
                              const ConvolvedFluence& c) const {
  const double isq = (sad_mm / r_mm) * (sad_mm / r_mm);
  const double w = p.head_scatter_fraction;
  const double f = p.electron_fraction;
  const double phi = (1.0 - w) * ((1.0 - f) * c.primary + f * c.electron) + w * c.head;
  const double scatter =
      scatter_ratio(0, z_mm) * c.scatter[0] + scatter_ratio(1, z_mm) * c.scatter[1];
  return k_ * isq *
         (primary_depth(z_mm) * (horn_factor(offaxis_mm, z_mm) * phi + scatter) +
          contamination(z_mm) * c.contamination);
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
  ConvolvedFluence c;
  c.primary = conv(p.primary_sigma_mm);
  c.electron = conv(electron_sigma_at(1.0, r));
  c.head = conv(head_sigma_mm());
  c.scatter = {conv(scatter_sigma_at(0, r)), conv(scatter_sigma_at(1, r))};
  c.contamination = conv(p.contamination_sigma_mm);
  return dose_per_mu(z_mm, r, std::hypot(u, v), c);
}

void BeamModel::calibrate() {
  k_ = 1.0;
  // The maximum lies within the first 40 mm: a coarse scan, then golden-section refinement.
  auto d = [&](double z) { return water_dose_per_mu(sad_mm, 100.0, 100.0, z); };
  double best_z = 0.0;
  double best = 0.0;
  for (double z = 0.0; z <= 40.0; z += 1.0) {
    if (d(z) > best) {
      best = d(z);
      best_z = z;
    }
  }
  double lo = std::max(0.0, best_z - 1.0);
  double hi = best_z + 1.0;
  const double g = 0.5 * (std::sqrt(5.0) - 1.0);
  for (int it = 0; it < 30; ++it) {
    const double a = hi - g * (hi - lo);
    const double b = lo + g * (hi - lo);
    if (d(a) > d(b)) {
      hi = b;
    } else {
      lo = a;
    }
  }
  best = std::max(best, d(0.5 * (lo + hi)));
  k_ = calibration_gy_per_mu / best;
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
  nlohmann::json j = read_json_file(path);
  if (j.value("format", "") != "linac-beam-model") {
    throw InputError(where, "'format' is not \"linac-beam-model\"");
  }
  if (j.value("format_version", 0) != 2) {
    throw InputError(where, "'format_version' is not 2 (refit the model: linac dose commission)");
  }
  BeamModel m;
  m.machine_name = j.value("machine_name", "");
  m.beam_data = j.value("beam_data", "");
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
  if (!(m.jaw_transmission >= 0.0 && m.jaw_transmission < 1.0)) {
    throw InputError(wm, "jaw_transmission must lie in [0, 1)");
  }
  for (const auto& q : params()) {
    const double v = number(jm, q.name, wm);
    if (!(v >= q.lo && v <= q.hi)) {
      throw InputError(wm, std::string(q.name) + " = " + std::to_string(v) + " lies outside [" +
                               std::to_string(q.lo) + ", " + std::to_string(q.hi) + "]");
    }
    q.ref(m.p) = v;
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
  j["format_version"] = 2;
  j["machine_name"] = m.machine_name;
  j["energy_mv"] = m.energy_mv;
  j["beam_data"] = m.beam_data;
  auto r = [](double v) { return std::round(v * 1e6) / 1e6; };
  nlohmann::ordered_json jm;
  BeamModelParameters copy = m.p;
  for (const auto& q : params()) jm[q.name] = r(q.ref(copy));
  jm["jaw_transmission"] = r(m.jaw_transmission);
  j["model"] = jm;
  j["hu_to_relative_electron_density"] = m.hu_to_red;
  return j.dump(2) + "\n";
}

}  // namespace linac::planning
