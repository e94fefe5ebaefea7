#include "linac/formats/image_png.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "linac/core/text.hpp"

namespace linac {
namespace {

/// Writes an 8-bit grey or BGR image as a PNG with libpng. (OpenCV's imgcodecs would do it,
/// but linking it loads ~100 shared libraries — GDAL, GDCM, OpenEXR… — at every start of the
/// program: 0.11 s of each `linac` run, a seventh of a CBCT reconstruction.) False on failure.
bool write_png(const std::filesystem::path& path, const cv::Mat& image) {
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3)) return false;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  bool ok = png != nullptr && info != nullptr;
  // libpng reports errors by longjmp: nothing with a destructor lives between here and the end.
  if (ok && setjmp(png_jmpbuf(png)) == 0) {
    png_init_io(png, file);
    png_set_IHDR(png, info, static_cast<png_uint_32>(image.cols),
                 static_cast<png_uint_32>(image.rows), 8,
                 image.channels() == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (image.channels() == 3) png_set_bgr(png);
    for (int r = 0; r < image.rows; ++r) png_write_row(png, image.ptr<png_byte>(r));
    png_write_end(png, nullptr);
  } else {
    ok = false;
  }
  png_destroy_write_struct(&png, &info);
  ok = std::fclose(file) == 0 && ok;
  if (!ok) std::filesystem::remove(path);  // no half-written image left behind
  return ok;
}

struct SliceGeometry {
  int rows = 0;
  int cols = 0;
  double row_mm = 1.0;
  double col_mm = 1.0;
};

// Voxel of slice pixel (r, c): rows run anterior->posterior (axial) or superior->inferior.
template <typename T>
cv::Mat extract(const Volume<T>& v, SliceAxis axis, std::int64_t index, SliceGeometry& geo,
                int cv_type) {
  const Grid& g = v.grid();
  const auto& d = g.dims;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  switch (axis) {
    case SliceAxis::kAxial:
      rows = d[1], cols = d[0], geo.row_mm = g.spacing_mm[1], geo.col_mm = g.spacing_mm[0];
      break;
    case SliceAxis::kCoronal:
      rows = d[2], cols = d[0], geo.row_mm = g.spacing_mm[2], geo.col_mm = g.spacing_mm[0];
      break;
    case SliceAxis::kSagittal:
      rows = d[2], cols = d[1], geo.row_mm = g.spacing_mm[2], geo.col_mm = g.spacing_mm[1];
      break;
  }
  geo.rows = static_cast<int>(rows);
  geo.cols = static_cast<int>(cols);
  cv::Mat m(geo.rows, geo.cols, cv_type);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      T value{};
      switch (axis) {
        case SliceAxis::kAxial:
          value = v.at(c, r, index);
          break;
        case SliceAxis::kCoronal:
          value = v.at(c, index, rows - 1 - r);
          break;
        case SliceAxis::kSagittal:
          value = v.at(index, c, rows - 1 - r);
          break;
      }
      if (cv_type == CV_32F) {
        m.at<float>(static_cast<int>(r), static_cast<int>(c)) = static_cast<float>(value);
      } else {
        m.at<std::uint8_t>(static_cast<int>(r), static_cast<int>(c)) = value != 0 ? 255 : 0;
      }
    }
  }
  return m;
}

}  // namespace

namespace {

/// The outlines of `overlays` (masks on `grid`) on a rendered slice.
void draw_outlines(cv::Mat& colour, const Grid& grid, SliceAxis axis, std::int64_t index,
                   const std::vector<Overlay>& overlays) {
  for (const auto& ov : overlays) {
    if (ov.mask == nullptr) continue;
    if (!ov.mask->grid().same_as(grid)) {
      throw std::invalid_argument("overlay mask is not on the CT grid");
    }
    SliceGeometry mgeo;
    cv::Mat m = extract(*ov.mask, axis, index, mgeo, CV_8U);
    cv::Mat ms;
    cv::resize(m, ms, colour.size(), 0, 0, cv::INTER_NEAREST);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(ms, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(colour, contours, -1, cv::Scalar(ov.rgb[2], ov.rgb[1], ov.rgb[0]), 1,
                     cv::LINE_AA);
  }
}

cv::Mat render_slice(const ImageHU& ct, SliceAxis axis, std::int64_t index, double window_centre,
                     double window_width, const std::vector<Overlay>& overlays,
                     const Volume<float>* dose, double dose_min, double dose_max) {
  const int axis_n = axis == SliceAxis::kAxial ? 2 : axis == SliceAxis::kCoronal ? 1 : 0;
  if (index < 0 || index >= ct.grid().dims[axis_n]) {
    throw std::invalid_argument("slice index " + std::to_string(index) + " outside the image");
  }
  SliceGeometry geo;
  cv::Mat hu = extract(ct, axis, index, geo, CV_32F);
  const double lo = window_centre - window_width / 2.0;
  cv::Mat gray;
  hu.convertTo(gray, CV_8U, 255.0 / window_width, -lo * 255.0 / window_width);
  // Square pixels of the finer spacing, or finer still so that the picture is about 600 px wide.
  const double px_mm = std::min(
      {geo.row_mm, geo.col_mm, geo.cols * geo.col_mm / 600.0, geo.rows * geo.row_mm / 600.0});
  const cv::Size size(static_cast<int>(std::lround(geo.cols * geo.col_mm / px_mm)),
                      static_cast<int>(std::lround(geo.rows * geo.row_mm / px_mm)));
  cv::Mat scaled;
  cv::resize(gray, scaled, size, 0, 0, cv::INTER_LINEAR);
  cv::Mat colour;
  cv::cvtColor(scaled, colour, cv::COLOR_GRAY2BGR);
  if (dose != nullptr) {
    if (!dose->grid().same_as(ct.grid())) throw std::invalid_argument("dose is not on the CT grid");
    SliceGeometry dgeo;
    cv::Mat d = extract(*dose, axis, index, dgeo, CV_32F);
    cv::Mat ds;
    cv::resize(d, ds, size, 0, 0, cv::INTER_LINEAR);
    cv::Mat level;
    const double span = dose_max > dose_min ? dose_max - dose_min : 1.0;
    ds.convertTo(level, CV_8U, 255.0 / span, -dose_min * 255.0 / span);
    cv::Mat wash;
    cv::applyColorMap(level, wash, cv::COLORMAP_JET);
    for (int r = 0; r < colour.rows; ++r) {
      for (int c = 0; c < colour.cols; ++c) {
        if (static_cast<double>(ds.at<float>(r, c)) < dose_min) continue;
        auto& px = colour.at<cv::Vec3b>(r, c);
        const auto& w = wash.at<cv::Vec3b>(r, c);
        for (int k = 0; k < 3; ++k) {
          px[k] = static_cast<std::uint8_t>(0.55 * w[k] + 0.45 * px[k]);
        }
      }
    }
  }
  draw_outlines(colour, ct.grid(), axis, index, overlays);
  return colour;
}

}  // namespace

void write_slice_png(const std::filesystem::path& path, const ImageHU& ct, SliceAxis axis,
                     std::int64_t index, double window_centre, double window_width,
                     const std::vector<Overlay>& overlays) {
  const cv::Mat colour =
      render_slice(ct, axis, index, window_centre, window_width, overlays, nullptr, 0.0, 0.0);
  if (!write_png(path, colour)) {
    throw std::runtime_error(path.string() + ": cannot write PNG");
  }
}

void write_map_png(const std::filesystem::path& path, int rows, int cols,
                   const std::vector<float>& values, double vmin, double vmax, ColourMap colours,
                   int scale) {
  const int colormap = colours == ColourMap::kJet ? cv::COLORMAP_JET : cv::COLORMAP_VIRIDIS;
  if (rows <= 0 || cols <= 0 || values.size() != static_cast<std::size_t>(rows) * cols) {
    throw std::runtime_error(path.string() + ": map of " + std::to_string(values.size()) +
                             " values is not " + std::to_string(rows) + " x " +
                             std::to_string(cols));
  }
  cv::Mat grey(rows, cols, CV_8UC1);
  const double span = vmax > vmin ? vmax - vmin : 1.0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double v =
          (static_cast<double>(values[static_cast<std::size_t>(r) * cols + c]) - vmin) / span;
      grey.at<std::uint8_t>(r, c) = static_cast<std::uint8_t>(std::clamp(v, 0.0, 1.0) * 255.0);
    }
  }
  cv::Mat colour;
  cv::applyColorMap(grey, colour, colormap);
  if (scale > 1) {
    cv::resize(colour, colour, cv::Size(cols * scale, rows * scale), 0, 0, cv::INTER_NEAREST);
  }
  if (!write_png(path, colour)) {
    throw std::runtime_error(path.string() + ": cannot write the PNG image");
  }
}

void write_comparison_png(const std::filesystem::path& path, const ImageHU& a, const ImageHU& b,
                          SliceAxis axis, std::int64_t index, double window_centre,
                          double window_width, Comparison mode) {
  if (!a.grid().same_as(b.grid())) throw std::invalid_argument("images on different grids");
  const int axis_n = axis == SliceAxis::kAxial ? 2 : axis == SliceAxis::kCoronal ? 1 : 0;
  if (index < 0 || index >= a.grid().dims[axis_n]) {
    throw std::invalid_argument("slice index " + std::to_string(index) + " outside the image");
  }
  SliceGeometry geo;
  const cv::Mat ha = extract(a, axis, index, geo, CV_32F);
  const cv::Mat hb = extract(b, axis, index, geo, CV_32F);
  const double lo = window_centre - window_width / 2.0;
  cv::Mat ga, gb;
  ha.convertTo(ga, CV_8U, 255.0 / window_width, -lo * 255.0 / window_width);
  hb.convertTo(gb, CV_8U, 255.0 / window_width, -lo * 255.0 / window_width);
  const double px_mm = std::min(
      {geo.row_mm, geo.col_mm, geo.cols * geo.col_mm / 600.0, geo.rows * geo.row_mm / 600.0});
  const cv::Size size(static_cast<int>(std::lround(geo.cols * geo.col_mm / px_mm)),
                      static_cast<int>(std::lround(geo.rows * geo.row_mm / px_mm)));
  cv::Mat sa, sb;
  cv::resize(ga, sa, size, 0, 0, cv::INTER_LINEAR);
  cv::resize(gb, sb, size, 0, 0, cv::INTER_LINEAR);
  cv::Mat colour(size, CV_8UC3);
  for (int r = 0; r < size.height; ++r) {
    for (int c = 0; c < size.width; ++c) {
      const auto va = sa.at<std::uint8_t>(r, c);
      const auto vb = sb.at<std::uint8_t>(r, c);
      if (mode == Comparison::kOverlay) {
        colour.at<cv::Vec3b>(r, c) = cv::Vec3b(vb, va, vb);  // BGR: a green, b magenta
      } else {
        const bool first = ((r / 16) + (c / 16)) % 2 == 0;
        const auto v = first ? va : vb;
        colour.at<cv::Vec3b>(r, c) = cv::Vec3b(v, v, v);
      }
    }
  }
  if (!write_png(path, colour)) {
    throw std::runtime_error(path.string() + ": cannot write the PNG image");
  }
}

void write_plot_png(const std::filesystem::path& path, const std::vector<PlotSeries>& series,
                    const std::string& x_label, const std::string& y_label, double x_max,
                    double y_max, const std::string& title) {
  if (!(x_max > 0.0) || !(y_max > 0.0))
    throw std::invalid_argument("plot: axis maxima must be > 0");
  const int width = 960;
  const int height = 640;
  const int left = 80, right = 220, top = 40, bottom = 70;
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int pw = width - left - right;
  const int ph = height - top - bottom;
  auto to_px = [&](double x, double y) {
    return cv::Point(
        left + static_cast<int>(std::lround(std::clamp(x / x_max, 0.0, 1.0) * pw)),
        top + ph - static_cast<int>(std::lround(std::clamp(y / y_max, 0.0, 1.0) * ph)));
  };
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar grid(225, 225, 225);
  const cv::Scalar black(0, 0, 0);
  for (int i = 0; i <= 10; ++i) {
    const double fx = x_max * i / 10.0;
    const double fy = y_max * i / 10.0;
    cv::line(img, to_px(fx, 0), to_px(fx, y_max), grid, 1);
    cv::line(img, to_px(0, fy), to_px(x_max, fy), grid, 1);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", std::round(fx * 10.0) / 10.0);
    cv::putText(img, buf, to_px(fx, 0) + cv::Point(-12, 20), font, 0.45, black, 1, cv::LINE_AA);
    std::snprintf(buf, sizeof(buf), "%g", std::round(fy * 10.0) / 10.0);
    cv::putText(img, buf, to_px(0, fy) + cv::Point(-45, 5), font, 0.45, black, 1, cv::LINE_AA);
  }
  cv::rectangle(img, to_px(0, y_max), to_px(x_max, 0), black, 1);
  cv::putText(img, x_label, cv::Point(left + pw / 2 - 60, height - 20), font, 0.6, black, 1,
              cv::LINE_AA);
  cv::putText(img, y_label, cv::Point(10, top - 15), font, 0.6, black, 1, cv::LINE_AA);
  if (!title.empty()) {
    cv::putText(img, title, cv::Point(left + 150, top - 15), font, 0.6, black, 1, cv::LINE_AA);
  }
  int legend_y = top + 10;
  for (const auto& s : series) {
    const cv::Scalar colour(s.rgb[2], s.rgb[1], s.rgb[0]);
    for (std::size_t i = 1; i < s.x.size() && i < s.y.size(); ++i) {
      if (s.dashed && (i / 4) % 2 == 1) continue;
      cv::line(img, to_px(s.x[i - 1], s.y[i - 1]), to_px(s.x[i], s.y[i]), colour, 2, cv::LINE_AA);
    }
    const cv::Point a(width - right + 15, legend_y);
    cv::line(img, a, a + cv::Point(s.dashed ? 12 : 30, 0), colour, 2, cv::LINE_AA);
    if (s.dashed) cv::line(img, a + cv::Point(18, 0), a + cv::Point(30, 0), colour, 2, cv::LINE_AA);
    cv::putText(img, s.name, a + cv::Point(38, 5), font, 0.45, black, 1, cv::LINE_AA);
    legend_y += 20;
  }
  if (!write_png(path, img)) {
    throw std::runtime_error(path.string() + ": cannot write the PNG image");
  }
}

void write_dose_slice_png(const std::filesystem::path& path, const ImageHU& ct,
                          const Volume<float>& dose_gy, SliceAxis axis, std::int64_t index,
                          double min_gy, double max_gy, const std::vector<Overlay>& overlays) {
  const cv::Mat colour =
      render_slice(ct, axis, index, 40.0, 400.0, overlays, &dose_gy, min_gy, max_gy);
  if (!write_png(path, colour)) {
    throw std::runtime_error(path.string() + ": cannot write PNG");
  }
}

void write_dose_difference_png(const std::filesystem::path& path, const ImageHU& ct,
                               const Volume<float>& difference_gy, const Volume<float>& plan_gy,
                               const std::vector<double>& isodose_levels_gy, SliceAxis axis,
                               std::int64_t index, double range_gy,
                               const std::vector<Overlay>& overlays) {
  if (!difference_gy.grid().same_as(ct.grid()) || !plan_gy.grid().same_as(ct.grid())) {
    throw std::invalid_argument("dose difference or plan dose is not on the CT grid");
  }
  if (!(range_gy > 0.0)) throw std::invalid_argument("difference range must be > 0 Gy");
  cv::Mat colour = render_slice(ct, axis, index, 40.0, 400.0, {}, nullptr, 0.0, 0.0);
  SliceGeometry geo;
  cv::Mat diff;
  cv::resize(extract(difference_gy, axis, index, geo, CV_32F), diff, colour.size(), 0, 0,
             cv::INTER_LINEAR);
  // Diverging wash: blue where the plan gives less than the baseline, red where more; clear
  // within 2 % of the range.
  for (int r = 0; r < colour.rows; ++r) {
    for (int c = 0; c < colour.cols; ++c) {
      const double t = std::clamp(static_cast<double>(diff.at<float>(r, c)) / range_gy, -1.0, 1.0);
      if (std::abs(t) < 0.02) continue;
      const cv::Vec3d tint = t < 0.0 ? cv::Vec3d(255, 60, 0) : cv::Vec3d(0, 40, 255);  // BGR
      const double a = 0.25 + 0.6 * std::abs(t);
      auto& px = colour.at<cv::Vec3b>(r, c);
      for (int k = 0; k < 3; ++k) {
        px[k] = static_cast<std::uint8_t>(a * tint[k] + (1.0 - a) * px[k]);
      }
    }
  }
  cv::Mat plan;
  cv::resize(extract(plan_gy, axis, index, geo, CV_32F), plan, colour.size(), 0, 0,
             cv::INTER_LINEAR);
  for (std::size_t l = 0; l < isodose_levels_gy.size(); ++l) {
    cv::Mat above = plan >= isodose_levels_gy[l];
    std::vector<std::vector<cv::Point>> lines;
    cv::findContours(above, lines, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    const int shade = 140 + static_cast<int>(115 * (l + 1) / isodose_levels_gy.size());
    cv::drawContours(colour, lines, -1, cv::Scalar(0, shade, shade), 1, cv::LINE_AA);
  }
  draw_outlines(colour, ct.grid(), axis, index, overlays);
  char legend[160];
  std::snprintf(legend, sizeof(legend), "plan - baseline: blue -%.1f Gy .. red +%.1f Gy", range_gy,
                range_gy);
  cv::putText(colour, legend, cv::Point(6, 16), cv::FONT_HERSHEY_SIMPLEX, 0.45,
              cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  std::string levels = "isodoses (plan):";
  for (const double v : isodose_levels_gy) levels += " " + format_number(v);
  cv::putText(colour, levels + " Gy", cv::Point(6, 34), cv::FONT_HERSHEY_SIMPLEX, 0.45,
              cv::Scalar(0, 255, 255), 1, cv::LINE_AA);
  if (!write_png(path, colour)) {
    throw std::runtime_error(path.string() + ": cannot write PNG");
  }
}

std::int64_t slice_through(const SliceView& view, const Eigen::Vector3d& index, const Grid& grid) {
  return std::clamp<std::int64_t>(std::lround(index[view.component]), 0,
                                  grid.dims[static_cast<std::size_t>(view.component)] - 1);
}

std::array<std::uint8_t, 3> plot_colour(std::size_t n) {
  static const std::array<std::array<std::uint8_t, 3>, 10> kColours{{{220, 30, 30},
                                                                     {0, 170, 0},
                                                                     {30, 100, 230},
                                                                     {240, 150, 0},
                                                                     {150, 60, 200},
                                                                     {0, 170, 170},
                                                                     {200, 0, 140},
                                                                     {120, 90, 40},
                                                                     {100, 100, 100},
                                                                     {0, 0, 0}}};
  return kColours[n % kColours.size()];
}

}  // namespace linac
