#pragma once
// Commissioning the beam model against a beam data set: the fit (NLopt BOBYQA on the analytic
// water model) and the agreement of every figure and curve, the way a physicist signs off a beam
// model: per curve the largest dose difference, distance to agreement and the 2 %/2 mm pass rate.
#include <string>
#include <vector>

#include "linac/planning/beam_data.hpp"
#include "linac/planning/beam_model.hpp"

namespace linac::planning {

/// One published figure against the model.
struct FigureCheck {
  std::string name;  // e.g. "PDD 10 cm, 3x3 cm"
  std::string unit;  // "mm", "%", "" (ratio)
  double measured = 0.0;
  double computed = 0.0;
  double tolerance = 0.0;  // absolute, in `unit` (output factors: relative, as a fraction)
  bool relative = false;
  [[nodiscard]] double difference() const { return computed - measured; }
  [[nodiscard]] bool ok() const;
};

/// One measured curve against the model (doses in %, as normalised in BeamCurve).
struct CurveCheck {
  std::string name;
  BeamCurve::Kind kind = BeamCurve::Kind::kDepthDose;
  std::vector<std::pair<double, double>> measured;
  std::vector<std::pair<double, double>> computed;  // on a fine grid over the same range
  double max_dose_difference_pct = 0.0;             // largest |computed - measured| over the points
  double max_dta_mm = 0.0;          // largest distance to agreement of points beyond 2 %
  double pass_2pct_2mm = 0.0;       // % of points with 1-D gamma (2 % global, 2 mm) <= 1
  bool within_2pct_or_2mm = false;  // every point within 2 % or 2 mm
};

struct CommissioningOptions {
  bool fit = true;
  int max_evaluations = 12000;
};

/// Why the fit stopped, how long it took, and every figure and curve against the fitted model.
struct CommissioningSummary {
  BeamModel model;
  std::vector<FigureCheck> figures;
  std::vector<CurveCheck> curves;
  double cost_start = 0.0;
  double cost = 0.0;
  int evaluations = 0;
  double fit_s = 0.0;
  double check_s = 0.0;
  std::string stop_reason;
  [[nodiscard]] int figures_failed() const;
  [[nodiscard]] int curves_failed() const;
};

/// Fits `start`'s parameters to `data` (when options.fit) and checks the result.
CommissioningSummary commission_beam_model(const BeamModel& start, const BeamData& data,
                                           const CommissioningOptions& options = {});

/// Analytic water figures of the model (SSD, field sizes in mm at the isocentre plane).
struct WaterPoint {
  double dmax_mm = 0.0;
  double dose_at_dmax = 0.0;  // Gy per MU
};
WaterPoint water_dmax(const BeamModel& m, double field_x_mm, double field_y_mm, double ssd_mm);
double water_penumbra_80_20_mm(const BeamModel& m, double field_x_mm, double field_y_mm,
                               double ssd_mm, double depth_mm);

}  // namespace linac::planning
