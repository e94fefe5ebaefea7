#pragma once
// The dose engine's fluence maps (planning/src only): what a control point lets through at the
// isocentre plane, blurred by Gaussian kernels (single, ladders of widths for kernels that vary
// per point, the broad kernels on one grid), and a tabulated erf for the beamlet integrals.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <opencv2/imgproc.hpp>
#include <utility>
#include <vector>

#include "linac/planning/dose_engine.hpp"

namespace linac::planning::detail {

inline double overlap(double a0, double a1, double b0, double b1) {
  return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

/// What a control point lets through at the isocentre plane: the jaws and either the leaves of
/// `aperture` (with the MLC's and jaws' transmission) or, when `weights` is set, an intensity
/// per beamlet of `layout` (fraction of the open fluence, nothing outside the beamlets), as a
/// fluence-map optimisation has it.
struct Field {
  Field(const Aperture& a) : aperture(a) {}  // NOLINT(google-explicit-constructor)
  Field(const Aperture& jaws, const BeamletLayout& l, const std::vector<float>& w)
      : aperture(jaws), layout(&l), weights(&w) {}
  /// Several apertures of one beam direction, each at its weight (MU), in one fluence map;
  /// `bounds` holds the union of their jaws (the map's extent).
  Field(const Aperture& bounds, const std::vector<std::pair<const Aperture*, double>>& p)
      : aperture(bounds), parts(&p) {}
  const Aperture& aperture;
  const BeamletLayout* layout = nullptr;
  const std::vector<float>* weights = nullptr;
  const std::vector<std::pair<const Aperture*, double>>* parts = nullptr;
  [[nodiscard]] bool intensity() const { return weights != nullptr; }
};

/// A map's pixel grid at the isocentre plane: its corner (mm), pixel size (mm) and size.
struct MapGrid {
  double u0 = 0.0, v0 = 0.0, px = 1.0;
  int nu = 0, nv = 0;
};

/// A fluence map at the isocentre plane blurred by one Gaussian kernel.
class KernelMap {
 public:
  KernelMap(const Field& field, const std::vector<double>& boundaries, const BeamModel& m,
            double sigma_mm)
      : KernelMap(field, boundaries, m, sigma_mm, 1.0, sigma_mm, 0.0) {}

  /// The pixels and margin a map of kernels up to `sigma_max_mm` wide, finest `sigma_min_mm`,
  /// takes around `a`'s jaws.
  static MapGrid grid_for(const Aperture& a, double sigma_min_mm, double sigma_max_mm) {
    MapGrid g;
    g.px = std::clamp(sigma_min_mm / 2.5, 0.5, 10.0);
    const double margin = 4.0 * sigma_max_mm + 2.0 * g.px;
    g.u0 = a.x1_mm - margin;
    g.v0 = a.y1_mm - margin;
    g.nu = static_cast<int>(std::ceil((a.x2_mm - a.x1_mm + 2 * margin) / g.px));
    g.nv = static_cast<int>(std::ceil((a.y2_mm - a.y1_mm + 2 * margin) / g.px));
    return g;
  }

  /// The field's map on `grid` before any kernel blurs it (what `raster`'s constructor below
  /// blurs: kernels on one grid rasterise the field once).
  KernelMap(const Field& field, const std::vector<double>& boundaries, const BeamModel& m,
            const MapGrid& grid) {
    rasterise(field, boundaries, m, grid);
  }

  /// An unblurred map's field blurred by one kernel, on its grid.
  KernelMap(const KernelMap& raster, double sigma_mm)
      : u0_(raster.u0_),
        v0_(raster.v0_),
        px_(raster.px_),
        inv_px_(raster.inv_px_),
        nu_(raster.nu_),
        nv_(raster.nv_),
        outside_(raster.outside_) {
    blur(raster.map_, sigma_mm, map_);
  }

  /// weight_a x (F * G(sigma_a)) + weight_b x (F * G(sigma_b)) on one grid (sigma_a the
  /// narrower): two kernels that share a depth function, looked up once.
  KernelMap(const Field& field, const std::vector<double>& boundaries, const BeamModel& m,
            double sigma_a, double weight_a, double sigma_b, double weight_b) {
    init(field, boundaries, m, grid_for(field.aperture, sigma_a, std::max(sigma_a, sigma_b)),
         sigma_a, weight_a, sigma_b, weight_b);
  }

  [[nodiscard]] double at(double u, double v) const {
    const double fi = (u - u0_) * inv_px_ - 0.5;
    const double fj = (v - v0_) * inv_px_ - 0.5;
    if (!(fi >= 0.0 && fj >= 0.0 && fi < nu_ - 1 && fj < nv_ - 1)) {
      return static_cast<double>(outside_);
    }
    const int i = static_cast<int>(fi);
    const int j = static_cast<int>(fj);
    const double a = fi - i;
    const double b = fj - j;
    const float* r0 = map_.ptr<float>(j);
    const float* r1 = map_.ptr<float>(j + 1);
    auto f = [](float x) { return static_cast<double>(x); };
    return (f(r0[i]) * (1 - a) + f(r0[i + 1]) * a) * (1 - b) +
           (f(r1[i]) * (1 - a) + f(r1[i + 1]) * a) * b;
  }

  [[nodiscard]] const cv::Mat& map() const { return map_; }
  [[nodiscard]] float outside() const { return outside_; }

 private:
  void init(const Field& field, const std::vector<double>& boundaries, const BeamModel& m,
            const MapGrid& grid, double sigma_a, double weight_a, double sigma_b, double weight_b) {
    rasterise(field, boundaries, m, grid);
    blur_into_map(field, boundaries, m, sigma_a, weight_a, sigma_b, weight_b);
  }

  void rasterise(const Field& field, const std::vector<double>& boundaries, const BeamModel& m,
                 const MapGrid& grid) {
    const Aperture& a = field.aperture;
    px_ = grid.px;
    inv_px_ = 1.0 / px_;
    u0_ = grid.u0;
    v0_ = grid.v0;
    nu_ = grid.nu;
    nv_ = grid.nv;
    double outside = field.intensity() ? 0.0 : m.jaw_transmission;
    if (field.parts != nullptr) {
      outside = 0.0;
      for (const auto& [part, weight] : *field.parts) outside += weight * m.jaw_transmission;
    }
    outside_ = static_cast<float>(outside);
    map_ = cv::Mat(nv_, nu_, CV_32F, cv::Scalar(static_cast<double>(outside_)));
    if (field.intensity()) {
      rasterise_intensity(field);
    } else if (field.parts != nullptr) {
      for (const auto& [part, weight] : *field.parts) {
        rasterise_leaves(*part, boundaries, m, weight, true);
      }
    } else {
      rasterise_leaves(a, boundaries, m, 1.0, false);
    }
  }

  /// The aperture's transmission map; with `add`, `weight` x its departure from the jaws'
  /// transmission added to the map (which holds the parts' jaw transmission already).
  void rasterise_leaves(const Aperture& a, const std::vector<double>& boundaries,
                        const BeamModel& m, double weight, bool add) {
    const bool leaves = !a.leaf_a_mm.empty();
    const double half_dlg = 0.5 * m.dosimetric_leaf_gap_mm;
    const double t_mlc = m.mlc_transmission;
    const double t_jaw = m.jaw_transmission;
    const int pairs = static_cast<int>(boundaries.size()) - 1;
    // Leaf rows crossing a pixel row inside the Y jaws: weight and open interval.
    struct RowPart {
      double w, lo, hi;
      bool operator==(const RowPart&) const = default;
    };
    std::vector<RowPart> parts;
    std::vector<RowPart> last_parts;  // the previous row's, whose values `values` holds
    double last_fy = -1.0;
    std::vector<float> values;
    int first_pair = 0;
    const int i0 = std::max(0, static_cast<int>(std::floor((a.x1_mm - u0_) / px_)) - 1);
    const int i1 = std::min(nu_ - 1, static_cast<int>(std::floor((a.x2_mm - u0_) / px_)) + 1);
    if (i1 < i0) return;
    for (int j = 0; j < nv_; ++j) {
      const double vlo = v0_ + j * px_;
      const double vhi = vlo + px_;
      const double fy = overlap(vlo, vhi, a.y1_mm, a.y2_mm) / px_;
      if (fy <= 0.0) continue;
      parts.clear();
      const double clo = std::max(vlo, a.y1_mm);
      const double chi = std::min(vhi, a.y2_mm);
      if (leaves) {
        // Rows of pixels go up in v: the leaf pairs below this one are below every next one.
        while (first_pair + 1 < pairs && boundaries[first_pair + 1] <= clo) ++first_pair;
        for (int n = first_pair; n < pairs && boundaries[n] < chi; ++n) {
          const double w = overlap(clo, chi, boundaries[n], boundaries[n + 1]) / px_;
          if (w <= 0.0) continue;
          double lo = a.leaf_b_mm[n] - half_dlg;
          double hi = a.leaf_a_mm[n] + half_dlg;
          lo = std::max(lo, a.x1_mm);
          hi = std::min(hi, a.x2_mm);
          parts.push_back({w, lo, hi});
        }
      } else {
        parts.push_back({fy, a.x1_mm, a.x2_mm});
      }
      auto* row = map_.ptr<float>(j);
      // Pixel rows within one leaf pair repeat the row before them (10 or 20 at the finest
      // pixel): its values again, the same numbers.
      if (fy != last_fy || parts != last_parts) {
        // Each part's open fraction added over the pixels it reaches (pixels outside the X
        // jaws keep the map's jaw transmission): the same sums as per pixel over all parts.
        line_.assign(static_cast<std::size_t>(i1 - i0 + 1), 0.0);
        for (const auto& p : parts) {
          if (!(p.hi > p.lo)) continue;
          const int p0 = std::max(i0, static_cast<int>(std::floor((p.lo - u0_) / px_)) - 1);
          const int p1 = std::min(i1, static_cast<int>(std::floor((p.hi - u0_) / px_)) + 1);
          for (int i = p0; i <= p1; ++i) {
            const double ulo = u0_ + i * px_;
            line_[static_cast<std::size_t>(i - i0)] +=
                p.w * overlap(ulo, ulo + px_, p.lo, p.hi) / px_;
          }
        }
        values.resize(line_.size());
        for (int i = i0; i <= i1; ++i) {
          const double ulo = u0_ + i * px_;
          const double uhi = ulo + px_;
          const double jaw = fy * overlap(ulo, uhi, a.x1_mm, a.x2_mm) / px_;
          const double open = line_[static_cast<std::size_t>(i - i0)];
          const double value = t_jaw * (1.0 - jaw) + t_mlc * (jaw - open) + open;
          values[static_cast<std::size_t>(i - i0)] =
              add ? static_cast<float>(weight * (value - t_jaw)) : static_cast<float>(value);
        }
        last_fy = fy;
        last_parts = parts;
      }
      for (int i = i0; i <= i1; ++i) {
        if (add) {
          row[i] += values[static_cast<std::size_t>(i - i0)];
        } else {
          row[i] = values[static_cast<std::size_t>(i - i0)];
        }
      }
    }
  }

  /// The beamlets' intensities, area-averaged per pixel (rows of the layout, columns of its
  /// width), inside the jaws.
  void rasterise_intensity(const Field& field) {
    const BeamletLayout& L = *field.layout;
    const std::vector<float>& w = *field.weights;
    std::vector<double> line(static_cast<std::size_t>(nu_));
    for (int j = 0; j < nv_; ++j) {
      const double vlo = v0_ + j * px_;
      const double vhi = vlo + px_;
      std::fill(line.begin(), line.end(), 0.0);
      bool any = false;
      for (int r = 0; r < L.rows; ++r) {
        const double fy = overlap(vlo, vhi, L.row_edges_mm[static_cast<std::size_t>(r)],
                                  L.row_edges_mm[static_cast<std::size_t>(r) + 1]) /
                          px_;
        if (fy <= 0.0) continue;
        for (int c = 0; c < L.columns; ++c) {
          const double wc = static_cast<double>(w[static_cast<std::size_t>(r * L.columns + c)]);
          if (wc == 0.0) continue;
          const double lo = L.column_lo(c);
          const double hi = L.column_hi(c);
          const int i0 = std::max(0, static_cast<int>(std::floor((lo - u0_) / px_)));
          const int i1 = std::min(nu_ - 1, static_cast<int>(std::floor((hi - u0_) / px_)));
          for (int i = i0; i <= i1; ++i) {
            const double ulo = u0_ + i * px_;
            line[static_cast<std::size_t>(i)] += fy * wc * overlap(ulo, ulo + px_, lo, hi) / px_;
          }
          any = true;
        }
      }
      if (!any) continue;
      auto* row = map_.ptr<float>(j);
      for (int i = 0; i < nu_; ++i) row[i] = static_cast<float>(line[static_cast<std::size_t>(i)]);
    }
  }

  /// `in` blurred by a Gaussian of `sigma` mm into `out`. The area-averaged pixel and the
  /// bilinear look-up blur by about px^2/6 between them.
  void blur(const cv::Mat& in, double sigma, cv::Mat& out) const {
    const double sigma_px = std::sqrt(std::max(0.09, std::pow(sigma / px_, 2) - 1.0 / 6.0));
    cv::GaussianBlur(in, out, cv::Size(0, 0), sigma_px, sigma_px, cv::BORDER_REPLICATE);
  }

  void blur_into_map(const Field& field, const std::vector<double>& boundaries, const BeamModel& m,
                     double sigma_a, double weight_a, double sigma_b, double weight_b) {
    if (weight_b == 0.0) {
      blur(map_, sigma_a, map_);
    } else if (sigma_b / px_ <= 4.0) {
      cv::Mat first;
      cv::Mat second;
      blur(map_, sigma_a, first);
      blur(map_, sigma_b, second);
      cv::addWeighted(first, weight_a, second, weight_b, 0.0, map_);
    } else {
      // The wider kernel on its own coarser grid (a blur of many pixels on the fine grid costs
      // more than the look-ups), added at the fine grid's pixel centres.
      blur(map_, sigma_a, map_);
      const KernelMap wide(field, boundaries, m, sigma_b);
      // wide.at() at every pixel centre, its per-axis index and weight computed once per
      // column and row (bilinear look-ups are separable).
      std::vector<int> col(static_cast<std::size_t>(nu_));
      std::vector<double> col_w(static_cast<std::size_t>(nu_));
      for (int i = 0; i < nu_; ++i) {
        const double fi = (u0_ + (i + 0.5) * px_ - wide.u0_) / wide.px_ - 0.5;
        const bool inside = fi >= 0.0 && fi < wide.nu_ - 1;
        col[static_cast<std::size_t>(i)] = inside ? static_cast<int>(fi) : -1;
        col_w[static_cast<std::size_t>(i)] = inside ? fi - static_cast<int>(fi) : 0.0;
      }
      const double out = static_cast<double>(wide.outside_);
      for (int j = 0; j < nv_; ++j) {
        auto* row = map_.ptr<float>(j);
        const double fj = (v0_ + (j + 0.5) * px_ - wide.v0_) / wide.px_ - 0.5;
        const bool inside = fj >= 0.0 && fj < wide.nv_ - 1;
        const int jj = inside ? static_cast<int>(fj) : 0;
        const double b = fj - jj;
        const float* r0 = inside ? wide.map_.ptr<float>(jj) : nullptr;
        const float* r1 = inside ? wide.map_.ptr<float>(jj + 1) : nullptr;
        for (int i = 0; i < nu_; ++i) {
          const int ii = col[static_cast<std::size_t>(i)];
          double w = out;
          if (inside && ii >= 0) {
            const double a = col_w[static_cast<std::size_t>(i)];
            auto f = [](float x) { return static_cast<double>(x); };
            w = (f(r0[ii]) * (1 - a) + f(r0[ii + 1]) * a) * (1 - b) +
                (f(r1[ii]) * (1 - a) + f(r1[ii + 1]) * a) * b;
          }
          row[i] = static_cast<float>(weight_a * static_cast<double>(row[i]) + weight_b * w);
        }
      }
    }
    outside_ = static_cast<float>(static_cast<double>(outside_) * (weight_a + weight_b));
  }

  double u0_ = 0.0, v0_ = 0.0, px_ = 1.0, inv_px_ = 1.0;
  int nu_ = 0, nv_ = 0;
  float outside_ = 0.0F;
  cv::Mat map_;
  std::vector<double> line_;  // rasterise_leaves' open fractions along a pixel row
};

/// Fluence maps blurred by a geometric ladder of widths from `sigma_lo` to `sigma_hi` (steps of
/// at most 15 %), interpolated linearly in width: kernels whose width varies per point.
class KernelLadder {
 public:
  KernelLadder(const Field& a, const std::vector<double>& boundaries, const BeamModel& m,
               double sigma_lo, double sigma_hi) {
    const double hi = std::max(sigma_hi, sigma_lo);
    const int steps =
        std::max(0, static_cast<int>(std::ceil(std::log(hi / sigma_lo) / std::log(1.15) - 1e-9)));
    for (int k = 0; k <= steps; ++k) {
      const double s = steps == 0
                           ? sigma_lo
                           : sigma_lo * std::pow(hi / sigma_lo, static_cast<double>(k) / steps);
      sigmas_.push_back(s);
      maps_.emplace_back(a, boundaries, m, s);
    }
  }
  [[nodiscard]] double at(double u, double v, double sigma) const {
    if (maps_.size() == 1 || sigma <= sigmas_.front()) return maps_.front().at(u, v);
    if (sigma >= sigmas_.back()) return maps_.back().at(u, v);
    std::size_t i = 0;
    while (i + 2 < sigmas_.size() && sigma > sigmas_[i + 1]) ++i;
    const double f = (sigma - sigmas_[i]) / (sigmas_[i + 1] - sigmas_[i]);
    return (1.0 - f) * maps_[i].at(u, v) + f * maps_[i + 1].at(u, v);
  }

 private:
  std::vector<double> sigmas_;
  std::vector<KernelMap> maps_;
};

/// The broad kernels on one grid: the head scatter (projective: one width) and the two
/// phantom-scatter kernels at a ladder of distances from the source (their width at the
/// isocentre plane is sigma_k SAD / r; levels evenly spaced in r, at most 13 % apart, both
/// interpolated with one weight per point). The maps are stored interleaved, pixel by pixel
/// (channels: the head scatter, then level 0's C_s1 and C_s2, level 1's, ...), so a point's five
/// look-ups share one index computation and mostly one cache line.
class BroadKernels {
 public:
  BroadKernels(const Field& a, const std::vector<double>& boundaries, const BeamModel& m,
               double head_sigma_mm, double r_min, double r_max) {
    const int steps =
        std::max(1, static_cast<int>(std::ceil((r_max - r_min) / (0.13 * r_min) - 1e-9)));
    r0_ = r_min;
    dr_ = std::max(1e-6, (r_max - r_min) / steps);
    inv_dr_ = 1.0 / dr_;
    levels_ = steps + 1;
    channels_ = 1 + 2 * levels_;
    std::vector<double> sigmas{head_sigma_mm};
    for (int k = 0; k <= steps; ++k) {
      const double r = r_min + dr_ * k;
      sigmas.push_back(m.scatter_sigma_at(0, r));
      sigmas.push_back(m.scatter_sigma_at(1, r));
    }
    const auto [lo, hi] = std::minmax_element(sigmas.begin(), sigmas.end());
    grid_ = KernelMap::grid_for(a.aperture, *lo, *hi);
    inv_px_ = 1.0 / grid_.px;
    const auto stride = static_cast<std::size_t>(channels_);
    const auto nu = static_cast<std::size_t>(grid_.nu);
    data_.assign(nu * static_cast<std::size_t>(grid_.nv) * stride, 0.0F);
    const KernelMap raster(a, boundaries, m, grid_);  // every channel blurs one raster
    for (std::size_t c = 0; c < stride; ++c) {
      const KernelMap map(raster, sigmas[c]);
      outside_.push_back(static_cast<double>(map.outside()));
      for (int j = 0; j < grid_.nv; ++j) {
        const float* row = map.map().ptr<float>(j);
        float* out = &data_[static_cast<std::size_t>(j) * nu * stride + c];
        for (std::size_t i = 0; i < nu; ++i) out[i * stride] = row[i];
      }
    }
  }

  struct Values {
    double head, scatter1, scatter2;  // head scatter, C_s1, C_s2
  };
  /// The kernels at (u, v) for a point at distance r.
  [[nodiscard]] Values at(double u, double v, double r) const {
    const double t = std::clamp((r - r0_) * inv_dr_, 0.0, static_cast<double>(levels_ - 1));
    const int k = std::min(static_cast<int>(t), levels_ - 2);
    const double f = t - static_cast<double>(k);
    const auto c = static_cast<std::size_t>(1 + 2 * k);  // level k's C_s1; k + 1's at c + 2
    const double fi = (u - grid_.u0) * inv_px_ - 0.5;
    const double fj = (v - grid_.v0) * inv_px_ - 0.5;
    std::array<double, 5> x{};  // head, level k's two, level k + 1's two
    if (!(fi >= 0.0 && fj >= 0.0 && fi < grid_.nu - 1 && fj < grid_.nv - 1)) {
      x[0] = outside_[0];
      for (std::size_t q = 0; q < 4; ++q) x[q + 1] = outside_[c + q];
    } else {
      const int i = static_cast<int>(fi);
      const int j = static_cast<int>(fj);
      const double a = fi - i;
      const double b = fj - j;
      const auto stride = static_cast<std::size_t>(channels_);
      const float* p00 = &data_[(static_cast<std::size_t>(j) * static_cast<std::size_t>(grid_.nu) +
                                 static_cast<std::size_t>(i)) *
                                stride];
      const float* p01 = p00 + stride;
      const float* p10 = p00 + static_cast<std::size_t>(grid_.nu) * stride;
      const float* p11 = p10 + stride;
      auto value = [&](std::size_t ch) {
        auto g = [](float y) { return static_cast<double>(y); };
        return (g(p00[ch]) * (1 - a) + g(p01[ch]) * a) * (1 - b) +
               (g(p10[ch]) * (1 - a) + g(p11[ch]) * a) * b;
      };
      x[0] = value(0);
      for (std::size_t q = 0; q < 4; ++q) x[q + 1] = value(c + q);
    }
    return {x[0], (1.0 - f) * x[1] + f * x[3], (1.0 - f) * x[2] + f * x[4]};
  }

 private:
  double r0_ = 0.0;
  double dr_ = 1.0;
  double inv_dr_ = 1.0;
  int levels_ = 0;
  int channels_ = 0;
  MapGrid grid_;
  double inv_px_ = 1.0;
  std::vector<float> data_;  // pixel by pixel, channels_ values each
  std::vector<double> outside_;
};

/// erf from a table (step 1/1024 on [-6, 6], linear interpolation: error below 1e-7), for the
/// beamlet matrices' many edge integrals.
inline double table_erf(double x) {
  static constexpr double kStep = 1.0 / 1024.0;
  static constexpr double kMax = 6.0;
  static const std::vector<double> table = [] {
    std::vector<double> t;
    for (double v = -kMax; v <= kMax + 0.5 * kStep; v += kStep) t.push_back(std::erf(v));
    return t;
  }();
  if (x <= -kMax) return -1.0;
  if (x >= kMax) return 1.0;
  const double f = (x + kMax) / kStep;
  const auto i = static_cast<std::size_t>(f);
  const double a = f - static_cast<double>(i);
  return table[i] + a * (table[i + 1] - table[i]);
}

}  // namespace linac::planning::detail
