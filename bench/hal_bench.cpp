// One control cycle on the simulated Clinac iX: read every device, command the MLC, gantry and
// beam, write every device, advancing virtual time by the profile's 20 ms cycle. In-process, and
// through the ZeroMQ client to the daemon on loopback (CurveZMQ). Per-cycle latencies are
// reported as median and p99 counters (microseconds); virtual_s_per_wall_s is how much faster
// than real time the loop runs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include "bench_daemon.hpp"
#include "linac/hal/remote_machine.hpp"
#include "linac/simulators/daemon.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void run_cycles(benchmark::State& state, linac::hal::Machine& m, linac::hal::VirtualClock& clock,
                double cycle_s) {
  m.dose->reset_counts();
  (void)m.beam->command({true, 600.0, 6.0, 1.0e4});
  linac::hal::MlcCommand cmd;
  cmd.leaf_a_mm.assign(60, 10.0);
  cmd.leaf_b_mm.assign(60, -10.0);
  std::vector<double> latencies_us;
  double t = 0.0;
  for (auto _ : state) {
    const auto start = Clock::now();
    t += cycle_s;
    clock.advance_to(t);
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
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(s);
    latencies_us.push_back(s * 1e6);
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto at = [&](double q) {
    return latencies_us[static_cast<std::size_t>(q * static_cast<double>(latencies_us.size() - 1))];
  };
  state.counters["median_us"] = at(0.5);
  state.counters["p99_us"] = at(0.99);
  state.counters["virtual_s_per_wall_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * cycle_s, benchmark::Counter::kIsRate);
}

void BM_ControlCycleInProcess(benchmark::State& state) {
  const linac::MachineProfile profile = linac::default_machine_profile();
  linac::sim::SimulatedMachine sim(1);
  if (sim.machine().bring_up(profile)) {
    state.SkipWithError("bring-up failed");
    return;
  }
  run_cycles(state, sim.machine(), sim.clock(), profile.interlocks.control_cycle_s);
}
BENCHMARK(BM_ControlCycleInProcess)->UseManualTime()->MinTime(2.0);

void BM_ControlCycleOverZeroMqLoopback(benchmark::State& state) {
  const linac::MachineProfile profile = linac::default_machine_profile();
  const linac::bench::ThreadDaemon daemon(profile);
  const auto ro = daemon.client_options(1.0);
  {
    linac::hal::RemoteMachine rm(ro);
    if (rm.machine().bring_up(profile)) {
      state.SkipWithError("bring-up failed");
    } else {
      run_cycles(state, rm.machine(), rm.clock(), profile.interlocks.control_cycle_s);
    }
    if (rm.link_lost()) state.SkipWithError("link lost during the benchmark");
  }
}
BENCHMARK(BM_ControlCycleOverZeroMqLoopback)->UseManualTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
