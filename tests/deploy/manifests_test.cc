// Offline checks of the deployment files under deploy/ (k8s, systemd, slurm,
// docker); kubectl_dry_run_test.cc runs kubectl itself. The Kubernetes manifests
// agree with each other (ports, names, labels, the Secret, grace periods),
// the dashboard ConfigMap is an exact copy of the Grafana dashboard, and every
// flag any file passes to segtune-coordinator or segtune-worker exists in
// that binary's --help.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "deploy_files.h"

namespace segtune::testing {
namespace {

constexpr const char* kK8sDir = "deploy/k8s";
constexpr int kDefaultDrainSeconds = 30;  // segtune-worker --drain-seconds default

struct Manifests {
  std::vector<std::pair<std::string, YAML::Node>> documents;  // (file, document)

  YAML::Node Find(const std::string& kind, const std::string& name) const {
    for (const auto& [file, doc] : documents) {
      if (doc["kind"].as<std::string>("") == kind && doc["metadata"]["name"].as<std::string>("") == name) return doc;
    }
    ADD_FAILURE() << "no " << kind << " named " << name << " in the resources of " << kK8sDir;
    return YAML::Node();
  }
};

YAML::Node Kustomization() { return YAML::LoadFile(SourcePath(std::string(kK8sDir) + "/kustomization.yaml")); }

Manifests LoadManifests() {
  Manifests manifests;
  for (const YAML::Node& resource : Kustomization()["resources"]) {
    const std::string file = std::string(kK8sDir) + "/" + resource.as<std::string>();
    for (const YAML::Node& doc : YAML::LoadAllFromFile(SourcePath(file))) {
      if (!doc.IsNull()) manifests.documents.emplace_back(file, doc);
    }
  }
  return manifests;
}

YAML::Node Container(const YAML::Node& workload) { return workload["spec"]["template"]["spec"]["containers"][0]; }

std::vector<std::string> Args(const YAML::Node& container) {
  std::vector<std::string> args;
  for (const YAML::Node& arg : container["args"]) args.push_back(arg.as<std::string>());
  return args;
}

// The value after `flag` in args ("--flag VALUE" or "--flag=VALUE"); "" if absent.
std::string FlagValue(const std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
  }
  return "";
}

int ContainerPort(const YAML::Node& container, const std::string& name) {
  for (const YAML::Node& port : container["ports"]) {
    if (port["name"].as<std::string>("") == name) return port["containerPort"].as<int>();
  }
  return -1;
}

YAML::Node ServicePort(const YAML::Node& service, const std::string& name) {
  for (const YAML::Node& port : service["spec"]["ports"]) {
    if (port["name"].as<std::string>("") == name) return port;
  }
  return YAML::Node();
}

// matchLabels is a subset of labels.
bool Selects(const YAML::Node& match_labels, const YAML::Node& labels) {
  if (!match_labels.IsMap() || match_labels.size() == 0) return false;
  for (const auto& entry : match_labels) {
    if (!labels[entry.first.as<std::string>()] ||
        labels[entry.first.as<std::string>()].as<std::string>() != entry.second.as<std::string>()) {
      return false;
    }
  }
  return true;
}

// (secret name, key) pairs the kustomization's secretGenerator creates.
std::set<std::pair<std::string, std::string>> GeneratedSecretKeys() {
  std::set<std::pair<std::string, std::string>> keys;
  for (const YAML::Node& generator : Kustomization()["secretGenerator"]) {
    for (const YAML::Node& file : generator["files"]) {
      const std::string entry = file.as<std::string>();
      keys.emplace(generator["name"].as<std::string>(), entry.substr(0, entry.find('=')));
    }
  }
  return keys;
}

class ManifestsTest : public ::testing::Test {
 protected:
  Manifests manifests_ = LoadManifests();
  YAML::Node coordinator_ = manifests_.Find("StatefulSet", "segtune-coordinator");
  YAML::Node service_ = manifests_.Find("Service", "segtune-coordinator");
  YAML::Node worker_ = manifests_.Find("Deployment", "segtune-worker");
};

TEST_F(ManifestsTest, EveryDocumentHasApiVersionKindAndName) {
  ASSERT_GE(manifests_.documents.size(), 6u);
  for (const auto& [file, doc] : manifests_.documents) {
    EXPECT_FALSE(doc["apiVersion"].as<std::string>("").empty()) << file;
    EXPECT_FALSE(doc["kind"].as<std::string>("").empty()) << file;
    EXPECT_FALSE(doc["metadata"]["name"].as<std::string>("").empty()) << file;
  }
}

// Set in each file rather than by kustomization.yaml (which only adds it to
// the generated Secret): its `labels:` field is too new for Debian's kubectl.
TEST_F(ManifestsTest, EveryDocumentIsPartOfSegtune) {
  for (const auto& [file, doc] : manifests_.documents) {
    EXPECT_EQ(doc["metadata"]["labels"]["app.kubernetes.io/part-of"].as<std::string>(""), "segtune") << file;
  }
  EXPECT_EQ(Kustomization()["generatorOptions"]["labels"]["app.kubernetes.io/part-of"].as<std::string>(""), "segtune");
}

TEST_F(ManifestsTest, ServicePortsMatchTheCoordinatorsPortsAndFlags) {
  const YAML::Node container = Container(coordinator_);
  const std::vector<std::string> args = Args(container);
  for (const auto& [name, flag] :
       {std::pair<std::string, std::string>{"grpc", "--listen"}, {"metrics", "--metrics-listen"}}) {
    const YAML::Node port = ServicePort(service_, name);
    ASSERT_TRUE(port) << "Service port " << name;
    const int container_port = ContainerPort(container, name);
    EXPECT_EQ(port["targetPort"].as<std::string>(), name);
    EXPECT_EQ(port["port"].as<int>(), container_port) << name;
    EXPECT_EQ(FlagValue(args, flag), "0.0.0.0:" + std::to_string(container_port)) << flag;
  }
  EXPECT_TRUE(Selects(service_["spec"]["selector"], coordinator_["spec"]["template"]["metadata"]["labels"]));
}

TEST_F(ManifestsTest, CoordinatorIsOneNonRootReplicaWithItsDataOnAVolume) {
  EXPECT_EQ(coordinator_["spec"]["replicas"].as<int>(), 1);
  const YAML::Node pod = coordinator_["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>(false));
  EXPECT_GT(pod["terminationGracePeriodSeconds"].as<int>(0), 0);
  const std::string data_dir = FlagValue(Args(Container(coordinator_)), "--data-dir");
  const std::string claim = coordinator_["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as<std::string>("");
  bool mounted = false;
  for (const YAML::Node& mount : Container(coordinator_)["volumeMounts"]) {
    mounted |= mount["name"].as<std::string>() == claim && mount["mountPath"].as<std::string>() == data_dir;
  }
  EXPECT_TRUE(mounted) << "the claim template " << claim << " is not mounted at --data-dir " << data_dir;
}

TEST_F(ManifestsTest, ProbesAreGrpcProbesOnTheGrpcPort) {
  const YAML::Node container = Container(coordinator_);
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    ASSERT_TRUE(container[probe]["grpc"]) << probe;
    EXPECT_EQ(container[probe]["grpc"]["port"].as<int>(), ContainerPort(container, "grpc")) << probe;
  }
}

TEST_F(ManifestsTest, WorkerGetsAGpuAndReachesTheServicesGrpcPort) {
  const YAML::Node container = Container(worker_);
  EXPECT_GE(container["resources"]["limits"]["nvidia.com/gpu"].as<int>(0), 1);
  const std::string expected =
      service_["metadata"]["name"].as<std::string>() + ":" + ServicePort(service_, "grpc")["port"].as<std::string>();
  EXPECT_EQ(FlagValue(Args(container), "--coordinator"), expected);
  // Every GPU the pod is given, whatever nvidia.com/gpu says.
  EXPECT_EQ(FlagValue(Args(container), "--device"), "all");
}

TEST_F(ManifestsTest, TokensComeFromTheGeneratedSecretNeverFromArgs) {
  const auto secret_keys = GeneratedSecretKeys();
  for (const auto& [workload, variable] :
       {std::pair<YAML::Node, std::string>{coordinator_, "SEGTUNE_TOKENS"}, {worker_, "SEGTUNE_TOKEN"}}) {
    const YAML::Node container = Container(workload);
    bool found = false;
    for (const YAML::Node& env : container["env"]) {
      if (env["name"].as<std::string>() != variable) continue;
      found = true;
      EXPECT_FALSE(env["value"]) << variable << " has a literal value";
      const YAML::Node ref = env["valueFrom"]["secretKeyRef"];
      ASSERT_TRUE(ref) << variable;
      EXPECT_TRUE(secret_keys.count({ref["name"].as<std::string>(), ref["key"].as<std::string>()}))
          << variable << " names a Secret key the secretGenerator does not create";
    }
    EXPECT_TRUE(found) << variable;
    for (const std::string& arg : Args(container)) {
      EXPECT_EQ(arg.find("token"), std::string::npos) << "token on the command line: " << arg;
    }
  }
}

TEST_F(ManifestsTest, WorkerGracePeriodOutlastsItsDrain) {
  const std::string drain = FlagValue(Args(Container(worker_)), "--drain-seconds");
  const double drain_seconds = drain.empty() ? kDefaultDrainSeconds : std::stod(drain);
  EXPECT_GT(worker_["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<double>(0), drain_seconds);
}

TEST_F(ManifestsTest, MonitorsScrapeTheMetricsPortsUnderTheDashboardsJobNames) {
  const YAML::Node service_monitor = manifests_.Find("ServiceMonitor", "segtune-coordinator");
  EXPECT_EQ(service_monitor["apiVersion"].as<std::string>(), "monitoring.coreos.com/v1");
  EXPECT_TRUE(Selects(service_monitor["spec"]["selector"]["matchLabels"], service_["metadata"]["labels"]));
  EXPECT_EQ(service_monitor["spec"]["endpoints"][0]["port"].as<std::string>(), "metrics");
  // deploy/prometheus/alerts.yml and the dashboard select job="segtune-coordinator" / "segtune-worker".
  const std::string job_label = service_monitor["spec"]["jobLabel"].as<std::string>();
  EXPECT_EQ(service_["metadata"]["labels"][job_label].as<std::string>(""), "segtune-coordinator");

  const YAML::Node pod_monitor = manifests_.Find("PodMonitor", "segtune-worker");
  const YAML::Node pod_labels = worker_["spec"]["template"]["metadata"]["labels"];
  EXPECT_TRUE(Selects(pod_monitor["spec"]["selector"]["matchLabels"], pod_labels));
  const std::string port = pod_monitor["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>();
  const int container_port = ContainerPort(Container(worker_), port);
  EXPECT_EQ(FlagValue(Args(Container(worker_)), "--metrics-listen"), "0.0.0.0:" + std::to_string(container_port));
  EXPECT_EQ(pod_labels[pod_monitor["spec"]["jobLabel"].as<std::string>()].as<std::string>(""), "segtune-worker");
}

TEST_F(ManifestsTest, DashboardConfigMapIsAnExactCopyOfTheDashboard) {
  const YAML::Node config_map = manifests_.Find("ConfigMap", "segtune-grafana-dashboard");
  EXPECT_EQ(config_map["metadata"]["labels"]["grafana_dashboard"].as<std::string>(""), "1");
  EXPECT_EQ(config_map["data"]["segtune.json"].as<std::string>(""), ReadSourceFile(kDashboardFile))
      << "run deploy/k8s/update-dashboard-configmap.sh";
}

// --- flags against the binaries' --help ------------------------------------

std::string Run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  pclose(pipe);
  return output;
}

std::set<std::string> LongFlags(const std::string& text) {
  static const std::regex flag(R"((?:^|[\s"'\[,])(--[a-z][a-z0-9-]*))");
  std::set<std::string> flags;
  for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) flags.insert((*it)[1]);
  return flags;
}

std::set<std::string> HelpFlags(const std::string& binary) {
  return LongFlags(Run(std::string(SEGTUNE_BIN_DIR) + "/" + binary + " --help 2>&1"));
}

// The commands of a shell-like file: comment lines dropped, backslash
// continuations joined; with `fenced_only`, only ``` blocks (Markdown).
std::vector<std::string> Commands(const std::string& text, bool fenced_only) {
  std::vector<std::string> commands;
  std::istringstream in(text);
  std::string line, pending;
  bool fenced = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced_only && !fenced) continue;
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const bool continued = line.back() == '\\';
    pending += " " + line.substr(start, continued ? line.size() - start - 1 : std::string::npos);
    if (!continued) {
      commands.push_back(pending);
      pending.clear();
    }
  }
  if (!pending.empty()) commands.push_back(pending);
  return commands;
}

// Flags given to `binary` in `command`: everything after the binary's name
// (or its image's name, for `docker run IMAGE ARGS`).
std::set<std::string> FlagsFor(const std::string& command, const std::string& binary) {
  const std::string image = "segtune/" + binary.substr(std::string("segtune-").size()) + ":";
  std::set<std::string> flags;
  for (const std::string& marker : {binary, image}) {
    for (size_t at = command.find(marker); at != std::string::npos; at = command.find(marker, at + 1)) {
      // A name inside a path (build/bin/segtune-worker) counts; `segtune-worker@0` (a unit) has no flags after it
      // anyway.
      for (const std::string& flag : LongFlags(command.substr(at + marker.size()))) flags.insert(flag);
    }
  }
  return flags;
}

struct Usage {
  std::string file;
  std::string binary;
  std::set<std::string> flags;
};

void AddUsages(std::vector<Usage>& usages, const std::string& file, const std::vector<std::string>& commands) {
  for (const std::string binary : {"segtune-coordinator", "segtune-worker"}) {
    Usage usage{file, binary, {}};
    for (const std::string& command : commands) {
      // Only the part of the command after this binary: docker's and sbatch's own flags come before it.
      const std::set<std::string> flags = FlagsFor(command, binary);
      usage.flags.insert(flags.begin(), flags.end());
    }
    if (!usage.flags.empty()) usages.push_back(usage);
  }
}

std::vector<Usage> DeployUsages() {
  std::vector<Usage> usages;
  for (const auto& [file, doc] : LoadManifests().documents) {
    if (!doc["spec"] || !doc["spec"]["template"]) continue;
    for (const YAML::Node& container : doc["spec"]["template"]["spec"]["containers"]) {
      const std::string image = container["image"].as<std::string>();
      const std::string binary = image.rfind("segtune/coordinator", 0) == 0 ? "segtune-coordinator" : "segtune-worker";
      Usage usage{file, binary, {}};
      for (const std::string& arg : Args(container)) {
        if (arg.rfind("--", 0) == 0) usage.flags.insert(arg.substr(0, arg.find('=')));
      }
      usages.push_back(usage);
    }
  }
  for (const char* dir : {"deploy/k8s", "deploy/systemd", "deploy/slurm", "deploy/docker"}) {
    for (const auto& entry : std::filesystem::directory_iterator(SourcePath(dir))) {
      const std::string name = entry.path().filename().string();
      const std::string file = std::string(dir) + "/" + name;
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0) continue;  // parsed above
      const bool markdown = name.size() > 3 && name.compare(name.size() - 3, 3, ".md") == 0;
      std::vector<std::string> commands = Commands(ReadSourceFile(file), markdown);
      if (name.find(".Dockerfile") != std::string::npos && name.find("dockerignore") == std::string::npos) {
        // CMD supplies the default arguments of the ENTRYPOINT binary, on its own line.
        std::string entry_and_cmd;
        for (const std::string& command : commands) {
          if (command.find(" ENTRYPOINT ") == 0 || command.find(" CMD ") == 0) entry_and_cmd += command;
        }
        commands.push_back(entry_and_cmd);
      }
      AddUsages(usages, file, commands);
    }
  }
  return usages;
}

TEST(DeployFlagsTest, EveryFlagExistsInTheBinarysHelp) {
  const std::map<std::string, std::set<std::string>> help = {{"segtune-coordinator", HelpFlags("segtune-coordinator")},
                                                             {"segtune-worker", HelpFlags("segtune-worker")}};
  for (const auto& [binary, flags] : help) ASSERT_GT(flags.size(), 5u) << binary << " --help gave too few flags";

  std::set<std::string> files_with_flags;
  for (const Usage& usage : DeployUsages()) {
    files_with_flags.insert(usage.file);
    for (const std::string& flag : usage.flags) {
      EXPECT_TRUE(help.at(usage.binary).count(flag))
          << usage.file << " passes " << flag << " to " << usage.binary << ", which has no such flag";
    }
  }
  // The extraction found the commands at all: each of these runs a binary with flags.
  for (const char* file : {"deploy/k8s/coordinator-statefulset.yaml", "deploy/k8s/worker-deployment.yaml",
                           "deploy/systemd/segtune-coordinator.service", "deploy/systemd/segtune-worker@.service",
                           "deploy/slurm/worker.sbatch", "deploy/docker/coordinator.Dockerfile",
                           "deploy/docker/worker.Dockerfile", "deploy/docker/README.md"}) {
    EXPECT_TRUE(files_with_flags.count(file)) << "no segtune flags found in " << file;
  }
}

TEST(DeployFlagsTest, ExtractionSeesOnlyTheBinarysOwnFlags) {
  const std::set<std::string> flags =
      FlagsFor(" docker run --gpus all -v x:y segtune/worker:0.1 --coordinator h:1 --token-file /t", "segtune-worker");
  EXPECT_EQ(flags, (std::set<std::string>{"--coordinator", "--token-file"}));
}

TEST(DeployFlagsTest, SystemdWorkerStopTimeoutOutlastsItsDrain) {
  const std::string unit = ReadSourceFile("deploy/systemd/segtune-worker@.service");
  std::smatch drain, timeout;
  ASSERT_TRUE(std::regex_search(unit, timeout, std::regex(R"(\nTimeoutStopSec=(\d+))")));
  const double drain_seconds = std::regex_search(unit, drain, std::regex(R"(--drain-seconds[ =](\d+))"))
                                   ? std::stod(drain[1])
                                   : kDefaultDrainSeconds;
  EXPECT_GT(std::stod(timeout[1]), drain_seconds);
  EXPECT_NE(unit.find("--device cuda:%i"), std::string::npos);
  EXPECT_NE(unit.find("\nEnvironmentFile="), std::string::npos);
}

}  // namespace
}  // namespace segtune::testing
