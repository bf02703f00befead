// Runs every query of the Grafana dashboard against a real Prometheus that
// scrapes a real coordinator and a real worker (1 s scrapes) while a small
// sweep runs, and requires each one to return data over the sweep's time
// window. The alert rules load into the same Prometheus and must evaluate.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "deploy_files.h"
#include "process.h"

namespace segtune::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Four trials, two at a time, four epochs each. An epoch takes about a
// second on one thread (1024 images of 48 px), so Prometheus scrapes every
// running trial's series several times.
constexpr const char* kSweep = R"(name: dashboard
objective: {metric: val_miou, mode: max}
budget: {epochs: 4, parallelism: 2}
data: {dataset: shapes, image_size: 48, num_classes: 3, train_size: 1024, val_size: 32, seed: 3}
model: {arch: unet, base_channels: 8, depth: 2}
training: {batch_size: 16, seed: 1}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: momentum, lr: [0.05, 0.01]}
      - {name: Adam, lr: 0.003}
      - {name: RMSprop, lr: 0.001}
    scheduler:
      - {name: StepLR, step_size: 1, gamma: 0.5}
)";

// Grafana's rate window is at least four scrape intervals (1 s here).
constexpr const char* kRateInterval = "4s";

std::string UrlEncode(const std::string& text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      encoded += hex;
    }
  }
  return encoded;
}

// Replaces the Grafana variables the dashboard uses; "" when the expression
// uses one this test does not know (the test then fails, naming it).
std::string ExpandGrafanaVariables(std::string expr, const std::string& sweep_id) {
  const std::pair<std::string, std::string> variables[] = {
      {"$__rate_interval", kRateInterval}, {"$__interval", "1s"}, {"$sweep", sweep_id}};
  for (const auto& [name, value] : variables) {
    for (size_t at; (at = expr.find(name)) != std::string::npos;) expr.replace(at, name.size(), value);
  }
  return expr.find('$') == std::string::npos ? expr : "";
}

// Seconds since the epoch, as Prometheus' API takes them.
double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The body of an HTTP response, or "" unless the status is 200.
std::string OkBody(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.compare(8, 5, " 200 ") != 0) return "";
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// A running Prometheus' HTTP API.
class PrometheusApi {
 public:
  explicit PrometheusApi(int port) : port_(port) {}

  // GET PATH?k=v&...; the decoded JSON reply, or a JSON string with the
  // raw response when it is not JSON (Prometheus answers errors with 4xx
  // and a JSON body, so those parse too).
  json Get(const std::string& path, const std::vector<std::pair<std::string, std::string>>& params) const {
    std::string url = path;
    for (size_t i = 0; i < params.size(); ++i) {
      url += (i == 0 ? "?" : "&") + params[i].first + "=" + UrlEncode(params[i].second);
    }
    const std::string response = HttpGet(port_, url);
    const size_t body = response.find("\r\n\r\n");
    if (body == std::string::npos) return json(response);
    json parsed = json::parse(response.substr(body + 4), nullptr, /*allow_exceptions=*/false);
    return parsed.is_discarded() ? json(response) : parsed;
  }

 private:
  int port_;
};

// What a range query returned, in words: "" when it has at least one series
// with at least one number (NaN is no number: Grafana draws nothing).
std::string ProblemWithRangeResult(const json& reply) {
  if (!reply.is_object() || reply.value("status", "") != "success") {
    return "query failed: " + reply.dump();
  }
  const json& series = reply.at("data").at("result");
  if (series.empty()) return "no series";
  for (const json& one : series) {
    for (const json& point : one.at("values")) {
      if (!std::isnan(std::stod(point.at(1).get<std::string>()))) return "";
    }
  }
  return std::to_string(series.size()) + " series, all NaN";
}

class DashboardAgainstPrometheus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(SEGTUNE_PROMETHEUS).empty()) GTEST_SKIP() << "prometheus is not installed";
    dir_ = fs::temp_directory_path() / ("segtune-dashboard-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "tsdb");
    address_ = "127.0.0.1:" + std::to_string(FreePort());
    coordinator_metrics_ = "127.0.0.1:" + std::to_string(FreePort());
    worker_metrics_ = "127.0.0.1:" + std::to_string(FreePort());
    prometheus_port_ = FreePort();
  }
  void TearDown() override {
    // The Process destructors SIGKILL whatever is still running, also after
    // a failed ASSERT; stopping gently first lets logs flush.
    if (worker_) worker_->Stop();
    if (coordinator_) coordinator_->Stop();
    if (prometheus_) prometheus_->Stop();
    if (HasFailure()) {
      for (const auto& [name, process] : {std::pair{"coordinator", coordinator_.get()},
                                          std::pair{"worker", worker_.get()},
                                          std::pair{"prometheus", prometheus_.get()}}) {
        if (process) std::cerr << name << " log (tail):\n" << Tail(process->Stderr()) << "\n";
      }
      std::cerr << "files kept in " << dir_ << "\n";
    } else if (!dir_.empty()) {
      fs::remove_all(dir_);
    }
  }

  static std::string Tail(const std::string& text) {
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void StartSegtune() {
    coordinator_ = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir",
                                 dir_.string(), "--metrics-listen", coordinator_metrics_},
        Path("coordinator.out"), Path("coordinator.err"));
    worker_ = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address_, "--threads", "1",
                                 "--slots", "2", "--name", "dashboard-worker", "--metrics-listen",
                                 worker_metrics_},
        Path("worker.out"), Path("worker.err"));
  }

  // A Prometheus config with the job names of deploy/prometheus/prometheus.yml
  // (coordinator first, then workers), scraping every second, with the real
  // alert rules.
  void StartPrometheus() {
    const std::vector<std::string> jobs = ScrapeJobNames();
    ASSERT_EQ(jobs.size(), 2u);
    YAML::Emitter config;
    config << YAML::BeginMap;
    config << YAML::Key << "global" << YAML::Value << YAML::BeginMap << YAML::Key << "scrape_interval"
           << YAML::Value << "1s" << YAML::Key << "scrape_timeout" << YAML::Value << "1s" << YAML::Key
           << "evaluation_interval" << YAML::Value << "1s" << YAML::EndMap;
    config << YAML::Key << "rule_files" << YAML::Value << YAML::BeginSeq << SourcePath(kAlertsFile)
           << YAML::EndSeq;
    config << YAML::Key << "scrape_configs" << YAML::Value << YAML::BeginSeq;
    for (const auto& [job, target] : {std::pair{jobs[0], coordinator_metrics_}, std::pair{jobs[1], worker_metrics_}}) {
      config << YAML::BeginMap << YAML::Key << "job_name" << YAML::Value << job << YAML::Key << "static_configs"
             << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key << "targets" << YAML::Value
             << YAML::Flow << std::vector<std::string>{target} << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
    }
    config << YAML::EndSeq << YAML::EndMap;
    std::ofstream(Path("prometheus.yml")) << config.c_str() << "\n";

    prometheus_ = std::make_unique<Process>(
        std::vector<std::string>{SEGTUNE_PROMETHEUS, "--config.file=" + Path("prometheus.yml"),
                                 "--storage.tsdb.path=" + Path("tsdb"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_)},
        Path("prometheus.out"), Path("prometheus.err"));
    api_ = std::make_unique<PrometheusApi>(prometheus_port_);
  }

  // Polls `probe` every 250 ms until it holds or `timeout` passes.
  template <typename Probe>
  static bool WaitFor(Probe probe, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (probe()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return probe();
  }

  // Both targets scraped and up.
  bool TargetsUp() const {
    const json reply = api_->Get("/api/v1/query", {{"query", "up"}});
    if (reply.value("status", "") != "success") return false;
    const json& result = reply.at("data").at("result");
    return result.size() == 2 && std::all_of(result.begin(), result.end(), [](const json& series) {
             return series.at("value").at(1) == "1";
           });
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/segtune", "--server", address_});
    return RunCommand(args, dir_.string());
  }

  std::string SweepState(const std::string& sweep_id) {
    const CommandResult status = Cli({"status", sweep_id, "-o", "json"});
    if (status.exit_code != 0) return "";
    const json parsed = json::parse(status.out, nullptr, false);
    return parsed.is_object() ? parsed.value("state", "") : "";
  }

  json QueryRange(const std::string& expr) const {
    return api_->Get("/api/v1/query_range", {{"query", expr},
                                             {"start", std::to_string(window_start_)},
                                             {"end", std::to_string(window_end_)},
                                             {"step", "1"}});
  }

  fs::path dir_;
  std::string address_;
  std::string coordinator_metrics_;
  std::string worker_metrics_;
  int prometheus_port_ = 0;
  std::unique_ptr<Process> coordinator_;
  std::unique_ptr<Process> worker_;
  std::unique_ptr<Process> prometheus_;
  std::unique_ptr<PrometheusApi> api_;
  double window_start_ = 0;
  double window_end_ = 0;
};

TEST_F(DashboardAgainstPrometheus, EveryPanelQueryReturnsDataForARealSweep) {
  const auto test_start = Clock::now();
  StartSegtune();
  ASSERT_NO_FATAL_FAILURE(StartPrometheus());
  ASSERT_TRUE(WaitFor([&] { return OkBody(HttpGet(prometheus_port_, "/-/ready")) != ""; },
                      std::chrono::seconds(30)))
      << "prometheus did not become ready";
  ASSERT_TRUE(WaitFor([&] { return TargetsUp(); }, std::chrono::seconds(30)))
      << "coordinator and worker targets not both up: "
      << api_->Get("/api/v1/targets", {}).dump();

  window_start_ = std::floor(UnixNow()) - 2;
  std::ofstream(Path("spec.yaml")) << kSweep;
  const CommandResult submitted = Cli({"submit", Path("spec.yaml"), "-o", "json"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string sweep_id = json::parse(submitted.out).at("sweep_id");
  ASSERT_TRUE(WaitFor([&] { return SweepState(sweep_id) == "COMPLETED"; }, std::chrono::seconds(100)))
      << "sweep " << sweep_id << " did not complete: " << SweepState(sweep_id);
  // The final scrapes and rule evaluations land within two intervals.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  window_end_ = std::ceil(UnixNow());

  // Every query of every panel, as Grafana would send it for this sweep.
  std::vector<std::string> failures;
  for (const PanelQuery& query : PanelQueries(LoadDashboard())) {
    const std::string expr = ExpandGrafanaVariables(query.expr, sweep_id);
    const std::string problem = expr.empty() ? "uses a Grafana variable this test does not expand"
                                             : ProblemWithRangeResult(QueryRange(expr));
    if (!problem.empty()) {
      failures.push_back(query.panel + " [" + query.ref_id + "]: " + problem + "\n    " + query.expr);
    }
  }
  std::string report;
  for (const std::string& failure : failures) report += "\n  " + failure;
  EXPECT_TRUE(failures.empty()) << failures.size() << " dashboard queries returned no data between "
                                << std::fixed << std::setprecision(0) << window_start_ << " and " << window_end_
                                << " (unix seconds):" << report;

  // The sweep variable's label_values(METRIC, LABEL) offers the sweep.
  const json variable = LoadDashboard().at("templating").at("list").at(0);
  std::smatch parts;
  const std::string variable_query = variable.at("query");
  ASSERT_TRUE(std::regex_match(variable_query, parts, std::regex(R"(label_values\((\w+),\s*(\w+)\))")))
      << variable_query;
  const json values = api_->Get("/api/v1/label/" + parts[2].str() + "/values",
                                {{"match[]", parts[1].str()},
                                 {"start", std::to_string(window_start_)},
                                 {"end", std::to_string(window_end_)}});
  ASSERT_EQ(values.value("status", ""), "success") << values.dump();
  const json& offered = values.at("data");
  EXPECT_NE(std::find(offered.begin(), offered.end(), sweep_id), offered.end()) << values.dump();

  // The alert rules parse as queries and Prometheus evaluates each one.
  for (const AlertRule& rule : AlertRules()) {
    const json reply = QueryRange(rule.expr);
    EXPECT_EQ(reply.value("status", ""), "success") << rule.name << ": " << reply.dump();
  }
  const json rules = api_->Get("/api/v1/rules", {});
  ASSERT_EQ(rules.value("status", ""), "success") << rules.dump();
  std::vector<std::string> loaded;
  for (const json& group : rules.at("data").at("groups")) {
    for (const json& rule : group.at("rules")) {
      loaded.push_back(rule.at("name"));
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
    }
  }
  std::vector<std::string> expected;
  for (const AlertRule& rule : AlertRules()) expected.push_back(rule.name);
  EXPECT_EQ(loaded, expected);

  std::cerr << "dashboard integration test took "
            << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - test_start).count()
            << " s; sweep window " << window_end_ - window_start_ << " s\n";
}

}  // namespace
}  // namespace segtune::testing
