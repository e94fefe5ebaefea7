#include "linac/delivery/machine_log.hpp"

#include <algorithm>
#include <boost/crc.hpp>
#include <cmath>

#include "linac/core/error.hpp"
#include "linac/delivery/beam_path.hpp"

// Machine logs: the log of a delivery, the CRC of trajectory logs and reading either format by
// extension. The formats: dynalog.cpp (Clinac Dynalog pairs) and trajectory_log.cpp (TrueBeam
// trajectory logs, versions 2.x to 4.x).
namespace linac::delivery {

std::uint16_t crc16_ccitt(const unsigned char* data, std::size_t size) {
  // CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), table-driven by Boost.CRC.
  boost::crc_ccitt_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

MachineLog log_from_delivery(const BeamOutcome& outcome, const Beam& beam,
                             const std::string& patient_id, const std::string& plan_label,
                             double mlc_tolerance_mm, double cycle_s) {
  MachineLog log;
  log.format = "trajectory";
  log.patient_id = patient_id;
  log.patient_name = patient_id;
  log.plan = plan_label + "," + std::to_string(beam.number);
  log.beam_name = beam.name;
  log.beam_mu = beam.meterset_mu;
  log.sample_period_s = cycle_s;
  log.mlc_tolerance = static_cast<int>(std::lround(mlc_tolerance_mm * 100.0));
  log.version = "3.0";
  log.control_points = beam.control_points;
  const double mu = beam.meterset_mu > 0.0 ? beam.meterset_mu : 1.0;
  for (const CycleSample& c : outcome.samples) {
    LogSnapshot s;
    s.time_s = c.time_s;
    s.mu_actual = c.primary_mu;
    s.mu_expected = c.primary_mu;
    s.dose_fraction = c.primary_mu / mu;
    s.control_point = c.expected.control_point;
    s.beam_on = c.beam_on;
    s.beam_hold = c.hold ? 2 : 0;
    s.gantry_expected_deg = iec_angle_deg(c.expected.gantry_deg);
    s.gantry_actual_deg = iec_angle_deg(c.actual.gantry_deg);
    s.collimator_expected_deg = iec_angle_deg(c.expected.collimator_deg);
    s.collimator_actual_deg = iec_angle_deg(c.actual.collimator_deg);
    s.jaw_expected_mm = {c.expected.jaw_x1_mm, c.expected.jaw_x2_mm, c.expected.jaw_y1_mm,
                         c.expected.jaw_y2_mm};
    s.jaw_actual_mm = {c.actual.jaw_x1_mm, c.actual.jaw_x2_mm, c.actual.jaw_y1_mm,
                       c.actual.jaw_y2_mm};
    s.leaf_a_expected_mm = c.expected.leaf_a_mm;
    s.leaf_a_actual_mm = c.actual.leaf_a_mm;
    s.leaf_b_expected_mm = c.expected.leaf_b_mm;
    s.leaf_b_actual_mm = c.actual.leaf_b_mm;
    auto carriage = [](const std::vector<double>& v) {
      if (v.empty()) return 0.0;
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      return 0.5 * (*lo + *hi);
    };
    s.carriage_a_expected_mm = carriage(c.expected.leaf_a_mm);
    s.carriage_b_expected_mm = carriage(c.expected.leaf_b_mm);
    s.carriage_a_actual_mm = c.carriage_a_mm;
    s.carriage_b_actual_mm = c.carriage_b_mm;
    s.couch_actual = {c.couch.vertical_mm,  c.couch.longitudinal_mm, c.couch.lateral_mm,
                      c.couch.rotation_deg, c.couch.pitch_deg,       c.couch.roll_deg};
    s.couch_expected = s.couch_actual;
    log.snapshots.push_back(std::move(s));
  }
  log.leaf_pairs =
      log.snapshots.empty()
          ? static_cast<int>(beam.control_points.empty() ? 0
                                                         : beam.control_points[0].leaf_a_mm.size())
          : static_cast<int>(log.snapshots[0].leaf_a_expected_mm.size());
  return log;
}

MachineLog read_machine_log(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (ext == ".dlg") return read_dynalog(path);
  if (ext == ".bin") return read_trajectory_log(path);
  throw InputError(path.string(), "not a machine log (.dlg Dynalog or .bin trajectory log)");
}

}  // namespace linac::delivery
