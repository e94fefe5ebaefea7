#pragma once
// The FDK reconstruction's back-projection (igrt/src only): the filtered projections summed into
// the volume along each voxel's ray, voxel by voxel or, for grids whose slices lie across the
// gantry axis, a voxel column at a time. Compiled at -O3 with an AVX2 + FMA clone of its inner
// loop chosen at load time (igrt/CMakeLists.txt).
#include <opencv2/core.hpp>
#include <vector>

#include "linac/core/mask.hpp"
#include "linac/core/transform.hpp"
#include "linac/core/volume.hpp"

namespace linac::igrt::detail {

/// One filtered projection and its place on the orbit.
struct View {
  double c, s, weight;  // cos and sin of the kV source angle; angular weight
  const cv::Mat* q;     // filtered and transposed: the kept panel columns x rows
};

/// The imager's geometry in the back-projection's terms (the panel at the isocentre).
struct Geometry {
  double sad, du, offset_iso, u0, v0;
  int wide, rows;
};

/// Every voxel on its own: any grid orientation. `measured` (on mu's grid) is set where every
/// view's ray through the voxel meets the panel's rows.
void back_project_voxels(const std::vector<View>& views, const Geometry& g,
                         const RigidTransform& to_fixed, Volume<float>& mu, Mask& measured);

/// A voxel column along the gantry axis at a time (its slices step down one panel column):
/// the same arithmetic and `measured` region as back_project_voxels.
void back_project_columns(const std::vector<View>& views, const Geometry& g,
                          const RigidTransform& to_fixed, Volume<float>& mu, Mask& measured);

}  // namespace linac::igrt::detail
