#include "linac/planning/dose_engine.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "linac/core/error.hpp"
#include "linac/core/resample.hpp"

namespace linac::planning {

namespace {

double overlap(double a0, double a1, double b0, double b1) {
  return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

/// Radiological depth (mm of water) on a fan of rays through the beam's-eye view, sampled at
/// distances r0 + k dr from the source; trilinear look-up, clamped at the fan's edges.
class DepthField {
 public:
  DepthField(const Volume<float>& density, const BeamGeometry& g, double u0, double u1, double v0,
             double v1, double r0, double r1, double duv, double dr, double electron_memory_mm)
      : u0_(u0), v0_(v0), r0_(r0), duv_(duv), dr_(dr) {
    nu_ = std::max(2, static_cast<int>(std::ceil((u1 - u0) / duv)) + 1);
    nv_ = std::max(2, static_cast<int>(std::ceil((v1 - v0) / duv)) + 1);
    nr_ = std::max(2, static_cast<int>(std::ceil((r1 - r0) / dr)) + 1);
    field_.assign(static_cast<std::size_t>(nu_) * nv_ * nr_, Sample{0, kRhoOne});
    const Grid& grid = density.grid();
    const Eigen::Vector3d s = g.source_mm();
    const Eigen::Vector3d s_index = grid.world_mm_to_index(s);
    for (int j = 0; j < nv_; ++j) {
      for (int i = 0; i < nu_; ++i) {
        const double u = u0_ + i * duv_;
        const double v = v0_ + j * duv_;
        const Eigen::Vector3d q = g.point_at(u, v, g.sad_mm());
        const double length_per_r = (q - s).norm() / g.sad_mm();
        // Entry of the ray into the image's box, in r (the source is outside the box).
        const Eigen::Vector3d dir_index = grid.world_mm_to_index(q) - s_index;  // per sad of r
        double t_enter = 0.0;
        double t_exit = 1e9;
        for (int a = 0; a < 3; ++a) {
          const double lo = -0.5;
          const double hi = static_cast<double>(grid.dims[a]) - 0.5;
          if (std::abs(dir_index[a]) < 1e-12) {
            if (s_index[a] < lo || s_index[a] > hi) t_exit = -1.0;
            continue;
          }
          double ta = (lo - s_index[a]) / dir_index[a];
          double tb = (hi - s_index[a]) / dir_index[a];
          if (ta > tb) std::swap(ta, tb);
          t_enter = std::max(t_enter, ta);
          t_exit = std::min(t_exit, tb);
        }
        Sample* out = &field_[(static_cast<std::size_t>(j) * nu_ + i) * nr_];
        if (t_exit <= t_enter) continue;  // misses the image: depth 0
        const double r_enter = t_enter * g.sad_mm();
        const double r_exit = t_exit * g.sad_mm();
        // March from the entry (aligned to the r grid) to the last stored sample.
        double r = r0_ - std::ceil(std::max(0.0, r0_ - r_enter) / dr_) * dr_;
        double z = 0.0;
        // Density inside the box, the nearest voxel at its faces: a phantom that fills the
        // image starts exactly at its face.
        const Eigen::Vector3d hi_index(static_cast<double>(grid.dims[0] - 1),
                                       static_cast<double>(grid.dims[1] - 1),
                                       static_cast<double>(grid.dims[2] - 1));
        auto rho = [&](double rr) {
          const Eigen::Vector3d c = (s_index + dir_index * (rr / g.sad_mm()))
                                        .cwiseMax(Eigen::Vector3d::Zero())
                                        .cwiseMin(hi_index);
          return sample(density, c, Interpolation::kLinear, 0.0);
        };
        // Effective density for the lateral electron kernel: 1 / density (the electrons' path
        // per unit of radiological depth) averaged along the ray with weights
        // exp(-(z - z') / memory) over the radiological depth upstream: the secondary electrons
        // reaching a point were set in motion within their range. Air before the patient adds
        // no depth and leaves it at water's 1.
        double path_eff = 1.0;
        double rho_eff = 1.0;
        const double r_last = r0_ + (nr_ - 1) * dr_;
        int k = static_cast<int>(std::lround((r - r0_) / dr_));  // r stays on the grid
        for (; r < r_last + 0.5 * dr_; ++k) {
          if (k >= 0 && k < nr_) {
            out[k] = Sample{quantise_depth(z), quantise_rho(rho_eff)};
          }
          // Midpoint rule over the part of [r, r + dr] inside the image.
          const double a = std::max(r, r_enter);
          const double b = std::min(r + dr_, r_exit);
          if (b > a) {
            const double rho_mid = rho(0.5 * (a + b));
            const double dz = rho_mid * length_per_r * (b - a);
            z += dz;
            // Soft tissue and fat (from 85 % of water's density up) count as water; the first
            // memory length under the surface is the build-up's (its partial-volume voxels
            // would otherwise read as low density).
            const double path = rho_mid >= 0.85 ? 1.0 : 1.0 / std::max(rho_mid, 0.1);
            if (z > electron_memory_mm && path != path_eff) {  // in water both are 1
              uniform_ = false;
              const double x = dz / electron_memory_mm;
              // 1 - exp(-x): its series for small steps (error below 2e-3 x), exp beyond.
              const double step =
                  x < 0.7 ? x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x / 24.0))) : 1.0 - std::exp(-x);
              path_eff += (path - path_eff) * step;
              if (std::abs(path - path_eff) < 0.01) path_eff = path;  // close enough: settled
              rho_eff = 1.0 / path_eff;
            }
          }
          r += dr_;
        }
      }
    }
  }

  /// Radiological depth (mm) and effective density at a point, trilinear.
  [[nodiscard]] std::pair<double, double> at(double u, double v, double r) const {
    const double fi = std::clamp((u - u0_) / duv_, 0.0, nu_ - 1.000001);
    const double fj = std::clamp((v - v0_) / duv_, 0.0, nv_ - 1.000001);
    const double fk = std::clamp((r - r0_) / dr_, 0.0, nr_ - 1.000001);
    const int i = static_cast<int>(fi);
    const int j = static_cast<int>(fj);
    const int k = static_cast<int>(fk);
    const double a = fi - i;
    const double b = fj - j;
    const double c = fk - k;
    const std::array<double, 8> w{
        (1 - a) * (1 - b) * (1 - c), (1 - a) * (1 - b) * c, a * (1 - b) * (1 - c), a * (1 - b) * c,
        (1 - a) * b * (1 - c),       (1 - a) * b * c,       a * b * (1 - c),       a * b * c};
    const std::array<std::size_t, 4> base{
        (static_cast<std::size_t>(j) * nu_ + i) * nr_ + k,
        (static_cast<std::size_t>(j) * nu_ + i + 1) * nr_ + k,
        (static_cast<std::size_t>(j + 1) * nu_ + i) * nr_ + k,
        (static_cast<std::size_t>(j + 1) * nu_ + i + 1) * nr_ + k};
    double depth = 0.0;
    double density = 0.0;
    for (std::size_t q = 0; q < 4; ++q) {
      const Sample& s0 = field_[base[q]];
      const Sample& s1 = field_[base[q] + 1];
      depth +=
          w[2 * q] * static_cast<double>(s0.depth) + w[2 * q + 1] * static_cast<double>(s1.depth);
      density +=
          w[2 * q] * static_cast<double>(s0.rho) + w[2 * q + 1] * static_cast<double>(s1.rho);
    }
    return {depth * kDepthUnitMm, uniform_ ? 1.0 : density / kRhoOne};
  }

 private:
  double u0_, v0_, r0_, duv_, dr_;
  int nu_ = 0, nv_ = 0, nr_ = 0;
  // Depth in 0.05 mm and effective density in 1/60000 of water, 16 bits each: a sample is 4
  // bytes, so the per-point look-ups touch as few cache lines as the depth alone did.
  static constexpr double kDepthUnitMm = 0.05;
  static constexpr std::uint16_t kRhoOne = 60000;
  static std::uint16_t quantise_depth(double z_mm) {
    return static_cast<std::uint16_t>(std::clamp(z_mm / kDepthUnitMm + 0.5, 0.0, 65535.0));
  }
  static std::uint16_t quantise_rho(double rho) {
    return static_cast<std::uint16_t>(std::clamp(rho * kRhoOne + 0.5, 0.0, 65535.0));
  }
  struct Sample {
    std::uint16_t depth;  // radiological depth, kDepthUnitMm
    std::uint16_t rho;    // effective density, 1 / kRhoOne
  };
  std::vector<Sample> field_;  // both in one place: one cache line per look-up
  bool uniform_ = true;  // no ray met anything but water-like density: rho_eff is 1 everywhere
};

/// A fluence map at the isocentre plane blurred by one Gaussian kernel.
class KernelMap {
 public:
  KernelMap(const Aperture& a, const std::vector<double>& boundaries, const BeamModel& m,
            double sigma_mm)
      : KernelMap(a, boundaries, m, sigma_mm, 1.0, sigma_mm, 0.0) {}

  /// weight_a x (F * G(sigma_a)) + weight_b x (F * G(sigma_b)) on one grid (sigma_a the
  /// narrower): two kernels that share a depth function, looked up once.
  KernelMap(const Aperture& a, const std::vector<double>& boundaries, const BeamModel& m,
            double sigma_a, double weight_a, double sigma_b, double weight_b) {
    const double sigma_mm = sigma_a;
    px_ = std::clamp(sigma_mm / 2.5, 0.5, 10.0);
    const double margin = 4.0 * std::max(sigma_a, sigma_b) + 2.0 * px_;
    u0_ = a.x1_mm - margin;
    v0_ = a.y1_mm - margin;
    nu_ = static_cast<int>(std::ceil((a.x2_mm - a.x1_mm + 2 * margin) / px_));
    nv_ = static_cast<int>(std::ceil((a.y2_mm - a.y1_mm + 2 * margin) / px_));
    outside_ = static_cast<float>(m.jaw_transmission);
    map_ = cv::Mat(nv_, nu_, CV_32F, cv::Scalar(static_cast<double>(outside_)));
    const bool leaves = !a.leaf_a_mm.empty();
    const double half_dlg = 0.5 * m.dosimetric_leaf_gap_mm;
    const double t_mlc = m.mlc_transmission;
    const double t_jaw = m.jaw_transmission;
    const int pairs = static_cast<int>(boundaries.size()) - 1;
    for (int j = 0; j < nv_; ++j) {
      const double vlo = v0_ + j * px_;
      const double vhi = vlo + px_;
      const double fy = overlap(vlo, vhi, a.y1_mm, a.y2_mm) / px_;
      if (fy <= 0.0) continue;
      // Leaf rows crossing this pixel row inside the Y jaws: weight and open interval.
      struct RowPart {
        double w, lo, hi;
      };
      std::vector<RowPart> parts;
      const double clo = std::max(vlo, a.y1_mm);
      const double chi = std::min(vhi, a.y2_mm);
      if (leaves) {
        for (int n = 0; n < pairs; ++n) {
          const double w = overlap(clo, chi, boundaries[n], boundaries[n + 1]) / px_;
          if (w <= 0.0) continue;
          double lo = a.leaf_b_mm[n] - half_dlg;
          double hi = a.leaf_a_mm[n] + half_dlg;
          lo = std::max(lo, a.x1_mm);
          hi = std::min(hi, a.x2_mm);
          parts.push_back({w, lo, hi});
        }
      } else {
        parts.push_back({fy, a.x1_mm, a.x2_mm});
      }
      auto* row = map_.ptr<float>(j);
      for (int i = 0; i < nu_; ++i) {
        const double ulo = u0_ + i * px_;
        const double uhi = ulo + px_;
        const double jaw = fy * overlap(ulo, uhi, a.x1_mm, a.x2_mm) / px_;
        double open = 0.0;
        for (const auto& p : parts) {
          if (p.hi > p.lo) open += p.w * overlap(ulo, uhi, p.lo, p.hi) / px_;
        }
        row[i] = static_cast<float>(t_jaw * (1.0 - jaw) + t_mlc * (jaw - open) + open);
      }
    }
    // The area-averaged pixel and the bilinear look-up blur by about px^2/6 between them.
    auto blur = [this](const cv::Mat& in, double sigma, cv::Mat& out) {
      const double sigma_px = std::sqrt(std::max(0.09, std::pow(sigma / px_, 2) - 1.0 / 6.0));
      cv::GaussianBlur(in, out, cv::Size(0, 0), sigma_px, sigma_px, cv::BORDER_REPLICATE);
    };
    if (weight_b == 0.0) {
      blur(map_, sigma_a, map_);
    } else if (sigma_b / px_ <= 4.0) {
      cv::Mat first;
      cv::Mat second;
      blur(map_, sigma_a, first);
      blur(map_, sigma_b, second);
      cv::addWeighted(first, weight_a, second, weight_b, 0.0, map_);
    } else {
      // The wider kernel on its own coarser grid (a blur of many pixels on the fine grid costs
      // more than the look-ups), added at the fine grid's pixel centres.
      blur(map_, sigma_a, map_);
      const KernelMap wide(a, boundaries, m, sigma_b);
      for (int j = 0; j < nv_; ++j) {
        auto* row = map_.ptr<float>(j);
        const double v = v0_ + (j + 0.5) * px_;
        for (int i = 0; i < nu_; ++i) {
          const double u = u0_ + (i + 0.5) * px_;
          row[i] = static_cast<float>(weight_a * static_cast<double>(row[i]) +
                                      weight_b * wide.at(u, v));
        }
      }
    }
    outside_ = static_cast<float>(static_cast<double>(outside_) * (weight_a + weight_b));
  }

  [[nodiscard]] double at(double u, double v) const {
    const double fi = (u - u0_) / px_ - 0.5;
    const double fj = (v - v0_) / px_ - 0.5;
    if (!(fi >= 0.0 && fj >= 0.0 && fi < nu_ - 1 && fj < nv_ - 1)) {
      return static_cast<double>(outside_);
    }
    const int i = static_cast<int>(fi);
    const int j = static_cast<int>(fj);
    const double a = fi - i;
    const double b = fj - j;
    const float* r0 = map_.ptr<float>(j);
    const float* r1 = map_.ptr<float>(j + 1);
    auto f = [](float x) { return static_cast<double>(x); };
    return (f(r0[i]) * (1 - a) + f(r0[i + 1]) * a) * (1 - b) +
           (f(r1[i]) * (1 - a) + f(r1[i + 1]) * a) * b;
  }

 private:
  double u0_ = 0.0, v0_ = 0.0, px_ = 1.0;
  int nu_ = 0, nv_ = 0;
  float outside_ = 0.0F;
  cv::Mat map_;
};

/// Fluence maps blurred by a geometric ladder of widths from `sigma_lo` to `sigma_hi` (steps of
/// at most 15 %), interpolated linearly in width: kernels whose width varies per point.
class KernelLadder {
 public:
  KernelLadder(const Aperture& a, const std::vector<double>& boundaries, const BeamModel& m,
               double sigma_lo, double sigma_hi) {
    const double hi = std::max(sigma_hi, sigma_lo);
    const int steps =
        std::max(0, static_cast<int>(std::ceil(std::log(hi / sigma_lo) / std::log(1.15) - 1e-9)));
    for (int k = 0; k <= steps; ++k) {
      const double s = steps == 0
                           ? sigma_lo
                           : sigma_lo * std::pow(hi / sigma_lo, static_cast<double>(k) / steps);
      sigmas_.push_back(s);
      maps_.emplace_back(a, boundaries, m, s);
    }
  }
  [[nodiscard]] double at(double u, double v, double sigma) const {
    if (maps_.size() == 1 || sigma <= sigmas_.front()) return maps_.front().at(u, v);
    if (sigma >= sigmas_.back()) return maps_.back().at(u, v);
    std::size_t i = 0;
    while (i + 2 < sigmas_.size() && sigma > sigmas_[i + 1]) ++i;
    const double f = (sigma - sigmas_[i]) / (sigmas_[i + 1] - sigmas_[i]);
    return (1.0 - f) * maps_[i].at(u, v) + f * maps_[i + 1].at(u, v);
  }

 private:
  std::vector<double> sigmas_;
  std::vector<KernelMap> maps_;
};

/// The two phantom-scatter kernels at a ladder of distances from the source (their width at the
/// isocentre plane is sigma_k SAD / r): levels evenly spaced in r, at most 13 % apart, both
/// kernels interpolated with one weight per point.
class ScatterLadder {
 public:
  ScatterLadder(const Aperture& a, const std::vector<double>& boundaries, const BeamModel& m,
                double r_min, double r_max) {
    const int steps =
        std::max(1, static_cast<int>(std::ceil((r_max - r_min) / (0.13 * r_min) - 1e-9)));
    r0_ = r_min;
    dr_ = std::max(1e-6, (r_max - r_min) / steps);
    for (int k = 0; k <= steps; ++k) {
      const double r = r_min + dr_ * k;
      first_.emplace_back(a, boundaries, m, m.scatter_sigma_at(0, r));
      second_.emplace_back(a, boundaries, m, m.scatter_sigma_at(1, r));
    }
  }
  /// C_s1 and C_s2 at (u, v) for a point at distance r.
  [[nodiscard]] std::pair<double, double> at(double u, double v, double r) const {
    const double t = std::clamp((r - r0_) / dr_, 0.0, static_cast<double>(first_.size() - 1));
    const auto i = std::min(static_cast<std::size_t>(t), first_.size() - 2);
    const double f = t - static_cast<double>(i);
    return {(1.0 - f) * first_[i].at(u, v) + f * first_[i + 1].at(u, v),
            (1.0 - f) * second_[i].at(u, v) + f * second_[i + 1].at(u, v)};
  }

 private:
  double r0_ = 0.0;
  double dr_ = 1.0;
  std::vector<KernelMap> first_;
  std::vector<KernelMap> second_;
};

/// erf from a table (step 1/1024 on [-6, 6], linear interpolation: error below 1e-7), for the
/// beamlet matrices' many edge integrals.
double table_erf(double x) {
  static constexpr double kStep = 1.0 / 1024.0;
  static constexpr double kMax = 6.0;
  static const std::vector<double> table = [] {
    std::vector<double> t;
    for (double v = -kMax; v <= kMax + 0.5 * kStep; v += kStep) t.push_back(std::erf(v));
    return t;
  }();
  if (x <= -kMax) return -1.0;
  if (x >= kMax) return 1.0;
  const double f = (x + kMax) / kStep;
  const auto i = static_cast<std::size_t>(f);
  const double a = f - static_cast<double>(i);
  return table[i] + a * (table[i + 1] - table[i]);
}

/// Range of r over the bounding box of the points.
std::pair<double, double> r_range(const BeamGeometry& g, const Points& points) {
  if (points.empty()) return {g.sad_mm() - 1.0, g.sad_mm() + 1.0};
  Eigen::Vector3f lo = points.front();
  Eigen::Vector3f hi = points.front();
  for (const auto& p : points) {
    lo = lo.cwiseMin(p);
    hi = hi.cwiseMax(p);
  }
  double rmin = 1e9;
  double rmax = -1e9;
  for (int c = 0; c < 8; ++c) {
    const Eigen::Vector3f cf((c & 1) ? hi.x() : lo.x(), (c & 2) ? hi.y() : lo.y(),
                             (c & 4) ? hi.z() : lo.z());
    const Eigen::Vector3d corner = cf.cast<double>();
    const double r = g.project(corner).r_mm;
    rmin = std::min(rmin, r);
    rmax = std::max(rmax, r);
  }
  return {std::max(1.0, rmin - 2.0), rmax + 2.0};
}

DepthField make_depth_field(const Volume<float>& density, const BeamGeometry& g, const Aperture& a,
                            const Points& points, double electron_memory_mm) {
  const auto [r0, r1] = r_range(g, points);
  const double margin = 30.0;
  // Steps along the ray no longer than the image's finest spacing (at most 2 mm).
  const double dr = std::clamp(density.grid().spacing_mm.minCoeff(), 0.5, 2.0);
  return DepthField(density, g, a.x1_mm - margin, a.x2_mm + margin, a.y1_mm - margin,
                    a.y2_mm + margin, r0, r1, 3.0, dr, electron_memory_mm);
}

}  // namespace

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
  p.u_mm.resize(points.size());
  p.v_mm.resize(points.size());
  p.r_mm.resize(points.size());
  p.depth_mm.resize(points.size());
  p.density.resize(points.size());
  if (points.empty()) return p;
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
  return p;
}

void DoseEngine::add_aperture_dose(const PreparedPoints& p, const Aperture& a, double mu,
                                   std::vector<float>& dose_gy) const {
  if (dose_gy.size() != p.size()) {
    throw std::invalid_argument("add_aperture_dose: dose and points differ in size");
  }
  if (mu == 0.0 || p.size() == 0) return;
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
  const KernelMap head(a, boundaries_, model_, src[1]);
  const KernelMap contamination(a, boundaries_, model_, src[2]);
  // The phantom's kernels vary per point (distance, density): ladders of widths over the
  // points' range, interpolated per point.
  const ScatterLadder scatter(a, boundaries_, model_, rmin, rmax);
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
    double phi = primary.at(u, v) + w * head.at(u, v);
    if (lung && p.density[n] < 0.999F) {
      const double sigma = model_.electron_sigma_at(static_cast<double>(p.density[n]), r);
      phi += (1.0 - w) * f * (electron.at(u, v, sigma) - electron.at(u, v, sigma_e_water));
    }
    const double q = (u * u + v * v) / (150.0 * 150.0);
    const double horn = 1.0 + model_.p.horn * q * t.horn_decay;
    const auto [c_s1, c_s2] = scatter.at(u, v, r);
    double d = t.primary * (horn * phi + t.scatter1 * c_s1 + t.scatter2 * c_s2);
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
  std::vector<Eigen::Triplet<float>> triplets;
  triplets.reserve(pp.size() * 8);
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
    for (int r = r0; r <= r1; ++r) {
      const auto j = static_cast<std::size_t>(r - r0);
      for (std::size_t q = 0; q < used; ++q) {
        ry[q] = weight[kernel[q]] * 0.25 * (ey[q][j + 1] - ey[q][j]);
      }
      for (int c = c0; c <= c1; ++c) {
        const auto i = static_cast<std::size_t>(c - c0);
        double value = 0.0;
        for (std::size_t q = 0; q < used; ++q) value += ry[q] * (ex[q][i + 1] - ex[q][i]);
        if (value > threshold) {
          triplets.emplace_back(static_cast<int>(n), r * L.columns + c, static_cast<float>(value));
        }
      }
    }
  }
  out.dose_per_mu.resize(static_cast<Eigen::Index>(pp.size()), L.count());
  out.dose_per_mu.setFromTriplets(triplets.begin(), triplets.end());
  return out;
}

std::vector<double> control_point_mu(const Beam& beam) {
  const auto& cps = beam.control_points;
  std::vector<double> mu(cps.size(), 0.0);
  if (cps.size() < 2) return mu;
  const double final_weight = cps.back().cumulative_meterset_weight;
  if (!(final_weight > 0.0)) return mu;
  for (std::size_t i = 0; i + 1 < cps.size(); ++i) {
    const double seg = beam.meterset_mu *
                       (cps[i + 1].cumulative_meterset_weight - cps[i].cumulative_meterset_weight) /
                       final_weight;
    mu[i] += 0.5 * seg;
    mu[i + 1] += 0.5 * seg;
  }
  return mu;
}

Aperture aperture_of(const ControlPoint& cp) {
  Aperture a;
  a.x1_mm = cp.jaw_x1_mm;
  a.x2_mm = cp.jaw_x2_mm;
  a.y1_mm = cp.jaw_y1_mm;
  a.y2_mm = cp.jaw_y2_mm;
  a.leaf_a_mm = cp.leaf_a_mm;
  a.leaf_b_mm = cp.leaf_b_mm;
  return a;
}

std::vector<float> DoseEngine::plan_dose(const Plan& plan, const Eigen::Vector3d& isocentre_mm,
                                         const Points& points) const {
  struct Task {
    const Beam* beam;
    std::size_t cp;
    double mu;
  };
  std::vector<Task> tasks;
  for (const auto& beam : plan.beams) {
    const auto mu = control_point_mu(beam);
    for (std::size_t i = 0; i < mu.size(); ++i) {
      if (mu[i] > 0.0) tasks.push_back({&beam, i, mu[i]});
    }
  }
  std::vector<float> dose(points.size(), 0.0F);
#pragma omp parallel
  {
    std::vector<float> local(points.size(), 0.0F);
#pragma omp for schedule(dynamic)
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const auto& cp = tasks[t].beam->control_points[tasks[t].cp];
      const BeamGeometry g(cp.gantry_deg, cp.collimator_deg, isocentre_mm, position_,
                           model_.sad_mm);
      add_aperture_dose(g, aperture_of(cp), tasks[t].mu, points, local);
    }
#pragma omp critical
    for (std::size_t n = 0; n < points.size(); ++n) dose[n] += local[n];
  }
  return dose;
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
