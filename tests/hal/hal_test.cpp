// HAL pieces without a device behind them: fault codes, clocks, the Machine bundle.
#include <gtest/gtest.h>

#include <chrono>

#include "linac/hal/clock.hpp"
#include "linac/hal/fault.hpp"
#include "linac/hal/machine.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::hal {
namespace {

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
