#include "linac/formats/projection_files.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>

#include "linac/core/error.hpp"
#include "linac/core/parallel.hpp"

namespace linac::formats {
namespace {

namespace fs = std::filesystem;

/// The geometry file beside an image: image centre, projection matrix, SAD, SID (the normal
/// and the extrinsic/intrinsic matrices that follow are implied by the matrix and not read).
void read_geometry(const fs::path& file, MatrixProjection& p) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string(), "missing: every projection needs its geometry file");
  double v[16];
  for (double& x : v) {
    if (!(in >> x) || !std::isfinite(x)) {
      throw InputError(file.string(),
                       "not a plastimatch projection geometry (image centre, 3 x 4 projection "
                       "matrix, SAD, SID)");
    }
  }
  p.image_centre_px = Eigen::Vector2d(v[0], v[1]);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) p.matrix(r, c) = v[2 + 4 * r + c];
  }
  p.source_axis_distance_mm = v[14];
  p.source_imager_distance_mm = v[15];
  if (!(p.source_axis_distance_mm > 0.0) ||
      !(p.source_imager_distance_mm > p.source_axis_distance_mm)) {
    throw InputError(file.string(), "SAD and SID must be positive with SID > SAD");
  }
}

/// `count` little-endian floats from byte `from` of `file`, which must end with them.
std::vector<float> floats_of(const fs::path& file, std::size_t from, std::size_t count) {
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  if (size < from || size - from != 4 * count) {
    throw InputError(file.string(), std::to_string(size < from ? 0 : size - from) +
                                        " bytes of pixels where its size needs " +
                                        std::to_string(4 * count));
  }
  std::vector<float> out(count);
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(from));
  if (!in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(4 * count))) {
    throw InputError(file.string(), "cannot read its pixels");
  }
  for (std::size_t n = 0; n < count; ++n) {
    if (!std::isfinite(out[n])) {
      throw InputError(file.string(), "pixel " + std::to_string(n) + " is not a finite number");
    }
  }
  return out;
}

/// "Pf\n<columns> <rows>\n<scale>\n" then little-endian floats (a negative scale).
void read_pfm(const fs::path& file, MatrixProjection& p) {
  std::ifstream in(file, std::ios::binary);
  std::string magic;
  double scale = 0.0;
  if (!(in >> magic >> p.columns >> p.rows >> scale) || magic != "Pf" || p.columns <= 0 ||
      p.rows <= 0 || p.columns > 8192 || p.rows > 8192) {
    throw InputError(file.string(), "not a grey-level PFM image (Pf, columns rows, scale)");
  }
  if (scale >= 0.0) throw InputError(file.string(), "big-endian PFM (positive scale) not read");
  const auto at = static_cast<std::size_t>(in.tellg()) + 1;  // one whitespace after the scale
  p.values =
      floats_of(file, at, static_cast<std::size_t>(p.columns) * static_cast<std::size_t>(p.rows));
}

void read_raw(const fs::path& file, MatrixProjection& p, int columns, int rows) {
  const auto bytes = static_cast<std::size_t>(fs::file_size(file));
  const auto guess_c = static_cast<int>(std::lround(2.0 * p.image_centre_px[0] + 1.0));
  const auto guess_r = static_cast<int>(std::lround(2.0 * p.image_centre_px[1] + 1.0));
  if (columns == 0 && guess_c > 0 && guess_r > 0 &&
      bytes == 4 * static_cast<std::size_t>(guess_c) * static_cast<std::size_t>(guess_r)) {
    columns = guess_c;
    rows = guess_r;
  }
  if (columns <= 0 || rows <= 0) {
    throw InputError(file.string(), "a raw projection of " + std::to_string(bytes) +
                                        " bytes whose size its image centre does not give: "
                                        "state it with --raw-size COLUMNS,ROWS");
  }
  p.columns = columns;
  p.rows = rows;
  p.values = floats_of(file, 0, static_cast<std::size_t>(columns) * static_cast<std::size_t>(rows));
}

}  // namespace

void require_same_size(const MatrixProjection& first, const MatrixProjection& p) {
  if (p.columns == first.columns && p.rows == first.rows) return;
  throw InputError(p.source, std::to_string(p.columns) + " x " + std::to_string(p.rows) +
                                 " pixels where " + first.source + " has " +
                                 std::to_string(first.columns) + " x " +
                                 std::to_string(first.rows));
}

std::vector<MatrixProjection> read_plastimatch_projections(const fs::path& dir, int raw_columns,
                                                           int raw_rows) {
  if (!fs::is_directory(dir)) throw InputError(dir.string(), "not a folder of projections");
  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".raw" || ext == ".pfm")) images.push_back(e.path());
  }
  std::sort(images.begin(), images.end());
  if (images.empty()) {
    throw InputError(dir.string(), "no projections (.raw or .pfm with their .txt geometry)");
  }
  for (const auto& image : images) {
    if (image.extension() != images.front().extension()) {
      throw InputError(image.string(), "a " + image.extension().string() + " among " +
                                           images.front().extension().string() +
                                           " projections: one format per set");
    }
  }
  // The files are read in parallel (a set is hundreds of small files: opening and parsing them
  // one by one took a fifth of a reconstruction); the first error in file order is reported.
  std::vector<MatrixProjection> out(images.size());
  const auto failed = parallel_for_collecting_errors(images.size(), [&](std::size_t i) {
    MatrixProjection& p = out[i];
    p.source = images[i].string();
    fs::path geometry = images[i];
    read_geometry(geometry.replace_extension(".txt"), p);
    if (images[i].extension() == ".pfm") {
      read_pfm(images[i], p);
    } else {
      read_raw(images[i], p, raw_columns, raw_rows);
    }
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (failed[i]) std::rethrow_exception(failed[i]);
    require_same_size(out.front(), out[i]);
  }
  return out;
}

}  // namespace linac::formats
