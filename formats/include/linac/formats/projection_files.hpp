#pragma once
// Cone-beam projection sets written by other tools: plastimatch's `drr` output, one image per
// angle (`-t raw`: 32-bit floats, or `-t pfm`: "Pf" header with columns and rows, then 32-bit
// floats) each beside its geometry file (same name, .txt: image centre in pixels, the 3 x 4
// projection matrix, SAD, SID, the panel normal, then the extrinsic and intrinsic matrices).
#include <filesystem>
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

}  // namespace linac::formats
