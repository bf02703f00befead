// The Kubernetes manifests through kubectl itself: `kubectl kustomize` renders
// the deploy/k8s base (with placeholder token files, made the way
// deploy/k8s/README.md tells users to), and `kubectl apply --dry-run=client
// --validate=false` must accept every rendered object and every manifest file
// on its own, against FakeApiServer (fake_apiserver.h) standing in for a
// cluster with the Prometheus Operator's CRDs. A broken apiVersion or kind,
// or malformed YAML, must fail. manifests_test.cc checks what the objects say;
// this checks that kubectl can parse and map them.
//
// kubectl is the one CMake found (SEGTUNE_KUBECTL): Debian's kubernetes-client,
// installed or unpacked by scripts/install-deps.sh. Without one, every test
// here fails rather than skips.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "deploy_files.h"
#include "fake_apiserver.h"

namespace segtune::testing {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Single-quoted for sh.
std::string Quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Object {
  std::string group;  // "" for the core group
  std::string kind;
  std::string name;
  YAML::Node labels;
};

std::vector<Object> Objects(const std::string& yaml_text) {
  std::vector<Object> objects;
  for (const YAML::Node& doc : YAML::LoadAll(yaml_text)) {
    if (doc.IsNull()) continue;
    const std::string api_version = doc["apiVersion"].as<std::string>("");
    const size_t slash = api_version.find('/');
    objects.push_back({slash == std::string::npos ? "" : api_version.substr(0, slash), doc["kind"].as<std::string>(""),
                       doc["metadata"]["name"].as<std::string>(""), doc["metadata"]["labels"]});
  }
  return objects;
}

// How kubectl names an object in its output: "deployment.apps/segtune-worker".
std::string PrintedName(const Object& object) {
  std::string kind = object.kind;
  std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
  return kind + (object.group.empty() ? "" : "." + object.group) + "/" + object.name;
}

// The GET kubectl sends to learn whether the object exists (namespace
// "default": the manifests name none and there is no kubeconfig).
std::string ObjectGet(const Object& object) {
  for (const FakeApiServer::Resource& resource : FakeApiServer::DefaultResources()) {
    if (resource.group != object.group || resource.kind != object.kind) continue;
    const std::string prefix =
        resource.group.empty() ? "/api/" + resource.version : "/apis/" + resource.group + "/" + resource.version;
    return "GET " + prefix + "/namespaces/default/" + resource.plural + "/" + object.name;
  }
  ADD_FAILURE() << "the fake API server knows no " << object.kind << " in group \"" << object.group << "\"";
  return "";
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class KubectlDryRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(SEGTUNE_KUBECTL).empty()) {
      FAIL() << "no kubectl was found when CMake ran: run scripts/install-deps.sh (Debian's kubernetes-client), "
                "then re-run cmake";
    }
    ASSERT_NE(server_.port(), 0) << "the fake API server could not listen";
    std::string pattern = (fs::temp_directory_path() / "segtune-kubectl-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // An empty configuration rather than none, which kubectl 1.20 warns about.
    WriteFile(dir_ / "kubeconfig", "apiVersion: v1\nkind: Config\n");
  }

  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // kubectl that reads no kubeconfig and writes no cache outside dir_.
  CommandResult Kubectl(const std::string& args) const {
    return RunCommand("KUBECONFIG=" + Quote((dir_ / "kubeconfig").string()) + " HOME=" + Quote(dir_.string()) + " " +
                      Quote(SEGTUNE_KUBECTL) + " " + args);
  }

  CommandResult DryRun(const fs::path& file) const {
    return Kubectl(
        "apply --dry-run=client --validate=false --server http://127.0.0.1:" + std::to_string(server_.port()) +
        " --cache-dir " + Quote((dir_ / "cache").string()) + " --request-timeout 30s -f " + Quote(file.string()));
  }

  // kubectl accepts `file`: exit 0, each of its objects reported once as
  // created or configured (dry run) after a GET of it, and nothing written.
  void ExpectAccepted(const fs::path& file) const {
    const std::vector<Object> objects = Objects(ReadFile(file));
    ASSERT_FALSE(objects.empty()) << file;
    const size_t requests_before = server_.Requests().size();
    const CommandResult result = DryRun(file);
    EXPECT_EQ(result.exit_code, 0) << result.output;

    const std::vector<std::string> lines = Lines(result.output);
    const std::set<std::string> line_set(lines.begin(), lines.end());
    const size_t dry_run_lines = std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
      return line.size() >= 10 && line.compare(line.size() - 10, 10, " (dry run)") == 0;
    });
    EXPECT_EQ(dry_run_lines, objects.size()) << result.output;

    std::vector<std::string> requests = server_.Requests();
    requests.erase(requests.begin(), requests.begin() + requests_before);
    const std::set<std::string> request_set(requests.begin(), requests.end());
    for (const Object& object : objects) {
      const std::string printed = PrintedName(object);
      EXPECT_TRUE(line_set.count(printed + " created (dry run)") || line_set.count(printed + " configured (dry run)"))
          << printed << " missing from kubectl's output:\n"
          << result.output;
      EXPECT_TRUE(request_set.count(ObjectGet(object))) << "kubectl did not look up " << printed;
    }
    for (const std::string& request : requests) {
      EXPECT_EQ(request.rfind("GET ", 0), 0u) << "a client dry run sent " << request;
    }
  }

  FakeApiServer server_;
  fs::path dir_;
};

TEST_F(KubectlDryRunTest, KustomizeBaseRendersAndEveryObjectPassesDryRun) {
  // A copy, so that the token files made here never land in the source tree
  // (and a developer's own secrets/ there is not used).
  const fs::path base = dir_ / "k8s";
  fs::copy(SourcePath("deploy/k8s"), base, fs::copy_options::recursive);
  fs::remove_all(base / "secrets");
  fs::create_directories(base / "secrets");
  WriteFile(base / "secrets/tokens", "admin placeholder-admin\nread placeholder-read\nworker placeholder-worker\n");
  WriteFile(base / "secrets/worker.token", "placeholder-worker");

  const fs::path rendered = dir_ / "rendered.yaml";
  const CommandResult render = Kubectl("kustomize " + Quote(base.string()) + " > " + Quote(rendered.string()));
  ASSERT_EQ(render.exit_code, 0) << render.output;

  const std::vector<Object> objects = Objects(ReadFile(rendered));
  std::multiset<std::string> kinds;
  for (const Object& object : objects) {
    kinds.insert(object.kind);
    EXPECT_EQ(object.labels["app.kubernetes.io/part-of"].as<std::string>(""), "segtune") << PrintedName(object);
    // The generator appends a hash of the tokens, and kustomize rewrites the references to it.
    if (object.kind == "Secret") {
      EXPECT_EQ(object.name.rfind("segtune-tokens-", 0), 0u) << object.name;
    }
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{"ConfigMap", "Deployment", "PodMonitor", "Secret", "Service",
                                               "ServiceMonitor", "StatefulSet"}));
  ExpectAccepted(rendered);
}

TEST_F(KubectlDryRunTest, EveryManifestFilePassesDryRunOnItsOwn) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(SourcePath("deploy/k8s"))) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".yaml" || name == "kustomization.yaml") continue;
    SCOPED_TRACE(name);
    ExpectAccepted(entry.path());
    ++files;
  }
  EXPECT_GE(files, 6);
}

TEST_F(KubectlDryRunTest, BrokenManifestsAreRejected) {
  const std::string valid = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  key: value\n";
  auto with = [&valid](const std::string& from, const std::string& to) {
    std::string text = valid;
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  // The valid manifest passes, so each failure below is its one edit's.
  WriteFile(dir_ / "valid.yaml", valid);
  ExpectAccepted(dir_ / "valid.yaml");

  struct Broken {
    std::string text;
    std::string error;  // part of kubectl's message, the same in 1.20 and 1.32
  };
  const std::vector<Broken> broken = {
      {with("kind: ConfigMap", "kind: ConfigMapp"), R"(no matches for kind "ConfigMapp" in version "v1")"},
      {with("apiVersion: v1", "apiVersion: nonexistent.example.com/v1"),
       R"(no matches for kind "ConfigMap" in version "nonexistent.example.com/v1")"},
      {with("kind: ConfigMap\n", ""), "Object 'Kind' is missing"},
      {with("  key: value", "  key: [value"), "error converting YAML to JSON"},
  };
  for (const Broken& manifest : broken) {
    SCOPED_TRACE(manifest.error);
    const fs::path file = dir_ / "broken.yaml";
    WriteFile(file, manifest.text);
    const CommandResult result = DryRun(file);
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find(manifest.error), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("(dry run)"), std::string::npos) << result.output;
  }
}

}  // namespace
}  // namespace segtune::testing
