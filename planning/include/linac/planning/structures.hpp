#pragma once
// Planning images and structures of the reference workflow: AIP and MIP of a 4DCT, the SPECT
// fused onto the planning grid by CT-CT rigid registration, and the functional structures:
// FLS = SPECT >= threshold x its maximum inside the liver, ITV = liver - FLS,
// PTV = ITV expanded by a true Euclidean margin on the anisotropic grid, clipped to the body.
#include <string>
#include <vector>

#include "linac/core/registration.hpp"
#include "linac/core/volume.hpp"

namespace linac::planning {

/// Voxel-wise mean (average intensity projection) and maximum of the phases.
ImageHU average_intensity_projection(const std::vector<ImageHU>& phases);
ImageHU maximum_intensity_projection(const std::vector<ImageHU>& phases);
/// A structure at its mean position (as drawn on the AIP): the shape average of the phases,
/// where the mean of their signed distance maps is negative.
Mask mean_position_mask(const std::vector<Mask>& per_phase);

struct SpectFusion {
  RegistrationResult registration;  // planning (fixed) -> SPECT/CT (moving)
  Volume<float> spect_on_planning;  // the SPECT resampled onto the planning grid
};

/// Registers the SPECT/CT's CT to the planning CT (mean squares; the body as the fixed mask)
/// and carries the SPECT, which shares the SPECT/CT's frame, onto the planning grid.
SpectFusion fuse_spect(const ImageHU& planning_ct, const Mask& body, const ImageHU& spect_ct,
                       const Volume<float>& spect, RegistrationOptions options = {});

struct StructureOptions {
  double threshold = 0.60;  // FLS: SPECT >= threshold x its maximum inside the liver
  double margin_mm = 5.0;   // PTV = ITV + margin
};

struct FunctionalStructures {
  Mask fls;
  Mask itv;
  Mask ptv;
  double spect_max = 0.0;  // the maximum of the SPECT inside the liver
};

/// Throws InputError for an empty liver, a threshold outside (0, 1], a negative margin, or
/// images on different grids.
FunctionalStructures make_functional_structures(const Mask& liver, const Mask& body,
                                                const Volume<float>& spect_on_planning,
                                                const StructureOptions& options = {});

}  // namespace linac::planning
