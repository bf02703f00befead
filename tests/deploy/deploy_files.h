// Reading the files under deploy/ for the dashboard tests: the Grafana
// dashboard's panels and queries, the alert rules, the provisioning files.
// Plain functions over files; safe to call from any thread.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace segtune::testing {

inline std::string SourcePath(const std::string& relative) { return std::string(SEGTUNE_SOURCE_DIR) + "/" + relative; }

inline std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(SourcePath(relative));
  if (!in) throw std::runtime_error("cannot read " + SourcePath(relative));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline constexpr const char* kDashboardFile = "deploy/grafana/dashboards/segtune.json";
inline constexpr const char* kDatasourceFile = "deploy/grafana/provisioning/datasources/segtune.yml";
inline constexpr const char* kProviderFile = "deploy/grafana/provisioning/dashboards/segtune.yml";
inline constexpr const char* kPrometheusConfigFile = "deploy/prometheus/prometheus.yml";
inline constexpr const char* kAlertsFile = "deploy/prometheus/alerts.yml";

inline nlohmann::json LoadDashboard() { return nlohmann::json::parse(ReadSourceFile(kDashboardFile)); }

// Every panel that shows data: rows are containers, and a collapsed row
// keeps its panels inside itself rather than in the top-level list.
inline std::vector<nlohmann::json> DataPanels(const nlohmann::json& dashboard) {
  std::vector<nlohmann::json> panels;
  for (const nlohmann::json& panel : dashboard.at("panels")) {
    if (panel.value("type", "") != "row") {
      panels.push_back(panel);
      continue;
    }
    for (const nlohmann::json& inner : panel.value("panels", nlohmann::json::array())) panels.push_back(inner);
  }
  return panels;
}

struct PanelQuery {
  std::string panel;   // title
  std::string ref_id;
  std::string expr;
};

inline std::vector<PanelQuery> PanelQueries(const nlohmann::json& dashboard) {
  std::vector<PanelQuery> queries;
  for (const nlohmann::json& panel : DataPanels(dashboard)) {
    for (const nlohmann::json& target : panel.value("targets", nlohmann::json::array())) {
      queries.push_back({panel.value("title", ""), target.value("refId", ""), target.value("expr", "")});
    }
  }
  return queries;
}

struct AlertRule {
  std::string name;
  std::string expr;
};

inline std::vector<AlertRule> AlertRules() {
  std::vector<AlertRule> rules;
  const YAML::Node alerts = YAML::LoadFile(SourcePath(kAlertsFile));
  for (const YAML::Node& group : alerts["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      rules.push_back({rule["alert"].as<std::string>(), rule["expr"].as<std::string>()});
    }
  }
  return rules;
}

// The job names of deploy/prometheus/prometheus.yml, in file order.
inline std::vector<std::string> ScrapeJobNames() {
  std::vector<std::string> jobs;
  for (const YAML::Node& job : YAML::LoadFile(SourcePath(kPrometheusConfigFile))["scrape_configs"]) {
    jobs.push_back(job["job_name"].as<std::string>());
  }
  return jobs;
}

}  // namespace segtune::testing
