// Varian OBI .hnd projections (the compressed format of the On-Board Imager's cone-beam scans,
// which plastimatch and RTK read): decoding, and the circular geometry plastimatch gives them.
#include <Eigen/Geometry>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>

#include "linac/core/error.hpp"
#include "linac/formats/projection_files.hpp"

namespace linac::formats {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kHeaderBytes = 1024;
// Byte offsets of the header fields read (the header's fixed layout).
constexpr std::size_t kSizeX = 120;
constexpr std::size_t kSizeY = 124;
constexpr std::size_t kSad = 176;
constexpr std::size_t kSfd = 184;
constexpr std::size_t kIduResolutionX = 352;
constexpr std::size_t kIduResolutionY = 360;
constexpr std::size_t kProjectionAngle = 432;

template <typename T>
T little_endian_at(std::span<const std::uint8_t> bytes, std::size_t at) {
  T v{};
  std::memcpy(&v, bytes.data() + at, sizeof(T));  // x86-64 and ARM64 hosts are little-endian
  return v;
}

}  // namespace

HndImage decode_varian_hnd(const std::string& name, std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes) {
    throw InputError(
        name, std::to_string(bytes.size()) + " bytes: shorter than a .hnd header (1,024 bytes)");
  }
  HndImage h;
  const auto size_x = little_endian_at<std::uint32_t>(bytes, kSizeX);
  const auto size_y = little_endian_at<std::uint32_t>(bytes, kSizeY);
  if (size_x < 2 || size_x > 8192 || size_y < 2 || size_y > 8192) {
    throw InputError(name, "image of " + std::to_string(size_x) + " x " + std::to_string(size_y) +
                               " pixels in its header: sizes must lie in 2-8192");
  }
  h.columns = static_cast<int>(size_x);
  h.rows = static_cast<int>(size_y);
  h.sad_mm = little_endian_at<double>(bytes, kSad);
  h.sfd_mm = little_endian_at<double>(bytes, kSfd);
  h.pixel_x_mm = little_endian_at<double>(bytes, kIduResolutionX);
  h.pixel_y_mm = little_endian_at<double>(bytes, kIduResolutionY);
  h.projection_angle_deg = little_endian_at<double>(bytes, kProjectionAngle);

  const std::size_t nx = size_x;
  const std::size_t n = nx * size_y;
  const std::size_t table_bytes = (size_y - 1) * nx / 4;
  std::size_t at = kHeaderBytes + table_bytes;
  auto ends_early = [&](std::size_t pixel) {
    return InputError(name, "the compressed image ends at pixel " + std::to_string(pixel) + " of " +
                                std::to_string(n) + " (" + std::to_string(bytes.size()) +
                                " bytes)");
  };
  if (bytes.size() < at + 4 * (nx + 1)) throw ends_early(0);
  h.counts.resize(n);
  for (std::size_t i = 0; i <= nx; ++i, at += 4) {
    h.counts[i] = little_endian_at<std::uint32_t>(bytes, at);
  }
  const std::uint8_t* table = bytes.data() + kHeaderBytes;
  for (std::size_t i = nx + 1, code_index = 0; i < n; ++i, ++code_index) {
    const std::size_t table_byte = code_index / 4;
    if (table_byte >= table_bytes) throw ends_early(i);
    const unsigned code = (table[table_byte] >> (2 * (code_index % 4))) & 0x3U;
    std::int64_t diff = 0;
    if (code == 0) {
      if (at + 1 > bytes.size()) throw ends_early(i);
      diff = static_cast<std::int8_t>(bytes[at]);
      at += 1;
    } else if (code == 1) {
      if (at + 2 > bytes.size()) throw ends_early(i);
      diff = little_endian_at<std::int16_t>(bytes, at);
      at += 2;
    } else if (code == 2) {
      if (at + 4 > bytes.size()) throw ends_early(i);
      diff = little_endian_at<std::int32_t>(bytes, at);
      at += 4;
    } else {
      throw InputError(
          name, "compression code 3 (not one of the format's) at pixel " + std::to_string(i));
    }
    // Modulo 2^32, as the format's 32-bit arithmetic wraps.
    const std::int64_t predicted = static_cast<std::int64_t>(h.counts[i - 1]) +
                                   static_cast<std::int64_t>(h.counts[i - nx]) -
                                   static_cast<std::int64_t>(h.counts[i - nx - 1]);
    h.counts[i] = static_cast<std::uint32_t>(static_cast<std::uint64_t>(predicted + diff));
  }
  return h;
}

std::vector<MatrixProjection> read_varian_hnd_projections(const fs::path& dir,
                                                          const HndReadOptions& options) {
  if (!(options.i0 > 1.0) || !(options.sid_mm > 0.0)) {
    throw InputError("hnd options", "i0 must exceed 1 and the SID be positive");
  }
  if (!fs::is_directory(dir)) throw InputError(dir.string(), "not a folder of projections");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".hnd") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(dir.string(), "no .hnd projections");
  std::vector<MatrixProjection> out;
  out.reserve(files.size());
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
    const HndImage h = decode_varian_hnd(file.string(), bytes);
    if (!std::isfinite(h.projection_angle_deg) || std::abs(h.projection_angle_deg) > 1e4) {
      throw InputError(file.string(), "projection angle (dCTProjectionAngle) is not plausible");
    }
    if (!(h.sad_mm >= 100.0 && h.sad_mm <= 2000.0)) {
      throw InputError(file.string(),
                       "SAD (dSAD) of " + std::to_string(h.sad_mm) + " mm: not in 100-2000 mm");
    }
    const double sid = std::isfinite(h.sfd_mm) && h.sfd_mm > h.sad_mm ? h.sfd_mm : options.sid_mm;
    if (!(sid > h.sad_mm)) {
      throw InputError(file.string(), "the source-to-imager distance must exceed the SAD");
    }
    auto pitch = [](double header_mm, double panel_mm, int pixels) {
      return std::isfinite(header_mm) && header_mm > 0.01 && header_mm < 10.0
                 ? header_mm
                 : panel_mm / static_cast<double>(pixels);
    };
    const double ps_x = pitch(h.pixel_x_mm, 400.0, h.columns);
    const double ps_y = pitch(h.pixel_y_mm, 300.0, h.rows);

    MatrixProjection p;
    p.source = file.string();
    p.columns = h.columns;
    p.rows = h.rows;
    p.source_axis_distance_mm = h.sad_mm;
    p.source_imager_distance_mm = sid;
    p.image_centre_px = Eigen::Vector2d(0.5 * h.columns - 0.5, 0.5 * h.rows - 0.5);
    // The source, the panel's normal towards it, and the panel's axes (plastimatch's camera
    // with the patient axis up): column = centre - (left . X) / pitch / depth, and so on.
    const double a = h.projection_angle_deg * std::numbers::pi / 180.0;
    const Eigen::Vector3d normal(std::sin(a), -std::cos(a), 0.0);
    const Eigen::Vector3d left = normal.cross(Eigen::Vector3d::UnitZ()).normalized();
    const Eigen::Vector3d up = left.cross(normal).normalized();
    p.matrix.setZero();
    p.matrix.block<1, 3>(0, 0) = -left.transpose() / ps_x;
    p.matrix.block<1, 3>(1, 0) = -up.transpose() / ps_y;
    p.matrix.block<1, 3>(2, 0) = -normal.transpose() / sid;
    p.matrix(2, 3) = h.sad_mm / sid;
    p.values.resize(h.counts.size());
    for (std::size_t k = 0; k < h.counts.size(); ++k) {
      const double c = h.counts[k];
      p.values[k] = c > 0.0 && c < options.i0 ? static_cast<float>(std::log(options.i0 / c)) : 0.0F;
    }
    if (!out.empty()) require_same_size(out.front(), p);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace linac::formats
