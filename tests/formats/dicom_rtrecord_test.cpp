// DICOM RT Beams Treatment Record: what a session delivered, checked by dciodvfy (dicom3tools)
// against the standard's modules and read back by pydicom; bad input refused.
#include "linac/formats/dicom_rtrecord.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/formats/dicom_rtplan.hpp"
#include "test_support.hpp"

namespace linac::formats {
namespace {

RtRecordBeam beam(int number, const std::string& name, double specified, double delivered,
                  int reached) {
  RtRecordBeam b;
  b.number = number;
  b.name = name;
  b.specified_mu = specified;
  b.delivered_mu = delivered;
  b.planned_control_points = 4;
  for (int k = 0; k < reached; ++k) {
    b.control_points.push_back({k, 10.0 * k, specified * k / 3.0, delivered * k / 3.0,
                                181.0 + 59.0 * k, 30.0, 598.0, 600.0});
  }
  return b;
}

TEST(DicomRtRecord, WritesWhatASessionDeliveredReferringToItsPlan) {
  test::TempDir dir;
  const std::string rp = write_dicom_rtplan(dir / "rp.dcm", test::make_test_plan(),
                                            default_machine_profile().mlc.leaf_boundaries_mm);
  RtRecordInfo info;
  info.machine_name = "ClinacIX";
  info.fraction = 3;
  info.fractions_planned = 5;
  info.date = "20261203";
  info.time = "235950";  // the last control point falls after midnight
  refer_to_rtplan(dir / "rp.dcm", info);
  EXPECT_EQ(info.referenced_plan_sop_instance_uid, rp);
  EXPECT_EQ(info.patient_id, "TEST-1");
  RtRecordBeam stopped = beam(2, "AP", 100.0, 41.27, 2);
  stopped.termination_status = "MACHINE";
  stopped.termination_code = "leaf_deviation";
  const std::string uid = write_dicom_rt_beams_treatment_record(
      dir / "rt.dcm", info, {beam(1, "Arc1", 312.5, 312.51, 4), stopped});
  EXPECT_FALSE(uid.empty());
  const auto v = test::run({"/usr/bin/dciodvfy", (dir / "rt.dcm").string()});
  const std::string report = v.out + v.err;
  ASSERT_NE(report.find("RTBeamsTreatmentRecord"), std::string::npos) << report;  // it ran
  EXPECT_EQ(report.find("Error"), std::string::npos) << report;
  EXPECT_EQ(report.find("Warning"), std::string::npos) << report;
  const auto peer = test::run(
      {"/usr/bin/python3", "-c",
       "import sys, pydicom\n"
       "d = pydicom.dcmread(sys.argv[1])\n"
       "print(d.Modality, d.SOPInstanceUID == sys.argv[2], "
       "d.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == sys.argv[3], d.PatientID)\n"
       "for b in d.TreatmentSessionBeamSequence:\n"
       "  c = b.ControlPointDeliverySequence\n"
       "  print(b.ReferencedBeamNumber, b.BeamName, b.CurrentFractionNumber, "
       "b.TreatmentTerminationStatus, b.get('TreatmentTerminationCode', '-'), "
       "b.SpecifiedPrimaryMeterset, b.DeliveredPrimaryMeterset, b.NumberOfControlPoints, "
       "len(c), c[-1].ReferencedControlPointIndex, c[-1].TreatmentControlPointDate, "
       "c[-1].TreatmentControlPointTime)",
       (dir / "rt.dcm").string(), uid, rp});
  ASSERT_EQ(peer.exit_code, 0) << peer.err;
  EXPECT_EQ(peer.out,
            "RTRECORD True True TEST-1\n"
            "1 Arc1 3 NORMAL - 312.5 312.51 4 4 3 20261204 000020.000\n"
            "2 AP 3 MACHINE leaf_deviation 100 41.27 4 2 1 20261204 000000.000\n");
}

TEST(DicomRtRecord, RefusesWhatIsNotARecordOrAPlan) {
  test::TempDir dir;
  RtRecordInfo info;
  info.date = "2026-12-03";
  info.time = "120000";
  EXPECT_THROW((void)write_dicom_rt_beams_treatment_record(dir / "a.dcm", info,
                                                           {beam(1, "Arc1", 10.0, 10.0, 2)}),
               std::invalid_argument);
  info.date = "20261203";
  EXPECT_THROW((void)write_dicom_rt_beams_treatment_record(dir / "b.dcm", info,
                                                           {beam(1, "", 10.0, 10.0, 2)}),
               std::invalid_argument);
  EXPECT_THROW((void)write_dicom_rt_beams_treatment_record(dir / "c.dcm", info,
                                                           {beam(1, "Arc1", 10.0, 0.0, 0)}),
               std::invalid_argument);
  test::write_text(dir / "not.dcm", "plain text");
  try {
    refer_to_rtplan(dir / "not.dcm", info);
    FAIL() << "a text file taken for an RT Plan";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not.dcm"), std::string::npos) << e.what();
  }
  (void)write_dicom_rt_beams_treatment_record(dir / "rt.dcm", info,
                                              {beam(1, "Arc1", 10.0, 10.0, 2)});
  try {
    refer_to_rtplan(dir / "rt.dcm", info);  // a record, not a plan
    FAIL() << "a record taken for an RT Plan";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an RT Plan"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace linac::formats
