#pragma once
// Projection sets from other tools as the kV imager's projections: a projection matrix per image
// (plastimatch drr/fdk, calibrated imagers) read as a circular cone-beam orbit about the
// isocentre, so that the product's FDK (fdk.hpp) reconstructs what another tool acquired or
// simulated.
#include <vector>

#include "linac/core/iec61217.hpp"
#include "linac/core/projection.hpp"
#include "linac/hal/devices.hpp"

namespace linac::igrt {

/// Each matrix projection as a KvProjection: the source (the matrix's null point) must lie on a
/// circle of radius SAD about the isocentre (the patient origin) in the gantry's plane of
/// rotation, within 1 mm; the kV source angle is the source's IEC angle in the fixed frame
/// (`position`, couch at zero); the image is flipped or transposed so that its columns run
/// with the IEC rotation and its rows along the gantry axis; the panel may be offset along its
/// columns (half fan), not along its rows; pixels must be square (1 %). Throws InputError naming
/// the projection's file when its geometry is not such an orbit, or differs from the first's
/// (distances, pixel size, offset). Pass the set with std::move when it is not needed after:
/// its pixels are then flipped in place and moved rather than copied.
std::vector<hal::KvProjection> circular_projections(std::vector<MatrixProjection> input,
                                                    iec::PatientPosition position);

}  // namespace linac::igrt
