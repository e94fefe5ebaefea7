#pragma once
// Varian delivery logs (../LOGFORMATS.md): the Dynalog A/B pair (Clinac, 50 ms snapshots,
// revision B) and the TrueBeam-style trajectory log (.bin, 20 ms), written from a delivery's
// control cycles and read back, from this product or from real machines. In memory, positions
// are coordinates along the beam-limiting device axes (mm at isocentre, x1 < 0 < x2, as in the
// plan); the files use Varian's open-positive convention for bank B and the X1/Y1 jaws, as
// the readers of pylinac and PyMedPhys expect.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/plan.hpp"
#include "linac/delivery/session.hpp"

namespace linac::delivery {

struct LogSnapshot {
  double time_s = 0.0;
  double mu_expected = 0.0;  // cumulative beam MU (trajectory logs); Dynalog: fraction x MU
  double mu_actual = 0.0;
  double dose_fraction = 0.0;  // cumulative MU / beam MU
  int control_point = 0;
  int beam_hold = 0;  // 0 not asserted; Dynalog: 1 asserted, 2 carriage in transition;
                      // trajectory log: 1 freeze, 2 hold, 3 disabled
  bool beam_on = false;
  double gantry_expected_deg = 0.0;  // IEC 61217 [0, 360)
  double gantry_actual_deg = 0.0;
  double collimator_expected_deg = 0.0;
  double collimator_actual_deg = 0.0;
  std::array<double, 4> jaw_expected_mm{};  // X1, X2, Y1, Y2 coordinates
  std::array<double, 4> jaw_actual_mm{};
  double carriage_a_expected_mm = 0.0;
  double carriage_a_actual_mm = 0.0;
  double carriage_b_expected_mm = 0.0;
  double carriage_b_actual_mm = 0.0;
  std::vector<double> leaf_a_expected_mm;  // bank A, one per pair
  std::vector<double> leaf_a_actual_mm;
  std::vector<double> leaf_b_expected_mm;  // bank B coordinates (negative when open)
  std::vector<double> leaf_b_actual_mm;
  std::array<double, 6> couch_expected{};  // vertical, longitudinal, lateral (mm), rotation,
  std::array<double, 6> couch_actual{};    // pitch, roll (deg)

  /// Beam-on for analysis: beam on with no hold asserted.
  [[nodiscard]] bool delivering() const { return beam_on && beam_hold == 0; }
};

struct MachineLog {
  std::string format;  // "dynalog" or "trajectory"
  std::vector<std::filesystem::path> files;
  std::string patient_id;
  std::string patient_name;
  std::string plan;  // plan file name, or "plan UID,beam number"
  std::string beam_name;
  double beam_mu = 0.0;  // 0 when the file does not say (Dynalog)
  double sample_period_s = 0.0;
  int leaf_pairs = 0;
  int mlc_tolerance = 0;  // Dynalog header line 4
  std::string version;    // "B" (Dynalog), "3.0" (trajectory log)
  bool truncated = false;
  std::vector<LogSnapshot> snapshots;
  /// The beam's control points when known (written into the Dynalog's segment fields).
  std::vector<ControlPoint> control_points;
};

/// The log of one delivered beam: one snapshot per control cycle of the outcome.
MachineLog log_from_delivery(const BeamOutcome& outcome, const Beam& beam,
                             const std::string& patient_id, const std::string& plan_label,
                             double mlc_tolerance_mm, double cycle_s);

/// Writes `A<stem>.dlg` and `B<stem>.dlg` in `dir` from the log, resampled every 50 ms.
/// Returns both paths. Throws std::runtime_error when a file cannot be written.
std::vector<std::filesystem::path> write_dynalog(const MachineLog& log,
                                                 const std::filesystem::path& dir,
                                                 const std::string& stem);
/// Writes a version 3.0 trajectory log (`.bin`) with every snapshot of the log.
void write_trajectory_log(const MachineLog& log, const std::filesystem::path& path);

/// Reads a Dynalog pair from either file (the partner is found by swapping the first letter).
/// Throws InputError naming the file, line and field for a bad or truncated file.
MachineLog read_dynalog(const std::filesystem::path& path);
/// Reads a trajectory log (versions 2.x to 4.x). Throws InputError naming the file and byte
/// offset for a bad or truncated file.
MachineLog read_trajectory_log(const std::filesystem::path& path);
/// Either, by extension (.dlg or .bin).
MachineLog read_machine_log(const std::filesystem::path& path);

/// Copies of the log's files in `out_dir` without the patient's identifiers (log_anonymize.cpp):
/// a Dynalog's patient line becomes "Anonymous,,Anonymous" and the patient's name and ID are
/// replaced by "Anonymous" in the file names; a trajectory log's name loses the patient ID before
/// its first '_' (the machine's naming; the binary holds none), and a `.txt` beside it with the
/// same stem is copied with its "Patient ID" line replaced. Never overwrites a file; returns the
/// paths written. Throws InputError when a copy would overwrite, std::runtime_error when a file
/// cannot be written.
std::vector<std::filesystem::path> anonymize_log(const MachineLog& log,
                                                 const std::filesystem::path& out_dir);

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), as at the end of trajectory logs.
std::uint16_t crc16_ccitt(const unsigned char* data, std::size_t size);

}  // namespace linac::delivery
