#include "linac/igrt/fdk.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <numeric>
#include <opencv2/core.hpp>

#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::igrt {

namespace {

constexpr double kPi = std::numbers::pi;

std::int16_t to_hu(double v) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v), -1024L, 3071L));
}

// Discrete ramp filter (Kak & Slaney) of `size` taps for sample spacing tau, apodised in
// frequency, as the real spectrum of length `padded`.
cv::Mat ramp_spectrum(int padded, double tau, RampWindow window) {
  cv::Mat h(1, padded, CV_64F, cv::Scalar(0.0));
  for (int n = 0; n < padded; ++n) {
    const int k = n <= padded / 2 ? n : n - padded;  // circular index
    double v = 0.0;
    if (k == 0) {
      v = 1.0 / (4.0 * tau * tau);
    } else if (k % 2 != 0) {
      v = -1.0 / (static_cast<double>(k) * k * kPi * kPi * tau * tau);
    }
    h.at<double>(0, n) = v * tau;  // the convolution's integration step
  }
  cv::Mat spectrum;
  cv::dft(h, spectrum, cv::DFT_COMPLEX_OUTPUT);
  for (int n = 0; n < padded; ++n) {
    const int k = n <= padded / 2 ? n : padded - n;
    const double f = static_cast<double>(k) / padded;  // 0 .. 0.5 cycles per sample
    double w = 1.0;
    if (window == RampWindow::kSheppLogan && k != 0) w = std::sin(kPi * f) / (kPi * f);
    if (window == RampWindow::kHann) w = 0.5 * (1.0 + std::cos(2.0 * kPi * f));
    auto& c = spectrum.at<cv::Vec2d>(0, n);
    c[0] *= w;
    c[1] *= w;
  }
  return spectrum;
}

}  // namespace

Grid cbct_grid(const hal::KvProjection& g, double voxel_mm, double slice_mm) {
  const double mag = g.source_axis_distance_mm / g.source_imager_distance_mm;
  const double half_width = 0.5 * g.columns * g.pixel_pitch_mm;
  const double reach = (std::abs(g.detector_offset_mm) + half_width) * mag;
  const double radius = std::min(reach, g.source_axis_distance_mm * 0.45);
  const double half_height = 0.5 * g.rows * g.pixel_pitch_mm * mag * 0.95;
  Grid grid;
  const auto n_xy = static_cast<std::int64_t>(std::floor(2.0 * radius / voxel_mm)) + 1;
  const auto n_z = static_cast<std::int64_t>(std::floor(2.0 * half_height / slice_mm)) + 1;
  grid.dims = {n_xy, n_xy, n_z};
  grid.spacing_mm = Eigen::Vector3d(voxel_mm, voxel_mm, slice_mm);
  grid.origin_mm = -0.5 * Eigen::Vector3d(static_cast<double>(n_xy - 1) * voxel_mm,
                                          static_cast<double>(n_xy - 1) * voxel_mm,
                                          static_cast<double>(n_z - 1) * slice_mm);
  return grid;
}

FdkResult reconstruct_fdk(const std::vector<hal::KvProjection>& projections, const FdkOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (projections.empty()) throw InputError("CBCT", "no projections to reconstruct");
  o.grid.validate("CBCT grid");
  const hal::KvProjection& g0 = projections.front();
  for (std::size_t k = 0; k < projections.size(); ++k) {
    const auto& p = projections[k];
    const bool same = p.columns == g0.columns && p.rows == g0.rows &&
                      p.pixel_pitch_mm == g0.pixel_pitch_mm &&
                      p.source_axis_distance_mm == g0.source_axis_distance_mm &&
                      p.source_imager_distance_mm == g0.source_imager_distance_mm &&
                      p.detector_offset_mm == g0.detector_offset_mm;
    if (!same) {
      throw InputError("projection " + std::to_string(k),
                       "geometry differs from the first projection (panel, pitch, distances or "
                       "detector offset)");
    }
    if (p.line_integral.size() != static_cast<std::size_t>(p.columns) * p.rows) {
      throw InputError("projection " + std::to_string(k), "pixel count does not match its size");
    }
  }
  if (!(g0.source_axis_distance_mm > 0.0) ||
      !(g0.source_imager_distance_mm > g0.source_axis_distance_mm) || !(g0.pixel_pitch_mm > 0.0)) {
    throw InputError("projection geometry", "distances and pixel pitch must be positive");
  }
  const double sad = g0.source_axis_distance_mm;
  const double sid = g0.source_imager_distance_mm;
  const double mag = sad / sid;
  const int cols = g0.columns;
  const int rows = g0.rows;
  const double du = g0.pixel_pitch_mm * mag;  // at the isocentre
  const double offset_iso = g0.detector_offset_mm * mag;
  const double half_w = 0.5 * cols * du;
  // Angles in acquisition order, unwrapped; the arc covered.
  std::vector<std::size_t> order(projections.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> angle(projections.size());
  for (std::size_t k = 0; k < projections.size(); ++k) {
    angle[k] = projections[k].kv_source_angle_deg * kPi / 180.0;
  }
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return angle[a] < angle[b]; });
  const double first = angle[order.front()];
  const double span = angle[order.back()] - first;
  const double step =
      projections.size() > 1 ? span / static_cast<double>(projections.size() - 1) : 0.0;
  const double arc = span + step;
  FdkResult result;
  result.projections = static_cast<int>(projections.size());
  result.arc_deg = arc * 180.0 / kPi;
  const double fan = std::atan((std::abs(offset_iso) + half_w) / sad);
  result.half_fan = std::abs(offset_iso) > 1e-6 && offset_iso - half_w < 0.0;
  const bool full = arc >= 2.0 * kPi - 1.5 * step - 1e-9;
  if (result.half_fan && !full) {
    throw InputError("CBCT", "a half-fan scan needs 360 degrees; the projections cover " +
                                 format_measured(result.arc_deg, 1) + " degrees");
  }
  if (!full && arc < kPi + 2.0 * fan - 1e-6) {
    throw InputError("CBCT", "the projections cover " + format_measured(result.arc_deg, 1) +
                                 " degrees; a short scan needs 180 degrees plus the fan (" +
                                 format_measured((kPi + 2.0 * fan) * 180.0 / kPi, 1) + ")");
  }
  if (std::abs(offset_iso) > 1e-6 && offset_iso - half_w >= 0.0) {
    throw InputError("CBCT", "the detector offset leaves the central ray unmeasured");
  }
  result.short_scan = !full;
  const double delta_overlap = half_w - std::abs(offset_iso);  // measured on both sides
  const double scan_factor = (result.half_fan || result.short_scan) ? 1.0 : 0.5;

  // Filter every projection: weights, then the ramp along rows (all rows in one DFT call).
  // Rows are zero-padded on both sides and kept whole after filtering: the ramp filter spreads
  // a projection beyond the panel's edge, and those tails belong to the back-projection (with
  // an offset detector, dropping them biases everything outside the overlap region).
  int padded = 1;
  while (padded < 3 * cols) padded *= 2;
  const int pad_left = (padded - cols) / 2;
  const cv::Mat spectrum = ramp_spectrum(padded, du, o.window);
  std::vector<cv::Mat> filtered(projections.size());
  const double delta_fan = std::atan(half_w / sad);  // Parker: half fan angle (full fan)
#pragma omp parallel for schedule(dynamic, 2)
  for (std::int64_t kk = 0; kk < static_cast<std::int64_t>(order.size()); ++kk) {
    const std::size_t k = order[static_cast<std::size_t>(kk)];
    const auto& p = projections[k];
    cv::Mat q(rows, padded, CV_64F, cv::Scalar(0.0));
    const double beta = angle[k] - first;
    for (int r = 0; r < rows; ++r) {
      const double v = (r - (rows - 1) / 2.0) * du;
      for (int c = 0; c < cols; ++c) {
        const double u = (c - (cols - 1) / 2.0) * du + offset_iso;
        double w = sad / std::sqrt(sad * sad + u * u + v * v);
        if (result.half_fan) {
          // Redundancy across the centre: the side with the detector gets 1, the overlap a
          // smooth ramp with w(u) + w(-u) = 1.
          const double s = offset_iso > 0.0 ? u : -u;
          if (s < -delta_overlap) {
            w = 0.0;
          } else if (s <= delta_overlap) {
            const double x = std::sin(0.25 * kPi * (s / delta_overlap + 1.0));
            w *= x * x;
          }
        }
        if (result.short_scan) {
          const double gamma = -std::atan(u / sad);  // fan angle, positive against rotation
          double pw = 1.0;
          const double end = kPi + 2.0 * delta_fan;
          if (beta < 2.0 * (delta_fan - gamma)) {
            const double x = std::sin(0.25 * kPi * beta / (delta_fan - gamma));
            pw = x * x;
          } else if (beta > kPi - 2.0 * gamma) {
            const double x = std::sin(0.25 * kPi * (end - beta) / (delta_fan + gamma));
            pw = beta >= end ? 0.0 : x * x;
          }
          w *= pw;
        }
        q.at<double>(r, c + pad_left) =
            w * static_cast<double>(
                    p.line_integral[static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) +
                                    static_cast<std::size_t>(c)]);
      }
    }
    cv::Mat f;
    cv::dft(q, f, cv::DFT_ROWS | cv::DFT_COMPLEX_OUTPUT);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < padded; ++c) {
        const auto& h = spectrum.at<cv::Vec2d>(0, c);
        auto& z = f.at<cv::Vec2d>(r, c);
        const double re = z[0] * h[0] - z[1] * h[1];
        const double im = z[0] * h[1] + z[1] * h[0];
        z = cv::Vec2d(re, im);
      }
    }
    cv::Mat back;
    cv::idft(f, back, cv::DFT_ROWS | cv::DFT_REAL_OUTPUT | cv::DFT_SCALE);
    cv::Mat out;
    back.convertTo(out, CV_32F);
    filtered[k] = out;
  }

  // Angular weights: each projection stands for the arc halfway to its neighbours.
  std::vector<double> dtheta(projections.size(), step);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double prev = i > 0 ? angle[order[i]] - angle[order[i - 1]] : step;
    const double next = i + 1 < order.size() ? angle[order[i + 1]] - angle[order[i]] : step;
    dtheta[order[i]] = 0.5 * (prev + next);
  }
  struct View {
    double c, s, weight;
    const cv::Mat* q;
  };
  std::vector<View> views;
  views.reserve(projections.size());
  for (std::size_t k = 0; k < projections.size(); ++k) {
    views.push_back(
        {std::cos(angle[k]), std::sin(angle[k]), dtheta[k] * scan_factor, &filtered[k]});
  }

  // Back-projection, voxel-driven, in the fixed frame.
  const Grid& grid = o.grid;
  const RigidTransform to_fixed = iec::patient_to_fixed(o.position, o.couch);
  Volume<float> mu(grid, 0.0F);
  const double u0 = (cols - 1) / 2.0 + pad_left, v0 = (rows - 1) / 2.0;
  const int wide = padded;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t k = 0; k < grid.dims[2]; ++k) {
    for (std::int64_t j = 0; j < grid.dims[1]; ++j) {
      for (std::int64_t i = 0; i < grid.dims[0]; ++i) {
        const Eigen::Vector3d x = to_fixed.apply(grid.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k))));
        double sum = 0.0;
        for (const View& view : views) {
          // Into the imager's frame (rotated about Y by the kV source angle).
          const double xr = view.c * x.x() - view.s * x.z();
          const double zr = view.s * x.x() + view.c * x.z();
          const double depth = sad - zr;
          if (depth <= 1.0) continue;
          const double scale = sad / depth;
          const double cu = (xr * scale - offset_iso) / du + u0;
          const double cv_ = x.y() * scale / du + v0;
          if (cu < 0.0 || cv_ < 0.0 || cu > wide - 1.0 || cv_ > rows - 1.0) continue;
          const int c0 = static_cast<int>(cu), r0 = static_cast<int>(cv_);
          const int c1 = std::min(c0 + 1, wide - 1), r1 = std::min(r0 + 1, rows - 1);
          const double fc = cu - c0, fr = cv_ - r0;
          const cv::Mat& q = *view.q;
          const double val = (1 - fr) * ((1 - fc) * static_cast<double>(q.at<float>(r0, c0)) +
                                         fc * static_cast<double>(q.at<float>(r0, c1))) +
                             fr * ((1 - fc) * static_cast<double>(q.at<float>(r1, c0)) +
                                   fc * static_cast<double>(q.at<float>(r1, c1)));
          sum += view.weight * scale * scale * val;
        }
        mu.at(i, j, k) = static_cast<float>(sum);
      }
    }
  }
  result.image = mu.map<std::int16_t>(
      [&](float m) { return to_hu(1000.0 * (static_cast<double>(m) / o.mu_water_per_mm - 1.0)); });
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace linac::igrt
