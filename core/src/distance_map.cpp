#include "linac/core/distance_map.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace linac {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One-dimensional squared Euclidean distance transform of sampled function f (Felzenszwalb &
// Huttenlocher 2012), samples at positions q * spacing. Infinite samples take no part.
void dt1d(const std::vector<double>& f, double spacing, std::vector<double>& d,
          std::vector<std::int64_t>& v, std::vector<double>& z) {
  const auto n = static_cast<std::int64_t>(f.size());
  std::int64_t k = -1;
  for (std::int64_t q = 0; q < n; ++q) {
    if (!std::isfinite(f[q])) continue;
    const double xq = static_cast<double>(q) * spacing;
    double s = -kInf;
    while (k >= 0) {
      const double xv = static_cast<double>(v[k]) * spacing;
      s = ((f[q] + xq * xq) - (f[v[k]] + xv * xv)) / (2.0 * (xq - xv));
      if (s <= z[k]) {
        --k;
      } else {
        break;
      }
    }
    ++k;
    v[k] = q;
    z[k] = k == 0 ? -kInf : s;
    z[k + 1] = kInf;
  }
  if (k < 0) {
    std::fill(d.begin(), d.end(), kInf);
    return;
  }
  std::int64_t j = 0;
  for (std::int64_t q = 0; q < n; ++q) {
    const double xq = static_cast<double>(q) * spacing;
    while (z[j + 1] < xq) ++j;
    const double dx = xq - static_cast<double>(v[j]) * spacing;
    d[q] = dx * dx + f[v[j]];
  }
}

// Squared distances to the voxels where `seed` is true, on an anisotropic grid.
std::vector<double> squared_edt(const Grid& g, const std::vector<bool>& seed) {
  std::vector<double> sq(seed.size());
  for (std::size_t n = 0; n < seed.size(); ++n) sq[n] = seed[n] ? 0.0 : kInf;
  const std::int64_t nx = g.dims[0];
  const std::int64_t ny = g.dims[1];
  const std::int64_t nz = g.dims[2];
  const std::int64_t stride[3] = {1, nx, nx * ny};
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t len = g.dims[axis];
    // Lines along `axis` are indexed by the other two axes.
    const int a1 = axis == 0 ? 1 : 0;
    const int a2 = axis == 2 ? 1 : 2;
    const std::int64_t n1 = g.dims[a1];
    const std::int64_t n2 = g.dims[a2];
    const double spacing = g.spacing_mm[axis];
#pragma omp parallel
    {
      std::vector<double> f(len);
      std::vector<double> d(len);
      std::vector<std::int64_t> v(len);
      std::vector<double> z(len + 1);
#pragma omp for schedule(static)
      for (std::int64_t line = 0; line < n1 * n2; ++line) {
        const std::int64_t base = (line % n1) * stride[a1] + (line / n1) * stride[a2];
        for (std::int64_t q = 0; q < len; ++q) f[q] = sq[base + q * stride[axis]];
        dt1d(f, spacing, d, v, z);
        for (std::int64_t q = 0; q < len; ++q) sq[base + q * stride[axis]] = d[q];
      }
    }
  }
  (void)nz;
  return sq;
}

}  // namespace

Volume<float> distance_map_mm(const Mask& mask) {
  std::vector<bool> seed(mask.size());
  for (std::size_t n = 0; n < mask.size(); ++n) seed[n] = mask[n] != 0;
  const auto sq = squared_edt(mask.grid(), seed);
  Volume<float> out(mask.grid());
  for (std::size_t n = 0; n < sq.size(); ++n) out[n] = static_cast<float>(std::sqrt(sq[n]));
  return out;
}

Volume<float> signed_distance_map_mm(const Mask& mask) {
  std::vector<bool> inside(mask.size());
  std::vector<bool> outside(mask.size());
  for (std::size_t n = 0; n < mask.size(); ++n) {
    inside[n] = mask[n] != 0;
    outside[n] = !inside[n];
  }
  const auto to_fg = squared_edt(mask.grid(), inside);
  const auto to_bg = squared_edt(mask.grid(), outside);
  Volume<float> out(mask.grid());
  for (std::size_t n = 0; n < out.size(); ++n) {
    out[n] = inside[n] ? -static_cast<float>(std::sqrt(to_bg[n]))
                       : static_cast<float>(std::sqrt(to_fg[n]));
  }
  return out;
}

Mask expand_mm(const Mask& mask, double margin_mm) {
  const auto dist = distance_map_mm(mask);
  const auto limit = static_cast<float>(margin_mm + 1e-6);
  return dist.map<std::uint8_t>([limit](float d) { return d <= limit ? 1 : 0; });
}

}  // namespace linac
