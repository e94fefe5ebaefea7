#pragma once
// A beam data set: what a physicist measures in a water tank to commission the dose engine
// (depth doses, profiles, output factors), or a published table of figures per field size.
// Read from the product's JSON, a documented CSV, or the PTW MEPHYSTO `.mcc` text export; every
// value read is checked and errors name the file, the curve and the line.
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace linac::planning {

inline constexpr double kNotGiven = std::numeric_limits<double>::quiet_NaN();

/// A measured curve in water, doses in % (depth doses of their maximum, profiles of their value
/// on the central axis). Positions and depths in mm; field sizes at the isocentre plane.
struct BeamCurve {
  enum class Kind { kDepthDose, kProfileX, kProfileY };
  Kind kind = Kind::kDepthDose;
  double field_x_mm = 100.0;
  double field_y_mm = 100.0;
  double ssd_mm = 1000.0;
  double depth_mm = 0.0;                          // profiles: the scan's depth
  std::vector<std::pair<double, double>> points;  // depth or position mm, dose %
  std::string where;                              // "file:line" where it starts
  [[nodiscard]] std::string name() const;         // e.g. "PDD 10x10 cm SSD 100", "X 10x10 d100"
};

/// Published figures of one field (any may be kNotGiven), water, at the data set's SSD.
struct FieldFigures {
  double field_x_mm = 100.0;
  double field_y_mm = 100.0;
  double dmax_mm = kNotGiven;
  std::vector<std::pair<double, double>> pdd_pct;  // depth mm, PDD %
  double output_factor = kNotGiven;                // at the 10 x 10 field's dmax, against it
  double surface_pct = kNotGiven;                  // dose at the surface, % of the maximum
  double penumbra_80_20_mm = kNotGiven;            // crossline, at the set's penumbra depth
  std::string where;
};

/// Off-axis excess of a large field (the flattening filter's horns): % above the central axis.
struct HornFigure {
  double field_mm = 400.0;
  double depth_mm = 15.0;
  double offaxis_mm = 150.0;
  double excess_pct = 4.5;
};

/// Dose outside a field edge, % of the central axis at that depth.
struct OutOfFieldFigure {
  double field_mm = 100.0;
  double depth_mm = 100.0;
  double outside_mm = 30.0;
  double dose_pct = 3.0;
};

struct OutputFactor {
  double field_x_mm = 100.0;
  double field_y_mm = 100.0;
  double factor = 1.0;
  std::string where;
};

struct BeamData {
  std::string source;  // the file
  std::string machine_name;
  double energy_mv = 6.0;
  double ssd_mm = 1000.0;  // of the table, the output factors and the horns
  double penumbra_depth_mm = 100.0;
  std::vector<FieldFigures> fields;
  std::vector<HornFigure> horns;
  std::vector<OutOfFieldFigure> out_of_field;
  std::vector<OutputFactor> output_factors;
  std::vector<BeamCurve> curves;
  std::vector<std::string> notes;  // what was read but not used (e.g. unknown scan types)
  [[nodiscard]] bool empty() const {
    return fields.empty() && curves.empty() && output_factors.empty();
  }
};

/// Reads a beam data set by its extension: `.json` (format "linac-beam-data"), `.csv`, `.mcc`.
/// Throws InputError naming the file, the curve and the line.
BeamData read_beam_data(const std::filesystem::path& path);
/// The published data set of the default machine (machines_dir()/clinac-ix-6mv-beam-data.json).
BeamData default_beam_data();

}  // namespace linac::planning
