// report.html of a treatment course: self-contained (pictures inline), readable offline.
#include "course_report.hpp"

#include <cstdio>
#include <ostream>
#include <sstream>

#include "html.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"

namespace linac::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string num(const json& v, int digits = 2) {
  if (!v.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v.get<double>());
  return buf;
}

/// Prescription, fractions treated, MU delivered against planned, the course's time.
void write_summary(std::ostream& h, const fs::path& /*dir*/, const CourseReportInputs& in) {
  const json& course = *in.course;
  const json& plan_json = *in.plan;
  const CourseOptions& o = *in.options;
  const unsigned treated = in.treated;
  h << "<section id=\"summary\"><h2>Summary</h2><table>"
    << "<tr><th>prescription</th><td>" << num(plan_json["prescription_gy"], 1) << " Gy in "
    << plan_json["fractions"].get<int>() << " fractions to the PTV</td></tr>"
    << "<tr><th>fractions treated</th><td>" << treated << " of " << o.fractions << "</td></tr>"
    << "<tr><th>MU delivered / planned</th><td>" << num(course["delivered_mu_total"]) << " / "
    << num(course["planned_mu_total"]) << "</td></tr>"
    << "<tr><th>course time</th><td>" << num(course["seconds"], 0) << " s</td></tr>"
    << "</table></section>\n";
}

/// The plan beside its baseline: figures, the liver's tolerances, DVH, dose and difference maps.
void write_plan(std::ostream& h, const fs::path& dir, const CourseReportInputs& in) {
  const json& plan_json = *in.plan;
  h << "<section id=\"plan\"><h2>Plan</h2><table><tr><th></th><th>plan</th><th>baseline (no FLS "
       "objective)</th></tr>";
  const auto& st = plan_json["structures"];
  for (const auto& [name, label] :
       std::vector<std::pair<std::string, std::string>>{{"PTV", "d95_gy"},
                                                        {"PTV", "d2_gy"},
                                                        {"FLS", "mean_gy"},
                                                        {"FLS", "v5_pct"},
                                                        {"FLS", "v10_pct"},
                                                        {"FLS", "v15_pct"},
                                                        {"liver", "mean_gy"},
                                                        {"kidney_right", "mean_gy"},
                                                        {"spinal_cord", "max_gy"}}) {
    if (!st.contains(name)) continue;
    h << "<tr><td>" << esc(name) << " " << esc(label) << "</td><td>" << num(st[name][label])
      << "</td><td>" << num(st[name].value("baseline", json::object()).value(label, json()))
      << "</td></tr>";
  }
  if (plan_json.contains("fls")) {
    h << "<tr><td>FLS outside the PTV mean_gy</td><td>"
      << num(plan_json["fls"]["outside_ptv_mean_gy"]) << "</td><td>"
      << num(plan_json["fls"].value("baseline_outside_ptv_mean_gy", json())) << "</td></tr>";
  }
  h << "<tr><td>total MU</td><td>" << num(plan_json["total_mu"], 1) << "</td><td>"
    << num(plan_json.value("baseline_total_mu", json()), 1) << "</td></tr>";
  h << "<tr><td>predicted beam-on (s)</td><td>" << num(plan_json["predicted_beam_on_s"], 1)
    << "</td><td></td></tr></table>\n";
  h << "<h3>Liver tolerance</h3><table><tr><th>limit</th><th>in plan's fractions (Gy)</th>"
       "<th>liver mean (Gy)</th><th>within</th></tr>";
  for (const auto& t : plan_json["liver"]["tolerance"]) {
    h << "<tr><td>" << esc(t["reference"].get<std::string>()) << "</td><td>"
      << num(t["limit_gy_in_plan_fractions"]) << "</td><td>" << num(t["liver_mean_gy"])
      << "</td><td>" << (t["within"].get<bool>() ? "yes" : "no") << "</td></tr>";
  }
  h << "</table><h3>DVH</h3>" << img(in.plan_dir / "dvh.png", "DVH")
    << "<h3>Dose</h3><div class=\"flex\">" << img(dir / "dose_axial.png", "dose axial")
    << img(dir / "dose_coronal.png", "dose coronal")
    << img(dir / "dose_sagittal.png", "dose sagittal") << "</div>";
  if (std::filesystem::exists(in.plan_dir / "difference_axial.png")) {
    h << "<h3>Plan minus baseline</h3><div class=\"flex\">"
      << img(in.plan_dir / "difference_axial.png", "difference axial")
      << img(in.plan_dir / "difference_coronal.png", "difference coronal")
      << img(in.plan_dir / "difference_sagittal.png", "difference sagittal") << "</div>";
  }
  h << "</section>\n";
}

/// Each fraction's drawn set-up error, couch correction, decision and residual.
void write_setups(std::ostream& h, const fs::path& /*dir*/, const CourseReportInputs& in) {
  const json& fractions = *in.fractions;
  h << "<section id=\"setup\"><h2>Set-up corrections</h2><table><tr><th>fraction</th>"
       "<th>drawn error (mm; deg)</th><th>couch correction (lat, long, vert mm; rot, pitch, roll "
       "deg)</th><th>decision</th><th>residual (mm)</th></tr>";
  for (const auto& f : fractions) {
    const auto& s = f["setup"];
    std::string corr;
    if (s.contains("correction")) {
      const auto& c = s["correction"];
      for (const char* k : {"translation_mm", "rotation_deg"}) {
        if (!c.contains(k)) continue;
        if (!corr.empty()) corr += "; ";
        for (std::size_t i = 0; i < c[k].size(); ++i) corr += (i ? ", " : "") + num(c[k][i]);
      }
    }
    h << "<tr><td>" << f["n"].get<int>() << "</td><td>"
      << esc(f["setup_error_drawn"]["translation_mm"].dump()) << "; "
      << esc(f["setup_error_drawn"]["rotation_deg"].dump()) << "</td><td>" << corr << "</td><td>"
      << esc(s.value("decision", "")) << "</td><td>" << num(s.value("residual_mm", json()))
      << "</td></tr>";
  }
  h << "</table></section>\n";
}

/// Each beam's planned and delivered MU (both chambers), beam holds and status.
void write_deliveries(std::ostream& h, const fs::path& /*dir*/, const CourseReportInputs& in) {
  const json& fractions = *in.fractions;
  h << "<section id=\"delivery\"><h2>Delivery: MU per fraction</h2><table><tr><th>fraction</th>"
       "<th>beam</th><th>planned MU</th><th>delivered MU (primary)</th><th>secondary</th>"
       "<th>beam holds</th><th>status</th></tr>";
  for (const auto& f : fractions) {
    for (const auto& b : f["beams"]) {
      h << "<tr><td>" << f["n"].get<int>() << "</td><td>" << esc(b["name"].get<std::string>())
        << "</td><td>" << num(b["planned_mu"]) << "</td><td>" << num(b["delivered_mu"][0])
        << "</td><td>" << num(b["delivered_mu"][1]) << "</td><td>" << b.value("beam_holds", 0)
        << "</td><td>" << esc(b.value("status", "")) << "</td></tr>";
    }
  }
  h << "</table></section>\n";
}

/// Every interrupt of every beam, or "None."
void write_interruptions(std::ostream& h, const fs::path& /*dir*/, const CourseReportInputs& in) {
  const json& fractions = *in.fractions;
  h << "<section id=\"interruptions\"><h2>Interruptions</h2>";
  int interruptions = 0;
  for (const auto& f : fractions) {
    for (const auto& b : f["beams"]) {
      for (const auto& i : b.value("interrupts", json::array())) {
        if (interruptions++ == 0) {
          h << "<table><tr><th>fraction</th><th>beam</th><th>code</th><th>at MU</th>"
               "<th>message</th></tr>";
        }
        h << "<tr><td>" << f["n"].get<int>() << "</td><td>" << esc(b["name"].get<std::string>())
          << "</td><td>" << esc(i.value("code", "")) << "</td><td>" << num(i.value("at_mu", json()))
          << "</td><td>" << esc(i.value("message", "")) << "</td></tr>";
      }
    }
  }
  h << (interruptions ? "</table>" : "<p>None.</p>") << "</section>\n";
}

/// Each log's leaf errors and gamma, with each fraction's histogram and gamma maps.
void write_qa(std::ostream& h, const fs::path& dir, const CourseReportInputs& in) {
  const json& fractions = *in.fractions;
  h << "<section id=\"qa\"><h2>Delivery QA</h2><table><tr><th>fraction</th><th>log</th>"
       "<th>leaf RMS mean (mm)</th><th>max (mm)</th><th>gamma pass (%)</th></tr>";
  for (const auto& f : fractions) {
    for (const auto& l : f["qa"]["logs"]) {
      h << "<tr><td>" << f["n"].get<int>() << "</td><td>"
        << esc(fs::path(l["file"].get<std::string>()).filename().string()) << "</td><td>"
        << num(l["rms_mm"]["mean"], 3) << "</td><td>" << num(l["rms_mm"]["max"], 3) << "</td><td>"
        << num(l["gamma"]["pass_pct"], 1) << "</td></tr>";
    }
  }
  h << "</table>";
  for (const auto& f : fractions) {
    const fs::path fdir = dir / "fractions" / std::to_string(f["n"].get<int>());
    h << "<h3>Fraction " << f["n"].get<int>() << "</h3><div class=\"flex\">"
      << img(fdir / "leaf_errors.png", "leaf error histogram");
    if (fs::exists(fdir / "qa")) {
      std::vector<fs::path> gammas;
      for (const auto& e : fs::directory_iterator(fdir / "qa")) {
        const auto name = e.path().filename().string();
        if (name.find("gamma") != std::string::npos && e.path().extension() == ".png" &&
            name.rfind('A', 0) != 0 && name.rfind('B', 0) != 0) {  // trajectory logs' maps
          gammas.push_back(e.path());
        }
      }
      std::sort(gammas.begin(), gammas.end());
      for (const auto& g : gammas) h << img(g, "gamma map " + g.filename().string());
    }
    h << "</div>";
  }
  h << "</section>\n";
}

/// The dose estimated from the trajectory logs beside the plan's.
void write_delivered_dose(std::ostream& h, const fs::path& /*dir*/, const CourseReportInputs& in) {
  const json& course = *in.course;
  const CourseOptions& o = *in.options;
  const unsigned treated = in.treated;
  h << "<section id=\"dose\"><h2>Delivered dose (from the trajectory logs)</h2><table><tr><th>"
       "</th><th>planned ("
    << in.plan_fractions
    << " fractions)</th><th>delivered "
       "(accumulated, "
    << treated << " fractions)</th><th>delivered, mean fraction x " << in.plan_fractions
    << "</th></tr>";
  for (const auto& [name, key] : std::vector<std::pair<std::string, std::string>>{
           {"PTV", "d95_gy"}, {"PTV", "mean_gy"}, {"FLS", "mean_gy"}, {"liver", "mean_gy"}}) {
    h << "<tr><td>" << name << " " << key << "</td><td>"
      << num(course["planned_dose"].value(name, json::object()).value(key, json())) << "</td><td>"
      << num(course["delivered_dose"].value(name, json::object()).value(key, json())) << "</td><td>"
      << num(course.value("delivered_dose_as_prescribed", json::object())
                 .value(name, json::object())
                 .value(key, json()))
      << "</td></tr>";
  }
  h << "</table><p>On a " << format_number(o.delivered_dose_grid_mm)
    << " mm grid; the planned figures are the plan's dose on the same grid.</p></section>\n";
}

}  // namespace

void write_course_report(const fs::path& dir, const CourseReportInputs& in) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>Treatment course report</title><style>"
       "body{font-family:sans-serif;margin:2em;max-width:1100px}"
       "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
       "text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}"
       "img{max-width:100%;border:1px solid #ddd;margin:4px}.missing{color:#a00}"
       ".flex{display:flex;flex-wrap:wrap}.flex img{max-width:360px}</style></head><body>\n";
  h << "<h1>Treatment course: " << esc(in.patient) << "</h1>\n";
  for (const auto& section : {write_summary, write_plan, write_setups, write_deliveries,
                              write_interruptions, write_qa, write_delivered_dose}) {
    section(h, dir, in);
  }
  h << "<section id=\"files\"><h2>Files</h2><ul><li>course.json</li><li>plan/ (RT Plan, RT "
       "Dose, DVH)</li><li>record.db (treatment record)</li><li>fractions/N/ (CBCT set-up, "
       "Dynalogs, trajectory logs, QA)</li></ul></section>\n</body></html>\n";
  write_file_atomically(dir / "report.html", {h.str()});
}

}  // namespace linac::cli
