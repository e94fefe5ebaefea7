#pragma once
// The VMAT optimisation problem (planning/src only): the arcs, their beamlet matrices and the
// optimisation points, shared by the aperture generation (vmat_apertures.cpp) and the direct
// aperture optimisation (vmat.cpp).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "linac/planning/vmat.hpp"
#include "vmat_objectives.hpp"

namespace linac::planning {

inline constexpr double kLeafScale = 10.0;  // leaf variables in cm: comparable to MU in scale

struct Arc {
  ArcSpec spec;
  std::vector<double> gantry_deg;  // IEC 61217, [0, 360)
  double spacing_deg = 2.0;
  Aperture jaws;
  int first_row = 0;
  int rows = 0;
  std::vector<BeamGeometry> geometry;
  std::vector<BeamletMatrix> matrices;
  std::vector<PreparedPoints> prepared;               // the optimisation points seen from each CP
  std::vector<std::vector<double>> init_lo, init_hi;  // conformal aperture per CP and row
  int segment_offset = 0;                             // variables: MU of each segment
  int leaf_offset = 0;  // then (centre, half opening) per control point and row
  [[nodiscard]] int cps() const { return static_cast<int>(gantry_deg.size()); }
  [[nodiscard]] int leaf_var(int cp, int row) const { return leaf_offset + 2 * (cp * rows + row); }
  [[nodiscard]] std::size_t seg(int s) const {
    return static_cast<std::size_t>(segment_offset) + static_cast<std::size_t>(s);
  }
  [[nodiscard]] std::size_t row_index(int r) const {
    return static_cast<std::size_t>(first_row) + static_cast<std::size_t>(r);
  }
};

/// The full model's dose from the beamlet matrices' dose m at each point: scale x m + offset,
/// fitted where the apertures were last evaluated by the full model (empty: no correction).
struct Correction {
  std::vector<float> scale;
  std::vector<float> offset;
  /// The full model's dose at point `p` from the beamlets' dose `m` there (`m` when empty).
  [[nodiscard]] double at(std::size_t p, double m) const {
    return scale.empty() ? m : static_cast<double>(scale[p]) * m + static_cast<double>(offset[p]);
  }
};

struct VmatPlanner::Impl {
  MachineProfile profile;
  VmatOptions options;
  Progress progress;
  std::unique_ptr<DoseEngine> engine;
  Eigen::Vector3d isocentre;
  Grid grid;
  std::vector<Structure> on_grid;
  Points body_points;
  std::vector<std::size_t> body_index;
  Points opt_points;
  std::map<std::string, std::vector<int>> members;
  /// The evaluation target's random sample alone (its border points left out): an unbiased
  /// sample of its voxels, for the D95 and mean dose the voxels will have.
  std::vector<int> target_sample;
  std::vector<Arc> arcs;
  /// The control points (arc, index) of each beam direction (one gantry and collimator angle):
  /// split arcs pass the same directions, and their points' prepared views are the same.
  std::vector<std::vector<std::pair<int, int>>> directions;
  int variables = 0;
  std::size_t nonzeros = 0;
  std::size_t matrix_bytes = 0;
  double matrix_seconds = 0.0;

  void say(const std::string& s) const {
    if (progress) progress(s);
  }
  [[nodiscard]] const Mask* mask(const std::string& name) const {
    for (const auto& s : on_grid) {
      if (s.name == name) return &s.mask;
    }
    return nullptr;
  }
  [[nodiscard]] double rx_fraction() const {
    return options.prescription_gy / static_cast<double>(options.fractions);
  }

  void build(const Case& c, const BeamModel& model);
  void build_arcs(const Mask& target);
  /// One arc of `spec`: its control points' angles and geometry, its jaws over the target's
  /// beam's-eye view (half of it for a split arc) and each control point's conformal extent.
  [[nodiscard]] Arc make_arc(const ArcSpec& spec, const Points& target_points) const;
  /// The arcs' control points grouped by gantry angle (one ray trace each), and `directions`
  /// (each group's control points by collimator angle).
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> group_control_points();
  [[nodiscard]] std::vector<Term> terms(bool spare) const;
  /// The arc's jaws with leaves (A, B in mm) of each row inside them from `leaves(row)`; the
  /// pairs outside closed at the field's centre (the jaws block them).
  [[nodiscard]] Aperture aperture_of(
      const Arc& arc, const std::function<std::pair<double, double>(int)>& leaves) const;
  [[nodiscard]] Plan make_plan(const std::vector<double>& x, const std::string& label) const;
  /// Full-model dose at the optimisation points for the apertures and MU of `x`.
  [[nodiscard]] std::vector<float> full_dose(const std::vector<double>& x) const;
  /// Full-model dose at the optimisation points of every control point's (aperture, MU) from
  /// `control_point(arc, index)` (MU 0: none), each direction's apertures in one fluence map
  /// (DoseEngine::add_apertures_dose); threads' partials added in a fixed order.
  [[nodiscard]] std::vector<float> full_dose_of(
      const std::function<std::pair<Aperture, double>(int, int)>& control_point) const;
  [[nodiscard]] std::vector<double> initial(double mu_per_segment) const;
  void bounds(std::vector<double>& lo, std::vector<double>& hi) const;
  void project(std::vector<double>& x) const;
  /// Within project: each leaf's reversals blunted to what the MLC's acceleration follows.
  void limit_reversals(const Arc& arc, std::vector<double>& x) const;
  /// The fluence each beamlet of control point `i` of `arc` lets through for the leaves of `x`
  /// at `mu` (the open fraction, the MLC's transmission elsewhere), into `f` (layout order).
  void open_fluence(const Arc& arc, int i, const std::vector<double>& x, double mu,
                    Eigen::VectorXf& f) const;
  /// Dose at the optimisation points from the beamlet matrices (plus `correction`).
  void forward(const std::vector<double>& x, const Correction& correction,
               std::vector<double>& dose) const;
  /// The correction that turns the beamlets' dose at the points into the full model's: a scale
  /// per point (the kernels' tails grow with the dose there), the rest an offset.
  [[nodiscard]] Correction fit_correction(const std::vector<float>& full,
                                          const std::vector<double>& beamlets) const;
  /// D95 (Gy per fraction) of the evaluation target in a dose at `body_points` (0 when empty):
  /// what the plans and the free-fluence optimum are normalised to.
  [[nodiscard]] double target_d95(const std::vector<float>& body_dose) const;
  /// The same at the optimisation points (a dose as `forward` gives it).
  [[nodiscard]] double points_target_d95(const std::vector<double>& point_dose) const;
  /// MU per control point that conformal apertures need for the prescription's mean target dose.
  [[nodiscard]] double conformal_mu_per_control_point() const;
  struct Generator;  // vmat_apertures.cpp
  /// Column generation (vmat_apertures.cpp): the DAO variables of apertures generated control
  /// point by control point where the objective's gradient prices them best.
  [[nodiscard]] std::vector<double> generate_apertures(const std::vector<Term>& t,
                                                       VmatResult& result) const;
  /// Generation (or the conformal start), the DAO and the sequencing: the plan before its final
  /// dose, in `result.plan`, and its variables in `x`.
  [[nodiscard]] VmatResult refine(bool spare, std::vector<double>& x) const;
  struct Refinement;  // vmat.cpp
  /// Normalises the plan of `refine` (variables `x`) on its final `dose` (Gy per fraction at
  /// body_points): the target's D95 at the prescription, within the MU-per-degree limits of its
  /// segments; fills the course's dose on the grid.
  void finish(VmatResult& result, const std::vector<double>& x,
              const std::vector<float>& dose) const;
  /// The MU-per-degree smoothness penalty (VmatOptions::mu_smoothness_weight) on the segment MU
  /// of `x`; its gradient added to `grad`.
  double mu_smoothness(const std::vector<double>& x, std::vector<double>& grad) const;
  /// Dose per MU at the optimisation points of each control point's aperture in `x` (a column
  /// per control point, the arcs in order; beamlet matrices, no correction): the segment-MU fits'
  /// model while the leaves stay where they are (vmat_segment_mu.cpp).
  [[nodiscard]] Eigen::MatrixXf aperture_doses(const std::vector<double>& x) const;
  /// `evaluate` with the leaves fixed, from `doses` = aperture_doses(x's leaves): two dense
  /// products per evaluation instead of two passes over the beamlet matrices; the leaves'
  /// gradient entries 0.
  double evaluate_mu(const Eigen::MatrixXf& doses, const std::vector<double>& x,
                     std::vector<double>& grad, const std::vector<Term>& t,
                     const Correction& correction) const;
  /// Objective and gradient.
  double evaluate(const std::vector<double>& x, std::vector<double>& grad,
                  const std::vector<Term>& t, const Correction& correction,
                  bool leaves_fixed) const;
};

}  // namespace linac::planning
