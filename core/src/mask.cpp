#include "linac/core/mask.hpp"

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

}  // namespace linac
