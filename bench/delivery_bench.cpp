// Delivery in virtual-time mode and log QA. One iteration of BM_DeliverVmat* delivers the
// sample double-arc VMAT plan (data/plans/vmat_double_arc.json, 690 MU, about 150 s of beam)
// from setup to completion with the record in SQLite (WAL, synchronous=FULL); the counter
// machine_s_per_wall_s is how much faster than real time it runs. BM_Qa* analyse the first
// arc's logs (read, leaf errors, both fluences, gamma) as `linac qa` does.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include "bench_daemon.hpp"
#include "linac/delivery/log_qa.hpp"
#include "linac/delivery/machine_log.hpp"
#include "linac/delivery/session.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/hal/remote_machine.hpp"
#include "linac/simulators/daemon.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace {

namespace fs = std::filesystem;
using linac::delivery::DeliverySession;

const fs::path kPlan = LINAC_SOURCE_DIR "/data/plans/vmat_double_arc.json";

struct Scratch {
  Scratch() : dir(fs::temp_directory_path() / ("linac-bench-" + std::to_string(::getpid()))) {
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
  fs::path dir;
};

// Delivers the plan on `machine` with a fresh record; returns machine seconds of the session.
double deliver(benchmark::State& state, linac::hal::Machine& machine, const linac::Plan& plan,
               const linac::MachineProfile& profile, const fs::path& record_path,
               linac::delivery::SessionResult* result = nullptr) {
  fs::remove(record_path);
  const auto report = linac::delivery::validate_plan(plan, profile);
  linac::delivery::TreatmentRecord record(record_path, report.plan_checksum);
  const double t0 = machine.clock->now_s();
  DeliverySession session(plan, report, profile, machine, record);
  auto r = session.run();
  if (r.status != "completed") state.SkipWithError(("delivery " + r.status).c_str());
  if (result != nullptr) *result = std::move(r);
  return machine.clock->now_s() - t0;
}

void BM_DeliverVmatInProcess(benchmark::State& state) {
  const auto profile = linac::default_machine_profile();
  const auto plan = linac::read_plan(kPlan);
  Scratch scratch;
  double machine_s = 0.0;
  for (auto _ : state) {
    linac::sim::SimulatedMachine sim(1);
    (void)sim.machine().bring_up(profile);
    machine_s += deliver(state, sim.machine(), plan, profile, scratch.dir / "record.db");
  }
  state.counters["machine_s_per_wall_s"] =
      benchmark::Counter(machine_s, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DeliverVmatInProcess)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();

void BM_DeliverVmatThroughDaemon(benchmark::State& state) {
  const auto profile = linac::default_machine_profile();
  const auto plan = linac::read_plan(kPlan);
  Scratch scratch;
  double machine_s = 0.0;
  for (auto _ : state) {
    state.PauseTiming();
    {
      const linac::bench::ThreadDaemon daemon(profile);
      linac::hal::RemoteMachine rm(daemon.client_options());
      (void)rm.connect(2.0);
      (void)rm.machine().bring_up(profile);
      state.ResumeTiming();
      machine_s += deliver(state, rm.machine(), plan, profile, scratch.dir / "record.db");
      state.PauseTiming();
    }
    state.ResumeTiming();
  }
  state.counters["machine_s_per_wall_s"] =
      benchmark::Counter(machine_s, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DeliverVmatThroughDaemon)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();

// The first arc's logs, written once.
struct Logs {
  Logs() {
    const auto profile = linac::default_machine_profile();
    const auto plan = linac::read_plan(kPlan);
    linac::sim::SimulatedMachine sim(1);
    (void)sim.machine().bring_up(profile);
    linac::delivery::SessionResult result;
    const auto report = linac::delivery::validate_plan(plan, profile);
    linac::delivery::TreatmentRecord record(scratch.dir / "record.db", report.plan_checksum);
    DeliverySession session(plan, report, profile, sim.machine(), record);
    result = session.run();
    const auto log = linac::delivery::log_from_delivery(result.beams.at(0), plan.beams.at(0),
                                                        "BENCH", "bench", 2.0, 0.02);
    dynalog = linac::delivery::write_dynalog(log, scratch.dir, "BENCH_Arc1").front();
    trajectory = scratch.dir / "BENCH_Arc1.bin";
    linac::delivery::write_trajectory_log(log, trajectory);
    bounds = profile.mlc.leaf_boundaries_mm;
  }
  Scratch scratch;
  fs::path dynalog;
  fs::path trajectory;
  std::vector<double> bounds;
};

const Logs& logs() {
  static const Logs l;
  return l;
}

void qa(benchmark::State& state, const fs::path& file, linac::delivery::GammaCriteria c) {
  const auto& l = logs();
  for (auto _ : state) {
    const auto log = linac::delivery::read_machine_log(file);
    const auto a = linac::delivery::analyse_log(log, l.bounds, c);
    benchmark::DoNotOptimize(a.gamma.pass_pct);
    state.counters["snapshots"] = a.snapshots;
    state.counters["gamma_pass_pct"] = a.gamma.pass_pct;
    state.counters["pylinac_gamma_pass_pct"] = a.gamma_pylinac.pass_pct;
  }
}

void BM_QaTrajectoryLog_3pct2mm(benchmark::State& state) {
  qa(state, logs().trajectory, {3.0, 2.0, 10.0});
}
void BM_QaTrajectoryLog_1pct1mm(benchmark::State& state) {
  qa(state, logs().trajectory, {1.0, 1.0, 10.0});
}
void BM_QaDynalog_3pct2mm(benchmark::State& state) {
  qa(state, logs().dynalog, {3.0, 2.0, 10.0});
}
// Real Clinac Dynalog pairs (tests/data/varian-logs): reading both banks, leaf statistics and
// gamma at pylinac's 1 %/1 mm, as `linac qa` does per log.
const fs::path kRealLogs = fs::path(LINAC_SOURCE_DIR) / "tests" / "data" / "varian-logs";
void BM_QaRealClinacVmatDynalog_1pct1mm(benchmark::State& state) {
  qa(state, kRealLogs / "A_clinac_vmat.dlg", {1.0, 1.0, 10.0});
}
void BM_QaRealClinacImrtDynalog_1pct1mm(benchmark::State& state) {
  qa(state, kRealLogs / "A_clinac_imrt_qa.dlg", {1.0, 1.0, 10.0});
}
// A department's folder as `linac qa DIR` analyses it (both real Clinac pairs, each read once):
// reading, leaf statistics, the product's gamma and pylinac's convention, at 1 %/1 mm.
void BM_QaRealClinacFolder_1pct1mm(benchmark::State& state) {
  const auto& l = logs();
  for (auto _ : state) {
    double pass = 0.0;
    for (const char* f : {"A_clinac_vmat.dlg", "A_clinac_imrt_qa.dlg"}) {
      const auto log = linac::delivery::read_machine_log(kRealLogs / f);
      const auto a = linac::delivery::analyse_log(log, l.bounds, {1.0, 1.0, 10.0});
      pass += a.gamma.pass_pct + a.gamma_pylinac.pass_pct;
    }
    benchmark::DoNotOptimize(pass);
  }
  state.counters["logs"] = 2;
}
BENCHMARK(BM_QaRealClinacFolder_1pct1mm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QaRealClinacVmatDynalog_1pct1mm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QaRealClinacImrtDynalog_1pct1mm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QaTrajectoryLog_3pct2mm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QaTrajectoryLog_1pct1mm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QaDynalog_3pct2mm)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
