#pragma once
// Cone-beam projection sets written by other tools: plastimatch's `drr` output, one image per
// angle (`-t raw`: 32-bit floats, or `-t pfm`: "Pf" header with columns and rows, then 32-bit
// floats) each beside its geometry file (same name, .txt: image centre in pixels, the 3 x 4
// projection matrix, SAD, SID, the panel normal, then the extrinsic and intrinsic matrices).
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "linac/core/projection.hpp"

namespace linac::formats {

/// Every projection in `dir` (its .raw or .pfm files, in name order) with its .txt geometry.
/// A .raw image has no size of its own: its columns and rows are taken as twice the image
/// centre plus one (plastimatch's default centre) when that matches the file's size, else
/// `raw_columns` x `raw_rows` when given. Throws InputError naming the file and what is wrong:
/// no projections, a missing or unreadable geometry file, a size that does not match, images of
/// different sizes, values that are not finite, a mix of formats.
std::vector<MatrixProjection> read_plastimatch_projections(const std::filesystem::path& dir,
                                                           int raw_columns = 0, int raw_rows = 0);

/// Throws InputError naming `p`'s file when its size differs from `first`'s: one panel per set.
void require_same_size(const MatrixProjection& first, const MatrixProjection& p);

/// One Varian OBI `.hnd` projection as stored: a 1,024-byte header (little-endian; the fields
/// plastimatch and RTK read), then the image compressed row by row — a table of 2-bit codes, the
/// first row and one pixel as 32-bit counts, then each pixel as its difference (8, 16 or 32 bits,
/// as the code says) from the prediction left + above - above-left.
struct HndImage {
  int columns = 0;                    // SizeX
  int rows = 0;                       // SizeY
  double projection_angle_deg = 0.0;  // dCTProjectionAngle: the kV source's angle
  double sad_mm = 0.0;                // dSAD
  double sfd_mm = 0.0;                // dSFD (often 0 in clinical files)
  double pixel_x_mm = 0.0;            // dIDUResolutionX (0 when not recorded)
  double pixel_y_mm = 0.0;            // dIDUResolutionY
  std::vector<std::uint32_t> counts;  // detector counts, row-major
};

/// Decodes one .hnd file's bytes. Throws InputError naming `name` and what is wrong: shorter
/// than its header, sizes outside 2-8192, a compressed stream that ends early.
HndImage decode_varian_hnd(const std::string& name, std::span<const std::uint8_t> bytes);

struct HndReadOptions {
  /// Unattenuated counts: line integral = ln(i0 / counts) (plastimatch's and RTK's 139,000).
  double i0 = 139000.0;
  /// Source-to-imager distance when the header's dSFD is not beyond its SAD (plastimatch: 1500).
  double sid_mm = 1500.0;
};

/// Every .hnd projection in `dir` (name order) as a matrix projection in the geometry
/// plastimatch gives them: the source at SAD from the isocentre in the patient's axial plane,
/// at (SAD sin a, -SAD cos a, 0) for the header's projection angle a (the kV source's IEC angle
/// for a head-first supine patient); the panel's columns across the orbit, its rows along the
/// patient axis, centred on the central ray; the pixel size from the header, else a 400 x 300 mm
/// panel. Counts of 0 (dead pixels) and above i0 read as no attenuation. Throws InputError
/// naming the file: no .hnd files, an undecodable file, sizes that differ between files, an
/// angle or SAD that is not plausible (SAD 100-2000 mm).
std::vector<MatrixProjection> read_varian_hnd_projections(const std::filesystem::path& dir,
                                                          const HndReadOptions& options = {});

}  // namespace linac::formats
