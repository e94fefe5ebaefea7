#pragma once
// Slices of volumes as 8-bit PNG pictures (OpenCV), for previews and reports.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/volume.hpp"

namespace linac {

enum class SliceAxis { kAxial, kCoronal, kSagittal };

/// One of the three orthogonal planes of a report's pictures: its axis, the voxel-index
/// component that selects its slice (k for axial, j for coronal, i for sagittal) and its name.
struct SliceView {
  SliceAxis axis;
  int component;
  const char* name;
};
inline constexpr std::array<SliceView, 3> kOrthogonalViews{{{SliceAxis::kAxial, 2, "axial"},
                                                            {SliceAxis::kCoronal, 1, "coronal"},
                                                            {SliceAxis::kSagittal, 0, "sagittal"}}};
/// The slice of `view` through a point given in voxel indices (rounded, within `grid`).
std::int64_t slice_through(const SliceView& view, const Eigen::Vector3d& index, const Grid& grid);

struct Overlay {
  const Mask* mask = nullptr;
  std::array<std::uint8_t, 3> rgb{255, 0, 0};
};

/// Writes the slice through index `index` along `axis` with a window (centre, width in HU) and
/// the outlines of `overlays`; rows are flipped so that anterior/superior is up. Pixel aspect
/// follows the grid spacing.
void write_slice_png(const std::filesystem::path& path, const ImageHU& ct, SliceAxis axis,
                     std::int64_t index, double window_centre, double window_width,
                     const std::vector<Overlay>& overlays = {});

/// The same slice (window 40 / 400 HU) with the dose as a colour wash (jet from `min_gy` to
/// `max_gy`, nothing below `min_gy`); the dose must be on the CT's grid.
void write_dose_slice_png(const std::filesystem::path& path, const ImageHU& ct,
                          const Volume<float>& dose_gy, SliceAxis axis, std::int64_t index,
                          double min_gy, double max_gy, const std::vector<Overlay>& overlays = {});
/// A dose difference (Gy, on the CT's grid; plan minus baseline) on the slice as a diverging
/// wash — blue where the plan gives less, red where more, clear within 2 % of `range_gy` — with
/// the plan's isodose lines at `isodose_levels_gy`, the structures' outlines and a legend.
void write_dose_difference_png(const std::filesystem::path& path, const ImageHU& ct,
                               const Volume<float>& difference_gy, const Volume<float>& plan_gy,
                               const std::vector<double>& isodose_levels_gy, SliceAxis axis,
                               std::int64_t index, double range_gy,
                               const std::vector<Overlay>& overlays = {});
enum class ColourMap { kViridis, kJet };

enum class Comparison { kOverlay, kCheckerboard };
/// Two images on the same grid, one slice: an overlay (a in green, b in magenta, grey where they
/// agree) or a checkerboard of 16-pixel squares, with the window (centre, width in HU).
void write_comparison_png(const std::filesystem::path& path, const ImageHU& a, const ImageHU& b,
                          SliceAxis axis, std::int64_t index, double window_centre,
                          double window_width, Comparison mode);

/// Writes a 2D map (row-major, `rows` x `cols`) as a colour PNG, values from `vmin` (dark) to
/// `vmax` (bright) through the colour map, row 0 at the top,
/// each map pixel drawn as `scale` x `scale` pixels. Throws std::runtime_error when it cannot.
void write_map_png(const std::filesystem::path& path, int rows, int cols,
                   const std::vector<float>& values, double vmin, double vmax, ColourMap colours,
                   int scale = 1);

/// The n-th of ten distinct plot colours (cycling): curves of one plot told apart.
std::array<std::uint8_t, 3> plot_colour(std::size_t n);

/// One curve of a line plot.
struct PlotSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  std::array<std::uint8_t, 3> rgb{0, 0, 0};
  bool dashed = false;
};
/// A line plot (e.g. DVHs) with axes from 0 to `x_max` / `y_max`, ticks, labels and a legend.
void write_plot_png(const std::filesystem::path& path, const std::vector<PlotSeries>& series,
                    const std::string& x_label, const std::string& y_label, double x_max,
                    double y_max, const std::string& title = {});
}  // namespace linac
