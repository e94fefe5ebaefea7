// DICOM RT Plans written by other systems: pydicom's sample plan (and its truncated copy, both
// shipped by Debian's python3-pydicom), and a two-arc VMAT plan written with pydicom.
#include "linac/formats/dicom_rtplan.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/formats/plan_io.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

const std::filesystem::path kPydicomFiles =
    "/usr/lib/python3/dist-packages/pydicom/data/test_files";

TEST(DicomRtPlan, ImportsPydicomsSamplePlan) {
  ASSERT_TRUE(std::filesystem::exists(kPydicomFiles / "rtplan.dcm"))
      << "python3-pydicom missing: run scripts/setup";
  const auto imported = read_dicom_rtplan(kPydicomFiles / "rtplan.dcm");
  const Plan& p = imported.plan;
  EXPECT_EQ(p.label, "Plan1");
  EXPECT_EQ(p.prescription.fractions, 30u);
  ASSERT_EQ(p.beams.size(), 1u);
  const Beam& b = p.beams[0];
  EXPECT_EQ(b.name, "Field 1");
  EXPECT_EQ(b.type, BeamType::kStatic);
  EXPECT_EQ(b.treatment_machine_name, "unit001");
  EXPECT_DOUBLE_EQ(b.nominal_energy_mv, 6.0);
  EXPECT_NEAR(b.meterset_mu, 116.0036697, 1e-7);
  ASSERT_EQ(b.control_points.size(), 2u);
  // The second control point states only its weight: everything else is inherited.
  const ControlPoint& last = b.control_points[1];
  EXPECT_DOUBLE_EQ(last.cumulative_meterset_weight, 1.0);
  EXPECT_DOUBLE_EQ(last.jaw_x1_mm, -100.0);
  EXPECT_DOUBLE_EQ(last.jaw_y2_mm, 100.0);
  EXPECT_DOUBLE_EQ(*last.dose_rate_mu_per_min, 650.0);
  // No MLC in the plan: leaves opened to the jaws, and said so.
  EXPECT_DOUBLE_EQ(last.leaf_a_mm[30], 100.0);
  EXPECT_DOUBLE_EQ(last.leaf_b_mm[30], -100.0);
  ASSERT_FALSE(imported.notes.empty());
  EXPECT_NE(imported.notes.back().find("no MLC"), std::string::npos);
  // read_plan recognises DICOM by content too.
  EXPECT_EQ(read_plan(kPydicomFiles / "rtplan.dcm").beams[0].name, "Field 1");
}

TEST(DicomRtPlan, TruncatedAndWrongFilesAreRefusedByName) {
  try {
    (void)read_dicom_rtplan(kPydicomFiles / "rtplan_truncated.dcm");
    FAIL() << "truncated plan accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("rtplan_truncated.dcm"), std::string::npos) << e.what();
  }
  test::TempDir dir;
  test::write_text(dir / "x.dcm", "not dicom at all");
  EXPECT_THROW((void)read_dicom_rtplan(dir / "x.dcm"), InputError);
  EXPECT_THROW((void)read_dicom_rtplan(dir / "none.dcm"), InputError);
  if (std::filesystem::exists(kPydicomFiles / "CT_small.dcm")) {
    try {
      (void)read_dicom_rtplan(kPydicomFiles / "CT_small.dcm");
      FAIL();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("not RTPLAN"), std::string::npos) << e.what();
    }
  }
}

TEST(DicomRtPlan, ImportsAVmatPlanWrittenWithPydicom) {
  test::TempDir dir;
  const auto made = test::run({"/usr/bin/python3", LINAC_TEST_DATA_DIR "/make_vmat_rtplan.py",
                               (dir / "vmat.dcm").string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const auto imported = read_dicom_rtplan(dir / "vmat.dcm");
  const Plan& p = imported.plan;
  EXPECT_EQ(p.patient_id, "LIVER-01");
  EXPECT_DOUBLE_EQ(p.prescription.dose_gy, 20.0);
  EXPECT_EQ(p.prescription.fractions, 5u);
  ASSERT_EQ(p.beams.size(), 2u);
  const Beam& arc1 = p.beams[0];
  const Beam& arc2 = p.beams[1];
  EXPECT_EQ(arc1.type, BeamType::kArc);
  EXPECT_EQ(arc1.control_points.size(), 90u);
  EXPECT_EQ(arc1.control_points[0].gantry_direction, RotationDirection::kClockwise);
  EXPECT_EQ(arc2.control_points[5].gantry_direction, RotationDirection::kCounterClockwise);
  EXPECT_DOUBLE_EQ(arc1.control_points[40].collimator_deg, 30.0);  // inherited from CP 0
  EXPECT_DOUBLE_EQ(arc2.control_points[40].collimator_deg, 330.0);
  EXPECT_DOUBLE_EQ(arc1.meterset_mu, 310.5);
  EXPECT_DOUBLE_EQ(arc2.meterset_mu, 295.25);
  ASSERT_EQ(arc1.leaf_boundaries_mm.size(), 61u);
  EXPECT_DOUBLE_EQ(arc1.leaf_boundaries_mm[10], -100.0);
  // Bank B comes first in DICOM; bank A (X2 side) second.
  EXPECT_DOUBLE_EQ(arc1.control_points[3].leaf_a_mm[7], 30.0);
  EXPECT_DOUBLE_EQ(arc1.control_points[3].leaf_b_mm[7], -30.0);
  EXPECT_DOUBLE_EQ(arc1.control_points[89].jaw_y1_mm, -80.0);
  EXPECT_NEAR(arc1.control_points[89].gantry_deg, 179.0, 1e-3);
  // And it converts to the project's plan file and back unchanged.
  write_plan(dir / "vmat.json", p);
  const Plan back = read_plan(dir / "vmat.json");
  EXPECT_EQ(back.beams[1].control_points[60].leaf_a_mm, arc2.control_points[60].leaf_a_mm);
  EXPECT_EQ(back.beams[0].leaf_boundaries_mm, arc1.leaf_boundaries_mm);
}

TEST(DicomRtPlan, ExportRoundTripsAndPydicomReadsIt) {
  test::TempDir dir;
  Plan plan = test::make_test_plan();
  plan.beams[0].control_points[2].leaf_a_mm[17] = 12.3456;
  const auto boundaries = [] {
    std::vector<double> b;
    for (int i = 0; i <= 10; ++i) b.push_back(-200.0 + 10.0 * i);
    for (int i = 1; i <= 40; ++i) b.push_back(-100.0 + 5.0 * i);
    for (int i = 1; i <= 10; ++i) b.push_back(100.0 + 10.0 * i);
    return b;
  }();
  ASSERT_EQ(boundaries.size(), 61u);
  write_dicom_rtplan(dir / "out.dcm", plan, boundaries);
  const Plan back = read_dicom_rtplan(dir / "out.dcm").plan;
  ASSERT_EQ(back.beams.size(), 2u);
  EXPECT_EQ(back.beams[0].type, BeamType::kArc);
  EXPECT_EQ(back.beams[1].type, BeamType::kStatic);
  EXPECT_DOUBLE_EQ(back.prescription.dose_gy, 20.0);
  EXPECT_EQ(back.prescription.fractions, 5u);
  EXPECT_EQ(back.beams[0].leaf_boundaries_mm, boundaries);
  // Everything else came back unchanged: the plan checksum covers every delivery value.
  Plan expected = plan;
  for (auto& b : expected.beams) b.leaf_boundaries_mm = boundaries;
  EXPECT_EQ(plan_checksum(back), plan_checksum(expected));
  // Another DICOM library reads what we wrote.
  const auto peer =
      test::run({"/usr/bin/python3", "-c",
                 "import sys, pydicom\n"
                 "d = pydicom.dcmread(sys.argv[1])\n"
                 "b = d.BeamSequence[0]\n"
                 "mlc = b.ControlPointSequence[2].BeamLimitingDevicePositionSequence[2]\n"
                 "print(d.Modality, len(d.BeamSequence), b.NumberOfControlPoints, "
                 "mlc.LeafJawPositions[60 + 17],"
                 " d.FractionGroupSequence[0].ReferencedBeamSequence[1].BeamMeterset)",
                 (dir / "out.dcm").string()});
  ASSERT_EQ(peer.exit_code, 0) << peer.err;
  EXPECT_EQ(peer.out, "RTPLAN 2 4 12.3456 100\n");
}

// dciodvfy (dicom3tools) checks the written RT Plan against the standard's modules: every Type 2
// attribute present; without a structure set the geometry is TREATMENT_DEVICE, with one PATIENT
// and the Referenced Structure Set Sequence names it.
TEST(DicomRtPlan, ExportPassesDciodvfyWithAndWithoutAStructureSet) {
  test::TempDir dir;
  const auto bounds = default_machine_profile().mlc.leaf_boundaries_mm;
  const std::string uid = write_dicom_rtplan(dir / "rp.dcm", test::make_test_plan(), bounds);
  EXPECT_FALSE(uid.empty());
  (void)write_dicom_rtplan(
      dir / "rp_rs.dcm", test::make_test_plan(), bounds,
      {"Doe^Jane", "1.2.826.0.1.3680043.2.1125.1", "1.2.826.0.1.3680043.2.1125.2"});
  for (const char* name : {"rp.dcm", "rp_rs.dcm"}) {
    const auto v = test::run({"/usr/bin/dciodvfy", (dir / name).string()});
    const std::string report = v.out + v.err;
    ASSERT_NE(report.find("RTPlan"), std::string::npos) << report;  // it ran
    EXPECT_EQ(report.find("Error"), std::string::npos) << name << ":\n" << report;
  }
  const auto peer =
      test::run({"/usr/bin/python3", "-c",
                 "import sys, pydicom\n"
                 "a = pydicom.dcmread(sys.argv[1]); b = pydicom.dcmread(sys.argv[2])\n"
                 "print(a.RTPlanGeometry, a.SOPInstanceUID == sys.argv[3], "
                 "b.RTPlanGeometry, b.StudyInstanceUID, "
                 "b.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID)",
                 (dir / "rp.dcm").string(), (dir / "rp_rs.dcm").string(), uid});
  ASSERT_EQ(peer.exit_code, 0) << peer.err;
  EXPECT_EQ(peer.out,
            "TREATMENT_DEVICE True PATIENT 1.2.826.0.1.3680043.2.1125.1 "
            "1.2.826.0.1.3680043.2.1125.2\n");
}

}  // namespace
}  // namespace linac
