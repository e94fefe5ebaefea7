// Separable Gaussian smoothing of float volumes (registration pyramids, high-pass backgrounds).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "linac/core/registration.hpp"

namespace linac {

Volume<float> gaussian_smooth(const Volume<float>& image, double sigma_mm) {
  return gaussian_smooth(image, Eigen::Vector3d(sigma_mm, sigma_mm, sigma_mm));
}

Volume<float> gaussian_smooth(const Volume<float>& image, const Eigen::Vector3d& sigma) {
  if (!(sigma.maxCoeff() > 0.0)) return image;
  Volume<float> a = image;
  Volume<float> b(image.grid());
  const Grid& g = image.grid();
  const std::int64_t n[3] = {g.dims[0], g.dims[1], g.dims[2]};
  for (int axis = 0; axis < 3; ++axis) {
    const double sigma_vox = sigma[axis] / g.spacing_mm[axis];
    if (sigma_vox < 0.2) continue;
    const int radius = static_cast<int>(std::ceil(3.0 * sigma_vox));
    std::vector<float> kernel(static_cast<std::size_t>(2 * radius + 1));
    double sum = 0.0;
    for (int r = -radius; r <= radius; ++r) {
      const double w = std::exp(-0.5 * r * r / (sigma_vox * sigma_vox));
      kernel[static_cast<std::size_t>(r) + static_cast<std::size_t>(radius)] =
          static_cast<float>(w);
      sum += w;
    }
    // Single precision: a dozen taps of a sum of weights 1 lose nothing a registration sees, and
    // the rows vectorise twice as wide.
    for (auto& w : kernel) w = static_cast<float>(static_cast<double>(w) / sum);
      // Row by row (i fastest), each tap added over a whole row in the taps' order: the same sums
      // as voxel by voxel, in an order the compiler vectorises. Edges are extended.
#pragma omp parallel
    {
      std::vector<float> acc(static_cast<std::size_t>(n[0]));
#pragma omp for schedule(static)
      for (std::int64_t k = 0; k < n[2]; ++k) {
        for (std::int64_t j = 0; j < n[1]; ++j) {
          std::fill(acc.begin(), acc.end(), 0.0F);
          for (int r = -radius; r <= radius; ++r) {
            const float w = kernel[static_cast<std::size_t>(r) + static_cast<std::size_t>(radius)];
            if (axis == 0) {
              const float* row = &a.at(0, j, k);
              // The edges extended; between them the taps need no clamping.
              const std::int64_t lo = std::clamp<std::int64_t>(-r, 0, n[0]);
              const std::int64_t hi = std::clamp<std::int64_t>(n[0] - r, lo, n[0]);
              for (std::int64_t i = 0; i < lo; ++i) {
                acc[static_cast<std::size_t>(i)] += w * row[0];
              }
              float* inner = acc.data();
              const float* shifted = row + r;
              for (std::int64_t i = lo; i < hi; ++i) {
                inner[i] += w * shifted[i];
              }
              for (std::int64_t i = hi; i < n[0]; ++i) {
                acc[static_cast<std::size_t>(i)] += w * row[n[0] - 1];
              }
            } else {
              const std::int64_t jj = axis == 1 ? std::clamp<std::int64_t>(j + r, 0, n[1] - 1) : j;
              const std::int64_t kk = axis == 2 ? std::clamp<std::int64_t>(k + r, 0, n[2] - 1) : k;
              const float* row = &a.at(0, jj, kk);
              for (std::int64_t i = 0; i < n[0]; ++i) {
                acc[static_cast<std::size_t>(i)] += w * row[i];
              }
            }
          }
          float* out = &b.at(0, j, k);
          for (std::int64_t i = 0; i < n[0]; ++i) {
            out[i] = acc[static_cast<std::size_t>(i)];
          }
        }
      }
    }
    std::swap(a, b);
  }
  return a;
}

}  // namespace linac
