#include "rpc_timing.h"

#include <chrono>

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

class RpcTimingInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcTimingInterceptor(metrics::CoordinatorMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->ObserveRpc(method_,
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  metrics::CoordinatorMetrics* const metrics_;
  const char* const method_;  // owned by gRPC for the life of the call
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace

grpc::experimental::Interceptor* RpcTimingInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcTimingInterceptor(metrics_, info->method());
}

std::vector<std::string> SegtuneRpcMethods() {
  std::vector<std::string> methods;
  for (const char* name : {v1::Tuner::service_full_name(), v1::WorkerHub::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
      methods.push_back(absl::StrCat("/", name, "/", service->method(i)->name()));
    }
  }
  return methods;
}

}  // namespace segtune::api
