#pragma once
// The dose engine's ray traces (planning/src only): the radiological depth and effective density
// on a fan of rays through the beam's-eye view, with the trilinear density look-up they march on.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "linac/core/resample.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::planning::detail {

/// Trilinear interpolation at a continuous index clamped to the voxel centres: sample()'s
/// arithmetic (the same values) without its per-call bounds checks and index arithmetic, for
/// the ray marches that take much of the dose engine's time.
class Trilinear {
 public:
  explicit Trilinear(const Volume<float>& v) : data_(v.data().data()) {
    for (std::size_t a = 0; a < 3; ++a) {
      n_[a] = v.grid().dims[static_cast<int>(a)];
      hi_[a] = static_cast<double>(n_[a] - 1);
    }
    stride_ = {1, n_[0], n_[0] * n_[1]};
  }
  [[nodiscard]] double operator()(double x, double y, double z) const {
    const std::array<double, 3> c{x, y, z};
    std::array<std::int64_t, 3> lo{};
    std::array<std::int64_t, 3> step{};
    std::array<double, 3> f{};
    for (std::size_t a = 0; a < 3; ++a) {
      const double xa = std::clamp(c[a], 0.0, hi_[a]);
      lo[a] = std::min(static_cast<std::int64_t>(xa), n_[a] - 1);  // xa >= 0: floor
      step[a] = lo[a] + 1 < n_[a] ? stride_[a] : 0;
      f[a] = xa - static_cast<double>(lo[a]);
    }
    const float* p = data_ + lo[0] + lo[1] * stride_[1] + lo[2] * stride_[2];
    auto v = [p](std::int64_t off) { return static_cast<double>(p[off]); };
    const std::int64_t dx = step[0];
    const std::int64_t dy = step[1];
    const std::int64_t dz = step[2];
    const double c00 = v(0) * (1 - f[0]) + v(dx) * f[0];
    const double c10 = v(dy) * (1 - f[0]) + v(dx + dy) * f[0];
    const double c01 = v(dz) * (1 - f[0]) + v(dx + dz) * f[0];
    const double c11 = v(dy + dz) * (1 - f[0]) + v(dx + dy + dz) * f[0];
    const double c0 = c00 * (1 - f[1]) + c10 * f[1];
    const double c1 = c01 * (1 - f[1]) + c11 * f[1];
    return c0 * (1 - f[2]) + c1 * f[2];
  }

 private:
  const float* data_;
  std::array<std::int64_t, 3> n_{};
  std::array<std::int64_t, 3> stride_{};
  std::array<double, 3> hi_{};
};

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
    const Trilinear trilinear(density);
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
        auto rho = [&](double rr) {
          const double t = rr / g.sad_mm();
          return trilinear(s_index[0] + dir_index[0] * t, s_index[1] + dir_index[1] * t,
                           s_index[2] + dir_index[2] * t);
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

/// Range of r over the bounding box of the points.
inline std::pair<double, double> r_range(const BeamGeometry& g, const Points& points) {
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

inline DepthField make_depth_field(const Volume<float>& density, const BeamGeometry& g,
                                   const Aperture& a, const Points& points,
                                   double electron_memory_mm) {
  const auto [r0, r1] = r_range(g, points);
  const double margin = 30.0;
  // Steps along the ray no longer than the image's finest spacing (at most 2 mm).
  const double dr = std::clamp(density.grid().spacing_mm.minCoeff(), 0.5, 2.0);
  return DepthField(density, g, a.x1_mm - margin, a.x2_mm + margin, a.y1_mm - margin,
                    a.y2_mm + margin, r0, r1, 3.0, dr, electron_memory_mm);
}
}  // namespace linac::planning::detail
