#include "linac/igrt/fdk.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "back_projection.hpp"
#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::igrt {

namespace {

using detail::Geometry;  // the back-projection (back_projection.hpp)
using detail::View;

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

/// The apodised ramp filter as OpenCV's packed spectrum of a real row (CV_32F), repeated for
/// `rows` rows, for cv::mulSpectrums with DFT_ROWS.
cv::Mat ramp_kernel_spectrum(int padded, int rows, double tau, RampWindow window) {
  cv::Mat kernel;
  cv::idft(ramp_spectrum(padded, tau, window), kernel, cv::DFT_REAL_OUTPUT | cv::DFT_SCALE);
  cv::Mat kernel32;
  kernel.convertTo(kernel32, CV_32F);
  cv::Mat packed;
  cv::dft(kernel32, packed);
  cv::Mat out;
  cv::repeat(packed, rows, 1, out);
  return out;
}

/// A panel narrower than the patient cuts rows off at a value far from zero; the ramp filter
/// turns that step into a bright rim and a too-bright interior. Such a row (its edge above a
/// tenth of its maximum) is continued past that edge as the chord of a water cylinder about the
/// rotation axis through the cut: the edge value `p` at the cut's distance `u` from the central
/// ray (mm at the isocentre) gives the radius R² = u² + (p / 2 mu_water)², and the row goes on as
/// 2 mu_water sqrt(R² − u²) until the cylinder ends (Hsieh et al. 2004's water-cylinder
/// extrapolation, without the slope fit). Rows that end in air are left as they are.
/// `left`/`right`: whether that edge may be continued (an offset panel's inner edge is the
/// redundancy ramp, not a cut). `u_first`: the first panel column's u; `du`: the column pitch.
void extend_truncated_rows(cv::Mat& q, int first, int count, double u_first, double du,
                           double mu_water, bool left, bool right) {
  const int room = first;  // padding on either side
  for (int r = 0; r < q.rows; ++r) {
    float* row = q.ptr<float>(r);
    float top = 0.0F;
    for (int c = first; c < first + count; ++c) top = std::max(top, row[c]);
    for (int side = 0; side < 2; ++side) {
      if (side == 0 ? !left : !right) continue;
      const int edge = side == 0 ? first : first + count - 1;
      const int step = side == 0 ? -1 : 1;
      const double p = row[edge];
      if (!(p > 0.1 * static_cast<double>(top))) continue;
      const double u = u_first + (edge - first) * du;
      const double half_chord = p / (2.0 * mu_water);
      const double r2 = u * u + half_chord * half_chord;
      for (int d = 1; d <= room; ++d) {
        const double ud = u + step * d * du;
        const double inside = r2 - ud * ud;
        if (inside <= 0.0) break;
        row[edge + step * d] = static_cast<float>(2.0 * mu_water * std::sqrt(inside));
      }
    }
  }
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

std::vector<float> scatter_corrected(const hal::KvProjection& p, double scatter_fraction,
                                     double scatter_sigma_mm) {
  if (!(scatter_fraction >= 0.0)) {
    throw InputError("scatter correction", "the scatter fraction must not be negative");
  }
  if (!(scatter_sigma_mm > 0.0) || !(p.pixel_pitch_mm > 0.0)) {
    throw InputError("scatter correction", "the kernel width and pixel pitch must be positive");
  }
  if (p.columns < 1 || p.rows < 1 ||
      p.line_integral.size() != static_cast<std::size_t>(p.columns) * p.rows) {
    throw InputError("scatter correction", "the projection's pixel count does not match its size");
  }
  std::vector<float> out(p.line_integral.size());
  if (scatter_fraction == 0.0) {
    std::copy(p.line_integral.begin(), p.line_integral.end(), out.begin());
    return out;
  }
  cv::Mat measured(p.rows, p.columns, CV_64F);
  for (int y = 0; y < p.rows; ++y) {
    for (int c = 0; c < p.columns; ++c) {
      measured.at<double>(y, c) = std::exp(-static_cast<double>(
          p.line_integral[static_cast<std::size_t>(y) * static_cast<std::size_t>(p.columns) +
                          static_cast<std::size_t>(c)]));
    }
  }
  // The kernel is tens of pixels wide and the scatter smooth: it is spread on a panel binned to
  // about a quarter of its width (area averages, the kernel still four binned pixels wide), and
  // read back by linear interpolation.
  const double sigma_px = scatter_sigma_mm / p.pixel_pitch_mm;
  const double bin = std::max(1.0, std::floor(sigma_px / 4.0));
  const cv::Size coarse(std::max(1, static_cast<int>(std::ceil(p.columns / bin))),
                        std::max(1, static_cast<int>(std::ceil(p.rows / bin))));
  cv::Mat primary = measured.clone();
  cv::Mat small;
  cv::Mat spread;
  cv::Mat scatter;
  for (int iteration = 0; iteration < 3; ++iteration) {
    cv::Mat interacted = 1.0 - primary;
    cv::resize(interacted, small, coarse, 0.0, 0.0, cv::INTER_AREA);
    const double sx = sigma_px * coarse.width / p.columns;
    const double sy = sigma_px * coarse.height / p.rows;
    cv::GaussianBlur(small, spread, cv::Size(0, 0), sx, sy, cv::BORDER_CONSTANT);
    cv::resize(spread, scatter, measured.size(), 0.0, 0.0, cv::INTER_LINEAR);
    for (int y = 0; y < p.rows; ++y) {
      for (int c = 0; c < p.columns; ++c) {
        const double t = measured.at<double>(y, c);
        primary.at<double>(y, c) =
            std::max(t - scatter_fraction * scatter.at<double>(y, c), kScatterFloor * t);
      }
    }
  }
  for (int y = 0; y < p.rows; ++y) {
    for (int c = 0; c < p.columns; ++c) {
      out[static_cast<std::size_t>(y) * static_cast<std::size_t>(p.columns) +
          static_cast<std::size_t>(c)] = static_cast<float>(-std::log(primary.at<double>(y, c)));
    }
  }
  return out;
}

namespace {

/// Every projection's panel, pitch, distances and detector offset the first one's, its pixel
/// count its size; the options' grid and scatter kernel valid.
void check_projections(const std::vector<hal::KvProjection>& projections, const FdkOptions& o) {
  if (projections.empty()) throw InputError("CBCT", "no projections to reconstruct");
  o.grid.validate("CBCT grid");
  if (!(o.scatter_fraction >= 0.0) || !(o.scatter_sigma_mm > 0.0)) {
    // Checked here: the correction runs inside the parallel filtering, which must not throw.
    throw InputError("scatter correction",
                     "the fraction must not be negative and the kernel width must be positive");
  }
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
}

/// The scan the projections make: the panel at the isocentre, the views in angle order, the arc
/// and how it is weighted (full, short, half fan).
struct Scan {
  double sad = 0.0;
  int cols = 0;
  int rows = 0;
  double du = 0.0;          // pixel pitch at the isocentre
  double offset_iso = 0.0;  // detector offset at the isocentre
  double half_w = 0.0;
  std::vector<double> u_of;        // each column's u at the isocentre
  std::vector<std::size_t> order;  // views by angle
  std::vector<double> angle;       // rad, per projection
  double first = 0.0;              // rad
  double step = 0.0;               // rad, mean spacing
  double delta_overlap = 0.0;      // measured on both sides of the centre (half fan)
  double scan_factor = 0.0;
};

/// The scan's geometry and arc (into `result`: projections, arc, half fan, short scan); an arc
/// too short for the scan, or an offset leaving the central ray unmeasured, is refused.
Scan read_scan(const std::vector<hal::KvProjection>& projections, FdkResult& result) {
  const hal::KvProjection& g0 = projections.front();
  Scan s;
  s.sad = g0.source_axis_distance_mm;
  const double mag = s.sad / g0.source_imager_distance_mm;
  s.cols = g0.columns;
  s.rows = g0.rows;
  s.du = g0.pixel_pitch_mm * mag;
  s.offset_iso = g0.detector_offset_mm * mag;
  s.half_w = 0.5 * s.cols * s.du;
  s.u_of.resize(static_cast<std::size_t>(s.cols));
  for (int c = 0; c < s.cols; ++c)
    s.u_of[static_cast<std::size_t>(c)] = (c - (s.cols - 1) / 2.0) * s.du + s.offset_iso;
  // Angles in acquisition order, unwrapped; the arc covered.
  s.order.resize(projections.size());
  std::iota(s.order.begin(), s.order.end(), 0);
  s.angle.resize(projections.size());
  for (std::size_t k = 0; k < projections.size(); ++k) {
    s.angle[k] = projections[k].kv_source_angle_deg * kPi / 180.0;
  }
  std::sort(s.order.begin(), s.order.end(),
            [&](auto a, auto b) { return s.angle[a] < s.angle[b]; });
  s.first = s.angle[s.order.front()];
  const double span = s.angle[s.order.back()] - s.first;
  s.step = projections.size() > 1 ? span / static_cast<double>(projections.size() - 1) : 0.0;
  const double arc = span + s.step;
  result.projections = static_cast<int>(projections.size());
  result.arc_deg = arc * 180.0 / kPi;
  const double fan = std::atan((std::abs(s.offset_iso) + s.half_w) / s.sad);
  result.half_fan = std::abs(s.offset_iso) > 1e-6 && s.offset_iso - s.half_w < 0.0;
  const bool full = arc >= 2.0 * kPi - 1.5 * s.step - 1e-9;
  if (result.half_fan && !full) {
    throw InputError("CBCT", "a half-fan scan needs 360 degrees; the projections cover " +
                                 format_measured(result.arc_deg, 1) + " degrees");
  }
  if (!full && arc < kPi + 2.0 * fan - 1e-6) {
    throw InputError("CBCT", "the projections cover " + format_measured(result.arc_deg, 1) +
                                 " degrees; a short scan needs 180 degrees plus the fan (" +
                                 format_measured((kPi + 2.0 * fan) * 180.0 / kPi, 1) + ")");
  }
  if (std::abs(s.offset_iso) > 1e-6 && s.offset_iso - s.half_w >= 0.0) {
    throw InputError("CBCT", "the detector offset leaves the central ray unmeasured");
  }
  result.short_scan = !full;
  s.delta_overlap = s.half_w - std::abs(s.offset_iso);
  s.scan_factor = (result.half_fan || result.short_scan) ? 1.0 : 0.5;
  return s;
}

/// The padded rows' layout, and the padded columns the back-projection reads.
struct Columns {
  int padded = 0;
  int pad_left = 0;
  int keep_left = 0;
  int kept = 0;
};

/// Rows are zero-padded to at least three times their length (the ramp kernel's tails, cut at
/// half the padded length, set the reconstruction's mean: twice the length left water 27 HU
/// low); the ramp filter spreads a projection beyond the panel's edge, and those tails belong to
/// the back-projection (with an offset detector, dropping them biases everything outside the
/// overlap region). Only the padded columns the grid projects onto are kept: the farthest voxel
/// from the rotation axis (r) lands at most r SAD / (SAD - r) from the central ray at the
/// isocentre.
Columns kept_columns(const Scan& s, const Grid& grid, const RigidTransform& to_fixed) {
  Columns k;
  k.padded = cv::getOptimalDFTSize(3 * s.cols);  // 576 for 192 columns (not 1024)
  k.pad_left = (k.padded - s.cols) / 2;
  double reach = 0.0;
  for (int corner = 0; corner < 8; ++corner) {
    const Eigen::Vector3d ijk((corner & 1) != 0 ? static_cast<double>(grid.dims[0] - 1) : 0.0,
                              (corner & 2) != 0 ? static_cast<double>(grid.dims[1] - 1) : 0.0,
                              (corner & 4) != 0 ? static_cast<double>(grid.dims[2] - 1) : 0.0);
    const Eigen::Vector3d x = to_fixed.apply(grid.index_to_world_mm(ijk));
    reach = std::max(reach, std::hypot(x.x(), x.z()));
  }
  const double u_reach = reach < 0.9 * s.sad ? reach * s.sad / (s.sad - reach) : 1e9;
  const double centre_column = (s.cols - 1) / 2.0 + k.pad_left;
  k.keep_left =
      std::clamp(static_cast<int>(std::floor((-u_reach - s.offset_iso) / s.du + centre_column)) - 2,
                 0, k.padded - 2);
  const int keep_right =
      std::clamp(static_cast<int>(std::ceil((u_reach - s.offset_iso) / s.du + centre_column)) + 2,
                 k.keep_left + 2, k.padded);
  k.kept = keep_right - k.keep_left;
  return k;
}

/// Cosine pre-weighting and, in a half-fan scan, the redundancy across the centre (the side
/// with the detector gets 1, the overlap a smooth ramp with w(u) + w(-u) = 1), per pixel.
std::vector<float> pixel_weights(const Scan& s, bool half_fan) {
  std::vector<float> w_of(static_cast<std::size_t>(s.rows) * static_cast<std::size_t>(s.cols));
  for (int r = 0; r < s.rows; ++r) {
    const double v = (r - (s.rows - 1) / 2.0) * s.du;
    for (int c = 0; c < s.cols; ++c) {
      const double u = s.u_of[static_cast<std::size_t>(c)];
      double w = s.sad / std::sqrt(s.sad * s.sad + u * u + v * v);
      if (half_fan) {
        const double side = s.offset_iso > 0.0 ? u : -u;
        if (side < -s.delta_overlap) {
          w = 0.0;
        } else if (side <= s.delta_overlap) {
          const double x = std::sin(0.25 * kPi * (side / s.delta_overlap + 1.0));
          w *= x * x;
        }
      }
      w_of[static_cast<std::size_t>(r) * static_cast<std::size_t>(s.cols) +
           static_cast<std::size_t>(c)] = static_cast<float>(w);
    }
  }
  return w_of;
}

/// Parker's short-scan weights of the view at `beta` (rad from the first), per column.
void parker_weights(const Scan& s, double beta, std::vector<float>& column_weight) {
  const double delta_fan = std::atan(s.half_w / s.sad);  // half fan angle (full fan)
  for (int c = 0; c < s.cols; ++c) {
    const double gamma = -std::atan(s.u_of[static_cast<std::size_t>(c)] / s.sad);  // fan angle
    double pw = 1.0;
    const double end = kPi + 2.0 * delta_fan;
    if (beta < 2.0 * (delta_fan - gamma)) {
      const double x = std::sin(0.25 * kPi * beta / (delta_fan - gamma));
      pw = x * x;
    } else if (beta > kPi - 2.0 * gamma) {
      const double x = std::sin(0.25 * kPi * (end - beta) / (delta_fan + gamma));
      pw = beta >= end ? 0.0 : x * x;
    }
    column_weight[static_cast<std::size_t>(c)] = static_cast<float>(pw);
  }
}

/// Every projection weighted, then ramp-filtered along its rows (all rows in one DFT call, in
/// OpenCV's packed real spectra), into `filtered` (one matrix per view, transposed: a panel
/// column's rows contiguous, as the back-projection reads them).
void filter_projections(const std::vector<hal::KvProjection>& projections, const FdkOptions& o,
                        const Scan& s, const Columns& k, const FdkResult& result,
                        std::vector<cv::Mat>& filtered) {
  const cv::Mat kernel = ramp_kernel_spectrum(k.padded, s.rows, s.du, o.window);
  const std::vector<float> pixel_weight = pixel_weights(s, result.half_fan);
  // Each thread reuses its padded row buffers and spectra: fresh ones per projection (0.6 MB
  // each) were zeroed and page-faulted in every time, a fifth of the whole reconstruction.
#pragma omp parallel
  {
    cv::Mat q(s.rows, k.padded, CV_32F);
    cv::Mat f;
    cv::Mat back;
    std::vector<float> column_weight(static_cast<std::size_t>(s.cols));
    std::vector<float> primary;
#pragma omp for schedule(dynamic, 2)
    for (std::int64_t kk = 0; kk < static_cast<std::int64_t>(s.order.size()); ++kk) {
      const std::size_t v = s.order[static_cast<std::size_t>(kk)];
      const auto& p = projections[v];
      if (o.scatter_fraction > 0.0) {
        primary = scatter_corrected(p, o.scatter_fraction, o.scatter_sigma_mm);
      }
      const std::vector<float>& line_integral =
          o.scatter_fraction > 0.0 ? primary : p.line_integral;
      std::fill(column_weight.begin(), column_weight.end(), 1.0F);
      if (result.short_scan) parker_weights(s, s.angle[v] - s.first, column_weight);
      for (int r = 0; r < s.rows; ++r) {
        float* padded_row = q.ptr<float>(r);
        std::fill(padded_row, padded_row + k.pad_left, 0.0F);
        std::fill(padded_row + k.pad_left + s.cols, padded_row + k.padded, 0.0F);
        float* row = padded_row + k.pad_left;
        const std::size_t at = static_cast<std::size_t>(r) * static_cast<std::size_t>(s.cols);
        for (int c = 0; c < s.cols; ++c) {
          row[c] = pixel_weight[at + static_cast<std::size_t>(c)] *
                   column_weight[static_cast<std::size_t>(c)] *
                   line_integral[at + static_cast<std::size_t>(c)];
        }
      }
      if (o.truncation_correction) {
        extend_truncated_rows(q, k.pad_left, s.cols, s.u_of.front(), s.du, o.mu_water_per_mm,
                              !result.half_fan || s.offset_iso < 0.0,
                              !result.half_fan || s.offset_iso > 0.0);
      }
      cv::dft(q, f, cv::DFT_ROWS);
      cv::mulSpectrums(f, kernel, f, cv::DFT_ROWS);
      cv::idft(f, back, cv::DFT_ROWS | cv::DFT_REAL_OUTPUT | cv::DFT_SCALE);
      cv::transpose(back(cv::Range::all(), cv::Range(k.keep_left, k.keep_left + k.kept)),
                    filtered[v]);
    }
  }
}

/// Each view's direction and angular weight (the arc halfway to its neighbours, times the scan's
/// factor), on its filtered projection.
std::vector<View> views_of(const Scan& s, const std::vector<cv::Mat>& filtered) {
  std::vector<double> dtheta(s.angle.size(), s.step);
  for (std::size_t i = 0; i < s.order.size(); ++i) {
    const double prev = i > 0 ? s.angle[s.order[i]] - s.angle[s.order[i - 1]] : s.step;
    const double next =
        i + 1 < s.order.size() ? s.angle[s.order[i + 1]] - s.angle[s.order[i]] : s.step;
    dtheta[s.order[i]] = 0.5 * (prev + next);
  }
  std::vector<View> views;
  views.reserve(s.angle.size());
  for (std::size_t k = 0; k < s.angle.size(); ++k) {
    views.push_back(
        {std::cos(s.angle[k]), std::sin(s.angle[k]), dtheta[k] * s.scan_factor, &filtered[k]});
  }
  return views;
}

}  // namespace

FdkResult reconstruct_fdk(const std::vector<hal::KvProjection>& projections, const FdkOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check_projections(projections, o);
  FdkResult result;
  const Scan s = read_scan(projections, result);
  const Grid& grid = o.grid;
  const RigidTransform to_fixed = iec::patient_to_fixed(o.position, o.couch);
  const Columns k = kept_columns(s, grid, to_fixed);
  // The filtered projections in one block, each view's matrix a window on it (one allocation:
  // `linac` keeps its heap in transparent huge pages, apps/linac/main.cpp).
  const std::size_t per_view = static_cast<std::size_t>(s.rows) * static_cast<std::size_t>(k.kept);
  std::vector<float> filtered_store(per_view * projections.size());
  std::vector<cv::Mat> filtered;
  filtered.reserve(projections.size());
  for (std::size_t v = 0; v < projections.size(); ++v) {
    filtered.emplace_back(k.kept, s.rows, CV_32F, filtered_store.data() + v * per_view);
  }
  filter_projections(projections, o, s, k, result, filtered);
  const auto t_filtered = std::chrono::steady_clock::now();
  result.filter_seconds = std::chrono::duration<double>(t_filtered - t0).count();
  const std::vector<View> views = views_of(s, filtered);

  // Back-projection, voxel-driven, in the fixed frame.
  Volume<float> mu(grid, 0.0F);
  result.measured = Mask(grid, 0);
  const Geometry geometry{s.sad,
                          s.du,
                          s.offset_iso,
                          (s.cols - 1) / 2.0 + k.pad_left - k.keep_left,
                          (s.rows - 1) / 2.0,
                          k.kept,
                          s.rows};
  // The grid's slices across the gantry axis (every patient position on a couch at zero): each
  // voxel column along that axis projects to one panel column, so the per-view work is done
  // once per column and the slices step along it.
  const Eigen::Vector3d k_axis = to_fixed.apply_vector(grid.direction.col(2));
  if (std::abs(std::abs(k_axis.y()) - 1.0) < 1e-9) {
    detail::back_project_columns(views, geometry, to_fixed, mu, result.measured);
  } else {
    detail::back_project_voxels(views, geometry, to_fixed, mu, result.measured);
  }
  result.back_project_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_filtered).count();
  result.image = mu.map<std::int16_t>(
      [&](float m) { return to_hu(1000.0 * (static_cast<double>(m) / o.mu_water_per_mm - 1.0)); });
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace linac::igrt
