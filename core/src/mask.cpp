#include "linac/core/mask.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "linac/core/units.hpp"

namespace linac {

std::size_t count_voxels(const Mask& mask) {
  std::size_t n = 0;
  for (const auto v : mask.data()) n += v != 0 ? 1 : 0;
  return n;
}

double volume_cm3(const Mask& mask) {
  return units::mm3_to_cm3(static_cast<double>(count_voxels(mask)) *
                           mask.grid().voxel_volume_mm3());
}

std::optional<BoundingBox> bounding_box(const Mask& mask) {
  const Grid& g = mask.grid();
  BoundingBox box{{g.dims[0], g.dims[1], g.dims[2]}, {-1, -1, -1}};
  bool any = false;
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      std::size_t n = g.linear_index(0, j, k);
      for (std::int64_t i = 0; i < g.dims[0]; ++i, ++n) {
        if (mask[n] == 0) continue;
        any = true;
        const Index3 p{i, j, k};
        for (int a = 0; a < 3; ++a) {
          box.min[a] = std::min(box.min[a], p[a]);
          box.max[a] = std::max(box.max[a], p[a]);
        }
      }
    }
  }
  if (!any) return std::nullopt;
  return box;
}

Eigen::Vector3d centroid_mm(const Mask& mask) {
  const Grid& g = mask.grid();
  Eigen::Vector3d sum = Eigen::Vector3d::Zero();
  std::size_t count = 0;
  for (std::size_t n = 0; n < mask.size(); ++n) {
    if (mask[n] == 0) continue;
    const Index3 p = g.index_of(n);
    sum += Eigen::Vector3d(static_cast<double>(p[0]), static_cast<double>(p[1]),
                           static_cast<double>(p[2]));
    ++count;
  }
  if (count == 0) throw std::invalid_argument("centroid of an empty mask");
  return g.index_to_world_mm(sum / static_cast<double>(count));
}

namespace {
template <typename Op>
Mask combine(const Mask& a, const Mask& b, Op op) {
  if (!a.grid().same_as(b.grid())) {
    throw std::invalid_argument("mask operation on masks of different grids");
  }
  Mask out(a.grid());
  for (std::size_t n = 0; n < a.size(); ++n) out[n] = op(a[n] != 0, b[n] != 0) ? 1 : 0;
  return out;
}
}  // namespace

Mask mask_union(const Mask& a, const Mask& b) {
  return combine(a, b, [](bool x, bool y) { return x || y; });
}
Mask mask_intersection(const Mask& a, const Mask& b) {
  return combine(a, b, [](bool x, bool y) { return x && y; });
}
Mask mask_difference(const Mask& a, const Mask& b) {
  return combine(a, b, [](bool x, bool y) { return x && !y; });
}

std::vector<Component> connected_components(const Mask& mask) {
  const Grid& g = mask.grid();
  std::vector<std::int32_t> label(mask.size(), -1);
  std::vector<Component> out;
  std::vector<std::size_t> stack;
  for (std::size_t seed = 0; seed < mask.size(); ++seed) {
    if (mask[seed] == 0 || label[seed] >= 0) continue;
    const auto id = static_cast<std::int32_t>(out.size());
    Component c;
    Eigen::Vector3d sum = Eigen::Vector3d::Zero();
    stack.push_back(seed);
    label[seed] = id;
    while (!stack.empty()) {
      const std::size_t n = stack.back();
      stack.pop_back();
      const auto ijk = g.index_of(n);
      ++c.voxels;
      sum += Eigen::Vector3d(static_cast<double>(ijk[0]), static_cast<double>(ijk[1]),
                             static_cast<double>(ijk[2]));
      for (int dk = -1; dk <= 1; ++dk) {
        for (int dj = -1; dj <= 1; ++dj) {
          for (int di = -1; di <= 1; ++di) {
            const std::int64_t i = ijk[0] + di, j = ijk[1] + dj, k = ijk[2] + dk;
            if (!g.contains(i, j, k)) continue;
            const std::size_t m = g.linear_index(i, j, k);
            if (mask[m] != 0 && label[m] < 0) {
              label[m] = id;
              stack.push_back(m);
            }
          }
        }
      }
    }
    c.volume_cm3 = units::mm3_to_cm3(static_cast<double>(c.voxels) * g.voxel_volume_mm3());
    c.centroid_mm = g.index_to_world_mm(sum / static_cast<double>(c.voxels));
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(),
            [](const Component& a, const Component& b) { return a.voxels > b.voxels; });
  return out;
}

std::vector<std::vector<Eigen::Vector3d>> axial_contours_mm(const Mask& mask, std::int64_t k) {
  const Grid& g = mask.grid();
  if (k < 0 || k >= g.dims[2]) throw std::invalid_argument("slice index outside the grid");
  cv::Mat slice(static_cast<int>(g.dims[1]), static_cast<int>(g.dims[0]), CV_8UC1);
  for (std::int64_t j = 0; j < g.dims[1]; ++j) {
    for (std::int64_t i = 0; i < g.dims[0]; ++i) {
      slice.at<std::uint8_t>(static_cast<int>(j), static_cast<int>(i)) =
          mask.at(i, j, k) != 0 ? 255 : 0;
    }
  }
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(slice, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
  std::vector<std::vector<Eigen::Vector3d>> out;
  for (const auto& c : contours) {
    std::vector<Eigen::Vector3d> poly;
    poly.reserve(c.size());
    for (const auto& p : c) {
      poly.push_back(g.index_to_world_mm(Eigen::Vector3d(
          static_cast<double>(p.x), static_cast<double>(p.y), static_cast<double>(k))));
    }
    out.push_back(std::move(poly));
  }
  return out;
}

}  // namespace linac
