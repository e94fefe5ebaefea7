#include "linac/planning/dose_engine.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>

#include "dose_kernels.hpp"
#include "linac/core/error.hpp"
#include "linac/core/resample.hpp"

namespace linac::planning {

using namespace detail;  // the engine's own pieces (dose_kernels.hpp)

BeamGeometry::BeamGeometry(double gantry_deg, double collimator_deg,
                           const Eigen::Vector3d& isocentre_mm, iec::PatientPosition position,
                           double sad_mm, double couch_deg)
    : isocentre_mm_(isocentre_mm), sad_mm_(sad_mm) {
  iec::CouchState couch;
  couch.rotation_deg = couch_deg;
  const Eigen::Matrix3d p2f = iec::patient_to_fixed(position, couch).rotation();
  const Eigen::Matrix3d b2f =
      (iec::gantry_to_fixed(gantry_deg) * iec::collimator_to_gantry(collimator_deg)).rotation();
  patient_to_bld_ = b2f.transpose() * p2f;
  source_mm_ = isocentre_mm_ + patient_to_bld_.transpose() * Eigen::Vector3d(0.0, 0.0, sad_mm_);
}

BeamGeometry::Bev BeamGeometry::project(const Eigen::Vector3d& p_mm) const {
  const Eigen::Vector3d b = patient_to_bld_ * (p_mm - isocentre_mm_);
  const double r = sad_mm_ - b.z();
  return {b.x() * sad_mm_ / r, b.y() * sad_mm_ / r, r};
}

Eigen::Vector3d BeamGeometry::point_at(double u_mm, double v_mm, double r_mm) const {
  const Eigen::Vector3d b(u_mm * r_mm / sad_mm_, v_mm * r_mm / sad_mm_, sad_mm_ - r_mm);
  return isocentre_mm_ + patient_to_bld_.transpose() * b;
}

DoseEngine::DoseEngine(BeamModel model, std::vector<double> leaf_boundaries_mm, const ImageHU& ct,
                       iec::PatientPosition position)
    : model_(std::move(model)), boundaries_(std::move(leaf_boundaries_mm)), position_(position) {
  if (boundaries_.size() < 2) throw InputError("dose engine", "no MLC leaf boundaries");
  if (ct.empty()) throw InputError("dose engine", "the CT is empty");
  for (double z = 0.0; z <= 1000.0 + 1e-9; z += kDepthStepMm) {
    depth_table_.push_back({model_.primary_depth(z), model_.scatter_ratio(0, z),
                            model_.scatter_ratio(1, z), model_.contamination(z),
                            std::exp(-z / model_.p.horn_depth_mm)});
  }
  density_ = Volume<float>(ct.grid());
  for (std::size_t n = 0; n < ct.size(); ++n) {
    density_[n] = static_cast<float>(model_.relative_electron_density(ct[n]));
  }
}

DoseEngine::DepthRow DoseEngine::depth_row(double z_mm) const {
  const double f =
      std::clamp(z_mm / kDepthStepMm, 0.0, static_cast<double>(depth_table_.size() - 1));
  const auto i = std::min(static_cast<std::size_t>(f), depth_table_.size() - 2);
  const double a = f - static_cast<double>(i);
  const DepthRow& lo = depth_table_[i];
  const DepthRow& hi = depth_table_[i + 1];
  auto mix = [a](double x, double y) { return x + a * (y - x); };
  return {mix(lo.primary, hi.primary), mix(lo.scatter1, hi.scatter1), mix(lo.scatter2, hi.scatter2),
          mix(lo.contamination, hi.contamination), mix(lo.horn_decay, hi.horn_decay)};
}

PreparedPoints DoseEngine::prepare(const BeamGeometry& g, const Aperture& field,
                                   const Points& points) const {
  PreparedPoints p;
  prepare(g, field, points, p);
  return p;
}

void DoseEngine::prepare(const BeamGeometry& g, const Aperture& field, const Points& points,
                         PreparedPoints& p) const {
  // resize keeps the buffers of an earlier direction (no new pages to zero)
  p.u_mm.resize(points.size());
  p.v_mm.resize(points.size());
  p.r_mm.resize(points.size());
  p.depth_mm.resize(points.size());
  p.density.resize(points.size());
  if (points.empty()) return;
  const DepthField depth =
      make_depth_field(density_, g, field, points, model_.p.electron_memory_mm);
  for (std::size_t n = 0; n < points.size(); ++n) {
    const auto b = g.project(points[n].cast<double>());
    p.u_mm[n] = static_cast<float>(b.u_mm);
    p.v_mm[n] = static_cast<float>(b.v_mm);
    p.r_mm[n] = static_cast<float>(b.r_mm);
    const auto [z, rho] = depth.at(b.u_mm, b.v_mm, b.r_mm);
    p.depth_mm[n] = static_cast<float>(z);
    p.density[n] = static_cast<float>(rho);
  }
}

void DoseEngine::add_aperture_dose(const PreparedPoints& p, const Aperture& a, double mu,
                                   std::vector<float>& dose_gy) const {
  if (dose_gy.size() != p.size()) {
    throw std::invalid_argument("add_aperture_dose: dose and points differ in size");
  }
  if (mu == 0.0 || p.size() == 0) return;
  add_field_dose(p, Field(a), mu, dose_gy);
}

void DoseEngine::add_apertures_dose(const PreparedPoints& p,
                                    const std::vector<std::pair<Aperture, double>>& apertures,
                                    std::vector<float>& dose_gy) const {
  if (dose_gy.size() != p.size()) {
    throw std::invalid_argument("add_apertures_dose: dose and points differ in size");
  }
  std::vector<std::pair<const Aperture*, double>> parts;
  for (const auto& [aperture, mu] : apertures) {
    if (!(mu >= 0.0)) {
      throw std::invalid_argument("add_apertures_dose: aperture " + std::to_string(parts.size()) +
                                  " has MU below 0");
    }
    if (mu > 0.0) parts.emplace_back(&aperture, mu);
  }
  if (parts.empty() || p.size() == 0) return;
  if (parts.size() == 1) {  // one aperture's own map, as add_aperture_dose
    add_field_dose(p, Field(*parts.front().first), parts.front().second, dose_gy);
    return;
  }
  std::vector<std::pair<double, Aperture>> jaws;  // one collimator angle: no turn
  for (const auto& [aperture, mu] : parts) {
    jaws.emplace_back(
        0.0, Aperture{aperture->x1_mm, aperture->x2_mm, aperture->y1_mm, aperture->y2_mm, {}, {}});
  }
  add_field_dose(p, Field(jaws_union(jaws), parts), 1.0, dose_gy);
}

void DoseEngine::add_fluence_dose(const PreparedPoints& p, const Aperture& jaws,
                                  const BeamletLayout& layout, const std::vector<float>& mu,
                                  std::vector<float>& dose_gy) const {
  if (dose_gy.size() != p.size()) {
    throw std::invalid_argument("add_fluence_dose: dose and points differ in size");
  }
  if (mu.size() != static_cast<std::size_t>(layout.count()) ||
      layout.row_edges_mm.size() != static_cast<std::size_t>(layout.rows) + 1) {
    throw std::invalid_argument("add_fluence_dose: weights and beamlet layout differ in size");
  }
  if (p.size() == 0 || std::all_of(mu.begin(), mu.end(), [](float v) { return v == 0.0F; })) {
    return;
  }
  add_field_dose(p, Field(jaws, layout, mu), 1.0, dose_gy);
}

void DoseEngine::add_field_dose(const PreparedPoints& p, const Field& a, double mu,
                                std::vector<float>& dose_gy) const {
  const auto src = model_.source_sigmas_mm();
  const double w = model_.p.head_scatter_fraction;
  const double f = model_.p.electron_fraction;
  const auto [r_lo, r_hi] = std::minmax_element(p.r_mm.begin(), p.r_mm.end());
  const float rho_lo = *std::min_element(p.density.begin(), p.density.end());
  const double rmin = static_cast<double>(*r_lo);
  const double rmax = static_cast<double>(*r_hi);
  // The primary and, at water's density, the electrons' kernel in one map (at the points' mean
  // distance: in water the electron kernel only shapes the penumbra); the electrons' kernel at
  // other densities is added per point as a difference from it.
  const double r_mid = 0.5 * (rmin + rmax);
  const double sigma_e_water = model_.electron_sigma_at(1.0, r_mid);
  const KernelMap primary(a, boundaries_, model_, src[0], (1.0 - w) * (1.0 - f), sigma_e_water,
                          (1.0 - w) * f);
  const KernelMap contamination(a, boundaries_, model_, src[2]);
  // The phantom's kernels vary per point (distance, density): ladders of widths over the
  // points' range, interpolated per point; the head scatter on their grid.
  const BroadKernels broad(a, boundaries_, model_, src[1], rmin, rmax);
  const bool lung = rho_lo < 0.999F;
  const KernelLadder electron(
      a, boundaries_, model_, sigma_e_water,
      lung ? model_.electron_sigma_at(static_cast<double>(rho_lo), rmin) : sigma_e_water);
  // Per point: D = K (SAD / r)^2 { P [ H Phi + s_1 C_s1 + s_2 C_s2 ] + c C_c } (beam_model.hpp).
  for (std::size_t n = 0; n < p.size(); ++n) {
    const double u = static_cast<double>(p.u_mm[n]);
    const double v = static_cast<double>(p.v_mm[n]);
    const double r = static_cast<double>(p.r_mm[n]);
    const DepthRow t = depth_row(static_cast<double>(p.depth_mm[n]));
    const BroadKernels::Values wide = broad.at(u, v, r);
    double phi = primary.at(u, v) + w * wide.head;
    if (lung && p.density[n] < 0.999F) {
      const double sigma = model_.electron_sigma_at(static_cast<double>(p.density[n]), r);
      phi += (1.0 - w) * f * (electron.at(u, v, sigma) - electron.at(u, v, sigma_e_water));
    }
    const double q = (u * u + v * v) / (150.0 * 150.0);
    const double horn = 1.0 + model_.p.horn * q * t.horn_decay;
    double d = t.primary * (horn * phi + t.scatter1 * wide.scatter1 + t.scatter2 * wide.scatter2);
    if (t.contamination > 1e-7) d += t.contamination * contamination.at(u, v);
    const double isq = (model_.sad_mm / r) * (model_.sad_mm / r);
    dose_gy[n] += static_cast<float>(mu * model_.k() * isq * d);
  }
}

void DoseEngine::add_aperture_dose(const BeamGeometry& g, const Aperture& a, double mu,
                                   const Points& points, std::vector<float>& dose_gy) const {
  if (dose_gy.size() != points.size()) {
    throw std::invalid_argument("add_aperture_dose: dose and points differ in size");
  }
  if (mu == 0.0 || points.empty()) return;
  add_aperture_dose(prepare(g, a, points), a, mu, dose_gy);
}

BeamletMatrix DoseEngine::beamlet_matrix(const BeamGeometry& g, const Aperture& jaws,
                                         double beamlet_width_mm, double cutoff_mm,
                                         const Points& points) const {
  return beamlet_matrix(prepare(g, jaws, points), jaws, beamlet_width_mm, cutoff_mm);
}

BeamletMatrix DoseEngine::beamlet_matrix(const PreparedPoints& pp, const Aperture& jaws,
                                         double beamlet_width_mm, double cutoff_mm) const {
  if (!(beamlet_width_mm > 0.0) || !(cutoff_mm >= 0.0)) {
    throw InputError("beamlets", "width must be > 0 and cut-off >= 0");
  }
  BeamletMatrix out;
  BeamletLayout& L = out.layout;
  L.x1_mm = jaws.x1_mm;
  L.x2_mm = jaws.x2_mm;
  L.width_mm = beamlet_width_mm;
  L.columns = static_cast<int>(std::ceil((jaws.x2_mm - jaws.x1_mm) / beamlet_width_mm - 1e-9));
  const int pairs = static_cast<int>(boundaries_.size()) - 1;
  int first = -1;
  int last = -1;
  for (int n = 0; n < pairs; ++n) {
    if (overlap(boundaries_[n], boundaries_[n + 1], jaws.y1_mm, jaws.y2_mm) > 1e-9) {
      if (first < 0) first = n;
      last = n;
    }
  }
  if (first < 0 || L.columns <= 0) return out;
  L.first_row = first;
  L.rows = last - first + 1;
  for (int n = first; n <= last + 1; ++n) {
    L.row_edges_mm.push_back(std::clamp(boundaries_[n], jaws.y1_mm, jaws.y2_mm));
  }
  // Kernels: primary, head scatter, phantom scatter 1 and 2, contamination, then the
  // electron kernel whose width depends on the point's effective density.
  const auto src = model_.source_sigmas_mm();
  constexpr int kKernels = 6;
  out.dose_per_mu = BeamletPatches(static_cast<Eigen::Index>(pp.size()), L.rows, L.columns);
  std::vector<double> rect;  // one point's rectangle of values, row by row
  // Per kernel: erf at the column edges c0..c1+1 (each edge shared by two columns).
  std::array<std::vector<double>, kKernels> ex;
  std::array<std::vector<double>, kKernels> ey;
  std::array<double, kKernels> weight{};
  std::array<double, kKernels> sigma{};
  std::array<double, kKernels> ry{};
  const double threshold = 1e-5 * model_.k();
  const double w = model_.p.head_scatter_fraction;
  const double f = model_.p.electron_fraction;
  for (std::size_t n = 0; n < pp.size(); ++n) {
    const BeamGeometry::Bev b{static_cast<double>(pp.u_mm[n]), static_cast<double>(pp.v_mm[n]),
                              static_cast<double>(pp.r_mm[n])};
    if (b.u_mm < L.x1_mm - cutoff_mm || b.u_mm > L.x2_mm + cutoff_mm ||
        b.v_mm < L.row_edges_mm.front() - cutoff_mm || b.v_mm > L.row_edges_mm.back() + cutoff_mm) {
      continue;
    }
    const double z = static_cast<double>(pp.depth_mm[n]);
    // The dose per MU of each kernel at full fluence: dose_per_mu with one fluence set to 1.
    const double isq = (model_.sad_mm / b.r_mm) * (model_.sad_mm / b.r_mm);
    const DepthRow t = depth_row(z);
    const double kp = model_.k() * isq * t.primary;
    const double horn =
        1.0 + model_.p.horn * (b.u_mm * b.u_mm + b.v_mm * b.v_mm) / (150.0 * 150.0) * t.horn_decay;
    weight = {kp * horn * (1.0 - w) * (1.0 - f),
              kp * horn * w,
              kp * t.scatter1,
              kp * t.scatter2,
              model_.k() * isq * t.contamination,
              kp * horn * (1.0 - w) * f};
    sigma = {src[0],
             src[1],
             model_.scatter_sigma_at(0, b.r_mm),
             model_.scatter_sigma_at(1, b.r_mm),
             src[2],
             model_.electron_sigma_at(static_cast<double>(pp.density[n]), b.r_mm)};
    const int c0 = std::max(
        0, static_cast<int>(std::floor((b.u_mm - cutoff_mm - L.x1_mm) / beamlet_width_mm)));
    const int c1 =
        std::min(L.columns - 1,
                 static_cast<int>(std::floor((b.u_mm + cutoff_mm - L.x1_mm) / beamlet_width_mm)));
    if (c1 < c0) continue;
    // Rows within the cut-off (rows of zero height, clipped by the jaws, are skipped).
    int r0 = L.rows;
    int r1 = -1;
    for (int r = 0; r < L.rows; ++r) {
      const double lo = L.row_edges_mm[static_cast<std::size_t>(r)];
      const double hi = L.row_edges_mm[static_cast<std::size_t>(r) + 1];
      if (hi <= lo || b.v_mm < lo - cutoff_mm || b.v_mm > hi + cutoff_mm) continue;
      r0 = std::min(r0, r);
      r1 = std::max(r1, r);
    }
    if (r1 < r0) continue;
    // Kernels whose weight is negligible here (contamination beyond the build-up) are skipped.
    std::size_t used = 0;
    std::array<std::size_t, kKernels> kernel{};
    const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
    for (std::size_t k = 0; k < kKernels; ++k) {
      if (weight[k] > 1e-5 * total) kernel[used++] = k;
    }
    // erf at each column edge and each row edge once per kernel (edges are shared).
    for (std::size_t q = 0; q < used; ++q) {
      const std::size_t k = kernel[q];
      const double s = std::sqrt(2.0) * sigma[k];
      auto& e = ex[q];
      e.clear();
      for (int c = c0; c <= c1; ++c) e.push_back(table_erf((L.column_lo(c) - b.u_mm) / s));
      e.push_back(table_erf((L.column_hi(c1) - b.u_mm) / s));
      auto& ef = ey[q];
      ef.clear();
      for (int r = r0; r <= r1 + 1; ++r) {
        ef.push_back(table_erf((L.row_edges_mm[static_cast<std::size_t>(r)] - b.v_mm) / s));
      }
    }
    rect.clear();
    for (int r = r0; r <= r1; ++r) {
      const auto j = static_cast<std::size_t>(r - r0);
      for (std::size_t q = 0; q < used; ++q) {
        ry[q] = weight[kernel[q]] * 0.25 * (ey[q][j + 1] - ey[q][j]);
      }
      for (int c = c0; c <= c1; ++c) {
        const auto i = static_cast<std::size_t>(c - c0);
        double value = 0.0;
        for (std::size_t q = 0; q < used; ++q) value += ry[q] * (ex[q][i + 1] - ex[q][i]);
        rect.push_back(value > threshold ? value : 0.0);
      }
    }
    out.dose_per_mu.append(static_cast<Eigen::Index>(n), r0, c0, r1 - r0 + 1, c1 - c0 + 1,
                           rect.data());
  }
  return out;
}

Points mask_points(const Mask& mask, std::vector<std::size_t>* indices) {
  Points pts;
  const Grid& g = mask.grid();
  for (std::size_t n = 0; n < mask.size(); ++n) {
    if (mask[n] == 0) continue;
    const auto ijk = g.index_of(n);
    pts.push_back(g.index_to_world_mm(Eigen::Vector3d(static_cast<double>(ijk[0]),
                                                      static_cast<double>(ijk[1]),
                                                      static_cast<double>(ijk[2])))
                      .cast<float>());
    if (indices != nullptr) indices->push_back(n);
  }
  return pts;
}

Grid dose_grid(const Mask& mask, double spacing_mm) {
  if (!(spacing_mm >= 0.5 && spacing_mm <= 20.0)) {
    throw InputError("dose grid", "spacing must lie in [0.5, 20] mm");
  }
  const Grid& g = mask.grid();
  Index3 lo{g.dims[0], g.dims[1], g.dims[2]};
  Index3 hi{-1, -1, -1};
  for (std::size_t n = 0; n < mask.size(); ++n) {
    if (mask[n] == 0) continue;
    const auto ijk = g.index_of(n);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], ijk[a]);
      hi[a] = std::max(hi[a], ijk[a]);
    }
  }
  if (hi[0] < 0) throw InputError("dose grid", "the mask is empty");
  Grid out;
  out.direction = g.direction;
  out.spacing_mm = Eigen::Vector3d::Constant(spacing_mm);
  const Eigen::Vector3d first = g.index_to_world_mm(Eigen::Vector3d(
      static_cast<double>(lo[0]), static_cast<double>(lo[1]), static_cast<double>(lo[2])));
  out.origin_mm = first;
  for (int a = 0; a < 3; ++a) {
    const double extent = static_cast<double>(hi[a] - lo[a]) * g.spacing_mm[a];
    out.dims[a] = static_cast<std::int64_t>(std::ceil(extent / spacing_mm)) + 1;
  }
  return out;
}

double WaterScan::pdd_at(double depth_mm) const {
  if (pdd.empty()) return 0.0;
  for (std::size_t n = 1; n < pdd.size(); ++n) {
    if (pdd[n].first >= depth_mm) {
      const auto& a = pdd[n - 1];
      const auto& b = pdd[n];
      return a.second + (depth_mm - a.first) / (b.first - a.first) * (b.second - a.second);
    }
  }
  return pdd.back().second;
}

WaterScan water_scan(const BeamModel& model, const std::vector<double>& leaf_boundaries_mm,
                     double field_x_mm, double field_y_mm, double ssd_mm, double profile_depth_mm) {
  if (!(field_x_mm >= 10.0 && field_x_mm <= 400.0 && field_y_mm >= 10.0 && field_y_mm <= 400.0)) {
    throw InputError("--field", "each side must lie in [10, 400] mm");
  }
  if (!(ssd_mm >= 700.0 && ssd_mm <= 1500.0)) {
    throw InputError("--ssd-mm", "must lie in [700, 1500] mm");
  }
  const double sad = model.sad_mm;
  const double surface_y = ssd_mm - sad;  // gantry 0, HFS: the beam runs along +y
  const double half = 0.5 * std::max(field_x_mm, field_y_mm) * (ssd_mm + 350.0) / sad + 60.0;
  Grid grid;
  grid.spacing_mm = Eigen::Vector3d(4.0, 1.0, 4.0);
  grid.dims = {static_cast<std::int64_t>(std::ceil(2 * half / 4.0)) + 1, 351,
               static_cast<std::int64_t>(std::ceil(2 * half / 4.0)) + 1};
  grid.origin_mm = Eigen::Vector3d(-half, surface_y + 0.5, -half);
  const ImageHU water(grid, 0);
  const DoseEngine engine(model, leaf_boundaries_mm, water, iec::PatientPosition::kHFS);
  const Eigen::Vector3d iso(0.0, 0.0, 0.0);
  const BeamGeometry g(0.0, 0.0, iso, iec::PatientPosition::kHFS, sad);
  auto field = [](double fx, double fy) {
    Aperture a;
    a.x1_mm = -0.5 * fx;
    a.x2_mm = 0.5 * fx;
    a.y1_mm = -0.5 * fy;
    a.y2_mm = 0.5 * fy;
    return a;
  };
  WaterScan out;
  out.profile_depth_mm = profile_depth_mm;
  Points axis;
  for (double d = 0.0; d <= 300.0 + 1e-9; d += 0.5) {
    axis.emplace_back(0.0F, static_cast<float>(surface_y + d), 0.0F);
  }
  std::vector<float> cax_f(axis.size(), 0.0F);
  engine.add_aperture_dose(g, field(field_x_mm, field_y_mm), 1.0, axis, cax_f);
  const std::vector<double> cax(cax_f.begin(), cax_f.end());
  const auto imax =
      static_cast<std::size_t>(std::max_element(cax.begin(), cax.end()) - cax.begin());
  double dmax = 0.5 * static_cast<double>(imax);
  if (imax > 0 && imax + 1 < cax.size()) {  // parabola through the three samples
    const double a = cax[imax - 1];
    const double b = cax[imax];
    const double c = cax[imax + 1];
    const double den = a - 2 * b + c;
    if (den < 0.0) dmax += 0.5 * 0.5 * (a - c) / den;
  }
  out.dmax_mm = dmax;
  const double peak = cax[imax];
  out.dose_at_dmax_gy_per_mu = peak;
  out.surface_pct = 100.0 * cax.front() / peak;
  for (std::size_t n = 0; n < cax.size(); ++n) {
    out.pdd.emplace_back(0.5 * static_cast<double>(n), 100.0 * cax[n] / peak);
  }
  // Profile across X at the profile depth.
  const double scale = (ssd_mm + profile_depth_mm) / sad;
  const double reach = 0.5 * field_x_mm * scale + 40.0;
  Points line;
  for (double x = -reach; x <= reach + 1e-9; x += 0.5) {
    line.emplace_back(static_cast<float>(x), static_cast<float>(surface_y + profile_depth_mm),
                      0.0F);
  }
  std::vector<float> prof_f(line.size(), 0.0F);
  engine.add_aperture_dose(g, field(field_x_mm, field_y_mm), 1.0, line, prof_f);
  const std::vector<double> prof(prof_f.begin(), prof_f.end());
  const double centre = prof[prof.size() / 2];
  for (std::size_t n = 0; n < line.size(); ++n) {
    out.profile.emplace_back(static_cast<double>(line[n].x()), 100.0 * prof[n] / centre);
  }
  auto edge = [&](double level, bool right) {
    // Walk outwards from the centre to the first sample below `level`.
    const std::size_t mid = prof.size() / 2;
    for (std::size_t s = 1; s < mid; ++s) {
      const std::size_t i = right ? mid + s : mid - s;
      const std::size_t prev = right ? i - 1 : i + 1;
      const double y0 = prof[prev] / centre;
      const double y1 = prof[i] / centre;
      if (y1 < level) {
        const double f = (y0 - level) / (y0 - y1);
        return static_cast<double>(line[prev].x()) +
               f * static_cast<double>(line[i].x() - line[prev].x());
      }
    }
    return static_cast<double>(right ? line.back().x() : line.front().x());
  };
  out.penumbra_80_20_mm =
      0.5 * ((edge(0.2, true) - edge(0.8, true)) + (edge(0.8, false) - edge(0.2, false)));
  // Output factor: at the 10 x 10 field's dmax, against 10 x 10.
  std::vector<float> ref(axis.size(), 0.0F);
  engine.add_aperture_dose(g, field(100.0, 100.0), 1.0, axis, ref);
  const auto iref =
      static_cast<std::size_t>(std::max_element(ref.begin(), ref.end()) - ref.begin());
  out.output_factor = cax[iref] / static_cast<double>(ref[iref]);
  return out;
}

}  // namespace linac::planning
