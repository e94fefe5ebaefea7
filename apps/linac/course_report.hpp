#pragma once
// The course's report.html (course_report.cpp): plan, set-ups, deliveries, interrupts, QA and the
// dose estimated from the logs, from what `linac course` wrote into course.json.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "course_options.hpp"

namespace linac::cli {

struct CourseReportInputs {
  const nlohmann::json* course = nullptr;     // course.json as written
  const nlohmann::json* plan = nullptr;       // the plan's plan.json
  const nlohmann::json* fractions = nullptr;  // course["fractions"]
  std::filesystem::path plan_dir;             // plan.json, dvh.png
  std::string patient;
  unsigned treated = 0;
  unsigned plan_fractions = 0;  // the plan's prescription
  const CourseOptions* options = nullptr;
};

/// Writes `dir`/report.html atomically.
void write_course_report(const std::filesystem::path& dir, const CourseReportInputs& in);

}  // namespace linac::cli
