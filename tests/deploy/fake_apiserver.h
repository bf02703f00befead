// A fake Kubernetes API server for `kubectl apply --dry-run=client`: kubectl
// needs the API discovery documents to map each manifest's apiVersion/kind to
// a REST resource, then GETs each object to choose between "created" and
// "configured". This server serves discovery for the groups the manifests use
// (core v1, apps/v1 and the Prometheus Operator's monitoring.coreos.com/v1, as
// on a cluster with its CRDs installed) and answers every object GET with a
// NotFound Status, so kubectl prints "created (dry run)". Anything else gets a
// 404 (unknown path) or 405 (a write, which a client dry run never sends).
//
// Plain HTTP on 127.0.0.1, one request per connection, served one at a time
// on a background thread. Requests() may be called from any thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace segtune::testing {

class FakeApiServer {
 public:
  // One REST resource the fake cluster knows.
  struct Resource {
    std::string group;    // "" for the core group
    std::string version;  // "v1"
    std::string kind;     // "Deployment"
    std::string plural;   // "deployments": the URL segment and kubectl's resource name
  };

  // What the manifests under deploy/k8s need; all namespaced.
  static std::vector<Resource> DefaultResources() {
    return {{"", "v1", "Service", "services"},
            {"", "v1", "ConfigMap", "configmaps"},
            {"", "v1", "Secret", "secrets"},
            {"apps", "v1", "Deployment", "deployments"},
            {"apps", "v1", "StatefulSet", "statefulsets"},
            {"monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"},
            {"monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"}};
  }

  FakeApiServer() : resources_(DefaultResources()) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // any free port
    socklen_t length = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      close(listen_fd_);
      listen_fd_ = -1;
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~FakeApiServer() {
    // shutdown() wakes the blocked accept(); the thread then returns.
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // 0 when the socket could not be set up.
  int port() const { return port_; }

  // "METHOD PATH" of every request so far, in arrival order.
  std::vector<std::string> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  struct Response {
    int code;
    nlohmann::json body;
  };

  void Serve() {
    for (;;) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;  // shut down
      // A client that never sends must not keep the destructor waiting.
      const timeval timeout{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      HandleConnection(fd);
      close(fd);
    }
  }

  void HandleConnection(int fd) {
    // Headers only: kubectl sends no body on GET, and a write is refused
    // without reading its body.
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) return;
      request.append(buffer, n);
    }
    const size_t method_end = request.find(' ');
    const size_t target_end = request.find(' ', method_end + 1);
    if (method_end == std::string::npos || target_end == std::string::npos) return;
    const std::string method = request.substr(0, method_end);
    std::string path = request.substr(method_end + 1, target_end - method_end - 1);
    path = path.substr(0, path.find('?'));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(method + " " + path);
    }
    const Response response = method == "GET" ? Get(path) : Response{405, Status(405, "MethodNotAllowed", "", "")};
    const std::string body = response.body.dump();
    const std::string head = "HTTP/1.1 " + std::to_string(response.code) + (response.code == 200 ? " OK" : " Error") +
                             "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n";
    const std::string bytes = head + body;
    for (size_t sent = 0; sent < bytes.size();) {
      // MSG_NOSIGNAL: a client that hung up must not SIGPIPE the test.
      const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += n;
    }
  }

  Response Get(const std::string& path) const {
    // Discovery: the legacy (unaggregated) documents, which every kubectl
    // version falls back to when the reply is plain JSON.
    if (path == "/api") {
      return {200, {{"kind", "APIVersions"}, {"versions", {"v1"}}, {"serverAddressByClientCIDRs", Everywhere()}}};
    }
    if (path == "/apis") return {200, GroupList()};
    for (const std::string& group_version : GroupVersions()) {
      if (path == GroupVersionPath(group_version)) return {200, ResourceList(group_version)};
    }
    // An object: PREFIX/namespaces/NS/PLURAL/NAME of a known resource.
    for (const Resource& resource : resources_) {
      const std::string prefix = GroupVersionPath(GroupVersion(resource)) + "/namespaces/";
      if (path.rfind(prefix, 0) != 0) continue;
      const std::string rest = path.substr(prefix.size());  // NS/PLURAL/NAME
      const size_t slash = rest.find('/');
      const std::string tail = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (tail.rfind(resource.plural + "/", 0) != 0) continue;
      const std::string name = tail.substr(resource.plural.size() + 1);
      if (name.empty() || name.find('/') != std::string::npos) continue;
      return {404, Status(404, "NotFound", resource.plural, name)};
    }
    return {404, Status(404, "NotFound", "", "")};
  }

  static std::string GroupVersion(const Resource& resource) {
    return resource.group.empty() ? resource.version : resource.group + "/" + resource.version;
  }

  static std::string GroupVersionPath(const std::string& group_version) {
    return group_version.find('/') == std::string::npos ? "/api/" + group_version : "/apis/" + group_version;
  }

  std::vector<std::string> GroupVersions() const {
    std::vector<std::string> group_versions;
    for (const Resource& resource : resources_) {
      const std::string group_version = GroupVersion(resource);
      if (std::find(group_versions.begin(), group_versions.end(), group_version) == group_versions.end()) {
        group_versions.push_back(group_version);
      }
    }
    return group_versions;
  }

  static nlohmann::json Everywhere() { return {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1"}}}; }

  nlohmann::json GroupList() const {
    nlohmann::json groups = nlohmann::json::array();
    for (const Resource& resource : resources_) {
      if (resource.group.empty()) continue;  // the core group is /api's
      bool listed = false;
      for (const nlohmann::json& group : groups) listed |= group["name"] == resource.group;
      if (listed) continue;
      const nlohmann::json version = {{"groupVersion", GroupVersion(resource)}, {"version", resource.version}};
      groups.push_back({{"name", resource.group},
                        {"versions", {version}},
                        {"preferredVersion", version},
                        {"serverAddressByClientCIDRs", Everywhere()}});
    }
    return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
  }

  nlohmann::json ResourceList(const std::string& group_version) const {
    nlohmann::json list = nlohmann::json::array();
    for (const Resource& resource : resources_) {
      if (GroupVersion(resource) != group_version) continue;
      std::string singular = resource.kind;
      std::transform(singular.begin(), singular.end(), singular.begin(), ::tolower);
      list.push_back({{"name", resource.plural},
                      {"singularName", singular},
                      {"namespaced", true},
                      {"kind", resource.kind},
                      {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}});
    }
    return {{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", group_version}, {"resources", list}};
  }

  // A metav1.Status, the body kubectl expects with an error code.
  static nlohmann::json Status(int code, const std::string& reason, const std::string& plural,
                               const std::string& name) {
    const std::string message = name.empty() ? reason : plural + " \"" + name + "\" not found";
    nlohmann::json status = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                             {"status", "Failure"}, {"message", message}, {"reason", reason},
                             {"code", code}};
    if (!name.empty()) status["details"] = {{"name", name}, {"kind", plural}};
    return status;
  }

  std::vector<Resource> resources_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

}  // namespace segtune::testing
