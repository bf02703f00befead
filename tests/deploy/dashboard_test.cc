// Checks the Grafana dashboard and provisioning files under deploy/ against
// each other, against the metric names docs/observability.md fixes, and
// against the mount paths the docs tell users to use. The queries
// themselves run against a real Prometheus in dashboard_integration_test.cc.
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "deploy_files.h"

namespace segtune::testing {
namespace {

using nlohmann::json;

std::string ProvisionedDatasourceUid() {
  const YAML::Node datasources = YAML::LoadFile(SourcePath(kDatasourceFile))["datasources"];
  return datasources[0]["uid"].as<std::string>();
}

// Metric names in the first column of docs/observability.md's tables.
std::set<std::string> DocumentedMetrics() {
  const std::string docs = ReadSourceFile("docs/observability.md");
  const std::regex row(R"(\n\| `(segtune_[a-z_]+)` \|)");
  std::set<std::string> names;
  for (std::sregex_iterator it(docs.begin(), docs.end(), row), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}

// `name` as documented: histograms are queried through their series
// NAME_bucket, NAME_count and NAME_sum.
bool IsDocumented(const std::string& name, const std::set<std::string>& documented) {
  if (documented.count(name)) return true;
  for (const std::string suffix : {"_bucket", "_count", "_sum"}) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        documented.count(name.substr(0, name.size() - suffix.size()))) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> MetricNames(const std::string& expr) {
  static const std::regex metric(R"(segtune_[a-z_]+)");
  std::vector<std::string> names;
  for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) names.push_back(it->str());
  return names;
}

// The target of a `docker run -v "$PWD/SOURCE:TARGET"` line in the docs.
std::string DocumentedMount(const std::string& source) {
  const std::string docs = ReadSourceFile("docs/observability.md");
  const std::string prefix = "-v \"$PWD/" + source + ":";
  const size_t start = docs.find(prefix);
  if (start == std::string::npos) return "";
  const size_t from = start + prefix.size();
  return docs.substr(from, docs.find('"', from) - from);
}

TEST(Dashboard, HasTheFixedUidAndAModernSchema) {
  const json dashboard = LoadDashboard();
  EXPECT_EQ(dashboard.at("uid"), "segtune-sweep");
  EXPECT_GE(dashboard.at("schemaVersion").get<int>(), 36);  // datasources referenced by uid
  EXPECT_FALSE(dashboard.at("title").get<std::string>().empty());
  EXPECT_GE(DataPanels(dashboard).size(), 10u);
}

TEST(Dashboard, EveryPanelAndTargetUsesTheProvisionedDatasource) {
  const std::string uid = ProvisionedDatasourceUid();
  for (const json& panel : DataPanels(LoadDashboard())) {
    const std::string title = panel.value("title", "");
    ASSERT_TRUE(panel.contains("datasource")) << title;
    EXPECT_EQ(panel.at("datasource").value("uid", ""), uid) << title;
    EXPECT_EQ(panel.at("datasource").value("type", ""), "prometheus") << title;
    for (const json& target : panel.at("targets")) {
      ASSERT_TRUE(target.contains("datasource")) << title;
      EXPECT_EQ(target.at("datasource").value("uid", ""), uid) << title;
    }
  }
}

TEST(Dashboard, EveryPanelHasADescriptionAndEveryTargetAnExpr) {
  for (const json& panel : DataPanels(LoadDashboard())) {
    const std::string title = panel.value("title", "");
    EXPECT_FALSE(title.empty());
    EXPECT_FALSE(panel.value("description", "").empty()) << title;
    ASSERT_FALSE(panel.value("targets", json::array()).empty()) << title;
    std::set<std::string> ref_ids;
    for (const json& target : panel.at("targets")) {
      EXPECT_FALSE(target.value("expr", "").empty()) << title;
      EXPECT_TRUE(ref_ids.insert(target.value("refId", "")).second) << title << ": refIds repeat";
    }
  }
}

TEST(Dashboard, SweepVariableListsSweepsWithAllAndMultiSelect) {
  const json dashboard = LoadDashboard();
  const json* sweep = nullptr;
  for (const json& variable : dashboard.at("templating").at("list")) {
    if (variable.value("name", "") == "sweep") sweep = &variable;
  }
  ASSERT_NE(sweep, nullptr);
  EXPECT_EQ(sweep->at("type"), "query");
  EXPECT_EQ(sweep->at("query"), "label_values(segtune_sweep_trials, sweep)");
  EXPECT_EQ(sweep->at("datasource").value("uid", ""), ProvisionedDatasourceUid());
  EXPECT_TRUE(sweep->at("multi").get<bool>());
  EXPECT_TRUE(sweep->at("includeAll").get<bool>());
}

TEST(Dashboard, QueriesAndAlertsUseOnlyDocumentedMetrics) {
  const std::set<std::string> documented = DocumentedMetrics();
  ASSERT_GE(documented.size(), 20u) << "the metric tables of docs/observability.md did not parse";
  for (const PanelQuery& query : PanelQueries(LoadDashboard())) {
    const std::vector<std::string> names = MetricNames(query.expr);
    EXPECT_FALSE(names.empty()) << query.panel << ": " << query.expr;
    for (const std::string& name : names) {
      EXPECT_TRUE(IsDocumented(name, documented)) << query.panel << " uses " << name;
    }
  }
  for (const AlertRule& rule : AlertRules()) {
    for (const std::string& name : MetricNames(rule.expr)) {
      EXPECT_TRUE(IsDocumented(name, documented)) << rule.name << " uses " << name;
    }
  }
}

// Sweep and trial series carry a `sweep` label: each selector of one must
// follow the dashboard's sweep variable, or "All" and one sweep look alike.
TEST(Dashboard, SweepLabelledSeriesFollowTheSweepVariable) {
  const std::regex selector(R"((segtune_(sweep|trial)_[a-z_]+|segtune_worker_current_trial)(\{[^}]*\})?)");
  for (const PanelQuery& query : PanelQueries(LoadDashboard())) {
    for (std::sregex_iterator it(query.expr.begin(), query.expr.end(), selector), end; it != end; ++it) {
      EXPECT_NE((*it)[3].str().find("sweep=~\"$sweep\""), std::string::npos)
          << query.panel << ": " << it->str() << " ignores $sweep";
    }
  }
}

// Fixed rate windows break when the scrape interval changes; Grafana's
// $__rate_interval follows the datasource's scrape interval.
TEST(Dashboard, RangeVectorsUseTheRateInterval) {
  const std::regex range(R"(\[([^\]]*)\])");
  for (const PanelQuery& query : PanelQueries(LoadDashboard())) {
    for (std::sregex_iterator it(query.expr.begin(), query.expr.end(), range), end; it != end; ++it) {
      EXPECT_EQ((*it)[1].str(), "$__rate_interval") << query.panel << ": " << query.expr;
    }
  }
}

TEST(Dashboard, PanelsFitTheGridWithoutOverlapping) {
  struct Box {
    std::string title;
    int x, y, w, h;
  };
  std::vector<Box> boxes;
  const json dashboard = LoadDashboard();
  for (const json& panel : dashboard.at("panels")) {
    const json& pos = panel.at("gridPos");
    boxes.push_back({panel.value("title", ""), pos.at("x"), pos.at("y"), pos.at("w"), pos.at("h")});
    EXPECT_LE(boxes.back().x + boxes.back().w, 24) << boxes.back().title;
  }
  for (size_t i = 0; i < boxes.size(); ++i) {
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      const Box& a = boxes[i];
      const Box& b = boxes[j];
      const bool overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      EXPECT_FALSE(overlap) << a.title << " overlaps " << b.title;
    }
  }
}

TEST(Provisioning, DatasourceIsPrometheusWithTheUidTheDashboardUses) {
  const YAML::Node file = YAML::LoadFile(SourcePath(kDatasourceFile));
  EXPECT_EQ(file["apiVersion"].as<int>(), 1);
  ASSERT_EQ(file["datasources"].size(), 1u);
  const YAML::Node datasource = file["datasources"][0];
  EXPECT_EQ(datasource["type"].as<std::string>(), "prometheus");
  EXPECT_EQ(datasource["uid"].as<std::string>(), "segtune-prometheus");
  EXPECT_EQ(datasource["url"].as<std::string>().rfind("http", 0), 0u);
}

// Users mount deploy/grafana/dashboards where the docs say; the provider
// must look there, and the dashboard must be a file in that folder.
TEST(Provisioning, ProviderPathIsWhereTheDocsMountTheDashboards) {
  const YAML::Node file = YAML::LoadFile(SourcePath(kProviderFile));
  EXPECT_EQ(file["apiVersion"].as<int>(), 1);
  ASSERT_EQ(file["providers"].size(), 1u);
  const YAML::Node provider = file["providers"][0];
  EXPECT_EQ(provider["type"].as<std::string>(), "file");
  const std::string path = provider["options"]["path"].as<std::string>();

  const std::filesystem::path dashboard(kDashboardFile);
  const std::string mounted = DocumentedMount(dashboard.parent_path().string());
  ASSERT_FALSE(mounted.empty()) << "docs/observability.md shows no mount for " << dashboard.parent_path();
  EXPECT_EQ(path, mounted);
  // Grafana reads its provisioning folder's datasources/ and dashboards/
  // subfolders; the docs mount deploy/grafana/provisioning as that folder.
  EXPECT_EQ(DocumentedMount("deploy/grafana/provisioning"), "/etc/grafana/provisioning");
  EXPECT_TRUE(std::filesystem::is_regular_file(SourcePath(kDashboardFile)));
}

}  // namespace
}  // namespace segtune::testing
