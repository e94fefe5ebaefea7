#pragma once
// Binary masks and structure volumes.
#include <optional>
#include <vector>

#include "linac/core/volume.hpp"

namespace linac {

/// Inclusive voxel-index bounds of a mask's foreground.
struct BoundingBox {
  Index3 min{0, 0, 0};
  Index3 max{0, 0, 0};
};

[[nodiscard]] std::size_t count_voxels(const Mask& mask);
/// Foreground volume: voxel count x voxel volume, in cm³.
[[nodiscard]] double volume_cm3(const Mask& mask);
/// Bounding box of the foreground, or nothing for an empty mask.
[[nodiscard]] std::optional<BoundingBox> bounding_box(const Mask& mask);
/// Centroid of the foreground in patient coordinates (mm); the mask must not be empty.
[[nodiscard]] Eigen::Vector3d centroid_mm(const Mask& mask);

// Boolean operations on masks of the same grid (throws std::invalid_argument otherwise).
[[nodiscard]] Mask mask_union(const Mask& a, const Mask& b);
[[nodiscard]] Mask mask_intersection(const Mask& a, const Mask& b);
[[nodiscard]] Mask mask_difference(const Mask& a, const Mask& b);  // a and not b
/// Voxels where `predicate(value)` holds.
template <typename T, typename P>
[[nodiscard]] Mask threshold(const Volume<T>& vol, P predicate) {
  return vol.template map<std::uint8_t>([&](T v) { return predicate(v) ? 1 : 0; });
}

/// 3-D connected components of the foreground (26-connectivity), largest first.
struct Component {
  std::size_t voxels = 0;
  double volume_cm3 = 0.0;
  Eigen::Vector3d centroid_mm = Eigen::Vector3d::Zero();
};
[[nodiscard]] std::vector<Component> connected_components(const Mask& mask);

/// Outlines of the foreground in the axial slice k (OpenCV contours), as polygons of points in
/// patient coordinates (mm), for display and export.
[[nodiscard]] std::vector<std::vector<Eigen::Vector3d>> axial_contours_mm(const Mask& mask,
                                                                          std::int64_t k);

}  // namespace linac
