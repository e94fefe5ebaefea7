// Grids, rigid transforms and IEC 61217 frames.
#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/core/grid.hpp"
#include "linac/core/iec61217.hpp"
#include "linac/core/transform.hpp"

namespace linac {
namespace {

using Eigen::Vector3d;

Grid rotated_grid() {
  Grid g;
  g.dims = {7, 9, 11};
  g.spacing_mm = Vector3d(0.8, 1.3, 2.5);
  g.origin_mm = Vector3d(-12.0, 40.5, 7.25);
  g.direction = RigidTransform::from_euler_deg({10.0, -20.0, 35.0}, Vector3d::Zero()).rotation();
  return g;
}

TEST(Grid, IndexWorldRoundTripOnARotatedAnisotropicGrid) {
  const Grid g = rotated_grid();
  g.validate("test");
  for (const Vector3d& ijk : {Vector3d(0, 0, 0), Vector3d(6, 8, 10), Vector3d(2.25, 7.5, 0.125)}) {
    const Vector3d p = g.index_to_world_mm(ijk);
    EXPECT_LT((g.world_mm_to_index(p) - ijk).norm(), 1e-12);
  }
  // One step along i moves spacing_x along the first direction column.
  const Vector3d step = g.index_to_world_mm({1, 0, 0}) - g.index_to_world_mm({0, 0, 0});
  EXPECT_NEAR(step.norm(), 0.8, 1e-12);
  EXPECT_LT((step.normalized() - g.direction.col(0)).norm(), 1e-12);
  EXPECT_EQ(g.linear_index(3, 4, 5), 3u + 7u * (4u + 9u * 5u));
  const Index3 back = g.index_of(g.linear_index(3, 4, 5));
  EXPECT_EQ(back, (Index3{3, 4, 5}));
  EXPECT_DOUBLE_EQ(g.voxel_volume_mm3(), 0.8 * 1.3 * 2.5);
}

TEST(Grid, ValidateNamesWhatIsWrong) {
  Grid g = rotated_grid();
  g.spacing_mm.y() = 0.0;
  try {
    g.validate("img.mha");
    FAIL() << "zero spacing accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("img.mha: spacing y"), std::string::npos) << e.what();
  }
  g = rotated_grid();
  g.direction(0, 1) += 0.3;
  EXPECT_THROW(g.validate("x"), InputError);
  g = rotated_grid();
  g.dims[2] = 0;
  EXPECT_THROW(g.validate("x"), InputError);
}

TEST(RigidTransform, EulerAnglesRoundTripAndInverse) {
  const Vector3d angles(3.0, -2.0, 12.5);
  const Vector3d t(4.0, -7.5, 1.25);
  const RigidTransform a = RigidTransform::from_euler_deg(angles, t);
  EXPECT_LT((a.euler_deg() - angles).norm(), 1e-10);
  EXPECT_LT((a.translation_mm() - t).norm(), 1e-12);
  const RigidTransform id = a * a.inverse();
  EXPECT_LT(id.max_difference(RigidTransform()), 1e-12);
  const Vector3d p(10.0, 20.0, -30.0);
  EXPECT_LT((a.inverse().apply(a.apply(p)) - p).norm(), 1e-10);
  // Rotation about x by +90 deg takes +y to +z (right-handed).
  const auto rx = RigidTransform::from_euler_deg({90.0, 0.0, 0.0}, Vector3d::Zero());
  EXPECT_LT((rx.apply({0, 1, 0}) - Vector3d(0, 0, 1)).norm(), 1e-12);
}

TEST(RigidTransform, RotationAboutACentreKeepsTheCentre) {
  const Vector3d c(-50.0, 10.0, 30.0);
  const auto r = RigidTransform::from_euler_deg_about({0.0, 0.0, 30.0}, {1.0, 2.0, 3.0}, c);
  EXPECT_LT((r.apply(c) - (c + Vector3d(1.0, 2.0, 3.0))).norm(), 1e-10);
}

TEST(Iec61217, GantryPlacesTheSourceAsTheStandardSays) {
  // Gantry 0: source above the isocentre; 90: at +X (the gantry's right seen from the foot).
  EXPECT_LT((iec::source_position_fixed_mm(0.0, 1000.0) - Vector3d(0, 0, 1000)).norm(), 1e-9);
  EXPECT_LT((iec::source_position_fixed_mm(90.0, 1000.0) - Vector3d(1000, 0, 0)).norm(), 1e-9);
  EXPECT_LT((iec::source_position_fixed_mm(180.0, 1000.0) - Vector3d(0, 0, -1000)).norm(), 1e-9);
  EXPECT_LT((iec::source_position_fixed_mm(270.0, 1000.0) - Vector3d(-1000, 0, 0)).norm(), 1e-9);
}

TEST(Iec61217, CollimatorAndCouchRotateCounterClockwiseSeenFromAbove) {
  // Collimator 90 at gantry 0: the leaf-travel axis X_b points along +Y_f.
  const RigidTransform b_to_f = iec::gantry_to_fixed(0.0) * iec::collimator_to_gantry(90.0);
  EXPECT_LT((b_to_f.apply_vector({1, 0, 0}) - Vector3d(0, 1, 0)).norm(), 1e-12);
  const RigidTransform s_to_f = iec::patient_support_to_fixed(90.0);
  EXPECT_LT((s_to_f.apply_vector({1, 0, 0}) - Vector3d(0, 1, 0)).norm(), 1e-12);
}

TEST(Iec61217, PatientAxesForEachPosition) {
  using iec::PatientPosition;
  // HFS: patient left -> +X, posterior -> -Z (down), superior -> +Y (towards the gantry).
  const auto hfs = iec::patient_to_table_top(PatientPosition::kHFS);
  EXPECT_LT((hfs.apply_vector({1, 0, 0}) - Vector3d(1, 0, 0)).norm(), 1e-12);
  EXPECT_LT((hfs.apply_vector({0, 1, 0}) - Vector3d(0, 0, -1)).norm(), 1e-12);
  EXPECT_LT((hfs.apply_vector({0, 0, 1}) - Vector3d(0, 1, 0)).norm(), 1e-12);
  const auto ffs = iec::patient_to_table_top(PatientPosition::kFFS);
  EXPECT_LT((ffs.apply_vector({0, 0, 1}) - Vector3d(0, -1, 0)).norm(), 1e-12);
  EXPECT_LT((ffs.apply_vector({1, 0, 0}) - Vector3d(-1, 0, 0)).norm(), 1e-12);
  const auto hfp = iec::patient_to_table_top(PatientPosition::kHFP);
  EXPECT_LT((hfp.apply_vector({0, 1, 0}) - Vector3d(0, 0, 1)).norm(), 1e-12);
  for (auto p : {PatientPosition::kHFS, PatientPosition::kHFP, PatientPosition::kFFS,
                 PatientPosition::kFFP}) {
    EXPECT_NEAR(iec::patient_to_table_top(p).rotation().determinant(), 1.0, 1e-12);
    EXPECT_EQ(iec::parse_patient_position(iec::to_string(p)), p);
  }
  EXPECT_THROW(iec::parse_patient_position("XYZ"), InputError);
}

TEST(Iec61217, CouchShiftMovesThePatientInTheRoom) {
  iec::CouchState couch;
  couch.translation_mm = Vector3d(5.0, -10.0, 2.0);  // lateral, longitudinal, vertical
  const auto t = iec::patient_to_fixed(iec::PatientPosition::kHFS, couch);
  // The patient origin moves with the couch; patient superior still points at the gantry.
  EXPECT_LT((t.apply({0, 0, 0}) - Vector3d(5.0, -10.0, 2.0)).norm(), 1e-12);
  EXPECT_LT((t.apply_vector({0, 0, 1}) - Vector3d(0, 1, 0)).norm(), 1e-12);
  // A couch rotation of 90 deg turns the patient's superior axis from +Y_f to -X_f.
  couch.translation_mm.setZero();
  couch.rotation_deg = 90.0;
  const auto r = iec::patient_to_fixed(iec::PatientPosition::kHFS, couch);
  EXPECT_LT((r.apply_vector({0, 0, 1}) - Vector3d(-1, 0, 0)).norm(), 1e-12);
}

TEST(Iec61217, NormalizeAngle) {
  EXPECT_DOUBLE_EQ(iec::normalize_angle_deg(-10.0), 350.0);
  EXPECT_DOUBLE_EQ(iec::normalize_angle_deg(370.0), 10.0);
  EXPECT_DOUBLE_EQ(iec::normalize_angle_deg(360.0), 0.0);
}

}  // namespace
}  // namespace linac
