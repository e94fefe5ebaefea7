// One control cycle on the simulated Clinac iX in-process: read every device, command the MLC,
// gantry and beam, write every device, advancing virtual time by the profile's 20 ms cycle.
#include <benchmark/benchmark.h>

#include <cmath>

#include "linac/simulators/sim_machine.hpp"

namespace {

void BM_ControlCycleInProcess(benchmark::State& state) {
  const linac::MachineProfile profile = linac::default_machine_profile();
  linac::sim::SimulatedMachine sim(1);
  auto& m = sim.machine();
  if (m.bring_up(profile)) {
    state.SkipWithError("bring-up failed");
    return;
  }
  m.dose->reset_counts();
  (void)m.beam->command({true, 600.0, 6.0, 1.0e4});
  const double cycle_s = profile.interlocks.control_cycle_s;
  linac::hal::MlcCommand cmd;
  cmd.leaf_a_mm.assign(60, 10.0);
  cmd.leaf_b_mm.assign(60, -10.0);
  double t = 0.0;
  for (auto _ : state) {
    t += cycle_s;
    sim.clock().advance_to(t);
    m.read_all(t);
    const double phase = std::sin(t);
    for (int n = 0; n < 60; ++n) {
      cmd.leaf_a_mm[n] = 20.0 + 15.0 * phase;
      cmd.leaf_b_mm[n] = -20.0 + 15.0 * phase;
    }
    (void)m.mlc->command(cmd);
    (void)m.gantry->command({std::fmod(t * 4.8, 360.0) - 180.0, 4.8});
    m.write_all(t);
    benchmark::DoNotOptimize(m.take_faults());
  }
  state.counters["virtual_s_per_wall_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * cycle_s, benchmark::Counter::kIsRate);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ControlCycleInProcess)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
