// DICOM RT Dose: written and read back (DCMTK), scaling and geometry kept; bad files refused.
#include "linac/formats/dicom_rtdose.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

TEST(DicomRtDose, RoundTripKeepsDoseAndGeometry) {
  Grid g;
  g.dims = {7, 5, 4};
  g.spacing_mm = Eigen::Vector3d(3.0, 2.5, 4.0);
  g.origin_mm = Eigen::Vector3d(-10.0, 20.0, -30.0);
  Volume<float> dose(g);
  for (std::size_t n = 0; n < dose.size(); ++n) dose[n] = 0.37F * static_cast<float>(n % 23);
  test::TempDir dir;
  const auto path = dir.path() / "RD.dcm";
  RtDoseInfo info;
  info.patient_id = "PID";
  info.plan_label = "Label";
  EXPECT_THROW(write_dicom_rtdose(path, dose, info), std::invalid_argument);  // no plan named
  info.referenced_plan_sop_instance_uid = "1.2.826.0.1.3680043.2.1125.1";
  write_dicom_rtdose(path, dose, info);
  const Volume<float> back = read_dicom_rtdose(path);
  ASSERT_TRUE(back.grid().same_as(g, 1e-4));
  for (std::size_t n = 0; n < dose.size(); ++n) {
    EXPECT_NEAR(back[n], dose[n], 0.5F * 8.14F / 65535.0F + 1e-6F);
  }
  // Conformant: dciodvfy (dicom3tools) finds no error in it.
  const auto v = test::run({"/usr/bin/dciodvfy", path.string()});
  EXPECT_EQ((v.out + v.err).find("Error"), std::string::npos) << v.out << v.err;
}

TEST(DicomRtDose, RefusesWhatIsNotAnRtDose) {
  test::TempDir dir;
  test::write_text(dir.path() / "x.dcm", "not dicom");
  EXPECT_THROW((void)read_dicom_rtdose(dir.path() / "x.dcm"), InputError);
  EXPECT_THROW((void)read_dicom_rtdose(dir.path() / "missing.dcm"), InputError);
}

}  // namespace
}  // namespace linac
