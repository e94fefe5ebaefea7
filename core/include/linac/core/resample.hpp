#pragma once
// Resampling a volume onto another grid, optionally through a rigid transform.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "linac/core/transform.hpp"
#include "linac/core/volume.hpp"

namespace linac {

enum class Interpolation { kNearest, kLinear };

namespace detail {
template <typename T>
T convert_sample(double v) {
  if constexpr (std::is_integral_v<T>) {
    const double r = std::round(v);
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    return static_cast<T>(std::clamp(r, lo, hi));
  } else {
    return static_cast<T>(v);
  }
}
}  // namespace detail

/// Value at continuous index `c` of `vol`. Inside means within half a voxel of the voxel centres
/// (edges are extended by that half voxel); outside returns `outside_value`.
template <typename T>
double sample(const Volume<T>& vol, const Eigen::Vector3d& c, Interpolation mode,
              double outside_value) {
  const auto& d = vol.grid().dims;
  for (int a = 0; a < 3; ++a) {
    if (!(c[a] >= -0.5 && c[a] <= static_cast<double>(d[a]) - 0.5)) return outside_value;
  }
  if (mode == Interpolation::kNearest) {
    const auto i = std::clamp<std::int64_t>(std::llround(c[0]), 0, d[0] - 1);
    const auto j = std::clamp<std::int64_t>(std::llround(c[1]), 0, d[1] - 1);
    const auto k = std::clamp<std::int64_t>(std::llround(c[2]), 0, d[2] - 1);
    return static_cast<double>(vol.at(i, j, k));
  }
  std::int64_t i0[3];
  std::int64_t i1[3];
  double f[3];
  for (int a = 0; a < 3; ++a) {
    const double x = std::clamp(c[a], 0.0, static_cast<double>(d[a] - 1));
    i0[a] = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(x)), d[a] - 1);
    i1[a] = std::min<std::int64_t>(i0[a] + 1, d[a] - 1);
    f[a] = x - static_cast<double>(i0[a]);
  }
  auto v = [&](std::int64_t i, std::int64_t j, std::int64_t k) {
    return static_cast<double>(vol.at(i, j, k));
  };
  const double c00 = v(i0[0], i0[1], i0[2]) * (1 - f[0]) + v(i1[0], i0[1], i0[2]) * f[0];
  const double c10 = v(i0[0], i1[1], i0[2]) * (1 - f[0]) + v(i1[0], i1[1], i0[2]) * f[0];
  const double c01 = v(i0[0], i0[1], i1[2]) * (1 - f[0]) + v(i1[0], i0[1], i1[2]) * f[0];
  const double c11 = v(i0[0], i1[1], i1[2]) * (1 - f[0]) + v(i1[0], i1[1], i1[2]) * f[0];
  const double c0 = c00 * (1 - f[1]) + c10 * f[1];
  const double c1 = c01 * (1 - f[1]) + c11 * f[1];
  return c0 * (1 - f[2]) + c1 * f[2];
}

/// Keys' cubic convolution (a = -1/2, Catmull-Rom) of `vol` at continuous index `c`, edges
/// extended (no outside value: `c` is clamped into the grid). It passes through the voxel values
/// and reproduces quadratic fields; unlike trilinear interpolation, its blur hardly depends on
/// where between the voxels `c` falls (what registration's fixed samples need, ADR 0004).
template <typename T>
double sample_cubic(const Volume<T>& vol, const Eigen::Vector3d& c) {
  const auto& d = vol.grid().dims;
  std::int64_t base[3];
  double w[3][4];
  for (int a = 0; a < 3; ++a) {
    const double x = std::clamp(c[a], 0.0, static_cast<double>(d[a] - 1));
    const double f = std::floor(x);
    base[a] = static_cast<std::int64_t>(f) - 1;
    const double t = x - f;
    const double t2 = t * t;
    const double t3 = t2 * t;
    w[a][0] = -0.5 * t3 + t2 - 0.5 * t;
    w[a][1] = 1.5 * t3 - 2.5 * t2 + 1.0;
    w[a][2] = -1.5 * t3 + 2.0 * t2 + 0.5 * t;
    w[a][3] = 0.5 * t3 - 0.5 * t2;
  }
  double sum = 0.0;
  for (int k = 0; k < 4; ++k) {
    const auto kk = std::clamp<std::int64_t>(base[2] + k, 0, d[2] - 1);
    double sj = 0.0;
    for (int j = 0; j < 4; ++j) {
      const auto jj = std::clamp<std::int64_t>(base[1] + j, 0, d[1] - 1);
      double si = 0.0;
      for (int i = 0; i < 4; ++i) {
        const auto ii = std::clamp<std::int64_t>(base[0] + i, 0, d[0] - 1);
        si += w[0][i] * static_cast<double>(vol.at(ii, jj, kk));
      }
      sj += w[1][j] * si;
    }
    sum += w[2][k] * sj;
  }
  return sum;
}

/// Resamples `src` onto `target`. `target_to_source` maps a point of the target's patient frame
/// to the source's patient frame (identity when both images share a frame). Multi-threaded.
template <typename T>
Volume<T> resample(const Volume<T>& src, const Grid& target, Interpolation mode, T outside_value,
                   const RigidTransform& target_to_source = RigidTransform()) {
  Volume<T> out(target, outside_value);
  // Target index -> source continuous index is affine: c = A * ijk + b.
  const Grid& sg = src.grid();
  const Eigen::Matrix3d to_src_index =
      sg.spacing_mm.cwiseInverse().asDiagonal() * sg.direction.transpose();
  const Eigen::Matrix3d A = to_src_index * target_to_source.rotation() * target.direction *
                            target.spacing_mm.asDiagonal();
  const Eigen::Vector3d b =
      to_src_index * (target_to_source.apply(target.origin_mm) - sg.origin_mm);
  const auto nx = target.dims[0];
  const auto ny = target.dims[1];
  const auto nz = target.dims[2];
  const auto outside = static_cast<double>(outside_value);
#pragma omp parallel for schedule(static)
  for (std::int64_t k = 0; k < nz; ++k) {
    for (std::int64_t j = 0; j < ny; ++j) {
      Eigen::Vector3d c = A.col(1) * static_cast<double>(j) + A.col(2) * static_cast<double>(k) + b;
      std::size_t n = target.linear_index(0, j, k);
      for (std::int64_t i = 0; i < nx; ++i, ++n, c += A.col(0)) {
        out[n] = detail::convert_sample<T>(sample(src, c, mode, outside));
      }
    }
  }
  return out;
}

}  // namespace linac
