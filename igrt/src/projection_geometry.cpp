#include "linac/igrt/projection_geometry.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <exception>
#include <numbers>

#include "linac/core/error.hpp"
#include "linac/core/parallel.hpp"
#include "linac/core/text.hpp"

namespace linac::igrt {
namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

/// The pixel (column, row) a point projects to.
Eigen::Vector2d pixel_of(const MatrixProjection& p, const Eigen::Vector3d& x) {
  const Eigen::Vector3d h = p.matrix * x.homogeneous();
  return p.image_centre_px + Eigen::Vector2d(h[0], h[1]) / h[2];
}

/// How the file's pixels lie against the imager's: columns along u (IEC rotation) or along v
/// (gantry axis), each possibly reversed.
struct Layout {
  bool transposed = false;
  bool reverse_u = false;
  bool reverse_v = false;
  double pixels_per_mm_iso = 0.0;
};

Layout layout_of(const MatrixProjection& p, const Eigen::Vector3d& e_u, const Eigen::Vector3d& e_v,
                 const Eigen::Vector3d& iso) {
  const Eigen::Vector2d at = pixel_of(p, iso);
  const Eigen::Vector2d du = pixel_of(p, iso + e_u) - at;  // per mm along u
  const Eigen::Vector2d dv = pixel_of(p, iso + e_v) - at;
  Layout l;
  l.transposed = std::abs(du[1]) > std::abs(du[0]);
  const double along_u = l.transposed ? du[1] : du[0];
  const double across_u = l.transposed ? du[0] : du[1];
  const double along_v = l.transposed ? dv[0] : dv[1];
  const double across_v = l.transposed ? dv[1] : dv[0];
  const double k = std::abs(along_u);
  if (!(k > 0.0) || std::abs(across_u) > 0.01 * k || std::abs(across_v) > 0.01 * k ||
      std::abs(std::abs(along_v) - k) > 0.01 * k) {
    throw InputError(p.source,
                     "the panel is rotated about its normal or its pixels are not square: not "
                     "read as a kV imager's projection");
  }
  l.reverse_u = along_u < 0.0;
  l.reverse_v = along_v < 0.0;
  l.pixels_per_mm_iso = k;
  return l;
}

/// Refuses a set with projections missing: a gap between neighbouring angles over 2.5 times
/// the typical (median) step.
void check_angular_sampling(const std::vector<MatrixProjection>& input,
                            const std::vector<hal::KvProjection>& out) {
  if (out.size() < 3) return;
  std::vector<std::size_t> order(out.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return out[a].kv_source_angle_deg < out[b].kv_source_angle_deg;
  });
  std::vector<double> gaps;
  for (std::size_t k = 1; k < order.size(); ++k) {
    gaps.push_back(out[order[k]].kv_source_angle_deg - out[order[k - 1]].kv_source_angle_deg);
  }
  std::vector<double> sorted = gaps;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  const double median = sorted[sorted.size() / 2];
  for (std::size_t k = 0; k < gaps.size(); ++k) {
    if (gaps[k] > 2.5 * median + 1e-6) {
      const auto [from, to] = std::minmax(input[order[k]].source, input[order[k + 1]].source);
      throw InputError(from, "projections missing: " + format_measured(gaps[k], 1) +
                                 " degrees from it to " + to + " where the set steps " +
                                 format_measured(median, 2) + " degrees");
    }
  }
}

/// One projection on the circular orbit: its source angle, distances, pixel pitch and panel
/// offset from its matrix, its pixels in the imager's order (moved out of `p`: flipped in place,
/// copied only when the file's columns run along the gantry axis).
hal::KvProjection on_circle(MatrixProjection& p, const RigidTransform& to_fixed,
                            const RigidTransform& to_patient, const Eigen::Vector3d& iso) {
  const double sad = p.source_axis_distance_mm;
  const double sid = p.source_imager_distance_mm;
  const Eigen::Matrix3d m = p.matrix.leftCols<3>();
  if (std::abs(m.determinant()) < 1e-12) {
    throw InputError(p.source, "the projection matrix is singular");
  }
  // The source is the point the matrix cannot project: M C + p4 = 0.
  const Eigen::Vector3d source = to_fixed.apply(m.lu().solve(-p.matrix.col(3)));
  if (std::abs(source.y()) > 1.0 || std::abs(source.norm() - sad) > 1.0) {
    throw InputError(p.source,
                     "the source at " + format_measured(source.x(), 1) + ", " +
                         format_measured(source.y(), 1) + ", " + format_measured(source.z(), 1) +
                         " mm (IEC fixed) is not on the circle of radius SAD " +
                         format_measured(sad, 1) + " mm about the isocentre in the gantry's plane");
  }
  const double phi = std::atan2(source.x(), source.z());
  const Eigen::Vector3d e_u =
      to_patient.apply_vector(Eigen::Vector3d(std::cos(phi), 0.0, -std::sin(phi)));
  const Eigen::Vector3d e_v = to_patient.apply_vector(Eigen::Vector3d::UnitY());
  const Layout l = layout_of(p, e_u, e_v, iso);

  hal::KvProjection k;
  k.kv_source_angle_deg = phi * kDeg;
  k.gantry_deg = std::fmod(k.kv_source_angle_deg - 90.0 + 720.0, 360.0);
  k.source_axis_distance_mm = sad;
  k.source_imager_distance_mm = sid;
  k.pixel_pitch_mm = sid / (sad * l.pixels_per_mm_iso);
  k.columns = l.transposed ? p.rows : p.columns;
  k.rows = l.transposed ? p.columns : p.rows;
  // Pixel (c, r) of the imager is the file's pixel (fc, fr).
  if (!l.transposed) {
    const auto row = [&](int r) {
      return p.values.begin() + static_cast<std::ptrdiff_t>(r) * p.columns;
    };
    if (l.reverse_v) {
      for (int r = 0; r < p.rows / 2; ++r)
        std::swap_ranges(row(r), row(r + 1), row(p.rows - 1 - r));
    }
    if (l.reverse_u) {
      for (int r = 0; r < p.rows; ++r) std::reverse(row(r), row(r + 1));
    }
    k.line_integral = std::move(p.values);
  } else {
    auto file_index = [&](int c, int r) {
      const int u = l.reverse_u ? k.columns - 1 - c : c;
      const int v = l.reverse_v ? k.rows - 1 - r : r;
      return static_cast<std::size_t>(u) * static_cast<std::size_t>(p.columns) +
             static_cast<std::size_t>(v);
    };
    k.line_integral.resize(p.values.size());
    for (int r = 0; r < k.rows; ++r) {
      for (int c = 0; c < k.columns; ++c) {
        k.line_integral[static_cast<std::size_t>(r) * static_cast<std::size_t>(k.columns) +
                        static_cast<std::size_t>(c)] = p.values[file_index(c, r)];
      }
    }
    p.values = {};
  }
  // Where the central ray meets the panel, in the imager's pixels.
  const Eigen::Vector2d at = pixel_of(p, iso);
  double iso_u = l.transposed ? at[1] : at[0];
  double iso_v = l.transposed ? at[0] : at[1];
  if (l.reverse_u) iso_u = k.columns - 1 - iso_u;
  if (l.reverse_v) iso_v = k.rows - 1 - iso_v;
  if (std::abs(iso_v - (k.rows - 1) / 2.0) > 0.5) {
    throw InputError(p.source, "the central ray meets the panel " +
                                   format_measured(iso_v - (k.rows - 1) / 2.0, 2) +
                                   " pixels off its middle row: a panel offset along the "
                                   "gantry axis is not reconstructed");
  }
  k.detector_offset_mm = ((k.columns - 1) / 2.0 - iso_u) * k.pixel_pitch_mm;
  return k;
}

}  // namespace

std::vector<hal::KvProjection> circular_projections(std::vector<MatrixProjection> input,
                                                    iec::PatientPosition position) {
  const RigidTransform to_fixed = iec::patient_to_fixed(position, iec::CouchState{});
  const RigidTransform to_patient = to_fixed.inverse();
  const Eigen::Vector3d iso = to_patient.apply(Eigen::Vector3d::Zero());
  // Each projection on its own, in parallel (the pixel copies of a few hundred projections took
  // a tenth of a reconstruction); the first error in the input's order is reported.
  std::vector<hal::KvProjection> out(input.size());
  const auto failed = parallel_for_collecting_errors(input.size(), [&](std::size_t i) {
    out[i] = on_circle(input[i], to_fixed, to_patient, iso);
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (failed[i]) std::rethrow_exception(failed[i]);
    if (i == 0) continue;
    hal::KvProjection& k = out[i];
    const MatrixProjection& p = input[i];
    const double sad = p.source_axis_distance_mm;
    const double sid = p.source_imager_distance_mm;
    // One geometry for the set: snapped to the first projection's within rounding.
    const auto& g = out.front();
    if (k.columns != g.columns ||
        std::abs(k.pixel_pitch_mm - g.pixel_pitch_mm) > 1e-3 * g.pixel_pitch_mm ||
        std::abs(sad - g.source_axis_distance_mm) > 0.01 ||
        std::abs(sid - g.source_imager_distance_mm) > 0.01 ||
        std::abs(k.detector_offset_mm - g.detector_offset_mm) > 0.05 * g.pixel_pitch_mm) {
      throw InputError(p.source,
                       "its geometry (distances, pixel size, panel offset or "
                       "orientation) differs from " +
                           input.front().source + "'s");
    }
    k.pixel_pitch_mm = g.pixel_pitch_mm;
    k.detector_offset_mm = g.detector_offset_mm;
    k.source_axis_distance_mm = g.source_axis_distance_mm;
    k.source_imager_distance_mm = g.source_imager_distance_mm;
    // Unwrapped against the previous projection, so an arc through +-180 degrees stays whole.
    const double previous = out[i - 1].kv_source_angle_deg;
    k.kv_source_angle_deg = previous + std::remainder(k.kv_source_angle_deg - previous, 360.0);
  }
  check_angular_sampling(input, out);
  return out;
}

}  // namespace linac::igrt
