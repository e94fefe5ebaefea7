#include "linac/planning/plan_template.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "json_file.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

namespace {

double finite(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number() || !std::isfinite(j[key].get<double>())) {
    throw InputError(where, std::string("'") + key + "' is missing or not a finite number");
  }
  return j[key].get<double>();
}

/// The string `key` of `j` ("" when absent); refused when it is there and not a string.
std::string text(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) return "";
  if (!j[key].is_string()) throw InputError(where, std::string("'") + key + "' is not a string");
  return j[key].get<std::string>();
}

Objective::Kind kind_of(const std::string& type, const std::string& where) {
  using K = Objective::Kind;
  if (type == "min_dose") return K::kMinDose;
  if (type == "max_dose") return K::kMaxDose;
  if (type == "mean_dose") return K::kMeanDose;
  if (type == "min_dvh") return K::kMinDvh;
  if (type == "max_dvh") return K::kMaxDvh;
  if (type == "uniform_dose") return K::kUniformDose;
  throw InputError(where, "'type' '" + type +
                              "' is not min_dose, max_dose, mean_dose, min_dvh, max_dvh or "
                              "uniform_dose");
}

ArcSpec::XJaws x_jaws_of(const std::string& x, const std::string& where) {
  using X = ArcSpec::XJaws;
  if (x == "full") return X::kFull;
  if (x == "x1_half") return X::kX1Half;
  if (x == "x2_half") return X::kX2Half;
  throw InputError(where, "'x_jaws' '" + x + "' is not full, x1_half or x2_half");
}

}  // namespace

PlanTemplate read_plan_template(const std::filesystem::path& path) {
  const std::string file = path.string();
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw InputError(file, "not a JSON object");
  PlanTemplate t;
  t.source = file;
  t.prescription_gy = finite(j, "prescription_gy", file);
  if (!(t.prescription_gy > 0.0 && t.prescription_gy <= 100.0)) {
    throw InputError(file, "'prescription_gy' must lie in (0, 100]");
  }
  const double fractions = finite(j, "fractions", file);
  if (!(fractions >= 1.0 && fractions <= 50.0) || fractions != std::floor(fractions)) {
    throw InputError(file, "'fractions' must be a whole number in [1, 50]");
  }
  t.fractions = static_cast<unsigned>(fractions);
  if (j.contains("target")) {
    if (!j["target"].is_string() || j["target"].get<std::string>().empty()) {
      throw InputError(file, "'target' is not a structure name");
    }
    t.target = j["target"].get<std::string>();
  }
  if (j.contains("arcs")) {
    if (!j["arcs"].is_array() || j["arcs"].empty()) {
      throw InputError(file, "'arcs' is not a non-empty array");
    }
    for (std::size_t n = 0; n < j["arcs"].size(); ++n) {
      const auto& a = j["arcs"][n];
      const std::string w = file + ": arcs[" + std::to_string(n) + "]";
      if (!a.is_object()) throw InputError(w, "not an object");
      ArcSpec arc;
      arc.start_deg = finite(a, "start_deg", w);
      arc.stop_deg = finite(a, "stop_deg", w);
      arc.collimator_deg = a.contains("collimator_deg") ? finite(a, "collimator_deg", w) : 0.0;
      const std::string dir = text(a, "direction", w);
      if (dir == "cw") {
        arc.direction = RotationDirection::kClockwise;
      } else if (dir == "ccw") {
        arc.direction = RotationDirection::kCounterClockwise;
      } else {
        throw InputError(w, "'direction' '" + dir + "' is not cw or ccw");
      }
      for (const double deg : {arc.start_deg, arc.stop_deg}) {
        if (!(deg >= 0.0 && deg < 360.0)) throw InputError(w, "angles must lie in [0, 360)");
      }
      if (!(arc.collimator_deg >= 0.0 && arc.collimator_deg < 360.0)) {
        throw InputError(w, "'collimator_deg' must lie in [0, 360)");
      }
      if (a.contains("x_jaws")) arc.x_jaws = x_jaws_of(text(a, "x_jaws", w), w);
      t.arcs.push_back(arc);
    }
  }
  if (j.contains("mu_smoothness")) {
    t.mu_smoothness = finite(j, "mu_smoothness", file);
    if (*t.mu_smoothness < 0.0) throw InputError(file, "'mu_smoothness' is negative");
  }
  for (const auto& [key, value] :
       {std::pair{"leaf_travel_fraction", &t.leaf_travel_fraction},
        std::pair{"generation_travel_fraction", &t.generation_travel_fraction}}) {
    if (!j.contains(key)) continue;
    *value = finite(j, key, file);
    if (!(**value > 0.0 && **value <= 4.0)) {
      throw InputError(
          file, "'" + std::string(key) + "' " + format_number(**value) + " lies outside (0, 4]");
    }
  }
  if (j.contains("reroute_passes")) {
    const auto& v = j["reroute_passes"];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 10) {
      throw InputError(file, "'reroute_passes' must be an integer in [0, 10]");
    }
    t.reroute_passes = v.get<int>();
  }
  if (!j.contains("objectives") || !j["objectives"].is_array() || j["objectives"].empty()) {
    throw InputError(file, "'objectives' is missing or empty");
  }
  for (std::size_t n = 0; n < j["objectives"].size(); ++n) {
    const auto& o = j["objectives"][n];
    std::string where = file + ": objectives[" + std::to_string(n) + "]";
    if (!o.is_object()) throw InputError(where, "not an object");
    PlanTemplate::Item item;
    item.structure = text(o, "structure", where);
    const std::string type = text(o, "type", where);
    where += " (" + item.structure + " " + type + ")";
    item.where = where;
    if (item.structure.empty()) throw InputError(where, "'structure' is missing");
    item.kind = kind_of(type, where);
    item.weight = finite(o, "weight", where);
    if (item.weight < 0.0) throw InputError(where, "'weight' is negative");
    const bool no_level =
        item.kind == Objective::Kind::kMeanDose || item.kind == Objective::Kind::kUniformDose;
    item.dose_gy = no_level && !o.contains("dose_gy") ? 0.0 : finite(o, "dose_gy", where);
    if (item.dose_gy < 0.0) throw InputError(where, "'dose_gy' is negative");
    if (item.kind == Objective::Kind::kMinDvh || item.kind == Objective::Kind::kMaxDvh) {
      item.volume_pct = finite(o, "volume_pct", where);
      if (!(item.volume_pct > 0.0 && item.volume_pct < 100.0)) {
        throw InputError(
            where, "'volume_pct' " + format_number(item.volume_pct) + " lies outside (0, 100)");
      }
    }
    t.objectives.push_back(item);
  }
  return t;
}

std::vector<std::string> optimiser_structures() {
  return {"ring_10mm", "ring_30mm"};
}

void apply_plan_template(const PlanTemplate& t, const std::vector<std::string>& structures,
                         VmatOptions& options) {
  const auto own = optimiser_structures();
  auto known = [&](const std::string& name) {
    return std::find(structures.begin(), structures.end(), name) != structures.end() ||
           std::find(own.begin(), own.end(), name) != own.end();
  };
  if (!known(t.target)) {
    throw InputError(t.source, "target '" + t.target + "' is not a structure of the case");
  }
  options.prescription_gy = t.prescription_gy;
  options.fractions = t.fractions;
  options.target = t.target;
  if (!t.arcs.empty()) options.arcs = t.arcs;
  if (t.mu_smoothness) options.mu_smoothness_weight = *t.mu_smoothness;
  if (t.leaf_travel_fraction) options.leaf_travel_fraction = *t.leaf_travel_fraction;
  if (t.generation_travel_fraction) {
    options.generation_travel_fraction = *t.generation_travel_fraction;
  }
  if (t.reroute_passes) options.reroute_passes = *t.reroute_passes;
  options.objectives.clear();
  for (const auto& item : t.objectives) {
    if (!known(item.structure)) {
      throw InputError(item.where, "names '" + item.structure + "', which the case does not have");
    }
    Objective o;
    o.structure = item.structure == t.target ? options.evaluation_target() : item.structure;
    o.kind = item.kind;
    o.level_pct = 100.0 * item.dose_gy / t.prescription_gy;
    o.weight = item.weight;
    o.volume_pct = item.volume_pct;
    options.objectives.push_back(o);
  }
}

}  // namespace linac::planning
