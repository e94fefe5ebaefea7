#pragma once
// The 6 MV dose engine: pencil-beam fluence convolution (beam_model.hpp) with radiological depth
// traced through the CT's relative electron density, and the secondary electrons' lateral kernel
// widened by the effective density along the ray (lateral disequilibrium in lung, build-down and
// re-build-up at interfaces); the phantom-scatter kernels are not density-scaled (ADR 0008).
//
// Two ways to the same model:
//  * apertures (add_aperture_dose): the control point's fluence is rasterised at the isocentre
//    plane, blurred by each kernel (OpenCV) and looked up per point — used for final dose,
//    commissioning in water and dose from delivery logs;
//  * beamlets (beamlet_matrix): leaf-width x a few mm rectangles, each column of a sparse
//    matrix (Eigen) holding its dose per MU at the points, the kernels integrated analytically
//    (erf) and cut off a set distance beyond the beamlet — used by the optimiser, which adds
//    the far tails back through an intermediate full-dose correction.
#include <Eigen/Core>
#include <array>
#include <utility>
#include <vector>

#include "linac/core/iec61217.hpp"
#include "linac/core/plan.hpp"
#include "linac/core/volume.hpp"
#include "linac/planning/beam_model.hpp"
#include "linac/planning/beamlet_patches.hpp"

namespace linac::planning {

namespace detail {
struct Field;  // dose_kernels.hpp
}  // namespace detail

using Points = std::vector<Eigen::Vector3f>;  // DICOM patient coordinates, mm

/// One beam direction. Patient coordinates -> IEC 61217 beam-limiting-device frame (origin at
/// the isocentre, source on +Z at SAD), and the beam's-eye view at the isocentre plane.
class BeamGeometry {
 public:
  BeamGeometry(double gantry_deg, double collimator_deg, const Eigen::Vector3d& isocentre_mm,
               iec::PatientPosition position, double sad_mm, double couch_deg = 0.0);
  struct Bev {
    double u_mm;  // along X of the beam-limiting device (leaf motion), at the isocentre plane
    double v_mm;  // along Y (across leaves)
    double r_mm;  // distance from the source along the beam axis
  };
  [[nodiscard]] Bev project(const Eigen::Vector3d& p_mm) const;
  /// Patient coordinates of the point at (u, v) of the isocentre plane, scaled to distance r.
  [[nodiscard]] Eigen::Vector3d point_at(double u_mm, double v_mm, double r_mm) const;
  [[nodiscard]] Eigen::Vector3d source_mm() const { return source_mm_; }
  [[nodiscard]] double sad_mm() const { return sad_mm_; }

 private:
  Eigen::Matrix3d patient_to_bld_;
  Eigen::Vector3d isocentre_mm_;
  Eigen::Vector3d source_mm_;
  double sad_mm_;
};

/// Jaws and leaves of one control point at the isocentre plane (mm). Empty leaves: open jaws.
struct Aperture {
  double x1_mm = -50.0;
  double x2_mm = 50.0;
  double y1_mm = -50.0;
  double y2_mm = 50.0;
  std::vector<double> leaf_a_mm;  // bank A (X2 side)
  std::vector<double> leaf_b_mm;  // bank B (X1 side)
};

/// The beamlets of one control point: columns of `width_mm` from X1 to X2 in each leaf pair
/// inside Y1..Y2. Column index = (row - first_row) * columns + column.
struct BeamletLayout {
  int first_row = 0;  // leaf pair index
  int rows = 0;
  int columns = 0;
  double x1_mm = 0.0;
  double x2_mm = 0.0;
  double width_mm = 5.0;
  std::vector<double> row_edges_mm;  // rows + 1 edges, clipped to the Y jaws
  [[nodiscard]] int count() const { return rows * columns; }
  [[nodiscard]] double column_lo(int c) const { return x1_mm + width_mm * c; }
  [[nodiscard]] double column_hi(int c) const {
    return std::min(x2_mm, x1_mm + width_mm * (c + 1));
  }
};

struct BeamletMatrix {
  BeamletLayout layout;
  BeamletPatches dose_per_mu;  // points x beamlets, Gy per MU at full fluence
};

/// Points seen from one beam: their beam's-eye view and radiological depth, computed once and
/// reused for every aperture of that direction.
struct PreparedPoints {
  std::vector<float> u_mm, v_mm, r_mm, depth_mm;
  std::vector<float> density;  // effective relative electron density (upstream-weighted)
  [[nodiscard]] std::size_t size() const { return u_mm.size(); }
};

class DoseEngine {
 public:
  /// `ct` gives the densities (HU through the model's table); `leaf_boundaries_mm` the MLC.
  DoseEngine(BeamModel model, std::vector<double> leaf_boundaries_mm, const ImageHU& ct,
             iec::PatientPosition position = iec::PatientPosition::kHFS);

  [[nodiscard]] const BeamModel& model() const { return model_; }
  [[nodiscard]] const Volume<float>& density() const { return density_; }
  [[nodiscard]] const std::vector<double>& leaf_boundaries_mm() const { return boundaries_; }
  [[nodiscard]] iec::PatientPosition position() const { return position_; }

  /// BEV and radiological depth of the points for a beam direction; `field` bounds the rays
  /// traced (points outside it take the depth of the nearest ray).
  [[nodiscard]] PreparedPoints prepare(const BeamGeometry& g, const Aperture& field,
                                       const Points& points) const;
  /// The same into `out`, reusing its buffers.
  void prepare(const BeamGeometry& g, const Aperture& field, const Points& points,
               PreparedPoints& out) const;
  /// `prepare` for fields at one gantry angle, each (collimator angle, jaws): one ray trace over
  /// their jaws' union (`jaws_union`) in the first's frame, the others' beam's-eye views turned
  /// to their collimator angle (`turn_collimator`).
  [[nodiscard]] std::vector<PreparedPoints> prepare_at_gantry(
      double gantry_deg, const std::vector<std::pair<double, Aperture>>& fields,
      const Eigen::Vector3d& isocentre_mm, const Points& points) const;
  void add_aperture_dose(const PreparedPoints& p, const Aperture& a, double mu,
                         std::vector<float>& dose_gy) const;
  /// Adds the dose of several apertures of one beam direction (one gantry and collimator angle,
  /// the direction `p` was prepared for), each (aperture, MU): their fluence summed into one map
  /// per kernel, so the per-point work is done once for all of them. The same dose as
  /// `add_aperture_dose` of each, to within the maps' interpolation (the maps then span the
  /// union of the apertures' jaws). An MU below 0 is refused (std::invalid_argument).
  void add_apertures_dose(const PreparedPoints& p,
                          const std::vector<std::pair<Aperture, double>>& apertures,
                          std::vector<float>& dose_gy) const;
  [[nodiscard]] BeamletMatrix beamlet_matrix(const PreparedPoints& p, const Aperture& jaws,
                                             double beamlet_width_mm, double cutoff_mm) const;
  /// Adds the dose of an intensity map within `jaws` (fluence-map optimisation): `mu[b]` the MU
  /// of beamlet b of `layout` at full fluence, with the full model's kernels (no cut-off, no
  /// leaf or jaw transmission) — what the beamlet matrices hold, without their cut-off.
  void add_fluence_dose(const PreparedPoints& p, const Aperture& jaws, const BeamletLayout& layout,
                        const std::vector<float>& mu, std::vector<float>& dose_gy) const;

  /// Adds mu x (dose per MU of the aperture) at each point to `dose_gy` (same size as points).
  void add_aperture_dose(const BeamGeometry& g, const Aperture& a, double mu, const Points& points,
                         std::vector<float>& dose_gy) const;

  /// Dose per MU of every beamlet of the aperture's jaws at the points, kernels cut off at
  /// `cutoff_mm` beyond each beamlet's edges.
  [[nodiscard]] BeamletMatrix beamlet_matrix(const BeamGeometry& g, const Aperture& jaws,
                                             double beamlet_width_mm, double cutoff_mm,
                                             const Points& points) const;

  /// Dose of a whole plan per fraction (Gy) at the points, with the plan's isocentre. Each
  /// control point carries half of the MU of the segments on either side. Multi-threaded over
  /// control points (`plan_doses`).
  [[nodiscard]] std::vector<float> plan_dose(const Plan& plan, const Eigen::Vector3d& isocentre_mm,
                                             const Points& points) const;
  /// The doses of several plans at once (`plan_dose` of each): control points at one gantry
  /// angle, of any plan and collimator angle, share one ray trace over their jaws' union (a
  /// plan and its baseline on the same arcs, split arcs, arcs at two collimator angles). A null
  /// plan is refused (std::invalid_argument). plan_dose.cpp.
  [[nodiscard]] std::vector<std::vector<float>> plan_doses(const std::vector<const Plan*>& plans,
                                                           const Eigen::Vector3d& isocentre_mm,
                                                           const Points& points) const;

 private:
  /// mu x the dose of a field: an aperture, an intensity map on a beamlet layout, or several
  /// weighted apertures (dose_kernels.hpp).
  void add_field_dose(const PreparedPoints& p, const detail::Field& field, double mu,
                      std::vector<float>& dose_gy) const;
  /// The model's depth functions tabulated in radiological depth (primary, scatter 1 and 2,
  /// contamination, the horns' decay), so the per-point work has no exponentials.
  struct DepthRow {
    double primary, scatter1, scatter2, contamination, horn_decay;
  };
  static constexpr double kDepthStepMm = 0.25;
  std::vector<DepthRow> depth_table_;
  [[nodiscard]] DepthRow depth_row(double z_mm) const;

  BeamModel model_;
  std::vector<double> boundaries_;
  Volume<float> density_;
  iec::PatientPosition position_;
};

/// The jaws of `fields`, each (collimator angle, aperture) at one gantry angle, bounded in the
/// frame of the first's collimator angle (leaves dropped).
Aperture jaws_union(const std::vector<std::pair<double, Aperture>>& fields);
/// `from` (prepared at collimator `from_deg`) at collimator `to_deg` of the same gantry angle:
/// u and v turn about the beam axis; r, depth and density stay.
void turn_collimator(const PreparedPoints& from, double from_deg, double to_deg,
                     PreparedPoints& out);

/// MU of each control point of a beam (half the MU of the segments either side).
std::vector<double> control_point_mu(const Beam& beam);
/// The aperture of a control point.
Aperture aperture_of(const ControlPoint& cp);

/// The voxel centres of `grid` where `mask` (on the same grid) is set, and their indices.
Points mask_points(const Mask& mask, std::vector<std::size_t>* indices = nullptr);

/// A dose grid of `spacing_mm` over the bounding box of `mask`, aligned with its grid's axes.
Grid dose_grid(const Mask& mask, double spacing_mm);

/// Dose in water at SSD (mm) for a square or rectangular jaw field (mm at the isocentre plane),
/// computed by the engine on a voxelised water phantom of 1 mm (not analytically).
struct WaterScan {
  std::vector<std::pair<double, double>> pdd;      // depth mm, % of maximum
  std::vector<std::pair<double, double>> profile;  // x mm at profile depth, % of the axis value
  double dmax_mm = 0.0;
  double profile_depth_mm = 100.0;
  double penumbra_80_20_mm = 0.0;  // mean of both edges
  double output_factor = 1.0;      // at the 10 x 10 field's dmax against 10 x 10, SSD as given
  double dose_at_dmax_gy_per_mu = 0.0;
  double surface_pct = 0.0;  // at 0 mm depth, % of the maximum
  /// PDD (%) at a depth, interpolated linearly.
  [[nodiscard]] double pdd_at(double depth_mm) const;
};
WaterScan water_scan(const BeamModel& model, const std::vector<double>& leaf_boundaries_mm,
                     double field_x_mm, double field_y_mm, double ssd_mm,
                     double profile_depth_mm = 100.0);

}  // namespace linac::planning
