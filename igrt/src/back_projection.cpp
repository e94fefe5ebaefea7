#include "back_projection.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace linac::igrt::detail {

namespace {

/// Where the fixed-frame point `x` lands on `view`'s panel: the magnification `scale` (SAD over
/// the source distance along the central ray) and the panel column `cu` (with the kept tails);
/// false when the point is at or behind the source.
bool panel_column(const View& view, const Geometry& g, const Eigen::Vector3d& x, double& scale,
                  double& cu) {
  // Into the imager's frame (rotated about Y by the kV source angle).
  const double xr = view.c * x.x() - view.s * x.z();
  const double zr = view.s * x.x() + view.c * x.z();
  const double depth = g.sad - zr;
  if (depth <= 1.0) return false;
  scale = g.sad / depth;
  cu = (xr * scale - g.offset_iso) / g.du + g.u0;
  return true;
}

}  // namespace

/// Every voxel on its own: any grid orientation. `measured` (on mu's grid) is set where every
/// view's ray through the voxel meets the panel's rows.
void back_project_voxels(const std::vector<View>& views, const Geometry& g,
                         const RigidTransform& to_fixed, Volume<float>& mu, Mask& measured) {
  const Grid& grid = mu.grid();
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t k = 0; k < grid.dims[2]; ++k) {
    for (std::int64_t j = 0; j < grid.dims[1]; ++j) {
      for (std::int64_t i = 0; i < grid.dims[0]; ++i) {
        const Eigen::Vector3d x = to_fixed.apply(grid.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k))));
        double sum = 0.0;
        bool all_rows = true;
        for (const View& view : views) {
          double scale = 0.0;
          double cu = 0.0;
          if (!panel_column(view, g, x, scale, cu)) {
            all_rows = false;
            continue;
          }
          const double cv_ = x.y() * scale / g.du + g.v0;
          if (cv_ < 0.0 || cv_ > g.rows - 1.0) all_rows = false;
          if (cu < 0.0 || cv_ < 0.0 || cu > g.wide - 1.0 || cv_ > g.rows - 1.0) continue;
          const int c0 = static_cast<int>(cu), r0 = static_cast<int>(cv_);
          const int c1 = std::min(c0 + 1, g.wide - 1), r1 = std::min(r0 + 1, g.rows - 1);
          const double fc = cu - c0, fr = cv_ - r0;
          const cv::Mat& q = *view.q;  // transposed: (column, row)
          const double val = (1 - fr) * ((1 - fc) * static_cast<double>(q.at<float>(c0, r0)) +
                                         fc * static_cast<double>(q.at<float>(c1, r0))) +
                             fr * ((1 - fc) * static_cast<double>(q.at<float>(c0, r1)) +
                                   fc * static_cast<double>(q.at<float>(c1, r1)));
          sum += view.weight * scale * scale * val;
        }
        mu.at(i, j, k) = static_cast<float>(sum);
        measured.at(i, j, k) = all_rows ? 1 : 0;
      }
    }
  }
}

namespace {

/// One view's share of a voxel column: slices k_lo..k_hi at panel rows r0f + k rsf (within
/// [0.001, rows - 1.001]), bilinear between panel columns a and b (fraction fc), weighted by w.
/// The reconstruction's hot loop: also built for AVX2 and FMA (gathers), chosen at load time.
__attribute__((target_clones("arch=haswell", "default"))) void accumulate_column(
    float* __restrict out, const float* __restrict a, const float* __restrict b, float r0f,
    float rsf, float fc, float w, int k_lo, int k_hi) {
  for (int k = k_lo; k <= k_hi; ++k) {
    const float r = r0f + static_cast<float>(k) * rsf;
    const auto r0 = static_cast<int>(r);
    const float fr = r - static_cast<float>(r0);
    const float left = a[r0] + fr * (a[r0 + 1] - a[r0]);
    const float right = b[r0] + fr * (b[r0 + 1] - b[r0]);
    out[k] += w * (left + fc * (right - left));
  }
}

}  // namespace

/// Voxel columns along the gantry axis: per view, the panel column, the distance weight and
/// the first row are found once per column; the slices then step down the panel's rows, read
/// from the projection stored column by column. Same arithmetic as back_project_voxels, and the
/// same `measured` region: per column, the slices every view puts on the panel's rows.
void back_project_columns(const std::vector<View>& views, const Geometry& g,
                          const RigidTransform& to_fixed, Volume<float>& mu, Mask& measured) {
  const Grid& grid = mu.grid();
  const auto nz = grid.dims[2];
  const double y_step = to_fixed.apply_vector(grid.direction.col(2) * grid.spacing_mm.z()).y();
  const double last_row = g.rows - 1.001;  // rows r0 and r0 + 1 both on the panel
  // Tiles of voxel columns, each back-projected from every view in turn: a tile projects onto a
  // narrow band of panel columns, which stays in cache while the tile's columns read it.
  constexpr std::int64_t kTile = 16;
  const std::int64_t tiles_i = (grid.dims[0] + kTile - 1) / kTile;
  const std::int64_t tiles_j = (grid.dims[1] + kTile - 1) / kTile;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t t = 0; t < tiles_i * tiles_j; ++t) {
    const std::int64_t i0 = (t % tiles_i) * kTile;
    const std::int64_t j0 = (t / tiles_i) * kTile;
    const std::int64_t ni = std::min(kTile, grid.dims[0] - i0);
    const std::int64_t nj = std::min(kTile, grid.dims[1] - j0);
    std::vector<float> sum(static_cast<std::size_t>(ni * nj * nz), 0.0F);
    std::vector<Eigen::Vector3d> base(static_cast<std::size_t>(ni * nj));
    for (std::int64_t jj = 0; jj < nj; ++jj) {
      for (std::int64_t ii = 0; ii < ni; ++ii) {
        base[static_cast<std::size_t>(jj * ni + ii)] = to_fixed.apply(grid.index_to_world_mm(
            Eigen::Vector3d(static_cast<double>(i0 + ii), static_cast<double>(j0 + jj), 0.0)));
      }
    }
    // Per column, the slices on the panel's rows in every view so far (the measured region).
    std::vector<double> seen_lo(base.size(), 0.0);
    std::vector<double> seen_hi(base.size(), static_cast<double>(nz - 1));
    for (std::size_t v = 0; v < views.size(); ++v) {
      const View& view = views[v];
      for (std::size_t m = 0; m < base.size(); ++m) {
        const Eigen::Vector3d& x = base[m];
        double scale = 0.0;
        double cu = 0.0;
        if (!panel_column(view, g, x, scale, cu)) {
          seen_hi[m] = -1.0;
          continue;
        }
        const double r_first = x.y() * scale / g.du + g.v0;
        const double r_step = y_step * scale / g.du;
        // The slices whose row lies on the panel: 0 <= r_first + k r_step <= last_row.
        double k_lo = 0.0;
        double k_hi = static_cast<double>(nz - 1);
        if (r_step != 0.0) {
          // A thousandth of a row inside, so that float rounding stays on the panel.
          const double k_a = (0.001 - r_first) / r_step;
          const double k_b = (last_row - 0.001 - r_first) / r_step;
          k_lo = std::max(k_lo, std::ceil(std::min(k_a, k_b)));
          k_hi = std::min(k_hi, std::floor(std::max(k_a, k_b)));
        } else if (r_first < 0.001 || r_first > last_row - 0.001) {
          k_hi = -1.0;
        }
        seen_lo[m] = std::max(seen_lo[m], k_lo);
        seen_hi[m] = std::min(seen_hi[m], k_hi);
        if (k_hi < k_lo || cu < 0.0 || cu > g.wide - 1.001) continue;
        const int c0 = static_cast<int>(cu);
        const auto fc = static_cast<float>(cu - c0);
        const float* __restrict a = view.q->ptr<float>(c0);
        const float* __restrict b = view.q->ptr<float>(c0 + 1);
        const auto w = static_cast<float>(view.weight * scale * scale);
        accumulate_column(sum.data() + m * static_cast<std::size_t>(nz), a, b,
                          static_cast<float>(r_first), static_cast<float>(r_step), fc, w,
                          static_cast<int>(k_lo), static_cast<int>(k_hi));
      }
    }
    for (std::int64_t jj = 0; jj < nj; ++jj) {
      for (std::int64_t ii = 0; ii < ni; ++ii) {
        const float* column = sum.data() + static_cast<std::size_t>((jj * ni + ii) * nz);
        const std::size_t m = static_cast<std::size_t>(jj * ni + ii);
        for (std::int64_t k = 0; k < nz; ++k) {
          mu.at(i0 + ii, j0 + jj, k) = column[k];
          const auto kd = static_cast<double>(k);
          measured.at(i0 + ii, j0 + jj, k) = kd >= seen_lo[m] && kd <= seen_hi[m] ? 1 : 0;
        }
      }
    }
  }
}

}  // namespace linac::igrt::detail
