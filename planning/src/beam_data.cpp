#include "linac/planning/beam_data.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "json_file.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

std::string BeamCurve::name() const {
  const std::string field =
      format_measured(field_x_mm / 10.0, 1) + "x" + format_measured(field_y_mm / 10.0, 1) + " cm";
  switch (kind) {
    case Kind::kDepthDose:
      return "PDD " + field + " SSD " + format_measured(ssd_mm / 10.0, 1);
    case Kind::kProfileX:
      return "X profile " + field + " at " + format_measured(depth_mm, 1) + " mm";
    case Kind::kProfileY:
      return "Y profile " + field + " at " + format_measured(depth_mm, 1) + " mm";
  }
  return "curve";
}

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream ss(line);
  while (std::getline(ss, cell, sep)) {
    const auto b = cell.find_first_not_of(" \t\r");
    const auto e = cell.find_last_not_of(" \t\r");
    out.push_back(b == std::string::npos ? std::string() : cell.substr(b, e - b + 1));
  }
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

/// A finite number from text, or an error naming where and what.
double parse_number(const std::string& text, const std::string& where, const std::string& what) {
  double v = 0.0;
  const char* b = text.data();
  const char* e = b + text.size();
  const auto [ptr, ec] = std::from_chars(b, e, v);
  if (text.empty() || ec != std::errc() || ptr != e || !std::isfinite(v)) {
    throw InputError(where, what + " '" + text + "' is not a number");
  }
  return v;
}

/// Checks a curve once read: enough points, increasing coordinates, doses >= 0, sensible field.
void check_curve(BeamCurve& c, const std::string& where) {
  const std::string name = c.name();
  if (!(c.field_x_mm >= 5.0 && c.field_x_mm <= 450.0 && c.field_y_mm >= 5.0 &&
        c.field_y_mm <= 450.0)) {
    throw InputError(where, name + ": field size " + format_number(c.field_x_mm) + " x " +
                                format_number(c.field_y_mm) + " mm is missing or not in [5, 450]");
  }
  if (!(c.ssd_mm >= 500.0 && c.ssd_mm <= 1500.0)) {
    throw InputError(where, name + ": SSD " + format_number(c.ssd_mm) +
                                " mm is missing or not in [500, 1500] mm");
  }
  if (c.points.size() < 3) throw InputError(where, name + ": fewer than 3 points");
  for (std::size_t n = 0; n < c.points.size(); ++n) {
    if (c.points[n].second < 0.0) {
      throw InputError(where, name + ": point " + std::to_string(n + 1) + " has a negative dose");
    }
    if (n > 0 && !(c.points[n].first > c.points[n - 1].first)) {
      throw InputError(where, name + ": point " + std::to_string(n + 1) + " (" +
                                  format_number(c.points[n].first) +
                                  " mm) does not increase; depths and positions must be monotonic");
    }
  }
  if (c.kind == BeamCurve::Kind::kDepthDose && (c.points.front().first < 0.0)) {
    throw InputError(where, name + ": negative depth");
  }
  // Normalise: depth doses to their maximum, profiles to the central axis.
  double ref = 0.0;
  if (c.kind == BeamCurve::Kind::kDepthDose) {
    for (const auto& p : c.points) ref = std::max(ref, p.second);
  } else {
    if (c.points.front().first > 0.0 || c.points.back().first < 0.0) {
      throw InputError(where, name + ": the profile does not cross the central axis");
    }
    for (std::size_t n = 1; n < c.points.size(); ++n) {
      const auto& a = c.points[n - 1];
      const auto& b = c.points[n];
      if (a.first <= 0.0 && b.first >= 0.0) {
        ref = a.second + (0.0 - a.first) / (b.first - a.first) * (b.second - a.second);
        break;
      }
    }
  }
  if (!(ref > 0.0)) throw InputError(where, name + ": no dose above zero to normalise to");
  for (auto& p : c.points) p.second *= 100.0 / ref;
}

/// The curve kind named in the JSON and CSV formats, or nothing.
std::optional<BeamCurve::Kind> curve_kind(const std::string& name) {
  if (name == "pdd") return BeamCurve::Kind::kDepthDose;
  if (name == "profile_x") return BeamCurve::Kind::kProfileX;
  if (name == "profile_y") return BeamCurve::Kind::kProfileY;
  return std::nullopt;
}

double json_number(const nlohmann::json& j, const char* key, const std::string& where,
                   bool required = true) {
  if (!j.contains(key)) {
    if (required) throw InputError(where, std::string("'") + key + "' is missing");
    return kNotGiven;
  }
  if (!j[key].is_number() || !std::isfinite(j[key].get<double>())) {
    throw InputError(where, std::string("'") + key + "' is not a finite number");
  }
  return j[key].get<double>();
}

/// The string `key` of `j` ("" when absent); refused when it is there and not a string.
std::string json_text(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) return "";
  if (!j[key].is_string()) throw InputError(where, std::string("'") + key + "' is not a string");
  return j[key].get<std::string>();
}

/// The array `key` of `j`; refused when it is not one.
const nlohmann::json& json_array(const nlohmann::json& j, const char* key,
                                 const std::string& where) {
  if (!j[key].is_array()) throw InputError(where, std::string("'") + key + "' is not an array");
  return j[key];
}

std::pair<double, double> json_field(const nlohmann::json& j, const std::string& where) {
  if (!j.contains("field_mm") || !j["field_mm"].is_array() || j["field_mm"].size() != 2 ||
      !j["field_mm"][0].is_number() || !j["field_mm"][1].is_number()) {
    throw InputError(where, "'field_mm' is missing or not [X, Y] in mm");
  }
  const double x = j["field_mm"][0].get<double>();
  const double y = j["field_mm"][1].get<double>();
  if (!(x >= 5.0 && x <= 450.0 && y >= 5.0 && y <= 450.0)) {
    throw InputError(where, "'field_mm' [" + format_number(x) + ", " + format_number(y) +
                                "] is not in [5, 450] mm");
  }
  return {x, y};
}

std::vector<std::pair<double, double>> json_pairs(const nlohmann::json& j, const char* key,
                                                  const std::string& where) {
  std::vector<std::pair<double, double>> out;
  if (!j.is_object() || !j.contains(key) || !j[key].is_array()) {
    throw InputError(where, std::string("'") + key + "' is missing or not an array");
  }
  for (std::size_t n = 0; n < j[key].size(); ++n) {
    const auto& e = j[key][n];
    if (!e.is_array() || e.size() != 2 || !e[0].is_number() || !e[1].is_number() ||
        !std::isfinite(e[0].get<double>()) || !std::isfinite(e[1].get<double>())) {
      throw InputError(
          where, std::string(key) + "[" + std::to_string(n) + "] is not a pair of finite numbers");
    }
    out.emplace_back(e[0].get<double>(), e[1].get<double>());
  }
  return out;
}

BeamData read_json(const std::filesystem::path& path) {
  const std::string file = path.string();
  nlohmann::json j = read_json_file(path);
  if (!j.is_object() || json_text(j, "format", file) != "linac-beam-data") {
    throw InputError(file, "'format' is not \"linac-beam-data\"");
  }
  if (!j.contains("format_version") || j["format_version"] != 1) {
    throw InputError(file, "'format_version' is not 1");
  }
  BeamData d;
  d.source = file;
  d.machine_name = json_text(j, "machine_name", file);
  d.energy_mv = json_number(j, "energy_mv", file);
  d.ssd_mm = json_number(j, "ssd_mm", file);
  if (!(d.ssd_mm >= 500.0 && d.ssd_mm <= 1500.0)) {
    throw InputError(file, "'ssd_mm' is not in [500, 1500] mm");
  }
  if (j.contains("penumbra_depth_mm"))
    d.penumbra_depth_mm = json_number(j, "penumbra_depth_mm", file);
  if (j.contains("fields")) {
    if (!j["fields"].is_array()) throw InputError(file, "'fields' is not an array");
    for (std::size_t n = 0; n < j["fields"].size(); ++n) {
      const auto& e = j["fields"][n];
      const std::string w = file + ": fields[" + std::to_string(n) + "]";
      FieldFigures f;
      f.where = w;
      std::tie(f.field_x_mm, f.field_y_mm) = json_field(e, w);
      f.dmax_mm = json_number(e, "dmax_mm", w, false);
      if (e.contains("pdd_pct")) f.pdd_pct = json_pairs(e, "pdd_pct", w);
      f.output_factor = json_number(e, "output_factor", w, false);
      f.surface_pct = json_number(e, "surface_pct", w, false);
      f.penumbra_80_20_mm = json_number(e, "penumbra_80_20_mm", w, false);
      for (std::size_t k = 0; k < f.pdd_pct.size(); ++k) {
        const auto [depth, pct] = f.pdd_pct[k];
        if (depth < 0.0 || pct < 0.0 || pct > 110.0 ||
            (k > 0 && !(depth > f.pdd_pct[k - 1].first))) {
          throw InputError(w, "pdd_pct[" + std::to_string(k) +
                                  "]: depths must increase, be >= 0, doses in [0, 110] %");
        }
      }
      if (f.output_factor < 0.0 || f.surface_pct < 0.0 || f.dmax_mm < 0.0 ||
          f.penumbra_80_20_mm < 0.0) {
        throw InputError(w, "a negative figure");
      }
      d.fields.push_back(std::move(f));
    }
  }
  if (j.contains("horns")) {
    const auto& list = json_array(j, "horns", file);
    for (std::size_t n = 0; n < list.size(); ++n) {
      const auto& e = list[n];
      const std::string w = file + ": horns[" + std::to_string(n) + "]";
      d.horns.push_back({json_field(e, w).first, json_number(e, "depth_mm", w),
                         json_number(e, "offaxis_mm", w), json_number(e, "excess_pct", w)});
    }
  }
  if (j.contains("out_of_field")) {
    const auto& list = json_array(j, "out_of_field", file);
    for (std::size_t n = 0; n < list.size(); ++n) {
      const auto& e = list[n];
      const std::string w = file + ": out_of_field[" + std::to_string(n) + "]";
      d.out_of_field.push_back({json_field(e, w).first, json_number(e, "depth_mm", w),
                                json_number(e, "outside_mm", w), json_number(e, "dose_pct", w)});
    }
  }
  if (j.contains("output_factors")) {
    const auto& list = json_array(j, "output_factors", file);
    for (std::size_t n = 0; n < list.size(); ++n) {
      const auto& e = list[n];
      const std::string w = file + ": output_factors[" + std::to_string(n) + "]";
      const auto [x, y] = json_field(e, w);
      const double f = json_number(e, "factor", w);
      if (!(f > 0.0)) throw InputError(w, "'factor' must be > 0");
      d.output_factors.push_back({x, y, f, w});
    }
  }
  if (j.contains("curves")) {
    const auto& list = json_array(j, "curves", file);
    for (std::size_t n = 0; n < list.size(); ++n) {
      const auto& e = list[n];
      const std::string w = file + ": curves[" + std::to_string(n) + "]";
      BeamCurve c;
      const std::string type = json_text(e, "type", w);
      const auto kind = curve_kind(type);
      if (!kind) throw InputError(w, "'type' '" + type + "' is not pdd, profile_x or profile_y");
      c.kind = *kind;
      std::tie(c.field_x_mm, c.field_y_mm) = json_field(e, w);
      c.ssd_mm = e.contains("ssd_mm") ? json_number(e, "ssd_mm", w) : d.ssd_mm;
      if (c.kind != BeamCurve::Kind::kDepthDose) c.depth_mm = json_number(e, "depth_mm", w);
      c.points = json_pairs(e, "points", w);
      c.where = w;
      check_curve(c, w);
      d.curves.push_back(std::move(c));
    }
  }
  if (d.empty()) throw InputError(file, "no fields, curves or output factors");
  return d;
}

/// CSV: a header naming the columns with their units, then one row per point.
///   curve,field_x_mm,field_y_mm,ssd_mm,depth_mm,position_mm,dose_pct
/// `curve` is pdd, profile_x, profile_y or output_factor (dose_pct then holds 100 x the factor);
/// lengths may be given in mm or cm (`_mm` / `_cm`), doses only in % (`_pct`). Consecutive rows
/// of the same curve, field, SSD (and depth for profiles) form one curve.
bool blank_or_comment(const std::string& line) {
  return line.empty() || line[0] == '#' || line.find_first_not_of(" \t\r") == std::string::npos;
}

/// A CSV's columns by what they hold (curve, field_x, field_y, ssd, depth, position, dose): index
/// and the scale to mm or %; refused (at `where`, the header's line) when one is unknown, in
/// units it cannot tell, or missing.
using CsvColumns = std::map<std::string, std::pair<std::size_t, double>>;
CsvColumns csv_columns(const std::vector<std::string>& header, const std::string& where) {
  CsvColumns col;
  for (std::size_t n = 0; n < header.size(); ++n) {
    const std::string& h = header[n];
    if (h == "curve") {
      col["curve"] = {n, 1.0};
      continue;
    }
    bool known = false;
    for (const char* base : {"field_x", "field_y", "ssd", "depth", "position"}) {
      const std::string b(base);
      if (h == b + "_mm" || h == b + "_cm") {
        col[b] = {n, h.back() == 'm' && h[h.size() - 2] == 'c' ? 10.0 : 1.0};
        known = true;
      }
    }
    if (h == "dose_pct") {
      col["dose"] = {n, 1.0};
      known = true;
    }
    if (!known) {
      throw InputError(where, "column '" + h +
                                  "': unknown, or units it cannot tell (lengths in _mm or _cm, "
                                  "doses in _pct)");
    }
  }
  for (const char* need : {"curve", "field_x", "field_y", "ssd", "depth", "position", "dose"}) {
    if (col.count(need) == 0) {
      throw InputError(where, std::string("no column for '") + need + "'");
    }
  }
  return col;
}

/// A CSV's rows gathered into curves (consecutive rows of one curve, field and SSD, and for
/// profiles one depth) and output factors, each checked as it ends.
struct CsvCurves {
  const CsvColumns& col;
  BeamData d;
  BeamCurve current;
  std::string current_key;
  std::string current_where;

  void flush() {
    if (current.points.empty()) return;
    check_curve(current, current_where);
    d.curves.push_back(current);
    current = BeamCurve{};
    current_key.clear();
  }

  void add(const std::vector<std::string>& cells, const std::string& where) {
    auto value = [&](const char* key) {
      const auto [n, scale] = col.at(key);
      return scale * parse_number(cells[n], where, std::string(key));
    };
    const std::string type = cells[col.at("curve").first];
    const double fx = value("field_x");
    const double fy = value("field_y");
    const double ssd = value("ssd");
    const double dose = value("dose");
    if (type == "output_factor") {
      flush();
      if (!(dose > 0.0)) throw InputError(where, "output factor must be > 0");
      if (!(fx >= 5.0 && fx <= 450.0 && fy >= 5.0 && fy <= 450.0)) {
        throw InputError(where, "output factor: field size not in [5, 450] mm");
      }
      d.output_factors.push_back({fx, fy, dose / 100.0, where});
      d.ssd_mm = ssd;
      return;
    }
    const auto parsed = curve_kind(type);
    if (!parsed) {
      throw InputError(where,
                       "curve '" + type + "' is not pdd, profile_x, profile_y or output_factor");
    }
    const BeamCurve::Kind kind = *parsed;
    const double depth = value("depth");
    const double position = value("position");
    const bool pdd = kind == BeamCurve::Kind::kDepthDose;
    const std::string key = type + "|" + cells[col.at("field_x").first] + "|" +
                            cells[col.at("field_y").first] + "|" + cells[col.at("ssd").first] +
                            (pdd ? std::string() : "|" + cells[col.at("depth").first]);
    if (key != current_key) {
      flush();
      current.kind = kind;
      current.field_x_mm = fx;
      current.field_y_mm = fy;
      current.ssd_mm = ssd;
      current.depth_mm = pdd ? 0.0 : depth;
      current.where = where;
      current_key = key;
      current_where = where;
    }
    if (dose < 0.0) throw InputError(where, current.name() + ": negative dose");
    const double x = pdd ? depth : position;
    if (!current.points.empty() && !(x > current.points.back().first)) {
      throw InputError(where, current.name() + ": " + (pdd ? "depth " : "position ") +
                                  format_number(x) +
                                  " mm does not increase; depths and positions must be monotonic");
    }
    current.points.emplace_back(x, dose);
  }
};

BeamData read_csv(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::istringstream in(read_text_file(path));
  std::string line;
  std::size_t line_no = 0;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank_or_comment(line)) continue;
    header = split(line, ',');
    break;
  }
  if (header.empty()) throw InputError(file, "empty: no header line");
  const CsvColumns col = csv_columns(header, file + ":" + std::to_string(line_no));
  CsvCurves rows{col, {}, {}, {}, {}};
  rows.d.source = file;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank_or_comment(line)) continue;
    const std::string where = file + ":" + std::to_string(line_no);
    const auto cells = split(line, ',');
    if (cells.size() != header.size()) {
      throw InputError(where, "has " + std::to_string(cells.size()) + " columns, the header " +
                                  std::to_string(header.size()) + " (truncated?)");
    }
    rows.add(cells, where);
  }
  rows.flush();
  if (rows.d.empty()) throw InputError(file, "no curves or output factors after the header");
  return rows.d;
}

/// PTW MEPHYSTO mcc export: BEGIN_SCAN_DATA, scans with KEY=VALUE headers and a
/// BEGIN_DATA ... END_DATA block of "position dose [...]" rows, positions in mm.
BeamData read_mcc(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::istringstream in(read_text_file(path));
  std::string line;
  std::size_t line_no = 0;
  BeamData d;
  d.source = file;
  bool in_file = false;
  bool in_scan = false;
  bool in_data = false;
  bool ended = false;
  std::map<std::string, std::string> keys;
  std::vector<std::pair<double, double>> rows;
  std::size_t scan_line = 0;
  auto trim = [](const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  auto finish_scan = [&]() {
    const std::string where = file + ":" + std::to_string(scan_line);
    const std::string type = keys.count("SCAN_CURVETYPE") ? keys["SCAN_CURVETYPE"] : "";
    BeamCurve c;
    if (type == "PDD") {
      c.kind = BeamCurve::Kind::kDepthDose;
    } else if (type == "CROSSPLANE_PROFILE") {
      c.kind = BeamCurve::Kind::kProfileX;
    } else if (type == "INPLANE_PROFILE") {
      c.kind = BeamCurve::Kind::kProfileY;
    } else {
      d.notes.push_back(where + ": scan type '" + type + "' not used");
      return;
    }
    auto key_number = [&](const char* k) {
      if (keys.count(k) == 0) throw InputError(where, std::string("scan has no ") + k);
      return parse_number(keys[k], where, k);
    };
    c.field_x_mm = key_number("FIELD_CROSSPLANE");
    c.field_y_mm = key_number("FIELD_INPLANE");
    c.ssd_mm = key_number("SSD");
    if (c.kind != BeamCurve::Kind::kDepthDose) c.depth_mm = key_number("SCAN_DEPTH");
    c.points = rows;
    c.where = where;
    // Tanks often scan profiles from + to -: order them.
    if (c.kind != BeamCurve::Kind::kDepthDose && c.points.size() > 1 &&
        c.points.front().first > c.points.back().first) {
      std::reverse(c.points.begin(), c.points.end());
    }
    check_curve(c, where);
    d.curves.push_back(std::move(c));
  };
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty()) continue;
    const std::string where = file + ":" + std::to_string(line_no);
    if (!in_file) {
      if (t != "BEGIN_SCAN_DATA")
        throw InputError(where, "not a PTW mcc file (no BEGIN_SCAN_DATA)");
      in_file = true;
      continue;
    }
    if (in_data) {
      if (t == "END_DATA") {
        in_data = false;
        continue;
      }
      std::istringstream ss(t);
      std::string a;
      std::string b;
      ss >> a >> b;
      if (b.empty()) throw InputError(where, "data row has fewer than two columns");
      rows.emplace_back(parse_number(a, where, "position"), parse_number(b, where, "dose"));
      continue;
    }
    if (t.rfind("BEGIN_SCAN ", 0) == 0 || t.rfind("BEGIN_SCAN\t", 0) == 0) {
      if (in_scan) throw InputError(where, "BEGIN_SCAN inside a scan");
      in_scan = true;
      keys.clear();
      rows.clear();
      scan_line = line_no;
      continue;
    }
    if (t.rfind("END_SCAN_DATA", 0) == 0) {
      if (in_scan) throw InputError(where, "END_SCAN_DATA inside a scan");
      ended = true;
      break;
    }
    if (t.rfind("END_SCAN", 0) == 0) {
      if (!in_scan) throw InputError(where, "END_SCAN without BEGIN_SCAN");
      finish_scan();
      in_scan = false;
      continue;
    }
    if (t == "BEGIN_DATA") {
      if (!in_scan) throw InputError(where, "BEGIN_DATA outside a scan");
      in_data = true;
      continue;
    }
    const auto eq = t.find('=');
    if (eq == std::string::npos) throw InputError(where, "'" + t + "' is not KEY=VALUE");
    if (in_scan) keys[trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
  }
  if (!ended) {
    throw InputError(file + ":" + std::to_string(line_no),
                     std::string("truncated: ") + (in_data   ? "no END_DATA"
                                                   : in_scan ? "no END_SCAN"
                                                             : "no END_SCAN_DATA"));
  }
  if (d.curves.empty()) throw InputError(file, "no PDD or profile scans");
  d.ssd_mm = d.curves.front().ssd_mm;
  return d;
}

}  // namespace

BeamData read_beam_data(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".json") return read_json(path);
  if (ext == ".csv") return read_csv(path);
  if (ext == ".mcc") return read_mcc(path);
  throw InputError(path.string(), "unknown beam data format (expected .json, .csv or .mcc)");
}

BeamData default_beam_data() {
  return read_beam_data(machines_dir() / "clinac-ix-6mv-beam-data.json");
}

}  // namespace linac::planning
