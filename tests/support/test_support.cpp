#include "test_support.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace linac::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path p = fs::temp_directory_path() / ("linac-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& argv) {
  TempDir io;
  RunResult r;
  r.exit_code = cli::run_child(argv, io / "stdout", io / "stderr");
  r.out = read_text(io / "stdout");
  r.err = read_text(io / "stderr");
  return r;
}

Process::Process(const std::vector<std::string>& argv)
    : child_(std::make_unique<cli::ChildProcess>(argv, dir_ / "stderr")) {}

Process::~Process() = default;

std::optional<std::string> Process::read_line(double timeout_s) {
  return child_->read_line(timeout_s);
}

void Process::signal(int sig) {
  child_->signal(sig);
}

int Process::wait(double timeout_s) {
  return child_->wait(timeout_s);
}

std::string Process::stderr_text() const {
  return read_text(dir_ / "stderr");
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

Plan make_test_plan() {
  Plan plan;
  plan.label = "test";
  plan.patient_id = "TEST-1";
  plan.treatment_machine_name = "ClinacIX";
  plan.prescription = {"PTV", 20.0, 5};
  auto cp = [](double gantry, double weight, double opening) {
    ControlPoint c;
    c.gantry_deg = gantry;
    c.gantry_direction = RotationDirection::kClockwise;
    c.collimator_deg = 30.0;
    c.cumulative_meterset_weight = weight;
    c.leaf_a_mm.assign(kMillennium120LeafPairs, opening);
    c.leaf_b_mm.assign(kMillennium120LeafPairs, -opening);
    c.jaw_x1_mm = -50.0;
    c.jaw_x2_mm = 50.0;
    c.jaw_y1_mm = -60.0;
    c.jaw_y2_mm = 60.0;
    return c;
  };
  Beam arc;
  arc.number = 1;
  arc.name = "Arc1";
  arc.type = BeamType::kArc;
  arc.meterset_mu = 312.5;
  arc.treatment_machine_name = "ClinacIX";
  arc.control_points = {cp(181.0, 0.0, 20.0), cp(240.0, 0.3, 25.0), cp(300.0, 0.7, 15.0),
                        cp(359.0, 1.0, 10.0)};
  arc.control_points.back().gantry_direction = RotationDirection::kNone;
  Beam field;
  field.number = 2;
  field.name = "AP";
  field.type = BeamType::kStatic;
  field.meterset_mu = 100.0;
  field.treatment_machine_name = "ClinacIX";
  field.control_points = {cp(0.0, 0.0, 40.0), cp(0.0, 1.0, 40.0)};
  for (auto& c : field.control_points) {
    c.gantry_direction = RotationDirection::kNone;
    c.dose_rate_mu_per_min = 600.0;
  }
  plan.beams = {arc, field};
  return plan;
}

// A full clockwise arc 181 -> 179 with `cps` control points, uniform MU, a sliding 20 mm window.
Beam full_arc(int cps, double mu, double leaf_step_mm) {
  Plan base = make_test_plan();
  Beam b = base.beams[0];
  const ControlPoint templ = b.control_points[0];
  b.control_points.clear();
  b.meterset_mu = mu;
  for (int i = 0; i < cps; ++i) {
    ControlPoint c = templ;
    c.gantry_deg = std::fmod(181.0 + 356.0 * i / (cps - 1), 360.0);
    c.cumulative_meterset_weight = static_cast<double>(i) / (cps - 1);
    const double shift = (i % 2 == 0) ? 0.0 : leaf_step_mm;
    for (auto& x : c.leaf_a_mm) x = 10.0 + shift;
    for (auto& x : c.leaf_b_mm) x = -10.0 + shift;
    c.gantry_direction = i + 1 < cps ? RotationDirection::kClockwise : RotationDirection::kNone;
    b.control_points.push_back(c);
  }
  return b;
}

// A full arc whose MU per degree jump as a routed plan's do: every sixth segment carries 8 MU,
// the others 0.23 MU.
Beam jumping_arc() {
  Beam b = full_arc(179, 1.0);
  double total = 0.0;
  std::vector<double> mu;
  for (std::size_t k = 0; k + 1 < b.control_points.size(); ++k) {
    mu.push_back(k % 6 == 0 ? 8.0 : 0.23);
    total += mu.back();
  }
  b.meterset_mu = total;
  double cum = 0.0;
  for (std::size_t k = 0; k + 1 < b.control_points.size(); ++k) {
    b.control_points[k].cumulative_meterset_weight = cum / total;
    cum += mu[k];
  }
  b.control_points.back().cumulative_meterset_weight = 1.0;
  return b;
}

Plan make_step_and_shoot_plan(int segments, double step_mm) {
  Plan plan = make_test_plan();
  Beam field = plan.beams[1];
  field.name = "SS";
  field.number = 1;
  const ControlPoint base = field.control_points[0];
  field.control_points.clear();
  for (int k = 0; k < segments; ++k) {
    ControlPoint c = base;
    const double b = -40.0 + step_mm * k;
    c.leaf_b_mm.assign(kMillennium120LeafPairs, b);
    c.leaf_a_mm.assign(kMillennium120LeafPairs, b + 20.0);
    c.jaw_x1_mm = -45.0;
    c.jaw_x2_mm = -20.0 + step_mm * (segments - 1) + 5.0;
    c.cumulative_meterset_weight = static_cast<double>(k) / segments;
    field.control_points.push_back(c);
    c.cumulative_meterset_weight = static_cast<double>(k + 1) / segments;
    field.control_points.push_back(c);
  }
  plan.beams = {field};
  return plan;
}

}  // namespace linac::test
