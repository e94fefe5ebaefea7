#pragma once
// DICOM RT Beams Treatment Record (DCMTK): what one treatment session delivered, beam by beam —
// the MU specified and delivered, the control points reached with their delivered meterset,
// gantry and collimator angles and dose rate, how each beam ended (normally, by the operator or
// by the machine, with the interlock named) — as a record-and-verify system (ARIA) keeps it.
// It refers to the RT Plan it delivered when that plan's UIDs are known.
#include <filesystem>
#include <string>
#include <vector>

namespace linac::formats {

struct RtRecordControlPoint {
  int index = 0;                       // the plan's control point index
  double time_s = 0.0;                 // machine time since the session's start
  double specified_meterset_mu = 0.0;  // cumulative, as planned
  double delivered_meterset_mu = 0.0;  // cumulative, when the machine reached it
  double gantry_deg = 0.0;             // IEC 61217, as measured
  double collimator_deg = 0.0;
  double dose_rate_mu_per_min = 0.0;      // delivered
  double dose_rate_set_mu_per_min = 0.0;  // as sequenced for the segment from here
};

struct RtRecordBeam {
  int number = 1;
  std::string name;
  bool dynamic = true;  // DYNAMIC (arcs, moving leaves) or STATIC
  std::string radiation_type = "PHOTON";
  double energy_mv = 6.0;
  double specified_mu = 0.0;
  double delivered_mu = 0.0;  // primary channel, acknowledged (in the treatment record)
  /// NORMAL (completed), OPERATOR (beam off by the operator), MACHINE (an interlock), UNKNOWN.
  std::string termination_status = "NORMAL";
  std::string termination_code;  // the interlock (e.g. "leaf_deviation"); empty when NORMAL
  int planned_control_points = 0;
  int leaf_pairs = 60;
  std::vector<RtRecordControlPoint> control_points;  // those reached, in order
};

struct RtRecordInfo {
  std::string patient_id;
  std::string patient_name;                      // DICOM PN; empty when unknown
  std::string study_instance_uid;                // empty: a new study
  std::string referenced_plan_sop_instance_uid;  // empty: the plan is not a DICOM object
  std::string plan_label;
  std::string machine_name;
  std::string institution;
  int fraction = 1;  // this session's fraction number
  int fractions_planned = 1;
  std::string date;  // YYYYMMDD, the session's start
  std::string time;  // HHMMSS
};

/// The patient, study and SOP Instance UID of the DICOM RT Plan at `rtplan` in `info`, so that
/// the record refers to it. Throws InputError naming the file when it is not an RT Plan.
void refer_to_rtplan(const std::filesystem::path& rtplan, RtRecordInfo& info);

/// Writes the record (explicit VR little endian); returns its SOP Instance UID. Throws
/// std::runtime_error when it cannot write, std::invalid_argument for a beam without a name or
/// a date or time not in DICOM form.
std::string write_dicom_rt_beams_treatment_record(const std::filesystem::path& path,
                                                  const RtRecordInfo& info,
                                                  const std::vector<RtRecordBeam>& beams);

}  // namespace linac::formats
