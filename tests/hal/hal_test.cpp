// HAL pieces without a device behind them: fault codes, clocks, the Machine bundle.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "linac/core/error.hpp"
#include "linac/hal/clock.hpp"
#include "linac/hal/curve_keys.hpp"
#include "linac/hal/fault.hpp"
#include "linac/hal/machine.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::hal {
namespace {

TEST(CurveKeys, SecretKeyFilesOpenToOthersAreRefused) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("linac-keys-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto keys = generate_curve_keypair();
  const auto files = write_curve_keypair(dir / "client", keys);
  const auto& key = files.at(0);
  EXPECT_EQ(read_curve_keypair(key).secret_z85, keys.secret_z85);  // written 0600: read
  for (const unsigned mode : {0644U, 0640U, 0604U, 0660U}) {
    ASSERT_EQ(::chmod(key.c_str(), mode), 0);
    try {
      (void)read_curve_keypair(key);
      ADD_FAILURE() << "mode " << std::oct << mode << " was read";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(key.string()), std::string::npos) << what;
      EXPECT_NE(what.find("open to others"), std::string::npos) << what;
      EXPECT_NE(what.find("chmod 600"), std::string::npos) << what;
    }
  }
  ASSERT_EQ(::chmod(key.c_str(), 0400), 0);
  EXPECT_EQ(read_curve_keypair(key).public_z85, keys.public_z85);
  // The public key alone may be read by anyone.
  ASSERT_EQ(::chmod(files.at(1).c_str(), 0644), 0);
  EXPECT_EQ(read_curve_public_key(files.at(1)), keys.public_z85);
  std::filesystem::remove_all(dir);
}

TEST(Fault, CodesRoundTripThroughTheirWireNames) {
  for (int c = 0; c <= static_cast<int>(FaultCode::kNotActive); ++c) {
    const auto code = static_cast<FaultCode>(c);
    EXPECT_EQ(parse_fault_code(to_string(code)), code) << to_string(code);
  }
  EXPECT_FALSE(parse_fault_code("leaf_on_fire").has_value());
  const Fault f{FaultCode::kOverspeed, "gantry", -1, 5.6, 5.28, 3.02, "turning too fast"};
  EXPECT_EQ(f.describe(), "t=3.02 s gantry: overspeed (value 5.6, limit 5.28): turning too fast");
}

TEST(Clock, VirtualTimeNeverGoesBackAndRealTimeWaits) {
  VirtualClock v;
  v.advance_to(2.5);
  v.advance_to(1.0);
  EXPECT_DOUBLE_EQ(v.now_s(), 2.5);
  RealTimeClock r;
  const auto start = std::chrono::steady_clock::now();
  r.advance_to(r.now_s() + 0.03);
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.029);
}

TEST(Machine, ListsADeviceThatServesTwoInterfacesOnce) {
  sim::SimulatedMachine sim(1);
  const auto devices = sim.machine().devices();
  EXPECT_EQ(devices.size(), 7u);  // mlc, jaws, gantry, collimator, couch, beam+dose, imager
  EXPECT_EQ(static_cast<Device*>(sim.machine().beam), static_cast<Device*>(sim.machine().dose));
}

}  // namespace
}  // namespace linac::hal

namespace linac::hal {
namespace {

TEST(CouchState, CarriesEveryAxisOfThePoseIntoCoresFrame) {
  const CouchPose pose{1.5, -20.0, 7.25, 2.0, -0.5, 0.75};
  const iec::CouchState s = couch_state(pose);
  EXPECT_EQ(s.translation_mm, Eigen::Vector3d(1.5, -20.0, 7.25));
  EXPECT_DOUBLE_EQ(s.rotation_deg, 2.0);
  EXPECT_DOUBLE_EQ(s.pitch_deg, -0.5);
  EXPECT_DOUBLE_EQ(s.roll_deg, 0.75);
  // Placing a patient with it: the lateral couch move shifts the isocentre point along room X.
  const auto room = iec::patient_to_fixed(iec::PatientPosition::kHFS, couch_state({10, 0, 0}));
  EXPECT_NEAR(room.apply(Eigen::Vector3d::Zero()).x(), 10.0, 1e-12);
}

}  // namespace
}  // namespace linac::hal
