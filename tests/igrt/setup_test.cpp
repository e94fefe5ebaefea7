// Per-fraction set-up through the HAL on the in-process simulated Clinac: a known set-up error
// of the built-in patient is recovered through projection, FDK, registration and the couch
// move; failures lead to re-imaging or a stop, never to a silent or clipped couch move.
#include "linac/igrt/setup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numbers>

#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/resample.hpp"
#include "linac/simulators/kv_projector.hpp"
#include "linac/simulators/phantom.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::igrt {
namespace {

struct Fraction {
  ImageHU reference;  // isocentre at the origin
  Mask roi;
};

const Fraction& fraction() {
  static const Fraction f = [] {
    sim::PhantomOptions po;
    po.spacing_mm = 3.0;
    Case c = sim::make_builtin_patient(po);
    const Eigen::Vector3d iso = centroid_mm(c.get("liver").mask);
    Grid g = c.ct.grid();
    g.origin_mm -= iso;
    Fraction out;
    out.reference = ImageHU(g);
    out.reference.data() = c.ct.data();
    out.roi = Mask(g);
    out.roi.data() = c.get("body").mask.data();
    return out;
  }();
  return f;
}

// The machine with the patient on the couch, moved by `error` (planned point p is at error(p)).
std::unique_ptr<sim::SimulatedMachine> machine_with(const RigidTransform& error) {
  auto sim = std::make_unique<sim::SimulatedMachine>(5);
  EXPECT_FALSE(sim->machine().bring_up(default_machine_profile()).has_value());
  const ImageHU& ref = fraction().reference;
  const ImageHU truth =
      resample(ref, ref.grid(), Interpolation::kLinear, std::int16_t{-1000}, error.inverse());
  sim->set_imaging_subject(std::make_shared<Volume<float>>(sim::attenuation_from_hu(truth)));
  return sim;
}

TEST(IgrtSetup, RecoversAKnownSetupErrorThroughTheWholeChain) {
  const RigidTransform error = RigidTransform::from_euler_deg(Eigen::Vector3d(0.8, -0.6, 1.2),
                                                              Eigen::Vector3d(4.0, -3.0, 6.0));
  auto sim = machine_with(error);
  const auto r = run_setup(sim->machine(), default_machine_profile(), fraction().reference,
                           &fraction().roi, {});
  ASSERT_EQ(r.decision, "apply") << r.reason;
  EXPECT_TRUE(r.couch_moved);
  EXPECT_EQ(r.cbct.projections, 180);
  EXPECT_TRUE(r.cbct.half_fan);
  // Where the planned anatomy ends up after the correction, against where it was planned.
  const RigidTransform planned = iec::patient_to_fixed(iec::PatientPosition::kHFS, {});
  const RigidTransform now =
      iec::patient_to_fixed(iec::PatientPosition::kHFS, hal::couch_state(r.couch_after)) * error;
  double worst = 0.0;
  for (int corner = 0; corner < 8; ++corner) {
    const Eigen::Vector3d p((corner & 1) ? 80.0 : -80.0, (corner & 2) ? 60.0 : -60.0,
                            (corner & 4) ? 70.0 : -70.0);
    worst = std::max(worst, (now.apply(p) - planned.apply(p)).norm());
  }
  const Eigen::AngleAxisd residual(now.rotation().transpose() * planned.rotation());
  std::printf("setup: residual %.3f mm, %.3f deg; recon %.2f s, register %.2f s\n", worst,
              std::abs(residual.angle()) * 180.0 / std::numbers::pi, r.recon_s, r.register_s);
  EXPECT_LE(worst, 0.5 + 2.0 * default_machine_profile().couch.position_tolerance_mm);
  EXPECT_LE(std::abs(residual.angle()) * 180.0 / std::numbers::pi, 0.3 + 0.2);
  // Reconstruction quality: the CBCT against the true anatomy inside the body.
  const ImageHU truth_on_cbct =
      resample(resample(fraction().reference, fraction().reference.grid(), Interpolation::kLinear,
                        std::int16_t{-1000}, error.inverse()),
               r.cbct.image.grid(), Interpolation::kLinear, std::int16_t{-1000});
  const Mask body_on_cbct =
      resample(fraction().roi, r.cbct.image.grid(), Interpolation::kNearest, std::uint8_t{0});
  double sum2 = 0.0;
  std::size_t n = 0;
  for (std::size_t v = 0; v < body_on_cbct.size(); ++v) {
    if (body_on_cbct[v] == 0) continue;
    const double d = r.cbct.image[v] - truth_on_cbct[v];
    sum2 += d * d;
    ++n;
  }
  const double rmse = std::sqrt(sum2 / static_cast<double>(n));
  std::printf("CBCT RMSE inside the body: %.1f HU over %zu voxels\n", rmse, n);
  // Dominated by edges (bone, metastases) blurred at the scan's resolution (3 mm voxels,
  // 3.1 mm binned detector pixels) against the sharp truth, with bone brighter at kV than its
  // CT numbers say and the uncorrected scatter's cupping.
  EXPECT_LT(rmse, 180.0);
  // The registration itself (before the couch's own tolerance) against the truth.
  const Eigen::Vector3d c(0, 0, 0);
  EXPECT_LE((r.registration.fixed_to_moving.apply(c) - error.apply(c)).norm(), 0.5);
}

TEST(IgrtSetup, ACorrectionBeyondTheCouchLimitsIsReportedNotApplied) {
  // 5 degrees about the patient's antero-posterior axis: a couch (yaw) rotation of 5 degrees,
  // beyond the 3 degrees allowed for IGRT corrections.
  const RigidTransform error = RigidTransform::from_euler_deg(Eigen::Vector3d(0.0, 5.0, 0.0),
                                                              Eigen::Vector3d(2.0, 1.0, -2.0));
  auto sim = machine_with(error);
  const auto r = run_setup(sim->machine(), default_machine_profile(), fraction().reference,
                           &fraction().roi, {});
  EXPECT_EQ(r.decision, "stop");
  EXPECT_FALSE(r.couch_moved);
  EXPECT_NE(r.reason.find("rotation"), std::string::npos) << r.reason;
  EXPECT_NEAR(std::abs(r.correction.rotation_deg), 5.0, 0.3);  // reported as it is
  EXPECT_NEAR(sim->machine().couch->state().rotation_deg, 0.0, 0.05);
}

TEST(IgrtSetup, ARegistrationThatDoesNotConvergeAsksForANewImage) {
  auto sim = machine_with(
      RigidTransform::from_euler_deg(Eigen::Vector3d(0, 0, 0), Eigen::Vector3d(3.0, 0.0, 0.0)));
  SetupOptions o;
  o.max_evaluations_per_level = 5;  // the optimiser stops long before its tolerance
  const auto r = run_setup(sim->machine(), default_machine_profile(), fraction().reference,
                           &fraction().roi, o);
  EXPECT_EQ(r.decision, "reimage");
  EXPECT_FALSE(r.couch_moved);
  EXPECT_NE(r.reason.find("converge"), std::string::npos) << r.reason;
}

}  // namespace
}  // namespace linac::igrt

namespace linac::igrt {
namespace {

// The registration presets on the built-in patient: the body; bone (dense voxels inside the
// body, with a margin); soft tissue (the liver with 10 mm, inside the body).
TEST(RegistrationRegion, PresetsOfTheBuiltInPatient) {
  sim::PhantomOptions po;
  po.spacing_mm = 4.0;
  const Case c = sim::make_builtin_patient(po);
  const Mask& body = c.get("body").mask;
  const Mask& liver = c.get("liver").mask;
  EXPECT_EQ(registration_region(c, "body").data(), body.data());
  const Mask bone = registration_region(c, "bone");
  const Mask soft = registration_region(c, "soft-tissue");
  std::size_t dense = 0, bone_n = 0, outside = 0, liver_missed = 0;
  for (std::size_t n = 0; n < body.size(); ++n) {
    if (body[n] != 0 && c.ct[n] >= 250) ++dense;
    if (bone[n] != 0) ++bone_n;
    if ((bone[n] != 0 || soft[n] != 0) && body[n] == 0) ++outside;
    if (liver[n] != 0 && soft[n] == 0) ++liver_missed;
  }
  EXPECT_GT(dense, 100u);
  EXPECT_GT(bone_n, dense);                   // the margin
  EXPECT_LT(bone_n, count_voxels(body) / 4);  // not the body
  EXPECT_EQ(outside, 0u);
  EXPECT_EQ(liver_missed, 0u);
  EXPECT_GT(volume_cm3(soft), volume_cm3(liver) + 300.0);
  EXPECT_LT(volume_cm3(soft), volume_cm3(body));
  try {
    (void)registration_region(c, "lung");
    FAIL() << "an unknown preset accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--preset lung"), std::string::npos) << e.what();
  }
  Case bare = c;
  bare.structures.erase(
      std::remove_if(bare.structures.begin(), bare.structures.end(),
                     [](const Structure& s) { return s.name == "liver" || s.role == "target"; }),
      bare.structures.end());
  EXPECT_THROW((void)registration_region(bare, "soft-tissue"), InputError);
  EXPECT_NO_THROW((void)registration_region(bare, "bone"));
}

}  // namespace
}  // namespace linac::igrt
