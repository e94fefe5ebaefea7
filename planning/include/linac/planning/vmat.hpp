#pragma once
// Double-arc VMAT inverse planning by direct aperture optimisation (DAO).
//
// The variables are what the machine delivers: for every control point the two leaves of each
// leaf pair inside the arc's jaws, and the MU of every segment between control points (each
// control point's aperture carries half of the MU of the segments on either side, as the dose
// engine counts a delivered arc). The dose at sampled points of each structure comes from
// per-control-point beamlet matrices (dose_engine.hpp): a beamlet's fluence is the open
// fraction of its width between the leaves (widened by the dosimetric leaf gap), the MLC
// transmission elsewhere. Objectives are quadratic penalties below/above dose levels and mean
// dose terms; bounds, leaf travel per control point and the bank span are respected. The
// optimiser is NLopt's L-BFGS with bound constraints. Every so often the full model's dose at the
// points (all kernel tails, the same aperture code as the final dose) replaces the beamlets'
// truncated tails through a correction term. Then the apertures are projected onto the machine's
// limits (leaf travel per degree, span, gap, jaws), the segment MU refined with the leaves fixed,
// and the dose recomputed from the sequenced apertures on the dose grid and normalised so that
// the PTV's D95 is the prescription.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "linac/core/case_io.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::planning {

struct ArcSpec {
  double start_deg = 181.0;  // IEC 61217
  double stop_deg = 179.0;
  RotationDirection direction = RotationDirection::kClockwise;
  double collimator_deg = 30.0;
};

/// One objective on one structure (per-fraction dose scaled to the prescription).
struct Objective {
  /// min/max dose: every point above/below the level; mean dose: the mean as low as possible;
  /// min/max DVH: at least / at most `volume_pct` of the structure above the level (the points
  /// between the level and the dose at that volume are penalised, Wu and Mohan's DVH terms).
  enum class Kind { kMinDose, kMaxDose, kMeanDose, kMinDvh, kMaxDvh };
  std::string structure;
  Kind kind = Kind::kMaxDose;
  double level_pct = 100.0;  // % of the prescription (min / max)
  double weight = 1.0;
  double volume_pct = 0.0;  // DVH terms
};

struct VmatOptions {
  double prescription_gy = 20.0;
  unsigned fractions = 5;
  std::string target = "PTV";
  /// The target is optimised and normalised without its voxels within this distance of the
  /// skin (the build-up region no megavoltage beam can cover): "<target>_eval".
  double skin_margin_mm = 5.0;
  std::string spared = "FLS";  // the functional liver: its mean dose is an objective
  double spared_weight = 20.0;
  std::vector<ArcSpec> arcs{{181.0, 179.0, RotationDirection::kClockwise, 30.0},
                            {179.0, 181.0, RotationDirection::kCounterClockwise, 330.0}};
  double control_point_spacing_deg = 2.0;
  double dose_grid_mm = 3.0;
  double beamlet_width_mm = 5.0;
  double beamlet_cutoff_mm = 8.0;
  std::size_t points_per_structure = 4000;  // optimisation points sampled per structure
  int iterations = 150;                     // L-BFGS evaluations per plan
  int correction_every = 30;                // full-dose correction every so many evaluations
  double leaf_travel_fraction = 0.8;        // of max leaf speed x (spacing / max gantry speed)
  double jaw_margin_mm = 15.0;
  std::uint64_t seed = 1;
  std::vector<Objective> objectives;  // empty: the defaults for liver VMAT (default_objectives)
  [[nodiscard]] std::string evaluation_target() const {
    return skin_margin_mm > 0.0 ? target + "_eval" : target;
  }
};

/// PTV coverage and near-maximum, liver, kidneys, stomach, duodenum, bowel, spinal cord and the
/// body around the target; the spared structure's mean dose is added when sparing.
std::vector<Objective> default_objectives(const VmatOptions& o);

struct VmatResult {
  Plan plan;
  Volume<float> dose_gy;       // whole course, on the dose grid (0 outside the body)
  double normalisation = 1.0;  // MU scale applied to reach D95 = prescription
  double optimiser_s = 0.0;
  double dose_s = 0.0;
  int evaluations = 0;
  std::vector<double> objective_history;
  std::vector<std::string> notes;
};

using Progress = std::function<void(const std::string&)>;

/// Builds the optimisation problem once (points, arcs, beamlet matrices) so that the plan and
/// its baseline share it.
class VmatPlanner {
 public:
  VmatPlanner(const Case& planning_case, const MachineProfile& profile, const BeamModel& model,
              VmatOptions options, Progress progress = {});
  ~VmatPlanner();
  VmatPlanner(const VmatPlanner&) = delete;
  VmatPlanner& operator=(const VmatPlanner&) = delete;

  /// The plan (sparing the spared structure when `spare`) with its final dose.
  [[nodiscard]] VmatResult optimise(bool spare) const;

  [[nodiscard]] const Grid& dose_grid() const;
  /// The case's structures on the dose grid (nearest neighbour).
  [[nodiscard]] const std::vector<Structure>& structures_on_dose_grid() const;
  [[nodiscard]] const Eigen::Vector3d& isocentre_mm() const;
  [[nodiscard]] std::size_t matrix_nonzeros() const;
  [[nodiscard]] std::size_t optimisation_points() const;
  [[nodiscard]] double matrix_s() const;
  [[nodiscard]] const DoseEngine& engine() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace linac::planning
