// The simulated kV imager: line integrals against analytic chords, the OBI geometry
// (magnification, gantry angle, couch shift), quantum noise, and the imager device.
#include "linac/simulators/kv_projector.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "linac/simulators/phantom.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::sim {
namespace {

using Eigen::Vector3d;

const MachineProfile& profile() {
  static const MachineProfile p = default_machine_profile();
  return p;
}

// A sphere of attenuation mu (1/mm) in DICOM patient coordinates, on a 2 mm grid around 0.
Volume<float> sphere(const Vector3d& centre_mm, double radius_mm, double mu) {
  Grid g;
  g.dims = {81, 81, 81};
  g.spacing_mm = Vector3d::Constant(2.0);
  g.origin_mm = Vector3d::Constant(-80.0);
  Volume<float> v(g, 0.0F);
  // Supersampled voxels so the edge is smooth.
  for (std::size_t n = 0; n < v.size(); ++n) {
    const Index3 ijk = g.index_of(n);
    const Vector3d c = g.index_to_world_mm(Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
    if ((c - centre_mm).norm() > radius_mm + 2.0) continue;
    int inside = 0;
    for (int a = 0; a < 4; ++a) {
      for (int b = 0; b < 4; ++b) {
        for (int d = 0; d < 4; ++d) {
          const Vector3d p = c + Vector3d(a - 1.5, b - 1.5, d - 1.5) * 0.5;
          inside += (p - centre_mm).norm() <= radius_mm ? 1 : 0;
        }
      }
    }
    v[n] = static_cast<float>(mu * inside / 64.0);
  }
  return v;
}

// Centroid of a projection in panel millimetres (u, v).
std::pair<double, double> centroid_mm(const hal::KvProjection& p) {
  double su = 0.0;
  double sv = 0.0;
  double s = 0.0;
  for (int r = 0; r < p.rows; ++r) {
    for (int c = 0; c < p.columns; ++c) {
      const double w = p.line_integral[static_cast<std::size_t>(r * p.columns + c)];
      su += w * ((c - (p.columns - 1) / 2.0) * p.pixel_pitch_mm + p.detector_offset_mm);
      sv += w * (r - (p.rows - 1) / 2.0) * p.pixel_pitch_mm;
      s += w;
    }
  }
  return {su / s, sv / s};
}

TEST(KvProjector, LineIntegralsMatchTheChordsOfASphere) {
  const double mu = 0.02;
  const double radius = 50.0;
  const auto vol = sphere(Vector3d::Zero(), radius, mu);
  hal::KvRequest req;
  req.binning = 8;
  const auto p = project_kv(vol, RigidTransform(), profile().imager, 0.0, req);
  ASSERT_EQ(p.columns, 128);
  ASSERT_EQ(p.rows, 96);
  EXPECT_NEAR(p.pixel_pitch_mm, 8 * 0.388, 1e-12);
  // Gantry 0: the kV source is at +X (90 deg), the panel at -X; u runs along -Z... independent
  // check: every ray's chord through the sphere from the known source and pixel positions.
  const Vector3d source(1000.0, 0.0, 0.0);
  int checked = 0;
  for (int r = 0; r < p.rows; ++r) {
    for (int c = 0; c < p.columns; ++c) {
      const double u = (c - 63.5) * p.pixel_pitch_mm;
      const double v = (r - 47.5) * p.pixel_pitch_mm;
      // Panel at x = -500; its u axis is the source frame's X rotated by 90 deg about Y: -Z.
      const Vector3d pixel(-500.0, v, -u);
      const Vector3d dir = (pixel - source).normalized();
      const double d = (source - (source.dot(dir)) * dir).norm();  // distance of centre to ray
      if (radius - d < 4.0 && d < radius + 4.0) continue;          // skip the blurred rim
      const double chord = d < radius ? 2.0 * std::sqrt(radius * radius - d * d) : 0.0;
      ASSERT_NEAR(p.line_integral[static_cast<std::size_t>(r * p.columns + c)], mu * chord,
                  0.01 + 0.01 * mu * chord)
          << "pixel " << c << "," << r;
      ++checked;
    }
  }
  EXPECT_GT(checked, 5000);
}

TEST(KvProjector, TheSetUpErrorMovesTheSubjectWithoutResamplingIt) {
  // The day's anatomy is the planning CT moved rigidly: the same voxels on a moved grid. A
  // resampling would blur it by an amount that depends on the sub-voxel offset, which a
  // registration against the planning CT reads as a shift (ADR 0004).
  PhantomOptions po;
  po.spacing_mm = 8.0;
  const Case c = make_builtin_patient(po);
  const auto error =
      RigidTransform::from_euler_deg(Vector3d(0.5, -0.3, 1.0), Vector3d(1.5, -2.0, 0.7));
  const Volume<float> planned = imaging_subject(c);
  const Volume<float> moved = imaging_subject(c, error);
  ASSERT_EQ(moved.data(), planned.data());
  for (const Vector3d& ijk : {Vector3d(0, 0, 0), Vector3d(10, 20, 5), Vector3d(30, 12, 18)}) {
    const Vector3d p = planned.grid().index_to_world_mm(ijk);
    EXPECT_LT((moved.grid().index_to_world_mm(ijk) - error.apply(p)).norm(), 1e-9);
  }
  // Imaging the moved subject is imaging the planned one placed with the error.
  hal::KvRequest req;
  req.binning = 8;
  const auto hfs = iec::patient_to_fixed(iec::PatientPosition::kHFS, {});
  const auto a = project_kv(moved, hfs, profile().imager, 30.0, req);
  const auto b = project_kv(planned, hfs * error, profile().imager, 30.0, req);
  ASSERT_EQ(a.line_integral.size(), b.line_integral.size());
  double largest = 0.0;
  double diff = 0.0;
  for (std::size_t n = 0; n < a.line_integral.size(); ++n) {
    largest = std::max(largest, static_cast<double>(a.line_integral[n]));
    diff = std::max(diff, std::abs(static_cast<double>(a.line_integral[n] - b.line_integral[n])));
  }
  EXPECT_GT(largest, 1.0);
  EXPECT_LT(diff, 1e-4 * largest);
}

TEST(KvProjector, GeometryFollowsGantryAndCouch) {
  // A small sphere at the patient's left (+x) and superior (+z), HFS.
  const auto vol = sphere(Vector3d(40.0, 0.0, 30.0), 10.0, 0.02);
  hal::KvRequest req;
  req.binning = 4;
  const double mag = 1500.0 / 1000.0;
  const auto hfs = iec::patient_to_fixed(iec::PatientPosition::kHFS, {});
  // Gantry 90: kV source below the couch (180 deg), panel above; u = -X_f. Left is +X_f.
  const auto p90 = project_kv(vol, hfs, profile().imager, 90.0, req);
  auto [u90, v90] = centroid_mm(p90);
  EXPECT_NEAR(u90, -40.0 * mag, 1.0);
  EXPECT_NEAR(v90, 30.0 * mag, 1.0);  // superior is +Y_f, towards the gantry
  // Gantry 0: source at +X_f, the sphere lies on the central ray laterally.
  const auto p0 = project_kv(vol, hfs, profile().imager, 0.0, req);
  auto [u0, v0] = centroid_mm(p0);
  EXPECT_NEAR(u0, 0.0, 1.0);
  // Closer to the source, so more magnified: 1500 / (1000 - 40).
  EXPECT_NEAR(v0, 30.0 * 1500.0 / 960.0, 1.0);
  // Moving the couch 10 mm laterally (+X_f) moves the sphere's shadow at gantry 90 by -15 mm.
  iec::CouchState couch;
  couch.translation_mm = Vector3d(10.0, 0.0, 0.0);
  const auto shifted = project_kv(vol, iec::patient_to_fixed(iec::PatientPosition::kHFS, couch),
                                  profile().imager, 90.0, req);
  EXPECT_NEAR(centroid_mm(shifted).first - u90, -10.0 * mag, 0.5);
  // Gantry 270: source above (360 deg), u = +X_f. Half-fan moves the panel by the profile's
  // offset and the shadow stays where it was in panel millimetres.
  const auto p270 = project_kv(vol, hfs, profile().imager, 270.0, req);
  EXPECT_NEAR(centroid_mm(p270).first, 40.0 * 1500.0 / 1000.0, 1.0);
  req.half_fan = true;
  const auto half = project_kv(vol, hfs, profile().imager, 270.0, req);
  EXPECT_DOUBLE_EQ(half.detector_offset_mm, 148.0);
  EXPECT_NEAR(centroid_mm(half).first, centroid_mm(p270).first, 0.5);
}

TEST(KvProjector, QuantumNoiseHasTheExpectedSpread) {
  const auto vol = sphere(Vector3d::Zero(), 60.0, 0.02);
  hal::KvRequest req;
  req.binning = 8;
  req.photons_per_pixel = 1000.0;
  Rng rng(3);
  const auto clean = project_kv(vol, RigidTransform(), profile().imager, 0.0, {8, false, 0.0});
  const auto noisy = project_kv(vol, RigidTransform(), profile().imager, 0.0, req, &rng);
  // Central 10 x 10 pixels: L about 2.4, counts N e^-L with N = 1000 x 64.
  double sum = 0.0;
  double sum2 = 0.0;
  int n = 0;
  for (int r = 43; r < 53; ++r) {
    for (int c = 59; c < 69; ++c) {
      const auto i = static_cast<std::size_t>(r * 128 + c);
      const double d = noisy.line_integral[i] - clean.line_integral[i];
      sum += d;
      sum2 += d * d;
      ++n;
    }
  }
  const double sd = std::sqrt(sum2 / n - (sum / n) * (sum / n));
  const double expected_sd = 1.0 / std::sqrt(64000.0 * std::exp(-2.4));
  EXPECT_NEAR(sum / n, 0.0, 3.0 * expected_sd);
  EXPECT_NEAR(sd, expected_sd, 0.3 * expected_sd);
}

TEST(KvImagerDevice, TakesAProjectionAtTheGantrysAngle) {
  SimulatedMachine sim(9);
  auto& m = sim.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  EXPECT_EQ(m.imager->request({4, false, 0.0})->message, "no imaging subject loaded");
  sim.set_imaging_subject(std::make_shared<Volume<float>>(sphere(Vector3d::Zero(), 40.0, 0.02)));
  EXPECT_EQ(m.imager->request({3, false, 0.0})->code, hal::FaultCode::kCommandOutOfRange);
  ASSERT_FALSE(m.gantry->command({30.0, 0.0}));
  double t = 0.0;
  for (; t < 10.0; t += 0.02) {
    m.read_all(t);
    m.write_all(t);
  }
  ASSERT_FALSE(m.imager->request({8, true, 0.0}));
  m.write_all(t);
  EXPECT_FALSE(m.imager->take_projection());  // not before the next read
  m.read_all(t + 0.02);
  const auto p = m.imager->take_projection();
  ASSERT_TRUE(p);
  EXPECT_NEAR(p->gantry_deg, 30.0, 0.2);
  EXPECT_NEAR(p->kv_source_angle_deg, 120.0, 0.2);
  EXPECT_EQ(p->columns, 128);
  EXPECT_GT(*std::max_element(p->line_integral.begin(), p->line_integral.end()), 1.5);
  EXPECT_FALSE(m.imager->take_projection());
}

}  // namespace
}  // namespace linac::sim
