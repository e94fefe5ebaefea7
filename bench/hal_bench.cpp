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
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_daemon.hpp"
#include "linac/core/random.hpp"
#include "linac/hal/remote_machine.hpp"
#include "linac/machine.pb.h"
#include "linac/simulators/daemon.hpp"
#include "linac/simulators/machine_service.hpp"

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

long resident_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// The daemon's message handling (MachineService on a simulated machine, as `linac sim` runs it)
// under 10 million hostile messages: random bytes, and well-formed requests with random
// sessions, greetings, sequences, times, acknowledgements and commands (hostile values
// included). Counters: the process's resident memory after 1 million and after 10 million
// messages (kB) — state bounded under a hostile client means they match — and messages per
// second. Release build, no sanitizer (the fuzz target's RSS is ASan's and libFuzzer's too).
void BM_ServiceMemoryUnderTenMillionHostileMessages(benchmark::State& state) {
  const linac::MachineProfile profile = linac::default_machine_profile();
  linac::sim::SimulatedMachine sim(1);
  if (sim.machine().bring_up(profile)) {
    state.SkipWithError("bring-up failed");
    return;
  }
  linac::sim::MachineService service(sim);
  linac::Rng rng(2026);
  long rss_1m = 0;
  long rss_10m = 0;
  for (auto _ : state) {
    double t = 0.0;
    std::uint64_t sequence = 0;
    std::uint64_t session = 0;
    for (int n = 1; n <= 10'000'000; ++n) {
      std::string bytes;
      const double kind = rng.uniform();
      if (kind < 0.2) {
        bytes.resize(static_cast<std::size_t>(rng.uniform() * 300.0));
        for (auto& ch : bytes) ch = static_cast<char>(rng.next_u64() & 0xFF);
      } else {
        linac::pb::Request req;
        if (rng.uniform() < 0.01) session = rng.next_u64() % 1000;  // a new controller
        req.set_session(session);
        sequence += rng.uniform() < 0.95 ? 1 : 0;  // replays now and then
        req.set_sequence(sequence);
        t += rng.uniform() < 0.99 ? 0.02 : -1.0;  // and times going back
        req.set_time_s(t);
        req.set_acknowledged_sequence(rng.uniform() < 0.5 ? 0 : sequence - 1);
        const double body = rng.uniform();
        if (body < 0.02) {
          req.set_hello(true);
        } else if (body < 0.5) {
          req.set_heartbeat(true);
        } else {
          auto* c = req.mutable_command();
          for (int k = 0; k < 60; ++k) {
            c->mutable_mlc()->add_leaf_a_mm(rng.uniform() < 0.01 ? 1e300 : 10.0);
            c->mutable_mlc()->add_leaf_b_mm(-10.0);
          }
          c->mutable_gantry()->set_angle_deg(rng.uniform() * 400.0 - 200.0);
          c->mutable_beam()->set_beam_on(rng.uniform() < 0.5);
          c->mutable_beam()->set_preset_mu(rng.uniform() * 100.0);
          c->mutable_beam()->set_dose_rate_mu_per_min(rng.uniform() * 700.0);
          c->mutable_beam()->set_energy_mv(6.0);
          c->set_reset_dose_counts(rng.uniform() < 0.01);
          c->set_action_id(static_cast<std::uint64_t>(n));
        }
        bytes = req.SerializeAsString();
      }
      benchmark::DoNotOptimize(service.handle(bytes));
      if (n == 1'000'000) rss_1m = resident_kb();
    }
    rss_10m = resident_kb();
  }
  state.counters["rss_after_1M_kB"] = static_cast<double>(rss_1m);
  state.counters["rss_after_10M_kB"] = static_cast<double>(rss_10m);
  state.counters["messages_per_s"] = benchmark::Counter(
      1.0e7 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ServiceMemoryUnderTenMillionHostileMessages)->Iterations(1)->Unit(benchmark::kSecond);

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
