#pragma once
// Exact Euclidean distance transforms on anisotropic grids (Felzenszwalb & Huttenlocher's
// separable lower-envelope algorithm, one pass per axis with that axis's spacing).
#include "linac/core/volume.hpp"

namespace linac {

/// Distance (mm) from each voxel centre to the nearest foreground voxel centre; 0 on foreground.
/// An empty mask gives +infinity everywhere.
[[nodiscard]] Volume<float> distance_map_mm(const Mask& mask);

/// Signed distance (mm): positive outside (distance to the nearest foreground voxel), negative
/// inside (minus the distance to the nearest background voxel), so the surface lies near 0.
[[nodiscard]] Volume<float> signed_distance_map_mm(const Mask& mask);

/// Mask of voxels within `margin_mm` of the foreground (true Euclidean expansion).
[[nodiscard]] Mask expand_mm(const Mask& mask, double margin_mm);

}  // namespace linac
